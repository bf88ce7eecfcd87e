/**
 * What the `snapshots` subcommands share: opening the configured storage, naming a missing snapshot in
 * one clear line, writing to stdout without loading everything in memory (and stopping quietly when the
 * reader of a pipe goes away, as `| head` does), and UTC time formatting.
 */
import type { Readable } from 'node:stream';
import { requireStorage } from '../config/index.js';
import { NotFoundError, openStorage, type Storage } from '../storage/index.js';
import type { CommandContext } from './context.js';

/** Runs fn with the configured storage, closing it afterwards. */
export async function withStorage<T>(ctx: CommandContext, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(requireStorage(ctx.config), { logger: ctx.logger });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

/** The snapshot's bytes as a stream; a missing object is `snapshot NAME: not found`. */
export async function loadSnapshotStream(storage: Storage, name: string, signal: AbortSignal): Promise<Readable> {
  try {
    return await storage.loadStream(name, signal);
  } catch (err) {
    if (err instanceof NotFoundError) throw new Error(`snapshot ${name}: not found`, { cause: err });
    throw err;
  }
}

/** The reader of stdout went away (EPIPE): the command stops and exits 0, like a tool killed by SIGPIPE but quietly. */
export class BrokenPipeError extends Error {
  constructor() {
    super('stdout closed');
    this.name = 'BrokenPipeError';
  }
}

interface Writable {
  write(chunk: string | Buffer): boolean;
  once(event: 'drain' | 'error', fn: (...args: unknown[]) => void): unknown;
  on(event: 'error', fn: (err: NodeJS.ErrnoException) => void): unknown;
  off(event: 'drain' | 'error', fn: (...args: unknown[]) => void): unknown;
}

/**
 * Buffered writing to stdout that respects backpressure: text collects up to 64 KiB, then one write,
 * waiting for 'drain' when the stream asks for it. EPIPE becomes a BrokenPipeError.
 */
export class Output {
  private parts: string[] = [];
  private size = 0;
  private failure: NodeJS.ErrnoException | undefined;

  constructor(private readonly stream: Writable = process.stdout, private readonly flushAt = 64 << 10) {
    stream.on('error', (err) => {
      this.failure ??= err;
    });
  }

  /** Adds text; returns a promise only when a flush was needed (await it). */
  print(text: string): Promise<void> | undefined {
    this.parts.push(text);
    this.size += text.length;
    return this.size >= this.flushAt ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    await this.writeRaw(text);
  }

  /** Writes bytes unbuffered (after any pending text). */
  async writeBytes(chunk: Buffer): Promise<void> {
    await this.flush();
    await this.writeRaw(chunk);
  }

  private async writeRaw(chunk: string | Buffer): Promise<void> {
    this.check();
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          resolve();
        };
        this.stream.once('drain', done);
        this.stream.once('error', done);
      });
    }
    this.check();
  }

  private check(): void {
    const err = this.failure;
    if (!err) return;
    if (err.code === 'EPIPE') throw new BrokenPipeError();
    throw err;
  }
}

/** Runs a command body that writes to `out`, flushing at the end; a closed pipe ends it with exit code 0. */
export async function withOutput(body: (out: Output) => Promise<number> | Promise<void>): Promise<number> {
  const out = new Output();
  try {
    const code = (await body(out)) ?? 0;
    await out.flush();
    return code;
  } catch (err) {
    if (err instanceof BrokenPipeError) return 0;
    throw err;
  }
}
