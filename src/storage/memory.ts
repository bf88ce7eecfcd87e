import { addAbortSignal, Readable } from 'node:stream';
import { checkAborted, checkObjectName, readAll, sortObjects, StorageClosedError } from './common.js';
import { OptionReader } from './options.js';
import { NotFoundError, type ObjectInfo, type Storage } from './storage.js';

/** The memory backend has no options. */
export type MemoryOptions = Record<string, never>;

export function parseMemoryOptions(raw: unknown, path = 'storage.options'): MemoryOptions {
  new OptionReader(raw, path).allowOnly([]);
  return {};
}

/** fn's result as a promise, fn run right away; a throw becomes a rejection (as from an async function). */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(fn());
  });
}

interface MemoryObject {
  data: Buffer;
  lastModified: Date;
}

/** Objects in a Map of this process: for tests and demos. */
export class MemoryStorage implements Storage {
  private readonly objects = new Map<string, MemoryObject>();
  private closed = false;

  list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    return settle(() => {
      this.check(signal);
      const out: ObjectInfo[] = [];
      for (const [name, obj] of this.objects) {
        if (name.startsWith(prefix)) out.push({ name, size: obj.data.length, lastModified: obj.lastModified });
      }
      return sortObjects(out);
    });
  }

  loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    return settle(() => {
      this.check(signal, name);
      const obj = this.objects.get(name);
      if (!obj) throw new NotFoundError(name);
      const stream = Readable.from([Buffer.from(obj.data)], { objectMode: false });
      return signal ? addAbortSignal(signal, stream) : stream;
    });
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.check(signal, name);
    // Copy (or collect) first and publish in one step: readers never see a partial object.
    const bytes = Buffer.isBuffer(data) ? Buffer.from(data) : await readAll(data, signal);
    this.check(signal);
    this.objects.set(name, { data: bytes, lastModified: new Date() });
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return settle(() => {
      this.check(signal, name);
      this.objects.delete(name);
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.closed = true;
      this.objects.clear();
    });
  }

  private check(signal: AbortSignal | undefined, name?: string): void {
    if (this.closed) throw new StorageClosedError('memory');
    checkAborted(signal);
    if (name !== undefined) checkObjectName(name);
  }
}
