/**
 * A Storage wrapper counting what is asked of the storage: calls, failures, bytes and durations per
 * LMDB, plus the last success and failure of each kind of call per LMDB, which the storage_list,
 * storage_load and storage_store health trackers evaluate (every attempt counts, retries included,
 * as in Go: a store that keeps failing inside its retry loop makes storage_store fail).
 *
 * runSync wraps the storage it creates, before any syncer uses it:
 *   const storage = instrumentStorage(await createStorage(...));
 * The HTTP status server recognises the wrapper in SyncRun.storage and serves its metrics.
 *
 * The LMDB of a call comes from the object name (`<db>__...`) or the listing prefix (`<db>__`);
 * calls about other names (e.g. a listing of the whole bucket) are counted with lmdb="".
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOURNAL_PREFIX, NAME_SEPARATOR, parseObjectName } from '../snapshot/name.js';
import { parseJournalObject, parseListedObject } from '../storage/snapshot-store.js';
import { listAfter } from '../storage/common.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { errorMessage } from '../util/errors.js';
import { metrics } from './registry.js';
import { registerRemoteCallMetrics } from './remote-call-metrics.js';

// The remote stores report their calls from their first one (a bucket check at start-up): this module is
// loaded before the storage is opened when the HTTP server is on (src/cli/sync.ts).
registerRemoteCallMetrics(metrics.registry);

export type StorageOp = 'list' | 'load' | 'store' | 'delete';

/** The last outcomes of one kind of call for one LMDB (times in ms since the epoch). */
export interface OutcomeState {
  lastOkAt?: number;
  lastFailAt?: number;
  /** When the current run of failures began; undefined when the last call succeeded. */
  failingSince?: number;
  lastError?: string;
  consecutiveFailures: number;
}

/** Go's buckets for snapshot ages (lightningstream_receiver_snapshots_last_received_age_seconds). */
const M = 60;
const H = 60 * M;
const D = 24 * H;
export const AGE_BUCKETS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 30, M, 2 * M, 5 * M, 10 * M, 30 * M, H, 2 * H, 6 * H, 12 * H, D, 3 * D, 7 * D, 14 * D, 30 * D];
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

function dbOfPrefix(prefix: string): string {
  if (prefix.startsWith(JOURNAL_PREFIX)) return dbOfPrefix(prefix.slice(JOURNAL_PREFIX.length));
  const at = prefix.indexOf(NAME_SEPARATOR);
  return at > 0 && at + NAME_SEPARATOR.length === prefix.length ? prefix.slice(0, at) : '';
}

function describeName(name: string): { db: string; instance: string } {
  const parsed = parseObjectName(name);
  if (parsed.ok) return { db: parsed.value.db, instance: parsed.value.instance };
  const unprefixed = name.startsWith(JOURNAL_PREFIX) ? name.slice(JOURNAL_PREFIX.length) : name;
  const at = unprefixed.indexOf(NAME_SEPARATOR);
  return { db: at > 0 ? unprefixed.slice(0, at) : '', instance: '' };
}

class StorageMetrics {
  readonly registry = new Registry();
  private readonly opts = { registers: [this.registry] };
  // Go's names, unlabelled as in Go (one total for the process)...
  readonly listCalls = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_list_calls_total', help: 'Number of snapshot list calls' });
  readonly loadCalls = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_load_calls_total', help: 'Number of snapshot load calls' });
  readonly loadBytes = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_load_bytes_total', help: 'Number of bytes downloaded successfully' });
  readonly storeCalls = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_store_calls_total', help: 'Number of snapshot store calls' });
  readonly storeBytes = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_store_bytes_total', help: 'Number of bytes stored successfully' });
  // ...and ours by LMDB.
  readonly listCallsByDb = new Counter({ ...this.opts, name: 'lightningstream_storage_list_calls_total', help: 'Number of storage list calls by LMDB (lmdb="" for listings of other names)', labelNames: ['lmdb'] });
  readonly loadCallsByDb = new Counter({ ...this.opts, name: 'lightningstream_storage_load_calls_total', help: 'Number of storage load calls by LMDB', labelNames: ['lmdb'] });
  readonly loadBytesByDb = new Counter({ ...this.opts, name: 'lightningstream_storage_load_bytes_total', help: 'Number of bytes downloaded successfully by LMDB', labelNames: ['lmdb'] });
  readonly storeCallsByDb = new Counter({ ...this.opts, name: 'lightningstream_storage_store_calls_total', help: 'Number of storage store calls by LMDB', labelNames: ['lmdb'] });
  readonly storeBytesByDb = new Counter({ ...this.opts, name: 'lightningstream_storage_store_bytes_total', help: 'Number of bytes stored successfully by LMDB', labelNames: ['lmdb'] });
  // Labelled as in Go.
  readonly listFailed = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_list_failed_total', help: 'Number of snapshot failed list attempts', labelNames: ['lmdb'] });
  readonly loadFailed = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_load_failed_total', help: 'Number of snapshot failed load attempts', labelNames: ['lmdb', 'syncer_instance'] });
  readonly storeFailed = new Counter({ ...this.opts, name: 'lightningstream_syncer_snapshots_store_failed_attempts_total', help: 'Number of snapshot failed store attempts', labelNames: ['lmdb'] });
  readonly inStorageCount = new Gauge({ ...this.opts, name: 'lightningstream_receiver_snapshots_in_storage_count', help: 'Number of snapshots in storage (as of the last listing)', labelNames: ['lmdb'] });
  readonly inStorageBytes = new Gauge({ ...this.opts, name: 'lightningstream_receiver_snapshots_in_storage_bytes', help: 'Number of bytes occupied by snapshots in storage (as of the last listing)', labelNames: ['lmdb'] });
  readonly receivedAge = new Histogram({
    ...this.opts, name: 'lightningstream_receiver_snapshots_last_received_age_seconds',
    help: 'Age of last received snapshot by instance in seconds (observed when a listing first shows it)',
    labelNames: ['lmdb', 'syncer_instance'], buckets: AGE_BUCKETS,
  });
  readonly duration = new Histogram({
    ...this.opts, name: 'lightningstream_storage_request_duration_seconds',
    help: 'Duration of storage calls (list, load, store, delete) by outcome', labelNames: ['op', 'result'],
    buckets: DURATION_BUCKETS,
  });
}

/** A Storage that forwards every call to `inner` and records its outcome. */
export class InstrumentedStorage implements Storage {
  readonly metrics = new StorageMetrics();
  private readonly outcomes = new Map<string, OutcomeState>();
  /** Newest snapshot name per `db/instance` as of the last listing, to notice new ones. */
  private readonly newestSeen = new Map<string, { name: string; timestamp: bigint }>();

  constructor(readonly inner: Storage, private readonly now: () => number = Date.now) {}

  /** The registry holding the storage metrics (merged into /metrics by the status server). */
  get registry(): Registry {
    return this.metrics.registry;
  }

  /** The last outcomes of `op` calls for LMDB `db` (a copy). */
  outcome(op: StorageOp, db: string): OutcomeState {
    return { ...(this.outcomes.get(`${op}\0${db}`) ?? { consecutiveFailures: 0 }) };
  }

  async list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    const db = dbOfPrefix(prefix);
    this.countList(db);
    const objects = await this.track('list', db, () => this.inner.list(prefix, signal), () => this.metrics.listFailed.inc({ lmdb: db }));
    if (db !== '') this.observeListing(db, prefix, objects);
    return objects;
  }

  async listAfter(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    const db = dbOfPrefix(prefix);
    this.countList(db);
    const objects = await this.track('list', db, () => listAfter(this.inner, prefix, startAfter, signal), () => this.metrics.listFailed.inc({ lmdb: db }));
    if (db !== '') this.observeListing(db, prefix, objects);
    return objects;
  }

  /**
   * Counts the call when the stream opens; its outcome and bytes when the stream ends or fails. Whole-object
   * loads (loadAll() in storage/common.ts, e.g. the marker object) come through here too: they count as 'load'.
   */
  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    const { db, instance } = describeName(name);
    this.metrics.loadCalls.inc();
    this.metrics.loadCallsByDb.inc({ lmdb: db });
    const started = this.now();
    const failed = (err: unknown) => {
      this.metrics.loadFailed.inc({ lmdb: db, syncer_instance: instance });
      this.record('load', db, started, err);
    };
    let source: Readable;
    try {
      source = await this.inner.loadStream(name, signal);
    } catch (err) {
      failed(err);
      throw err;
    }
    let bytes = 0;
    return pipeline(source, counter((n) => { bytes += n; }), (err) => {
      if (err) { failed(err); return; }
      this.metrics.loadBytes.inc(bytes);
      this.metrics.loadBytesByDb.inc({ lmdb: db }, bytes);
      this.record('load', db, started);
    });
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    const { db } = describeName(name);
    this.metrics.storeCalls.inc();
    this.metrics.storeCallsByDb.inc({ lmdb: db });
    let bytes = 0;
    let body: Buffer | Readable = data;
    if (Buffer.isBuffer(data)) {
      bytes = data.length;
    } else {
      // pipeline: destroying the counted stream (a failed store) also destroys the caller's source.
      body = pipeline(data, counter((n) => { bytes += n; }), () => {});
    }
    try {
      await this.track('store', db, () => this.inner.store(name, body, signal), () => this.metrics.storeFailed.inc({ lmdb: db }));
    } catch (err) {
      if (body !== data) (body as Readable).destroy();
      throw err;
    }
    this.metrics.storeBytes.inc(bytes);
    this.metrics.storeBytesByDb.inc({ lmdb: db }, bytes);
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.track('delete', describeName(name).db, () => this.inner.delete(name, signal));
  }

  get local(): boolean | undefined {
    return this.inner.local;
  }

  /** Passes the backend's change notifications through (fs: inotify), when it has them. */
  get watch(): Storage['watch'] {
    const inner = this.inner;
    return inner.watch ? (onChange) => inner.watch!(onChange) : undefined;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private countList(db: string): void {
    this.metrics.listCalls.inc();
    this.metrics.listCallsByDb.inc({ lmdb: db });
  }

  private async track<T>(op: StorageOp, db: string, call: () => Promise<T>, onFailure?: () => void): Promise<T> {
    const started = this.now();
    try {
      const result = await call();
      this.record(op, db, started);
      return result;
    } catch (err) {
      onFailure?.();
      this.record(op, db, started, err);
      throw err;
    }
  }

  private record(op: StorageOp, db: string, started: number, err?: unknown): void {
    const at = this.now();
    this.metrics.duration.observe({ op, result: err === undefined ? 'ok' : 'error' }, (at - started) / 1000);
    const key = `${op}\0${db}`;
    const s = this.outcomes.get(key) ?? { consecutiveFailures: 0 };
    if (err === undefined) {
      s.lastOkAt = at;
      s.failingSince = undefined;
      s.consecutiveFailures = 0;
    } else {
      s.lastFailAt = at;
      s.failingSince ??= at;
      s.lastError = errorMessage(err);
      s.consecutiveFailures++;
    }
    this.outcomes.set(key, s);
  }

  /**
   * A listing of `<db>__` gives the full snapshots in the storage (count, bytes); it and a journal listing (deltas,
   * references to full snapshots) give each instance's newest snapshot, whose age is observed once per new one.
   */
  private observeListing(db: string, prefix: string, objects: ObjectInfo[]): void {
    const journal = prefix.startsWith(JOURNAL_PREFIX);
    let count = 0;
    let bytes = 0;
    const newest = new Map<string, { name: string; timestamp: bigint }>();
    for (const obj of objects) {
      const entry = journal ? parseJournalObject(obj, db)?.snapshot : parseListedObject(obj, db);
      if (!entry || 'reason' in entry) continue;
      if (!journal && entry.kind === 'full') {
        count++;
        bytes += obj.size;
      }
      const prev = newest.get(entry.instance);
      if (!prev || prev.timestamp < entry.timestampNano) newest.set(entry.instance, { name: entry.name, timestamp: entry.timestampNano });
    }
    if (!journal) {
      this.metrics.inStorageCount.set({ lmdb: db }, count);
      this.metrics.inStorageBytes.set({ lmdb: db }, bytes);
    }
    const now = this.now();
    for (const [instance, snap] of newest) {
      const key = `${db}/${instance}`;
      const seen = this.newestSeen.get(key);
      if (seen !== undefined && seen.timestamp >= snap.timestamp) continue;
      this.newestSeen.set(key, snap);
      const ageSeconds = Math.max(0, now - Number(snap.timestamp / 1_000_000n)) / 1000;
      this.metrics.receivedAge.observe({ lmdb: db, syncer_instance: instance }, ageSeconds);
    }
  }
}

function counter(add: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      add(chunk.length);
      cb(null, chunk);
    },
  });
}

/** Wraps a storage so its calls are counted (see InstrumentedStorage); wrapping twice returns the same wrapper. */
export function instrumentStorage(storage: Storage): InstrumentedStorage {
  return storage instanceof InstrumentedStorage ? storage : new InstrumentedStorage(storage);
}
