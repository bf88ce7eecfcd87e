import { watch } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError } from '../config/errors.js';
import {
  checkAborted,
  checkObjectName,
  forEachChunk,
  InvalidNameError,
  sortObjects,
  StorageClosedError,
  type StorageContext,
  type StorageLogger,
} from './common.js';
import { OptionReader } from './options.js';
import { NotFoundError, type ObjectInfo, type Storage } from './storage.js';

export interface FsOptions {
  /** Directory holding one file per object; created when missing. */
  root_path: string;
}

export function parseFsOptions(raw: unknown, path = 'storage.options'): FsOptions {
  const r = new OptionReader(raw, path);
  r.allowOnly(['root_path']);
  const root = r.string('root_path');
  if (root === undefined) throw new ConfigError(r.key('root_path'), 'is required for the fs storage');
  return { root_path: root };
}

/** Temporary files start with this; a listing never reports names starting with '.'. */
const TMP_PREFIX = '.tmp-';
/** Temporary files left by a crash are removed at start-up once they are this old. */
const STALE_TMP_MS = 3_600_000;

/** The fs backend's extra rules: names starting with '.' or ending with '.tmp' are temporary files (ours and Go's). */
function checkFsName(name: string): void {
  checkObjectName(name);
  if (name.startsWith('.')) throw new InvalidNameError(name, "starts with '.' (reserved for temporary files)");
  if (name.endsWith('.tmp')) throw new InvalidNameError(name, "ends with '.tmp' (reserved for temporary files)");
}

function isListed(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.tmp');
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null | undefined)?.code === 'ENOENT';
}

/** One file per object in root_path; stores write a temporary file, fsync it, and rename it in place. */
export class FsStorage implements Storage {
  private closed = false;
  private readonly logger: StorageLogger | undefined;

  readonly local = true;

  /** Directory change notifications (inotify) on the root: a hint that the listing may have changed. */
  watch(onChange: () => void): () => void {
    try {
      const watcher = watch(this.root, { persistent: false }, () => onChange());
      watcher.on('error', () => watcher.close());
      return () => watcher.close();
    } catch {
      return () => {}; // no notifications here (e.g. inotify limits): pollers keep their tick
    }
  }

  private constructor(readonly root: string, ctx?: StorageContext) {
    this.logger = ctx?.logger;
  }

  static async open(options: FsOptions, ctx?: StorageContext): Promise<FsStorage> {
    const root = resolve(options.root_path);
    await mkdir(root, { recursive: true });
    const st = await stat(root);
    if (!st.isDirectory()) throw new Error(`fs storage: root_path ${root} is not a directory`);
    const fsStorage = new FsStorage(root, ctx);
    await fsStorage.removeStaleTemporaryFiles();
    return fsStorage;
  }

  async list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    return this.listWhere((name) => name.startsWith(prefix), signal);
  }

  /** Only the names after startAfter are stat'ed: a journal poll costs one readdir, not a stat per delta ever written. */
  async listAfter(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    return this.listWhere((name) => name.startsWith(prefix) && name > startAfter, signal);
  }

  private async listWhere(wanted: (name: string) => boolean, signal?: AbortSignal): Promise<ObjectInfo[]> {
    this.check(signal);
    const entries = await readdir(this.root, { withFileTypes: true });
    const names = entries.filter((e) => e.isFile() && isListed(e.name) && wanted(e.name)).map((e) => e.name);
    const out: ObjectInfo[] = [];
    // stat in bounded parallel batches: fast for thousands of files without exhausting descriptors.
    for (let i = 0; i < names.length; i += 64) {
      checkAborted(signal);
      const batch = names.slice(i, i + 64);
      const stats = await Promise.all(batch.map((n) => stat(join(this.root, n)).catch((err: unknown) => {
        if (isNotFound(err)) return undefined; // deleted meanwhile
        throw err;
      })));
      batch.forEach((name, j) => {
        const st = stats[j];
        if (st?.isFile()) out.push({ name, size: st.size, lastModified: st.mtime });
      });
    }
    return sortObjects(out);
  }

  /** Opens an object for reading; NotFoundError when absent. */
  private async openObject(name: string): Promise<FileHandle> {
    try {
      return await open(this.path(name), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(name);
      throw err;
    }
  }

  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.check(signal, name);
    // Opening first pins the current file: a rename over it later does not change what we read.
    const fh = await this.openObject(name);
    if (signal?.aborted) {
      await fh.close();
      checkAborted(signal);
    }
    return fh.createReadStream({ signal, autoClose: true, highWaterMark: 1 << 20 });
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.check(signal, name);
    const tmp = join(this.root, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    let renamed = false;
    try {
      try {
        if (Buffer.isBuffer(data)) {
          await writeFully(fh, data, signal);
        } else {
          await writeStream(fh, data, signal);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      checkAborted(signal);
      await rename(tmp, this.path(name));
      renamed = true;
      await this.syncDir();
    } finally {
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    this.check(signal, name);
    try {
      await unlink(this.path(name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private path(name: string): string {
    return join(this.root, name);
  }

  private check(signal: AbortSignal | undefined, name?: string): void {
    if (this.closed) throw new StorageClosedError('fs');
    checkAborted(signal);
    if (name !== undefined) checkFsName(name);
  }

  /** Makes the rename durable. */
  private async syncDir(): Promise<void> {
    const dh = await open(this.root, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  private async removeStaleTemporaryFiles(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.root)) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const p = join(this.root, name);
      try {
        if (now - (await stat(p)).mtimeMs > STALE_TMP_MS) {
          await unlink(p);
          this.logger?.info?.('fs storage: removed a stale temporary file', { file: p });
        }
      } catch {
        // gone already, or not ours to remove: ignore
      }
    }
  }
}

async function writeFully(fh: FileHandle, buf: Buffer, signal?: AbortSignal): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    checkAborted(signal);
    const { bytesWritten } = await fh.write(buf, off, Math.min(buf.length - off, 8 << 20));
    off += bytesWritten;
  }
}

async function writeStream(fh: FileHandle, stream: Readable, signal?: AbortSignal): Promise<void> {
  await forEachChunk(stream, signal, (chunk) => writeFully(fh, chunk, signal));
}
