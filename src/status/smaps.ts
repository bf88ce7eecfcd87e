/**
 * The memory statistics of an LMDB's mapping in this process, from /proc/self/smaps (Linux), for Go's
 * lmdb_smaps_bytes: every `Key: N kB` line of the file's first mapping, the key lower-cased, in bytes.
 */
import { readFileSync } from 'node:fs';

/** Reads /proc/self/smaps; undefined where there is none (not Linux). */
export function readSmaps(): string | undefined {
  try {
    return readFileSync('/proc/self/smaps', 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The statistics of the first mapping of `file` (its real path, as the kernel shows it) in `smaps`; empty when it is not mapped. */
export function mappingStats(smaps: string, file: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = smaps.split('\n');
  const header = lines.findIndex((l) => l.endsWith(` ${file}`) && /^[0-9a-f]+-[0-9a-f]+ /.test(l));
  if (header < 0) return out;
  for (const line of lines.slice(header + 1)) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (!m) break;
    out.set(m[1]!.toLowerCase(), Number(m[2]) * 1024);
  }
  return out;
}
