/**
 * The return guard (README "Coming back after a long absence"): with the tomb sweeper on, an instance that
 * was away longer than the retention still holds, as live entries with their old timestamps, keys the fleet
 * deleted and swept meanwhile; stored as they are, every peer (which has no marker left to compare with)
 * would take them back. The rule:
 *
 * - The LMDB remembers (guard-record.ts) when the storage last held this instance's whole local state (every
 *   local change stored by a snapshot of ours, or merged from peers), less SYNCED_SLACK_MS for an application
 *   write whose timestamp was taken before that moment but committed after it; and when it last had merged
 *   the newest state of every instance.
 * - At start-up, away = now - that last "merged every instance" (or the last store, if never recorded).
 *   When away > retention - margin (margin: the sweeper's load-cutoff buffer, retention_load_cutoff_duration,
 *   1% of the retention by default) the guard is armed: no snapshot is stored before every instance of the
 *   first listing was merged (the start-up gate's own rule) and the cleanup below ran.
 * - Judges: peers whose newest merged state (newest full snapshot plus the deltas after it, as the receiver
 *   plans it; a Go peer's newest full snapshot) was stored after our reference time R and within the
 *   retention - margin (an older state may itself hold swept keys). R = the last time the storage held our
 *   whole state; for `receive`, which never stores, the last time it had merged every instance.
 * - Cleanup: each local live entry older than R that no judge's newest state holds (live or as a marker)
 *   gets a deletion marker whose timestamp is the entry's own + 1 ns: it beats exactly that stale entry
 *   (also the copy a stale peer may still publish) and loses to any newer write anywhere, so it can neither
 *   bring anything back nor hide a rewrite. Entries newer than R (written while away) are kept and stored.
 * - No judge at all (no other instance, or every one as old as this one): nothing newer exists to tell what
 *   was deleted, so nothing is removed (logged as such).
 */
import type { Dbi, Txn } from '../../lmdb/index.js';
import { HEADER_FLAG_DELETED, HEADER_SIZE, MDB_DUPSORT, HEADER_VERSION, headerTsHi, headerTsLo } from '../../lmdb/index.js';
import type { Logger } from '../../log/logger.js';
import type { EntryBatch } from '../../snapshot/batch.js';
import { sleepOn, type Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { LmdbSyncContext } from '../context.js';
import { PutBuffer } from '../merge/put-buffer.js';
import type { SyncProgress } from '../progress.js';
import type { RemoteSnapshot } from '../receive/chain-plan.js';
import { applyToApp } from '../shadow/apply.js';
import { msToNano, NS_PER_MS } from '../tombstones.js';
import { readGuardRecord, writeGuardRecord, type GuardRecord } from './guard-record.js';
import { HeldKeys } from './held-keys.js';

/** Application writes stamped up to this long before the moment the storage held everything are taken as newer. */
export const SYNCED_SLACK_MS = 1000;

export interface ReturnGuardConfig {
  /** The sweeper is on and `sweeper.return_guard` is not false. */
  enabled: boolean;
  retentionMs: number;
  /** retention - marginMs is the absence that arms the guard, and the age beyond which a peer cannot judge. */
  marginMs: number;
  /** Pause between two cleanup write txns (the sweeper's release_duration). */
  releaseMs: number;
  /** Markers written per cleanup write txn. */
  chunkEntries: number;
}

export type GuardPhase = 'off' | 'watching' | 'armed' | 'cleaning' | 'done';

/** What the status page and /status.json show. */
export interface ReturnGuardView {
  phase: GuardPhase;
  /** Why the guard is in this phase (one line). */
  note: string;
  /** The absence that arms the guard (retention - margin), ms. */
  thresholdMs: number;
  lastSyncedAt?: string;
  lastMergedAllAt?: string;
  /** This start: how long the instance had been away (ms), when known. */
  awayMs?: number;
  judges: string[];
  notJudges: string[];
  /** Entries the cleanup of this start marked deleted. */
  removed: number;
}

export interface ReturnGuardDeps {
  ctx: LmdbSyncContext;
  config: ReturnGuardConfig;
  receiveOnly: boolean;
  progress: SyncProgress;
  clock: Clock;
  log: Logger;
}

interface Doomed {
  dbi: string;
  key: Buffer;
  tsHi: number;
  tsLo: number;
}

export class ReturnGuard {
  private phase: GuardPhase = 'off';
  private note = 'sweeper off';
  private record: GuardRecord = {};
  /** Reference time R (ns): entries older than it are candidates, peers newer than it may judge. */
  private refNano = 0n;
  private awayMs: number | undefined;
  /** Per peer: the keys its merged parts hold, and the newest state merged. */
  private readonly peers = new Map<string, { held: HeldKeys; newestNano: bigint }>();
  private readonly judges = new Set<string>();
  private readonly notJudges = new Map<string, string>();
  private removed = 0;
  /** When the record was last written (ms), for the throttle. */
  private lastWriteMs = 0;
  private readonly log: Logger;

  constructor(private readonly deps: ReturnGuardDeps) {
    this.log = deps.log.with({ component: 'return-guard' });
  }

  private get thresholdMs(): number {
    return this.deps.config.retentionMs - this.deps.config.marginMs;
  }

  /** How often the record is refreshed while running (an older record only arms the guard sooner). */
  private get refreshMs(): number {
    return Math.min(this.deps.config.marginMs / 4, 3_600_000);
  }

  /**
   * At start-up, after the first listing. `peers`: other instances seen in it. Returns whether the guard
   * is armed (stores held until the cleanup ran).
   */
  begin(hasData: boolean, peers: readonly string[]): boolean {
    const { config, receiveOnly, ctx } = this.deps;
    if (!config.enabled) return false;
    this.record = readGuardRecord(ctx.env);
    this.phase = 'watching';
    const now = this.deps.clock.now();
    const seenMs = this.record.mergedAllMs ?? (this.record.syncedNano !== undefined ? Number(this.record.syncedNano / NS_PER_MS) : undefined);
    if (!hasData) {
      this.note = 'empty LMDB at start: nothing to guard';
      return false;
    }
    if (seenMs === undefined) {
      this.note = 'no record of a previous sync in this LMDB: an absence cannot be measured';
      this.log.info('return guard: ' + this.note);
      return false;
    }
    this.awayMs = now - seenMs;
    if (this.awayMs <= this.thresholdMs) {
      this.note = 'not away longer than the retention';
      return false;
    }
    const ref = receiveOnly ? (this.record.mergedAllMs !== undefined ? msToNano(this.record.mergedAllMs) : undefined) : this.record.syncedNano;
    if (ref === undefined) {
      this.note = receiveOnly ? 'away long, but never merged every instance before: nothing to compare with'
        : 'away long, but the storage never held the whole local state before: nothing to compare with';
      this.log.warn('return guard: ' + this.note, { away_ms: this.awayMs });
      return false;
    }
    this.refNano = ref;
    this.phase = 'armed';
    this.note = 'away longer than the retention: merging every instance before storing';
    this.log.warn('return guard: this instance was away longer than the sweeper retention allows; no snapshot is stored ' +
      'before every instance was merged and local entries deleted and swept meanwhile are removed', {
      away_ms: this.awayMs, threshold_ms: this.thresholdMs, reference: new Date(Number(ref / NS_PER_MS)).toISOString(), peers: peers.length,
    });
    return true;
  }

  /** Why no snapshot may be stored now, or undefined. */
  holdsStores(): string | undefined {
    return this.phase === 'armed' || this.phase === 'cleaning' ? 'return guard: waiting for every instance to be merged and the cleanup to run' : undefined;
  }

  get armed(): boolean {
    return this.phase === 'armed';
  }

  /**
   * For a part of `update`'s chain (the peer's newest state) about to be merged, while armed: `add` collects the
   * keys it holds as the merge plans it (every remote entry passes through the plan, so nothing is read twice),
   * `merged` counts them for the peer once the part was merged. Whether the peer may judge is decided at the
   * cleanup, from its newest merged state, so every part of its chain counts.
   */
  peerKeys(update: RemoteSnapshot): { add: (dbiName: string, batch: EntryBatch) => void; merged: () => void } | undefined {
    if (this.phase !== 'armed' || update.instance === this.deps.ctx.instance) return undefined;
    const part = new HeldKeys();
    return {
      add: (dbiName, b) => {
        for (let i = 0; i < b.count; i++) part.add(dbiName, b.buf, b.keyOff[i]!, b.keyLen[i]!);
      },
      merged: () => {
        let peer = this.peers.get(update.instance);
        if (!peer) {
          peer = { held: new HeldKeys(), newestNano: 0n };
          this.peers.set(update.instance, peer);
        }
        if (update.timestampNano > peer.newestNano) peer.newestNano = update.timestampNano;
        peer.held.addAll(part);
      },
    };
  }

  /** Why a peer's newest state cannot judge (not newer than our reference, or older than the retention allows). */
  private judgeProblem(newestNano: bigint): string | undefined {
    if (newestNano <= this.refNano) return 'its newest state is not newer than the last time the storage held ours';
    const floor = msToNano(this.deps.clock.now() - this.thresholdMs);
    if (newestNano < floor) return 'its newest state is older than the sweeper retention allows';
    return undefined;
  }

  /** Sorts the observed peers into judges and the others. */
  private pickJudges(): HeldKeys[] {
    const sets: HeldKeys[] = [];
    for (const [instance, peer] of this.peers) {
      const why = this.judgeProblem(peer.newestNano);
      if (why) {
        this.notJudges.set(instance, why);
        this.log.info('return guard: a peer cannot judge', { snapshot_instance: instance, reason: why });
        continue;
      }
      this.judges.add(instance);
      sets.push(peer.held);
    }
    return sets;
  }

  /**
   * Every instance of the first listing was merged: the cleanup, in short write txns (a kill leaves the
   * record unchanged, so the next start does it again; entries already marked are no longer candidates).
   */
  async finish(signal: AbortSignal): Promise<void> {
    if (this.phase !== 'armed') return;
    this.phase = 'cleaning';
    const started = Date.now();
    const held = this.pickJudges();
    if (this.judges.size === 0) {
      this.note = 'no peer recent enough to judge by: nothing removed';
      this.log.warn('return guard: no other instance has a state newer than this one\'s last synced state and within the retention: ' +
        'nothing newer tells what was deleted, every local entry is kept', { not_judges: [...this.notJudges.keys()].join(',') });
    } else {
      const doomed = this.findDoomed(held);
      await this.mark(doomed, signal);
      this.note = `removed ${this.removed} entries deleted and swept while away`;
    }
    await this.writeRecord({ mergedAllMs: this.deps.clock.now() });
    this.log.info('return guard: entries deleted and swept while this instance was away removed', {
      removed: this.removed, judges: [...this.judges].join(','), held_keys: held.reduce((n, h) => n + h.size, 0), ms: Date.now() - started,
    });
    this.phase = 'done';
  }

  /** Local live entries older than R that no judge holds (read in one read txn). */
  private findDoomed(held: HeldKeys[]): Doomed[] {
    const { env, mode } = this.deps.ctx;
    const [refHi, refLo] = [Number(this.refNano >> 32n), Number(this.refNano & 0xffffffffn)];
    const out: Doomed[] = [];
    const txn = env.beginRead();
    try {
      for (const { name, headers } of mode.syncedDbis(txn)) {
        for (const b of txn.scan(headers)) {
          for (let i = 0; i < b.count; i++) {
            const vo = b.valOff[i]!;
            if (b.valLen[i]! < HEADER_SIZE || b.buf[vo + 16] !== HEADER_VERSION || (b.buf[vo + 17]! & HEADER_FLAG_DELETED) !== 0) continue;
            const hi = headerTsHi(b.buf, vo);
            const lo = headerTsLo(b.buf, vo);
            if (hi > refHi || (hi === refHi && lo >= refLo)) continue;
            const key = [b.buf, b.keyOff[i]!, b.keyLen[i]!] as const;
            if (held.some((h) => h.has(name, ...key))) continue;
            out.push({ dbi: name, key: Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!)), tsHi: hi, tsLo: lo });
          }
        }
      }
    } finally {
      txn.abort();
    }
    return out;
  }

  /** Writes the markers, chunkEntries per write txn, release_duration apart. */
  private async mark(doomed: Doomed[], signal: AbortSignal): Promise<void> {
    const { ctx, config } = this.deps;
    for (let at = 0; at < doomed.length; at += config.chunkEntries) {
      signal.throwIfAborted();
      if (at > 0) await sleepOn(this.deps.clock, config.releaseMs, signal);
      const chunk = doomed.slice(at, at + config.chunkEntries);
      const n = await ctx.writeLock.run(() => this.markChunk(chunk));
      this.removed += n;
      this.log.debug('return guard: markers written', { count: n, done: at + chunk.length, of: doomed.length });
    }
  }

  private markChunk(chunk: Doomed[]): number {
    const { mode, env } = this.deps.ctx;
    const txn = env.beginWrite();
    let marked = 0;
    try {
      const prepared = mode.beginLoad(txn);
      const txnId = txn.id;
      const targets = new Map<string, { headers: Dbi; app: Dbi | null }>();
      for (const { name, headers } of mode.syncedDbis(txn)) targets.set(name, { headers, app: mode.kind === 'shadow' ? txn.openDbi(name) : null });
      const out = new PutBuffer();
      let pending: { name: string; headers: Dbi; app: Dbi | null } | undefined;
      // The markers of one DBI go to LMDB in one batch (the chunk comes in DBI order, as findDoomed read it).
      const flush = (): void => {
        if (!pending || out.count === 0) return;
        txn.putBatch(pending.headers, out.batch);
        const { name, headers, app } = pending;
        if (app) applyToApp(txn, { name, app, shadow: headers, dupsort: (app.flags & MDB_DUPSORT) !== 0 }, out.batch);
        out.reset();
      };
      for (const d of chunk) {
        const t = targets.get(d.dbi);
        if (!t || !stillSame(txn, t.headers, d)) continue; // changed since it was read: no longer a candidate
        if (pending?.name !== d.dbi || out.full) {
          flush();
          pending = { name: d.dbi, ...t };
        }
        const [hi, lo] = d.tsLo === 0xffffffff ? [d.tsHi + 1, 0] : [d.tsHi, d.tsLo + 1];
        out.addWithHeader(d.key, 0, d.key.length, d.key, 0, 0, hi, lo, txnId, HEADER_FLAG_DELETED, 0);
        marked++;
      }
      flush();
      txn.commit();
      mode.loadCommitted(marked + prepared > 0 ? txnId : txnId - 1);
      return marked;
    } catch (err) {
      txn.abort();
      throw err;
    }
  }

  /**
   * The syncer's loop, once the start-up is over: `caughtUp` when every listed instance's newest state is
   * merged, `synced()` whether the storage holds every local change (asked after the time is taken, so the
   * time is not later than the state it vouches for). Recorded at most every refreshMs, in one write txn.
   */
  async tick(caughtUp: boolean, synced: () => boolean): Promise<void> {
    if (this.phase !== 'watching' && this.phase !== 'done') return;
    const now = this.deps.clock.now();
    if (now - this.lastWriteMs < this.refreshMs) return;
    const t0 = this.deps.clock.nowNano();
    const update: GuardRecord = {};
    if (caughtUp) update.mergedAllMs = now;
    if (!this.deps.receiveOnly && synced()) update.syncedNano = t0 - msToNano(SYNCED_SLACK_MS);
    if (update.mergedAllMs === undefined && update.syncedNano === undefined) return;
    await this.writeRecord(update);
  }

  /**
   * One write txn of its own; it changes no synced data, so it needs no snapshot (SyncProgress.bookkeeping),
   * and in shadow mode the application's changes are recorded first, as a merge does.
   */
  private async writeRecord(update: GuardRecord): Promise<void> {
    const { ctx, progress, clock } = this.deps;
    try {
      await ctx.writeLock.run(() => {
        const txn = ctx.env.beginWrite();
        try {
          const txnId = txn.id;
          ctx.mode.beginLoad(txn);
          this.record = writeGuardRecord(txn, update, clock.nowNano());
          txn.commit();
          ctx.mode.loadCommitted(txnId);
          progress.bookkeeping(txnId - 1, txnId);
        } catch (err) {
          txn.abort();
          throw err;
        }
      });
      this.lastWriteMs = clock.now();
    } catch (err) {
      this.log.warn('return guard: the record could not be written', { error: errorMessage(err) });
    }
  }

  view(): ReturnGuardView {
    const r = this.record;
    return {
      phase: this.phase, note: this.note, thresholdMs: this.thresholdMs,
      ...(r.syncedNano !== undefined && { lastSyncedAt: new Date(Number(r.syncedNano / NS_PER_MS)).toISOString() }),
      ...(r.mergedAllMs !== undefined && { lastMergedAllAt: new Date(r.mergedAllMs).toISOString() }),
      ...(this.awayMs !== undefined && { awayMs: this.awayMs }),
      judges: [...this.judges], notJudges: [...this.notJudges.keys()], removed: this.removed,
    };
  }
}

function stillSame(txn: Txn, dbi: Dbi, d: Doomed): boolean {
  const v = txn.get(dbi, d.key);
  return v !== undefined && v.length >= HEADER_SIZE && (v[17]! & HEADER_FLAG_DELETED) === 0 &&
    headerTsHi(v, 0) === d.tsHi && headerTsLo(v, 0) === d.tsLo;
}
