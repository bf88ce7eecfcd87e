import type { EntryBatch } from '../../snapshot/batch.js';
import { isWinner, type DbiPlan } from './merge-plan.js';
import type { SnapshotSpool, SpooledDbi } from './spool.js';

/** The entries a plan found winning, in key order, ready to be written. */
export interface WinnerSource {
  count: number;
  /** Index (among the winners) from which keys sort after every local key the plan saw, or -1. */
  appendFrom: number;
  batches(): Iterable<EntryBatch>;
}

/**
 * The winning entries of one spooled DBI, gathered outside the write lock so the write txn only walks
 * what it writes. When every entry wins (a first load) they are the spooled DBI itself, with no copy;
 * otherwise the winners are copied into `into` (memory, or its temporary file past its limit).
 */
export function selectWinners(spool: SnapshotSpool, dbi: SpooledDbi, plan: DbiPlan, into: () => SnapshotSpool): WinnerSource {
  const { winners, remoteEntries } = plan.stats;
  if (winners === remoteEntries) {
    return { count: winners, appendFrom: plan.appendFrom, batches: () => spool.batches(dbi) };
  }
  if (winners === 0) return { count: 0, appendFrom: -1, batches: () => [] };
  const target = into();
  target.beginDbi(dbi.name);
  let entry = 0;
  let appendFrom = -1;
  let copied = 0;
  for (const batch of spool.batches(dbi)) {
    for (let i = 0; i < batch.count; i++, entry++) {
      if (!isWinner(plan, entry)) continue;
      if (entry === plan.appendFrom) appendFrom = copied;
      target.addEntry(batch, i);
      copied++;
    }
  }
  const copy = target.endDbi(dbi.name, dbi.flags, dbi.transform, copied);
  return { count: copied, appendFrom, batches: () => target.batches(copy) };
}
