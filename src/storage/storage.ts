import type { Readable } from 'node:stream';

/** One object as a listing reports it. */
export interface ObjectInfo {
  name: string;
  size: number;
  lastModified: Date;
}

/**
 * Where snapshot objects live. Names are flat (no directories); every backend refuses names
 * that could escape its namespace. Every call takes an optional AbortSignal so shutdown and
 * timeouts stop work at any point.
 */
export interface Storage {
  /**
   * True when reading an object is as cheap as reading a local file (fs): readers then stream it
   * when needed instead of downloading it into memory first.
   */
  readonly local?: boolean;
  /** Every object whose name starts with prefix, sorted by name. */
  list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]>;
  /**
   * Optional: the objects whose name starts with prefix and sorts after startAfter, by name, listed from there
   * by the server where it can (S3 StartAfter, Azure startFrom) so the answer holds only those. Without it,
   * listAfter() in common.ts filters list(). With use_update_marker, served like list() from the last answer
   * while the marker is unchanged.
   */
  listAfter?(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]>;
  /** The object's bytes as a stream; rejects with NotFoundError when absent. (loadAll() in common.ts: in memory.) */
  loadStream(name: string, signal?: AbortSignal): Promise<Readable>;
  /** Stores the object atomically: readers see the old object, nothing, or the whole new one. */
  store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void>;
  /** Removes the object; removing an absent object is not an error. */
  delete(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Optional: calls onChange soon after objects may have been added or removed (a hint, not a
   * listing), so pollers can list at once instead of waiting for their next tick. Returns a stop function.
   */
  watch?(onChange: () => void): () => void;
  /** Releases connections, timers and file handles. */
  close(): Promise<void>;
}

export class NotFoundError extends Error {
  constructor(readonly objectName: string) {
    super(`object not found: ${objectName}`);
    this.name = 'NotFoundError';
  }
}
