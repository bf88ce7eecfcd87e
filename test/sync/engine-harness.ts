// In-process instances of the sync engine for deterministic tests: real LMDB files, one shared memory
// storage, real Syncers, a virtual clock. The expected data comes from an oracle over the op log that
// does not use src/ (lastWriterWins below).
import { Readable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Env, buildValue, parseValue, type Dbi } from '../../src/lmdb/index.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { loadAll } from '../../src/storage/common.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { ObjectInfo, Storage } from '../../src/storage/storage.js';
import { AsyncMutex } from '../../src/sync/async-mutex.js';
import type { LmdbSyncContext } from '../../src/sync/context.js';
import { NativeMode } from '../../src/sync/native-mode.js';
import { Semaphore } from '../../src/sync/semaphore.js';
import { ONE_SHOT_RETRY_DEADLINE_MS } from '../../src/sync/runner.js';
import { returnGuardConfig, sweeperLoadCutoffNano } from '../../src/sync/tombstones.js';
import { Syncer, type SyncerOptions } from '../../src/sync/syncer.js';
import type { VirtualClock } from './virtual-clock.js';

/** One write of the op log: a live value, or a deletion (value null). */
export interface Op {
  dbi: string;
  key: Buffer;
  ts: bigint;
  value: Buffer | null;
}

/** The oracle: per (dbi, key) the entry every instance must end with. Written independently of src/. */
export function lastWriterWins(ops: Op[]): Map<string, string> {
  const best = new Map<string, Op>();
  for (const op of ops) {
    const id = `${op.dbi}/${op.key.toString('hex')}`;
    const cur = best.get(id);
    if (!cur || wins(op, cur)) best.set(id, op);
  }
  const out = new Map<string, string>();
  for (const [id, op] of best) out.set(id, describe(op.ts, op.value === null, op.value ?? Buffer.alloc(0)));
  return out;
}

/** a beats b: newer; at the same time the lower value; at the same value a deletion. */
function wins(a: Op, b: Op): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  const av = a.value ?? Buffer.alloc(0);
  const bv = b.value ?? Buffer.alloc(0);
  const c = Buffer.compare(av, bv);
  if (c !== 0) return c < 0;
  return a.value === null && b.value !== null;
}

function describe(ts: bigint, deleted: boolean, value: Buffer): string {
  return `${ts}:${deleted ? 'D' : 'L'}:${value.toString('hex')}`;
}

/** Counts storage calls as real work in flight for the virtual clock; can cut the next downloads short. */
export class TrackedStorage implements Storage {
  readonly inner = new MemoryStorage();
  /** The next N loadStream calls return only half of the object. */
  truncateNextLoads = 0;
  /** Every store fails (a bucket this instance cannot write). */
  failStores = false;
  loads = 0;
  stores = 0;

  constructor(private readonly clock: VirtualClock) {}

  list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    return this.clock.track(this.inner.list(prefix, signal));
  }

  loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.loads++;
    return this.clock.track(loadAll(this.inner, name, signal).then((buf) => {
      if (this.truncateNextLoads > 0) {
        this.truncateNextLoads--;
        return Readable.from([buf.subarray(0, buf.length >> 1)]);
      }
      return Readable.from([buf]);
    }));
  }

  store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.stores++;
    if (this.failStores) return this.clock.track(Promise.reject(new Error('AccessDenied: Access Denied (HTTP 403)')));
    return this.clock.track(this.inner.store(name, data, signal));
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.clock.track(this.inner.delete(name, signal));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A Semaphore whose held slots count as work in flight (for decompression slots: held while a snapshot is decoded and merged). */
class TrackedSemaphore extends Semaphore {
  constructor(size: number, private readonly clock: VirtualClock) {
    super(size);
  }

  override async acquire(signal?: AbortSignal): Promise<() => void> {
    const release = await super.acquire(signal);
    this.clock.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.clock.inFlight--;
      release();
    };
  }
}

export interface InstanceOptions {
  slots?: number;
  /** The tomb sweeper's retention (virtual ms): the load cutoff and the return guard follow it; forced snapshots every forceMs. */
  sweeper?: { retentionMs: number; guard: boolean; forceMs: number };
  receiveOnly?: boolean;
  onlyOnce?: boolean;
  log?: Logger;
  growMap?: () => boolean;
}

/** One instance: its LMDB stays open across restarts of its Syncer (a restart of the sync process). */
export class Instance {
  readonly env: Env;
  private readonly dbis = new Map<string, Dbi>();
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;
  syncer: Syncer | undefined;
  /** The running syncer's context (its write lock serializes the test's own writers, e.g. a sweeper). */
  ctx: LmdbSyncContext | undefined;
  /** The error the last run ended with (aborts excluded). */
  failure: Error | undefined;
  /** The last run returned or failed (--only-once ends by itself). */
  done = false;

  constructor(readonly name: string, dir: string, private readonly storage: Storage, private readonly clock: VirtualClock, mapSize = 256 << 20, maxDbs = 16) {
    mkdirSync(join(dir, name), { recursive: true });
    this.env = Env.open(join(dir, name), { create: true, mapSize, maxDbs });
  }

  start(opts: InstanceOptions = {}): void {
    const slots = opts.slots ?? 2;
    const log = opts.log ?? createLogger({ level: process.env.LS_TEST_DEBUG ? 'debug' : 'error' }).with({ instance: this.name });
    const sweeper = opts.sweeper && {
      enabled: true, retentionDays: opts.sweeper.retentionMs / 86_400_000, retentionLoadCutoffDuration: 0, releaseDuration: 0,
      returnGuard: opts.sweeper.guard, interval: 0, firstInterval: 0, lockDuration: 50,
    };
    const clock = this.clock;
    const ctx: LmdbSyncContext = {
      dbName: 'main', env: this.env, instance: this.name, generation: 'GX', hostname: 'test', storage: this.storage, log,
      retry: opts.onlyOnce
        ? { intervalMs: 500, count: 100, forever: false, clock: this.clock, deadlineMs: ONE_SHOT_RETRY_DEADLINE_MS, logEachAttempt: true }
        : { intervalMs: 500, count: 100, forever: true, clock: this.clock },
      writeLock: new AsyncMutex(),
      mode: new NativeMode(this.env, { dbName: 'main', lmdb: { headerExtraPaddingBlock: false, dbiOptions: {} }, log,
        tombstoneCutoffNano: () => (sweeper ? sweeperLoadCutoffNano(sweeper, clock.now()) : undefined) }),
      clock: this.clock,
    };
    this.ctx = ctx;
    const syncerOpts: SyncerOptions = {
      receiveOnly: opts.receiveOnly ?? false, onlyOnce: opts.onlyOnce ?? false, lmdbPollMs: 1000, storagePollMs: 1000,
      forceSnapshotMs: opts.sweeper?.forceMs ?? 0, downloads: new Semaphore(slots), decompressions: new TrackedSemaphore(slots, this.clock),
      growMap: opts.growMap, ...(sweeper && { returnGuard: returnGuardConfig(sweeper, {}) }),
    };
    this.syncer = new Syncer(ctx, syncerOpts);
    this.abort = new AbortController();
    this.failure = undefined;
    this.done = false;
    this.running = this.syncer.run(this.abort.signal).catch((err: unknown) => {
      if (!this.abort?.signal.aborted) this.failure = err as Error; // the syncer fails with Errors
    }).finally(() => {
      this.done = true;
    });
  }

  get ready(): boolean {
    return this.syncer?.ready ?? false;
  }

  get finished(): boolean {
    return this.running === undefined;
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error('stopped by the test'));
    await this.running;
    this.running = undefined;
    this.syncer = undefined;
  }

  /** The application writes ops in one txn, with header txn id 0 (local meaning only: never trusted). */
  write(ops: Op[]): void {
    for (const op of ops) this.dbi(op.dbi);
    this.env.write((txn) => {
      for (const op of ops) {
        txn.put(this.dbi(op.dbi), op.key, buildValue(op.ts, 0, op.value ?? Buffer.alloc(0), { deleted: op.value === null }));
      }
    });
  }

  /** Every entry of every data DBI: `dbi/keyhex` → `ts:L|D:valuehex`. */
  contents(): Map<string, string> {
    const out = new Map<string, string>();
    for (const name of this.env.listDbis()) {
      if (name.startsWith('_sync')) continue;
      const dbi = this.dbi(name);
      this.env.read((txn) => {
        for (const b of txn.scan(dbi)) {
          for (let i = 0; i < b.count; i++) {
            const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
            const p = parseValue(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!));
            out.set(`${name}/${key.toString('hex')}`, describe(p.timestamp, (p.flags & 1) !== 0, Buffer.from(p.value)));
          }
        }
      });
    }
    return out;
  }

  close(): void {
    this.env.close();
  }

  private dbi(name: string): Dbi {
    let dbi = this.dbis.get(name);
    if (!dbi) {
      dbi = this.env.openDbi(name, { create: true })!;
      this.dbis.set(name, dbi);
    }
    return dbi;
  }
}

/** The first difference between two content maps, or undefined when equal. */
export function firstDifference(a: Map<string, string>, b: Map<string, string>): string | undefined {
  for (const [k, v] of a) if (b.get(k) !== v) return `${k}: ${v} vs ${b.get(k) ?? '(missing)'}`;
  for (const [k, v] of b) if (!a.has(k)) return `${k}: (missing) vs ${v}`;
  return undefined;
}
