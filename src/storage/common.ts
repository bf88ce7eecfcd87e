import type { Readable } from 'node:stream';
import type { ObjectInfo, Storage } from './storage.js';
import { onAbort } from '../util/abort.js';

/** Minimal logger the backends use; any structured logger with these methods fits. */
export interface StorageLogger {
  debug?(msg: string, fields?: Record<string, unknown>): void;
  info?(msg: string, fields?: Record<string, unknown>): void;
  warn?(msg: string, fields?: Record<string, unknown>): void;
  error?(msg: string, fields?: Record<string, unknown>): void;
}

export interface StorageContext {
  logger?: StorageLogger;
}

/** A name the storage refuses (it could escape the backend's namespace or clash with its own files). */
export class InvalidNameError extends Error {
  constructor(readonly objectName: string, problem: string) {
    super(`invalid object name ${JSON.stringify(objectName)}: ${problem}`);
    this.name = 'InvalidNameError';
  }
}

/** Any operation on a backend after close(). */
export class StorageClosedError extends Error {
  constructor(backend: string) {
    super(`${backend} storage is closed`);
    this.name = 'StorageClosedError';
  }
}

/**
 * The name rules every backend applies: names are flat and non-empty; '/', '\\', '..' and NUL are
 * refused so that no backend can be made to reach outside its namespace.
 */
export function checkObjectName(name: string): void {
  const given: unknown = name; // JavaScript callers may pass anything
  if (typeof given !== 'string' || given === '') throw new InvalidNameError(String(given), 'empty');
  if (name.includes('/')) throw new InvalidNameError(name, "contains '/'");
  if (name.includes('\\')) throw new InvalidNameError(name, "contains '\\'");
  if (name.includes('..')) throw new InvalidNameError(name, "contains '..'");
  if (name.includes('\0')) throw new InvalidNameError(name, 'contains NUL');
}

/** Orders names by Unicode code point, which is the byte order of their UTF-8 form (as Go sorts). */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      // Surrogates (astral code points) sort above every BMP code unit in UTF-8 order.
      const sa = ca >= 0xd800 && ca <= 0xdfff;
      const sb = cb >= 0xd800 && cb <= 0xdfff;
      if (sa !== sb) return sa ? 1 : -1;
      return ca < cb ? -1 : 1;
    }
  }
  return a.length - b.length;
}

export function sortObjects(list: ObjectInfo[]): ObjectInfo[] {
  return list.sort((x, y) => compareNames(x.name, y.name));
}

/** Rejects with the signal's reason when it is aborted (a DOMException named AbortError by default). */
export function checkAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/**
 * Feeds every chunk of a stream to fn, in order; aborting the signal destroys the stream and rejects
 * with the signal's reason.
 */
export async function forEachChunk(
  stream: Readable,
  signal: AbortSignal | undefined,
  fn: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  checkAborted(signal);
  const forget = signal && onAbort(signal, () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
  try {
    for await (const chunk of stream) {
      await fn(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    }
  } catch (err) {
    checkAborted(signal);
    throw err;
  } finally {
    forget?.();
  }
  checkAborted(signal);
}

/** Reads a whole stream into one Buffer. */
export async function readAll(stream: Readable, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await forEachChunk(stream, signal, (chunk) => {
    chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

/** The object's bytes in memory (its stream read to the end); rejects with NotFoundError when absent. */
export async function loadAll(storage: Storage, name: string, signal?: AbortSignal): Promise<Buffer> {
  return readAll(await storage.loadStream(name, signal), signal);
}

/**
 * A failure of a remote backend (s3, azure): the message names the operation and the object (or the bucket or
 * container) and never carries a secret; code and statusCode are the server's, when it answered.
 */
export class BackendOperationError extends Error {
  constructor(
    message: string,
    readonly op: string,
    readonly objectName: string | undefined,
    readonly code: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
  }
}

/** The objects under prefix whose name sorts after startAfter: the backend's own listAfter, or a filtered list(). */
export async function listAfter(storage: Storage, prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
  if (storage.listAfter) return storage.listAfter(prefix, startAfter, signal);
  return (await storage.list(prefix, signal)).filter((o) => o.name > startAfter);
}
