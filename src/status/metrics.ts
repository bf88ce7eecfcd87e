/**
 * The syncers' metrics, read from SyncStatus and the LMDB envs when Prometheus scrapes (collect-time
 * gauges and counters: nothing is pushed from the engine), plus three histograms fed by a light
 * watcher that notices each stored snapshot, merged snapshot and lag sample as SyncStatus records them.
 *
 * Names reuse the Go implementation's where it has the same metric (lightningstream_syncer_*,
 * lightningstream_receiver_*, and its LMDB collector's unprefixed lmdb_* names), so dashboards carry
 * over; labels are `lmdb` and `syncer_instance` like Go's.
 */
import { realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Histogram, Registry } from 'prom-client';
import { dbiStats, type DbiStats } from '../ops/lmdb-stats.js';
import type { RunningLmdb, SyncRun } from '../sync/runner.js';
import { collectedCounter, collectedGauge, type Labels, type Sample } from './collect.js';
import { AGE_BUCKETS, DURATION_BUCKETS } from './instrument.js';
import { mappingStats, readSmaps } from './smaps.js';

/** Go's buckets for the climit histograms (Prometheus' default buckets). */
const TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** What one scrape reads of the LMDBs is read once for all the families that show it. */
const SCRAPE_CACHE_MS = 500;

/** The data file of a running LMDB, as configured (absolute, symlinks kept: Go's label) and as mapped (real path). */
function dataFile(run: SyncRun, l: RunningLmdb): { path: string; real: string } {
  const lc = run.config.lmdbs[l.name];
  const path = resolve(lc?.options.noSubdir ? l.env.path : join(l.env.path, 'data.mdb'));
  return { path, real: realpathSync(path) };
}

/** A snapshot's timestamp (nanoseconds since the epoch, from its name) as UNIX seconds. */
export function snapshotSeconds(timestampNano: bigint): number {
  return Number(timestampNano / 1_000_000n) / 1000;
}

/** Page-level LMDB usage: pages up to the last one in use (free pages included) against the map size. */
export function lmdbUsage(l: RunningLmdb): { lastTxnId: number; mapSize: number; usedBytes: number; pageSize: number; numReaders: number; maxReaders: number } {
  const info = l.env.info();
  const pageSize = l.env.stat().pageSize;
  return {
    lastTxnId: info.lastTxnId, mapSize: info.mapSize, usedBytes: (info.lastPageNo + 1) * pageSize, pageSize,
    numReaders: info.numReaders, maxReaders: info.maxReaders,
  };
}

export class SyncMetrics {
  readonly registry = new Registry();
  private timer: NodeJS.Timeout | undefined;
  private readonly seen = new WeakSet();
  private readonly storeDuration: Histogram<'lmdb'>;
  private readonly mergeDuration: Histogram<'lmdb'>;
  private readonly lag: Histogram<'lmdb'>;
  private readonly stopTimings: Array<() => void> = [];
  private cache: { at: number; dbis: Map<string, DbiStats[]>; smaps: string | undefined } | undefined;

  constructor(private readonly run: SyncRun, private readonly now: () => number = Date.now) {
    const lmdbs = (read: (l: RunningLmdb) => Array<Sample | undefined>) => () => this.samples(read);
    const db = (l: RunningLmdb): Labels => ({ lmdb: l.name });
    const perInstance = (l: RunningLmdb, entries: Iterable<[string, number | undefined]>): Array<Sample | undefined> =>
      [...entries].map(([instance, v]) => (v === undefined ? undefined : [{ lmdb: l.name, syncer_instance: instance }, v]));

    // From SyncStatus.
    this.counter('lightningstream_syncer_snapshots_generated_total', 'Number of snapshots generated', lmdbs((l) => [[db(l), l.syncer.status.storedCount]]));
    this.counter('lightningstream_syncer_snapshots_store_failed_permanently_total', 'Number of permanent snapshot store failures (retries exhausted)',
      lmdbs((l) => [[db(l), l.syncer.status.storeFailures]]));
    this.counter('lightningstream_syncer_snapshots_loaded_total', 'Number of remote snapshots merged into the LMDB', lmdbs((l) => [[db(l), l.syncer.status.loadedCount]]));
    this.counter('lightningstream_syncer_snapshots_merge_failed_total', 'Number of downloaded snapshots that could not be merged (corrupt, incompatible, or a local LMDB error)',
      lmdbs((l) => [[db(l), l.syncer.status.loadFailures]]));
    this.gauge('lightningstream_syncer_snapshots_generated_last_unix_seconds', 'UNIX timestamp of last generated snapshot', lmdbs((l) => {
      const s = l.syncer.status.lastStored;
      const t = s && snapshotSeconds(s.timestampNano);
      return [t === undefined ? undefined : [db(l), t]];
    }));
    this.gauge('lightningstream_syncer_snapshots_generated_last_size_bytes', 'Size of last generated snapshot in bytes', lmdbs((l) => {
      const s = l.syncer.status.lastStored;
      return [s && [db(l), s.bytes]];
    }));
    this.gauge('lightningstream_syncer_snapshots_generated_last_txn_id', 'LMDB transaction id of last generated snapshot', lmdbs((l) => {
      const s = l.syncer.status.lastStored;
      return [s && [db(l), s.txnId]];
    }));
    this.gauge('lightningstream_syncer_snapshots_loaded_last_unix_seconds', 'UNIX time when the last remote snapshot was merged', lmdbs((l) => {
      const s = l.syncer.status.lastLoaded;
      return [s && [db(l), s.at.getTime() / 1000]];
    }));
    this.gauge('lightningstream_syncer_snapshots_loaded_last_txn_id', 'LMDB transaction id of the last merge (unchanged when it wrote nothing)', lmdbs((l) => {
      const s = l.syncer.status.lastLoaded;
      return [s && [db(l), s.txnId]];
    }));
    this.gauge('lightningstream_syncer_ready', '1 once the initial sync of the LMDB completed', lmdbs((l) => [[db(l), l.syncer.status.ready ? 1 : 0]]));
    this.gauge('lightningstream_full_only_peers', 'Peers that take only full snapshots (Go, or ours with deltas off) and count as present: full snapshots are stored beside deltas while above 0',
      lmdbs((l) => [[db(l), l.syncer.status.fullOnlyPeers.length]]));
    this.counter('lightningstream_return_guard_removed_total', 'Local entries the return guard marked deleted: deleted and swept in the fleet while this instance was away',
      lmdbs((l) => [[db(l), l.syncer.status.returnGuard?.view().removed ?? 0]]));
    this.gauge('lightningstream_return_guard_holding', '1 while the return guard holds stores (back after longer than the sweeper retention, cleanup not done)',
      lmdbs((l) => [[db(l), ['armed', 'cleaning'].includes(l.syncer.status.returnGuard?.view().phase ?? '') ? 1 : 0]]));
    this.gauge('lightningstream_receiver_snapshots_last_received_seconds', 'UNIX timestamp of the newest snapshot in storage by instance', lmdbs((l) =>
      perInstance(l, [...(l.syncer.status.peers?.newest ?? [])].map(([i, s]) => [i, Number(s.timestampNano / 1_000_000n) / 1000]))));
    this.gauge('lightningstream_receiver_snapshots_newest_age_seconds', 'Age of the newest snapshot in storage by instance in seconds', lmdbs((l) =>
      perInstance(l, [...(l.syncer.status.peers?.newest ?? [])].map(([i, s]) => [i, Math.max(0, this.now() - Number(s.timestampNano / 1_000_000n)) / 1000]))));
    this.gauge('lightningstream_receiver_snapshots_last_loaded_seconds', 'UNIX timestamp (from its name) of the last snapshot merged here by instance', lmdbs((l) =>
      perInstance(l, [...l.syncer.status.lastLoadedByInstance].map(([i, s]) => [i, snapshotSeconds(s.timestampNano)]))));

    this.gauge('lightningstream_content_hash_instances', 'Instances whose content hashes are compared for the LMDB, this one included',
      lmdbs((l) => [[db(l), l.syncer.status.content.evaluate().instances]]));
    this.gauge('lightningstream_content_hash_agreeing_instances', 'Instances whose newest known content hash equals this LMDB\'s, this one included (0 while ours is unknown)',
      lmdbs((l) => [[db(l), l.syncer.status.content.evaluate().agreeing]]));

    // From the LMDB env (Go's LMDB collector names for the same values).
    this.gauge('lmdb_mapsize_bytes', 'Map size of LMDB database', lmdbs((l) => [[db(l), l.env.info().mapSize]]));
    this.gauge('lmdb_env_last_tnx_id', 'Last write transaction ID of LMDB database', lmdbs((l) => [[db(l), l.env.info().lastTxnId]]));
    this.gauge('lmdb_env_readers_current', 'Number of current readers for LMDB database', lmdbs((l) => [[db(l), l.env.info().numReaders]]));
    this.gauge('lmdb_env_readers_max', 'Maximum number of readers for LMDB database', lmdbs((l) => [[db(l), l.env.info().maxReaders]]));
    this.gauge('lmdb_filesize_bytes', 'File size of LMDB database', lmdbs((l) => {
      const lc = run.config.lmdbs[l.name];
      return [[db(l), statSync(lc?.options.noSubdir ? l.env.path : join(l.env.path, 'data.mdb')).size]];
    }));
    this.gauge('lightningstream_lmdb_used_bytes', 'Bytes of the LMDB map in use: (last page number + 1) x page size, free pages included',
      lmdbs((l) => [[db(l), lmdbUsage(l).usedBytes]]));
    this.gauge('lightningstream_lmdb_used_fraction', 'Used bytes of the LMDB map as a fraction (0-1) of the map size (1 = MDB_MAP_FULL)', lmdbs((l) => {
      const u = lmdbUsage(l);
      return [u.mapSize > 0 ? [db(l), u.usedBytes / u.mapSize] : undefined];
    }));

    // Go's LMDB collector (lmdbenv/stats): every named DBI, unlabelled totals; smaps when lmdb_scrape_smaps.
    const perDbi = (read: (d: DbiStats) => Array<[Labels, number]>) => lmdbs((l) =>
      this.dbis(l).flatMap((d) => read(d).map(([labels, v]): Sample => [{ lmdb: l.name, db: d.name, ...labels }, v])));
    const totalUsage = (l: RunningLmdb) => this.dbis(l).reduce((n, d) => n + d.usageBytes, 0);
    this.gauge('lmdb_db_usage_bytes', 'Bytes used in last version by data in databases', perDbi((d) => [[{}, d.usageBytes]]), ['lmdb', 'db']);
    this.gauge('lmdb_total_usage_bytes', 'Bytes used in last version by data in all databases', lmdbs((l) => [[db(l), totalUsage(l)]]));
    this.gauge('lmdb_total_usage_fraction', 'Bytes used in last version by data in all databases as fraction (0-1) of map size', lmdbs((l) => {
      const mapSize = l.env.info().mapSize;
      return [mapSize > 0 ? [db(l), totalUsage(l) / mapSize] : undefined];
    }));
    this.gauge('lmdb_stat_entries', 'Number of entries in named LMDB database', perDbi((d) => [[{}, d.stat.entries]]), ['lmdb', 'db']);
    this.gauge('lmdb_stat_depth', 'Tree depth in named LMDB database', perDbi((d) => [[{}, d.stat.depth]]), ['lmdb', 'db']);
    this.gauge('lmdb_stat_pages', 'Number of pages (4kB) in named LMDB database per page type (branch, leaf and overflow)', perDbi((d) => [
      [{ pagetype: 'branch' }, d.stat.branchPages], [{ pagetype: 'leaf' }, d.stat.leafPages], [{ pagetype: 'overflow' }, d.stat.overflowPages],
    ]), ['lmdb', 'db', 'pagetype']);
    if (run.config.lmdbScrapeSmaps) {
      this.gauge('lmdb_smaps_bytes', 'Memory statistics for LMDB database from /proc/self/smaps (Linux only)', lmdbs((l) => {
        const smaps = this.scrape().smaps;
        if (smaps === undefined) return [];
        const file = dataFile(run, l);
        return [...mappingStats(smaps, file.real)].map(([smap, v]): Sample => [{ lmdb: l.name, database_path: file.path, smap }, v]);
      }), ['lmdb', 'database_path', 'smap']);
    }

    // Go's concurrency limits (climit): the download and decompress token pools, by LMDB. Ours are shared by the
    // LMDBs of the process (Go has one per LMDB): the limit is the pool's, the use is each LMDB's.
    const limits = run.limits ?? [];
    const tokenLabels = ['limit_name', 'lmdb'];
    const perUse = (read: (u: { acquired: number; active: number; waiting: number }) => number) => () =>
      limits.flatMap((p) => [...p.uses()].map(([lmdb, u]): Sample => [{ limit_name: p.name, lmdb }, read(u)]));
    this.gauge('lightningstream_climit_limit', 'Configured maximum number of tokens that can be active at once', () =>
      limits.flatMap((p) => run.lmdbs.map((l): Sample => [{ limit_name: p.name, lmdb: l.name }, p.limit])), tokenLabels);
    this.counter('lightningstream_climit_acquired_total', 'Total number of times the token has been acquired', perUse((u) => u.acquired), tokenLabels);
    this.gauge('lightningstream_climit_active', 'Number of tasks currently active with the token', perUse((u) => u.active), tokenLabels);
    this.gauge('lightningstream_climit_waiting', 'Number of tasks waiting to acquire the token', perUse((u) => u.waiting), tokenLabels);
    const tokenHistogram = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: tokenLabels, buckets: TOKEN_BUCKETS, registers: [this.registry] });
    const waited = tokenHistogram('lightningstream_climit_waiting_seconds', 'Histogram of how long tasks have had to wait for the token');
    const held = tokenHistogram('lightningstream_climit_active_seconds', 'Histogram of how long tasks held the token');
    for (const p of limits) {
      this.stopTimings.push(p.onTiming((lmdb, kind, seconds) => (kind === 'wait' ? waited : held).observe({ limit_name: p.name, lmdb }, seconds)));
    }

    // Fed by the watcher.
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames: ['lmdb'], buckets, registers: [this.registry] });
    this.storeDuration = histogram('lightningstream_syncer_snapshot_store_duration_seconds', 'Time to generate and store a snapshot, retries included', DURATION_BUCKETS);
    this.mergeDuration = histogram('lightningstream_syncer_snapshot_merge_duration_seconds', 'Time to merge a downloaded snapshot into the LMDB', DURATION_BUCKETS);
    this.lag = histogram('lightningstream_syncer_snapshot_lag_seconds', 'Time from a remote snapshot\'s creation to its merge here', AGE_BUCKETS);
  }

  /** Starts the watcher (every 250 ms: cheap reference comparisons). */
  start(): void {
    this.watch();
    this.timer ??= setInterval(() => this.watch(), 250);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const stop of this.stopTimings.splice(0)) stop();
  }

  /** The statistics of the LMDB's named DBIs (read once per scrape). */
  dbis(l: RunningLmdb): DbiStats[] {
    const cache = this.scrape();
    let d = cache.dbis.get(l.name);
    if (!d) cache.dbis.set(l.name, (d = dbiStats(l.env)));
    return d;
  }

  private scrape(): { at: number; dbis: Map<string, DbiStats[]>; smaps: string | undefined } {
    const now = performance.now();
    if (!this.cache || now - this.cache.at > SCRAPE_CACHE_MS) {
      this.cache = { at: now, dbis: new Map(), smaps: this.run.config.lmdbScrapeSmaps ? readSmaps() : undefined };
    }
    return this.cache;
  }

  /** Observes what SyncStatus recorded since the last call (only the newest store/merge of a burst between two calls). */
  watch(): void {
    for (const l of this.run.lmdbs) {
      const s = l.syncer.status;
      const labels = { lmdb: l.name };
      if (s.lastStored && !this.seen.has(s.lastStored)) {
        this.seen.add(s.lastStored);
        this.storeDuration.observe(labels, s.lastStored.ms / 1000);
      }
      if (s.lastLoaded && !this.seen.has(s.lastLoaded)) {
        this.seen.add(s.lastLoaded);
        this.mergeDuration.observe(labels, s.lastLoaded.ms / 1000);
      }
      for (let i = s.lagSamples.length - 1; i >= 0; i--) {
        const sample = s.lagSamples[i]!;
        if (this.seen.has(sample)) break;
        this.seen.add(sample);
        this.lag.observe(labels, Math.max(0, sample.lagSeconds));
      }
    }
  }

  private samples(read: (l: RunningLmdb) => Array<Sample | undefined>): Sample[] {
    const out: Sample[] = [];
    for (const l of this.run.lmdbs) {
      try {
        for (const s of read(l)) if (s) out.push(s);
      } catch {
        // The env closed during shutdown, or its file vanished: this LMDB has no sample this time.
      }
    }
    return out;
  }

  private counter(name: string, help: string, read: () => Sample[], labelNames = this.labelNames(name)): void {
    collectedCounter(this.registry, name, help, labelNames, read);
  }

  private gauge(name: string, help: string, read: () => Sample[], labelNames = this.labelNames(name)): void {
    collectedGauge(this.registry, name, help, labelNames, read);
  }

  private labelNames(name: string): string[] {
    return name.startsWith('lightningstream_receiver_') ? ['lmdb', 'syncer_instance'] : ['lmdb'];
  }
}
