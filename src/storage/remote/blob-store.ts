import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { formatDuration } from '../../config/units.js';
import { childSignal, onAbort } from '../../util/abort.js';
import {
  BackendOperationError,
  checkAborted,
  checkObjectName,
  compareNames,
  InvalidNameError,
  readAll,
  sortObjects,
  StorageClosedError,
  type StorageLogger,
} from '../common.js';
import { retryTransientUntilAborted } from '../init-retry.js';
import type { RemoteOptions } from './options.js';
import { NotFoundError, type ObjectInfo, type Storage } from '../storage.js';
import { UpdateMarkerListCache } from '../update-marker.js';
import { failureText, isTransientFailure, type Failure, type FailureCodes } from './failure.js';
import { SecretScrubber } from './secrets.js';
import { reportRemoteCall } from './call-observer.js';

/** One entry of a listing as the server has it: the whole key, global_prefix included. */
export interface RemoteEntry {
  key: string;
  size: number;
  lastModified: Date;
}

export type BackendErrorClass = new (
  message: string, op: string, objectName: string | undefined, code: string, statusCode: number | undefined,
) => BackendOperationError;

/** What the base needs to know of a backend, fixed when it is made. */
export interface BlobStoreSettings {
  /** Starts every message and log line: 's3', 'azure'. */
  label: string;
  /** The bucket or container: errors not about one object name it. */
  containerKind: 'bucket' | 'container';
  container: string;
  /** Where the storage points, for inspection. */
  endpoint: string;
  /** The SDK operations named by errors the base makes itself (empty body, start-up give-up). */
  ops: { get: string; ensure: string };
  /** The update marker's name (under global_prefix). */
  markerName: string;
  options: RemoteOptions;
  /** The options as logs and toJSON show them (secrets masked). */
  redacted: Record<string, unknown>;
  errorClass: BackendErrorClass;
  codes: FailureCodes;
  logger: StorageLogger | undefined;
}

/**
 * A Storage in a remote blob store (S3 bucket, Azure container) under global_prefix. The base does what is
 * the same for every such store: names and keys, the closed state, SDK failures turned into the backend's
 * error (naming the operation and the object, scrubbed of secrets), refused credentials, start-up retries,
 * the update marker and its listing cache, streams and aborts, deletes of absent objects, listAfter.
 * A backend supplies the primitives below, each one round trip (or one page loop) of its SDK.
 */
export abstract class RemoteBlobStore implements Storage {
  /** Every secret the backend used: scrubbed from error texts. */
  protected readonly secrets = new SecretScrubber();
  protected readonly logger: StorageLogger | undefined;
  private readonly markerKey: string;
  private readonly listCache: UpdateMarkerListCache;
  private markerSeq = 0;
  private closed = false;
  /** The server's code behind each error mapError made (a NotFoundError carries none). */
  private readonly failureCodes = new WeakMap<object, string>();

  protected constructor(private readonly settings: BlobStoreSettings) {
    this.logger = settings.logger;
    this.markerKey = settings.options.global_prefix + settings.markerName;
    this.listCache = new UpdateMarkerListCache(settings.options.update_marker_force_list_interval);
  }

  // --- the primitives of a backend --------------------------------------------------------------

  /**
   * Every entry whose key starts with keyPrefix, all pages; with startAfterKey, the server may leave out the
   * keys up to it (the base drops any it still sends).
   */
  protected abstract listKeys(keyPrefix: string, startAfterKey: string | undefined, signal: AbortSignal | undefined): Promise<RemoteEntry[]>;
  /** The object's bytes (undefined when the answer had no body). */
  protected abstract get(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable | undefined>;
  /** Stores the object atomically; resolves with its ETag ('' when unknown). */
  protected abstract put(name: string, key: string, data: Buffer | Readable, signal: AbortSignal | undefined): Promise<string>;
  /** Deletes the object (a NotFoundError from it counts as done). */
  protected abstract remove(name: string, key: string, signal: AbortSignal | undefined): Promise<void>;
  /** One attempt at making sure the bucket or container exists, creating it when absent. */
  protected abstract ensureContainer(signal: AbortSignal): Promise<void>;
  /** What an SDK failure says: code, status, detail, whether the object is absent. */
  protected abstract classify(err: unknown): Failure;
  /** Frees the client, agents and timers (called once, by close). */
  protected abstract release(): void;
  /** After the server refused the credentials (backends whose credentials can be re-read do it then). */
  protected credentialsRefused(): void {}

  // --- Storage ----------------------------------------------------------------------------------

  async list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    this.check(signal);
    if (!this.settings.options.use_update_marker) return this.listObjects(prefix, undefined, signal);
    return this.listCache.list(prefix, () => this.readMarker(signal), (p) => this.listObjects(p, undefined, signal));
  }

  async listAfter(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    this.check(signal);
    if (!this.settings.options.use_update_marker) return this.listObjects(prefix, startAfter, signal);
    return this.listCache.listAfter(prefix, startAfter, () => this.readMarker(signal), () => this.listObjects(prefix, startAfter, signal));
  }

  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.checkName(name, signal);
    return this.openStream(name, this.key(name), signal);
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    const etag = await this.timed('store', () => this.put(name, key, data, signal));
    await this.setMarker(key, etag, false, signal);
  }

  /** Deleting an absent object (whatever the server answers: success or not-found) is done, marker included. */
  async delete(name: string, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    try {
      await this.timed('delete', () => this.remove(name, key, signal));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    await this.setMarker(key, '', true, signal);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.release();
    return Promise.resolve();
  }

  /** What logs and inspection show: where the storage points, never its client or credentials. */
  toJSON(): Record<string, unknown> {
    return { type: this.settings.label, ...this.settings.redacted };
  }

  [inspect.custom](): string {
    const s = this.settings;
    return `${this.constructor.name} { endpoint: ${s.endpoint}, ${s.containerKind}: ${s.container}, global_prefix: ${JSON.stringify(s.options.global_prefix)} }`;
  }

  // --- for the backends -------------------------------------------------------------------------

  /** Logs the options and, with create, makes sure the bucket or container exists within init_timeout (else closes). */
  protected async start(create: boolean): Promise<void> {
    const { label, options } = this.settings;
    this.logger?.debug?.(`${label} storage options`, { options: this.settings.redacted });
    if (options.tls.watch_certs) {
      this.logger?.warn?.(`${label}: tls.watch_certs is not supported: certificates are read once at start-up`);
    }
    if (!create) return;
    try {
      await this.ensureWithRetry(AbortSignal.timeout(options.init_timeout));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Runs one SDK call with a signal of its own, turning its failures into the backend's error, NotFoundError or the abort reason. */
  protected async call<T>(op: string, name: string | undefined, signal: AbortSignal | undefined, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    // The SDKs add an abort listener per request: give them a signal of their own, not the shared one.
    const child = signal && childSignal(signal);
    try {
      return await fn(child?.signal);
    } catch (err) {
      throw this.mapError(op, name, err, signal);
    } finally {
      child?.dispose();
    }
  }

  /** A failure of op (about object name, or else the container) as an error that never carries a secret. */
  protected mapError(op: string, name: string | undefined, err: unknown, signal?: AbortSignal): Error {
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (err instanceof NotFoundError || err instanceof BackendOperationError || err instanceof StorageClosedError) return err;
    const f = this.classify(err);
    if (f.notFound && name !== undefined) {
      const notFound = new NotFoundError(name);
      this.failureCodes.set(notFound, f.code);
      return notFound;
    }
    const { label, container, codes } = this.settings;
    if (codes.auth.has(f.code)) {
      this.credentialsRefused();
      this.logger?.debug?.(`${label}: the server refused the credentials`, { op, code: f.code });
    }
    return new this.settings.errorClass(this.secrets.scrub(failureText(label, op, name ?? container, f)), op, name, f.code, f.status);
  }

  /** A failure another attempt may not see (see isTransientFailure). */
  protected isTransient(err: unknown): boolean {
    return err instanceof this.settings.errorClass && isTransientFailure(err, this.settings.codes);
  }

  /** After a change the base did not make (new credentials): the next listings are real ones. */
  protected invalidateListings(): void {
    this.listCache.invalidate();
  }

  protected isClosed(): boolean {
    return this.closed;
  }

  // --- internals --------------------------------------------------------------------------------

  private key(name: string): string {
    return this.settings.options.global_prefix + name;
  }

  private check(signal: AbortSignal | undefined): void {
    if (this.closed) throw new StorageClosedError(this.settings.label);
    checkAborted(signal);
  }

  private checkName(name: string, signal: AbortSignal | undefined): void {
    this.check(signal);
    checkObjectName(name);
    if (this.settings.options.use_update_marker && name === this.settings.markerName) {
      throw new InvalidNameError(name, 'reserved for the update marker (use_update_marker is on)');
    }
  }

  /**
   * The objects under prefix (after startAfter), sorted. Names up to startAfter are dropped here too: a server
   * may start at it inclusively (Azure's startFrom) or not at all (an Azurite without startFrom).
   */
  private async listObjects(prefix: string, startAfter: string | undefined, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
    const gp = this.settings.options.global_prefix;
    const entries = await this.timed('list', () => this.listKeys(gp + prefix, startAfter ? gp + startAfter : undefined, signal));
    const out: ObjectInfo[] = [];
    for (const e of entries) {
      if (e.key === this.markerKey || !e.key.startsWith(gp)) continue;
      const name = e.key.slice(gp.length);
      if (startAfter !== undefined && compareNames(name, startAfter) <= 0) continue;
      out.push({ name, size: e.size, lastModified: e.lastModified });
    }
    return sortObjects(out);
  }

  private async openStream(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable> {
    const body = await this.timed('load', () => this.get(name, key, signal));
    const { label, ops, errorClass } = this.settings;
    if (!body) throw new errorClass(`${label}: ${ops.get} ${name}: empty response body`, ops.get, name, 'NoBody', undefined);
    if (signal) {
      const forget = onAbort(signal, () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
      body.once('close', forget);
    }
    return body;
  }

  private async readMarker(signal: AbortSignal | undefined): Promise<Buffer> {
    const name = this.settings.markerName;
    const body = await this.openStream(name, this.markerKey, signal);
    try {
      return await readAll(body, signal);
    } catch (err) {
      throw this.mapError(this.settings.ops.get, name, err, signal);
    }
  }

  /** With use_update_marker: records the change (Go's format) so every instance's next list() does a real listing. */
  private async setMarker(key: string, etag: string, isDelete: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (!this.settings.options.use_update_marker) return;
    const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.markerSeq++ % 1_000_000);
    const content = Buffer.from(`${key}:${etag}:${nanos}:${isDelete}`);
    await this.timed('store', () => this.put(this.settings.markerName, this.markerKey, content, signal));
    this.listCache.invalidate();
  }

  /**
   * Runs one primitive (one request, or one listing's page loop) and reports it under Go's method name
   * (storage_s3_call_* / storage_azure_call_*): every attempt, failures with the server's error code.
   */
  private async timed<T>(method: string, primitive: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const report = (error?: string) => reportRemoteCall({
      backend: this.settings.label, method, startedAt, seconds: (performance.now() - t0) / 1000, ...(error !== undefined && { error }),
    });
    try {
      const result = await primitive();
      report();
      return result;
    } catch (err) {
      report(this.failureCode(err));
      throw err;
    }
  }

  private failureCode(err: unknown): string {
    if (err instanceof BackendOperationError) return err.code;
    if (typeof err === 'object' && err !== null) {
      const code = this.failureCodes.get(err);
      if (code !== undefined) return code;
    }
    return err instanceof Error ? err.name : 'Error';
  }

  private ensureWithRetry(signal: AbortSignal): Promise<void> {
    const { label, containerKind, container, ops, options, errorClass } = this.settings;
    return retryTransientUntilAborted({
      signal,
      attempt: () => this.timed(`create-${containerKind}`, () => this.ensureContainer(signal)),
      isTransient: (err) => this.isTransient(err),
      onRetry: (err, delayMs) => this.logger?.warn?.(`${label}: ${containerKind} check failed, retrying within init_timeout`, {
        [containerKind]: container, error: err instanceof Error ? err.message : String(err), retry_in: formatDuration(delayMs),
      }),
      giveUp: (last) => {
        const limit = `init_timeout (${formatDuration(options.init_timeout)})`;
        const text = last instanceof Error ? `no success within ${limit}; last error: ${last.message}` : `no answer within ${limit}`;
        return new errorClass(`${label}: ${ops.ensure} ${container}: ${text}`, ops.ensure, undefined, 'Timeout', undefined);
      },
    });
  }
}
