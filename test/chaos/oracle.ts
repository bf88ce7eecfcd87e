// The chaos suite's oracle: the expected final state of every (dbi, key), computed from the op log alone
// with last-writer-wins under a total order, independently of the engine (nothing from src/):
//   the highest timestamp wins; at equal timestamps the bytewise LOWER value wins (a prefix is lower);
//   at equal timestamps and equal value bytes, a deletion wins over a live entry.
// A deleted winner stays as a deletion marker (no sweeper).
import { createHash } from 'node:crypto';
import type { DumpEntry } from './app-client.js';

export interface LoggedOp {
  seq: number;
  instance: number;
  dbi: string;
  key: string; // hex
  ts: bigint;
  deleted: boolean;
  value: string; // hex, '' for a deletion
  applied?: boolean; // false: the app skipped it (dominated by what its LMDB already held)
  tie?: number; // id of the equal-timestamp group it belongs to
}

export interface Expected {
  ts: bigint;
  deleted: boolean;
  value: string; // hex
}

/** Does a win over b? */
export function beats(a: Expected, b: Expected): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  const c = Buffer.compare(Buffer.from(a.value, 'hex'), Buffer.from(b.value, 'hex'));
  if (c !== 0) return c < 0;
  return a.deleted && !b.deleted;
}

export const idOf = (dbi: string, key: string): string => `${dbi}/${key}`;

export function expectedState(ops: LoggedOp[]): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const op of ops) {
    const id = idOf(op.dbi, op.key);
    const cand: Expected = { ts: op.ts, deleted: op.deleted, value: op.deleted ? '' : op.value };
    const cur = out.get(id);
    if (!cur || beats(cand, cur)) out.set(id, cand);
  }
  return out;
}

/** The same digest lmdb_app.py computes over its dump. */
export function digestOfExpected(state: Map<string, Expected>): string {
  const rows = [...state].map(([id, e]) => {
    const slash = id.indexOf('/');
    return [id.slice(0, slash), id.slice(slash + 1), e] as const;
  });
  rows.sort((x, y) => (x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  const h = createHash('sha256');
  for (const [dbi, key, e] of rows) h.update(`${dbi}|${key}|${e.ts}|${e.deleted ? 1 : 0}|${e.value}\n`);
  return h.digest('hex');
}

export function stateOfDump(entries: DumpEntry[]): Map<string, Expected> {
  const m = new Map<string, Expected>();
  for (const [dbi, key, ts, deleted, value] of entries) m.set(idOf(dbi, key), { ts: BigInt(ts), deleted, value });
  return m;
}

export interface Difference {
  id: string;
  expected?: Expected;
  actual?: Expected;
}

export function compare(expected: Map<string, Expected>, actual: Map<string, Expected>): Difference[] {
  const diffs: Difference[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a || a.ts !== e.ts || a.deleted !== e.deleted || a.value !== e.value) diffs.push({ id, expected: e, actual: a });
  }
  for (const [id, a] of actual) if (!expected.has(id)) diffs.push({ id, actual: a });
  return diffs;
}

const short = (hex: string, max = 48): string => (hex.length > max ? `${hex.slice(0, max)}..(${hex.length / 2} B)` : hex);

export function describeEntry(e?: Expected): string {
  if (!e) return '<absent>';
  return e.deleted ? `<deleted>@${e.ts}` : `${short(e.value) || '""'}@${e.ts}`;
}

export function describeId(id: string): string {
  const slash = id.indexOf('/');
  return `${id.slice(0, slash)}/${short(id.slice(slash + 1), 64)}`;
}
