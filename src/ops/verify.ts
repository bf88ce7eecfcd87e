/**
 * `lightningstream verify`: compares a local LMDB with the newest state of every instance in the storage
 * (its newest full snapshot and the deltas after it, see verify-chain.ts), one read txn per instance,
 * streaming: a merge-join of the local DBIs (header scans) against the decoded snapshot stream.
 *
 * Verdicts, per instance:
 * - `equal`: the same keys with the same timestamps, deleted flags and values in every synced DBI.
 * - `covered`: merging that snapshot here would change nothing: every snapshot entry loses the merge
 *   rule to the local one (or is the same), or is a deletion older than the sweeper's cutoff whose key is
 *   absent here (the sweeper removed it here, or a merge would not add it), and keys only here are left alone.
 * - `differs`: some snapshot entry would win here, or is absent here and would be added.
 *
 * Only this direction can be checked from here: an instance's newest snapshot is its state when it last
 * stored, not after the merges it did since, so "the peer has everything of ours" cannot be read from it.
 *
 * Native mode compares the application DBIs; shadow mode the `_sync_shadow_*` DBIs, which hold what this
 * instance's snapshots hold (application changes not yet recorded there are not seen).
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import type { Config, LmdbConfig } from '../config/config.js';
import type { Dbi, Env, Txn } from '../lmdb/index.js';
import { comparatorForFlags } from '../lmdb/key-order.js';
import type { EntryBatch } from '../snapshot/batch.js';
import type { ContentHash } from '../snapshot/content-hash.js';
import { decodeSnapshot } from '../snapshot/decode.js';
import { SnapshotFormatError } from '../snapshot/errors.js';
import { SnapshotStore } from '../storage/snapshot-store.js';
import { NotFoundError, type Storage } from '../storage/storage.js';
import { groupByInstance, planChain, type RemoteSnapshot } from '../sync/receive/chain-plan.js';
import { listDataDbis, SHADOW_DBI_PREFIX } from '../sync/mode.js';
import { hashDbiSources } from '../sync/content/local-hash.js';
import { headerScan, nativeDbiSource } from '../sync/native-source.js';
import { ScanCursor } from '../sync/merge/scan-cursor.js';
import { sweeperLoadCutoffNano } from '../sync/tombstones.js';
import { openReadOnly } from './lmdb-tools.js';
import { chainEvents, type ChainObject } from './verify-chain.js';
import { checkSameOrder, DbiJoin, differingKeys, Findings, type KeyReport, type Tally } from './verify-join.js';

export type Verdict = 'equal' | 'covered' | 'differs';

export interface InstanceResult {
  instance: string;
  /** This instance's own snapshots. */
  own: boolean;
  /** The objects compared against: the full snapshot, then the deltas after it. */
  objects: string[];
  verdict: Verdict;
  tally: Tally;
  differingKeys: number;
  /** The first differing keys (at most maxKeys), in key order per DBI. */
  differing: KeyReport[];
  /** The first keys only here (at most maxKeys). */
  onlyHere: KeyReport[];
}

export interface LmdbResult {
  db: string;
  mode: 'native' | 'shadow';
  /** The local LMDB's content hash (README, "Content hashes"), read in the first comparison's read txn's env. */
  contentHash: ContentHash;
  instances: InstanceResult[];
}

/** Reports the bytes read of one comparison's objects (progress display); done() when it ends. */
export interface ComparisonProgress {
  onBytes(n: number): void;
  done(): void;
}

export interface VerifyOptions {
  ownInstance: string;
  maxKeys: number;
  signal: AbortSignal;
  /** Deletions older than this (ns) that are absent here do not count as differences (sweeper enabled). */
  sweptBeforeNano?: bigint;
  progress?: (db: string, instance: string, totalBytes: number) => ComparisonProgress;
}

/** The sweeper's load cutoff now, when the config enables the sweeper (what the sync engine applies). */
export function sweptBeforeNano(config: Config, nowMs = Date.now()): bigint | undefined {
  return sweeperLoadCutoffNano(config.sweeper, nowMs);
}

export function verdictOf(t: Tally): Verdict {
  if (t.snapshotWins + t.missingHere > 0) return 'differs';
  return t.newerHere + t.sweptHere + t.onlyHere === 0 ? 'equal' : 'covered';
}

/** Compares LMDB `db` with the newest state of every instance in the storage, instances by name. */
export async function verifyLmdb(db: string, lc: LmdbConfig, storage: Storage, opts: VerifyOptions): Promise<LmdbResult> {
  const byInstance = groupByInstance(await new SnapshotStore(storage).listSnapshots(db, opts.signal));
  const native = lc.schemaTracksChanges;
  const env = openReadOnly(db, lc);
  try {
    const instances: InstanceResult[] = [];
    for (const instance of [...byInstance.keys()].sort()) {
      const chain = planChain(byInstance.get(instance)!);
      if (chain.length === 0) throw new Error(`LMDB ${db}: instance ${instance} has deltas but no full snapshot in the storage to start from`);
      const progress = opts.progress?.(db, instance, chain.reduce((n, s) => n + s.size, 0));
      let findings: Findings;
      try {
        findings = await compareWithChain(env, native, chain, storage, opts, progress);
      } finally {
        progress?.done();
      }
      instances.push({
        instance, own: instance === opts.ownInstance, objects: chain.map((s) => s.name), verdict: verdictOf(findings.tally),
        tally: findings.tally, differingKeys: differingKeys(findings.tally), differing: findings.differing, onlyHere: findings.onlyHere,
      });
    }
    return { db, mode: native ? 'native' : 'shadow', contentHash: await hashLocal(env, native, opts.signal), instances };
  } finally {
    env.close();
  }
}

/** The content hash of a configured LMDB (opened read-only, one read txn). */
export async function localContentHash(db: string, lc: LmdbConfig, signal: AbortSignal): Promise<ContentHash> {
  const env = openReadOnly(db, lc);
  try {
    return await hashLocal(env, lc.schemaTracksChanges, signal);
  } finally {
    env.close();
  }
}

/** What a snapshot of this LMDB would hold, hashed as the running engine hashes it. */
async function hashLocal(env: Env, native: boolean, signal: AbortSignal): Promise<ContentHash> {
  const local = openLocalDbis(env, native);
  const txn = env.beginRead();
  try {
    return await hashDbiSources([...local].map(([name, dbi]) => nativeDbiSource(txn, dbi, name)), signal);
  } finally {
    txn.abort();
  }
}

/** The local DBIs holding native headers, by the DBI name snapshots use. Opened before any read txn (LMDB rule). */
function openLocalDbis(env: Env, native: boolean): Map<string, Dbi> {
  const out = new Map<string, Dbi>();
  for (const name of listDataDbis(env)) {
    const dbi = env.openDbi(native ? name : SHADOW_DBI_PREFIX + name);
    if (dbi) out.set(name, dbi);
  }
  return out;
}

async function compareWithChain(
  env: Env, native: boolean, chain: RemoteSnapshot[], storage: Storage, opts: VerifyOptions, progress: ComparisonProgress | undefined,
): Promise<Findings> {
  const local = openLocalDbis(env, native);
  const comparatorFor = (name: string, flags: number | undefined) => comparatorForFlags(local.get(name)?.flags ?? flags ?? 0);
  const streams: Readable[] = [];
  const txn = env.beginRead();
  try {
    const objects: ChainObject[] = [];
    for (const snap of chain) {
      const stream = await openObject(storage, snap.name, opts.signal, progress);
      streams.push(stream);
      objects.push({ name: snap.name, events: decodeSnapshot(stream, { name: snap.name, signal: opts.signal }) });
    }
    const findings = new Findings(opts.maxKeys);
    const seen = new Set<string>();
    const joinFor = (name: string, flags: number | undefined) =>
      new DbiJoin(name, localCursor(txn, local.get(name), name), comparatorFor(name, flags), opts.sweptBeforeNano, findings);
    let join: DbiJoin | undefined;
    for await (const ev of chainEvents(objects, comparatorFor)) {
      opts.signal.throwIfAborted();
      if (ev.type === 'dbi-start') {
        if (seen.has(ev.name)) throw new SnapshotFormatError(chain[0]!.name, `DBI ${JSON.stringify(ev.name)} appears twice`);
        seen.add(ev.name);
        checkSameOrder(ev.name, ev.flags, local.get(ev.name)?.flags);
        join = joinFor(ev.name, ev.flags);
      } else if (ev.type === 'entries') {
        join!.add(ev.batch);
      } else {
        checkSameOrder(ev.name, ev.flags, local.get(ev.name)?.flags);
        join!.finish();
      }
    }
    for (const name of local.keys()) if (!seen.has(name)) joinFor(name, undefined).finish();
    return findings;
  } finally {
    txn.abort();
    for (const s of streams) s.destroy();
  }
}

function localCursor(txn: Txn, dbi: Dbi | undefined, name: string): ScanCursor<EntryBatch> | undefined {
  return dbi ? new ScanCursor(headerScan(txn, dbi, name)) : undefined;
}

/** The object's bytes; a missing one is an error naming it (removed since the listing). */
async function openObject(storage: Storage, name: string, signal: AbortSignal, progress: ComparisonProgress | undefined): Promise<Readable> {
  let stream: Readable;
  try {
    stream = await storage.loadStream(name, signal);
  } catch (err) {
    if (err instanceof NotFoundError) throw new Error(`snapshot ${name}: not found (removed since the listing? run verify again)`, { cause: err });
    throw err;
  }
  if (!progress) return stream;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      progress.onBytes(chunk.length);
      done(null, chunk);
    },
  });
  return pipeline(stream, counter, () => undefined);
}
