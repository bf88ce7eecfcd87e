/**
 * Makes a snapshot object ready to merge. The one place that decides between "download now" and "read at
 * merge time": a local storage (fs) is streamed when merged; a remote one is downloaded first (with retries),
 * so a merge never waits on the network. Either way an object that is gone surfaces as NotFoundError.
 */
import { pipeline, Readable, Transform } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import type { SnapshotStore } from '../../storage/snapshot-store.js';
import type { RemoteSnapshot } from './chain-plan.js';
import { withRetry, type RetryPolicy } from '../retry.js';

/**
 * One object of an update, ready to be merged: downloaded (its compressed bytes as chunks, never
 * concatenated: a fresh 100 MB buffer alone costs ~0.4 s of page faults here), or on a local storage
 * opened when merged.
 */
export interface UpdatePart {
  snapshot: RemoteSnapshot;
  open(): Promise<Readable>;
}

export interface FetchContext {
  store: SnapshotStore;
  retry: RetryPolicy;
  log: Logger;
}

/** A download that returned fewer (or more) bytes than the listing said: retried, never "corrupt". */
export class IncompleteDownloadError extends Error {
  constructor(name: string, got: number, listed: number) {
    super(`download of ${name} returned ${got} bytes, the listing says ${listed}`);
    this.name = 'IncompleteDownloadError';
  }
}

/** onBytes sees the compressed bytes as they arrive (a progress display). */
export async function fetchPart(from: FetchContext, snap: RemoteSnapshot, signal: AbortSignal, onBytes?: (n: number) => void): Promise<UpdatePart> {
  const { store } = from;
  if (store.local) {
    const open = async (): Promise<Readable> => {
      const stream = await store.open(snap, signal);
      return onBytes ? pipeline(stream, byteCounter(onBytes), () => {}) : stream;
    };
    return { snapshot: snap, open };
  }
  const chunks = await withRetry(`load ${snap.name}`, from.retry, from.log, signal, () => downloadChunks(store, snap, signal, onBytes));
  return { snapshot: snap, open: () => Promise.resolve(Readable.from(chunks)) };
}

function byteCounter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/** The object's bytes as chunks; a body shorter or longer than the listed size is an error (retried). */
async function downloadChunks(store: SnapshotStore, snap: RemoteSnapshot, signal: AbortSignal, onBytes?: (n: number) => void): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of await store.open(snap, signal)) {
    chunks.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes?.((chunk as Buffer).length);
  }
  if (bytes !== snap.size) throw new IncompleteDownloadError(snap.name, bytes, snap.size);
  return chunks;
}
