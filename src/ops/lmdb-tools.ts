/**
 * What the LMDB inspection commands (`dump`, `stats`) share: opening a configured LMDB read-only next to
 * the processes that use it, choosing LMDBs by name, and Go's number formatting.
 *
 * Read-only (MDB_RDONLY) opening never writes the data file and only takes a reader slot in the lock
 * file, so the application and a running sync keep working; read txns are kept short (see chunk-scan.ts).
 */
import type { Config, LmdbConfig } from '../config/config.js';
import { Env } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';

/** Named DBIs a tool can open at once (per process, costs a few bytes each): more than any real LMDB has. */
const TOOL_MAX_DBS = 1024;

/** Opens a configured LMDB read-only; errors name the LMDB and its path. */
export function openReadOnly(name: string, lc: LmdbConfig): Env {
  try {
    return Env.open(lc.path, { readOnly: true, noSubdir: lc.options.noSubdir, maxDbs: Math.max(lc.options.maxDbs, TOOL_MAX_DBS) });
  } catch (err) {
    throw new Error(`lmdbs.${name}: cannot open ${lc.path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The configured LMDB names, sorted (as Go does), or the requested ones; an unknown name is an error. */
export function chooseLmdbs(config: Config, requested: string[] = []): string[] {
  const all = Object.keys(config.lmdbs).sort();
  for (const name of requested) {
    if (!config.lmdbs[name]) throw new Error(`no LMDB named ${JSON.stringify(name)} in the config (have: ${all.join(', ')})`);
  }
  return requested.length === 0 ? all : all.filter((n) => requested.includes(n));
}

/** Runs fn on each LMDB in turn; a failure is reported and the others still run. Resolves to the failure count. */
export async function forEachLmdb(names: string[], fn: (name: string) => Promise<void>, onError: (name: string, err: unknown) => void): Promise<number> {
  let failed = 0;
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      if ((err as Error).name === 'BrokenPipeError') throw err;
      onError(name, err);
      failed++;
    }
  }
  return failed;
}

/**
 * Runs fn with each named LMDB opened read-only (and closed afterwards); an LMDB that fails is logged as
 * Go logs it (`LMDB <what> error`) and the others still run. Resolves to the exit code: 1 if any failed.
 */
export async function withEachLmdbReadOnly(
  config: Config, names: string[], what: string, log: Logger, fn: (name: string, env: Env, lc: LmdbConfig) => Promise<void>,
): Promise<number> {
  const failed = await forEachLmdb(names, async (name) => {
    const lc = config.lmdbs[name]!;
    const env = openReadOnly(name, lc);
    try {
      await fn(name, env, lc);
    } finally {
      env.close();
    }
  }, (name, err) => log.error(`LMDB ${what} error`, { db: name, error: (err as Error).message }));
  return failed > 0 ? 1 : 0;
}

/**
 * Go's `%.1f` of a number >= 0. Both Go and toFixed round the exact binary value; they differ only on
 * exact ties, which Go rounds to even and toFixed up. A double is exactly halfway between two tenths
 * only when its fraction is .25 or .75 (x = odd/4); of those, .25 is where the two disagree.
 */
export function goFixed1(x: number): string {
  if (Number.isInteger(x * 4) && !Number.isInteger(x * 2)) {
    const tenths = Math.floor(x * 10); // x * 10 = tenths + 0.5 exactly
    return ((tenths % 2 === 0 ? tenths : tenths + 1) / 10).toFixed(1);
  }
  return x.toFixed(1);
}

const UNITS: Array<[number, string]> = [
  [2 ** 60, 'EB'], [2 ** 50, 'PB'], [2 ** 40, 'TB'], [2 ** 30, 'GB'], [2 ** 20, 'MB'], [2 ** 10, 'KB'],
];

/** github.com/c2h5oh/datasize ByteSize.HumanReadable(): `4.0 KB`, `1024.0 MB` (strictly above a unit), `512 B`. */
export function goHumanBytes(bytes: number): string {
  for (const [unit, label] of UNITS) {
    if (bytes > unit) return `${goFixed1(Math.floor(bytes / unit) + (bytes % unit) / unit)} ${label}`;
  }
  return `${bytes} B`;
}
