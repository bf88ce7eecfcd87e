/**
 * What the return guard (README "Coming back after a long absence") remembers in the LMDB itself, so it
 * survives restarts and kills: one entry `return_guard` in the private DBI `_sync_meta`, read and rewritten
 * whole in one write txn. `_sync*` DBIs are never snapshotted, swept, hashed or dumped as data.
 *
 * The value carries a native header (timestamp of the write, flags 0) before its JSON, so a Go instance
 * opening this LMDB in native mode (whose sweeper reads every DBI, `_sync*` included) sees a valid live entry.
 */
import { buildValue, headerValueOffset, type Env, type Txn } from '../../lmdb/index.js';
import { SYNC_DBI_PREFIX } from '../mode.js';

export const META_DBI = `${SYNC_DBI_PREFIX}_meta`;
const KEY = Buffer.from('return_guard');

export interface GuardRecord {
  /**
   * The last time (ns since the epoch) the storage held this instance's whole local state: every local
   * change was in a stored snapshot of ours (full, or a delta extending our chain), or came from merges.
   */
  syncedNano?: bigint;
  /** The last time (ms since the epoch) this instance had merged the newest listed state of every instance. */
  mergedAllMs?: number;
}

/** The record as the LMDB holds it (empty when never written, or when `_sync_meta` was dropped). */
export function readGuardRecord(env: Env): GuardRecord {
  if (!env.listDbis().includes(META_DBI)) return {};
  const dbi = env.openDbi(META_DBI);
  if (!dbi) return {};
  return env.read((txn) => parseRecord(txn.get(dbi, KEY)));
}

/**
 * Merges `update` into the record inside the caller's write txn (which commits it), creating `_sync_meta`
 * when needed. Fields only move forward: a clock step back never makes the instance look younger.
 */
export function writeGuardRecord(txn: Txn, update: GuardRecord, nowNano: bigint): GuardRecord {
  const dbi = txn.openDbi(META_DBI, { create: true })!;
  const old = parseRecord(txn.get(dbi, KEY));
  const next: GuardRecord = { ...old };
  if (update.syncedNano !== undefined && (old.syncedNano === undefined || update.syncedNano > old.syncedNano)) next.syncedNano = update.syncedNano;
  if (update.mergedAllMs !== undefined && (old.mergedAllMs === undefined || update.mergedAllMs > old.mergedAllMs)) next.mergedAllMs = update.mergedAllMs;
  const json = JSON.stringify({
    ...(next.syncedNano !== undefined && { synced_nano: next.syncedNano.toString() }),
    ...(next.mergedAllMs !== undefined && { merged_all_ms: next.mergedAllMs }),
  });
  txn.put(dbi, KEY, buildValue(nowNano, txn.id, Buffer.from(json)));
  return next;
}

function parseRecord(value: Buffer | undefined): GuardRecord {
  if (!value) return {};
  try {
    const raw = JSON.parse(value.subarray(headerValueOffset(value, 0, value.length)).toString()) as Record<string, unknown>;
    const out: GuardRecord = {};
    if (typeof raw.synced_nano === 'string' && /^\d+$/.test(raw.synced_nano)) out.syncedNano = BigInt(raw.synced_nano);
    if (typeof raw.merged_all_ms === 'number' && Number.isFinite(raw.merged_all_ms)) out.mergedAllMs = raw.merged_all_ms;
    return out;
  } catch {
    return {}; // unreadable: as if never written (the guard then cannot tell an absence, and says so)
  }
}
