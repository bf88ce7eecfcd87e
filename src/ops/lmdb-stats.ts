/**
 * The text of `lightningstream stats` for one LMDB, line for line what the Go command prints
 * (cmd/lightningstream/commands/stats.go), with one extra line for the main DB's statistics:
 *
 *     main: Env info: {MapSize:1073741824 LastPNO:12 LastTxnID:7 MaxReaders:126 NumReaders:1}
 *     main: Env stat: {PSize:4096 Depth:1 BranchPages:0 LeafPages:1 OverflowPages:0 Entries:2}
 *     main: dbi data: {PSize:4096 Depth:1 BranchPages:0 LeafPages:1 OverflowPages:0 Entries:3} (4.0 KB)
 *     main: Total Used: 8.0 KB / 1024.0 MB (~ 0.0 %)
 *
 * Every named DBI is listed (the `_sync*` ones too); "Total Used" adds the pages of the named DBIs and
 * compares them with the map size. All of it is read in one short read txn.
 */
import type { Env, Stat } from '../lmdb/index.js';
import { goFixed1, goHumanBytes } from './lmdb-tools.js';

/** Go's `%+v` of an lmdb.Stat. */
function goStat(s: Stat): string {
  return `{PSize:${s.pageSize} Depth:${s.depth} BranchPages:${s.branchPages} LeafPages:${s.leafPages} ` +
    `OverflowPages:${s.overflowPages} Entries:${s.entries}}`;
}

/** Bytes of the map the pages of a DBI take (Go's stats.PageUsageBytes). */
export function pageUsageBytes(s: Stat): number {
  return s.pageSize * (s.branchPages + s.leafPages + s.overflowPages);
}

/** One named DBI's statistics (mdb_stat), persistent flags and page usage. */
export interface DbiStats {
  name: string;
  flags: number;
  stat: Stat;
  usageBytes: number;
}

/**
 * Every named DBI's statistics (the `_sync*` ones too, as Go's LMDB collector reads them), in LMDB order,
 * read in one short read txn; a DBI dropped by another process since the listing is left out.
 */
export function dbiStats(env: Env): DbiStats[] {
  const names = env.listDbis();
  const dbis = names.map((n) => env.openDbi(n));
  return env.read((txn) => dbis.flatMap((dbi, i) => {
    if (!dbi) return [];
    const stat = txn.stat(dbi);
    return [{ name: names[i]!, flags: dbi.flags, stat, usageBytes: pageUsageBytes(stat) }];
  }));
}

export function lmdbStatsLines(name: string, env: Env): string[] {
  const dbiNames = env.listDbis();
  const dbis = dbiNames.map((n) => env.openDbi(n));
  return env.read((txn) => {
    const info = env.info();
    const lines = [
      `${name}: Env info: {MapSize:${info.mapSize} LastPNO:${info.lastPageNo} LastTxnID:${info.lastTxnId} ` +
        `MaxReaders:${info.maxReaders} NumReaders:${info.numReaders}}`,
      `${name}: Env stat: ${goStat(env.stat())}`,
    ];
    let used = 0;
    dbis.forEach((dbi, i) => {
      if (!dbi) return; // dropped by another process since the listing
      const stat = txn.stat(dbi);
      const bytes = pageUsageBytes(stat);
      used += bytes;
      lines.push(`${name}: dbi ${dbiNames[i]}: ${goStat(stat)} (${goHumanBytes(bytes)})`);
    });
    const pct = info.mapSize > 0 ? (100 * used) / info.mapSize : 0;
    lines.push(`${name}: Total Used: ${goHumanBytes(used)} / ${goHumanBytes(info.mapSize)} (~ ${goFixed1(pct)} %)`);
    return lines;
  });
}
