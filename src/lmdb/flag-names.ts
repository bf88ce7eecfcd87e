/**
 * LMDB DBI flags as written in `dbi_options.<dbi>.override_create_flags`: names of the C constants
 * (`MDB_DUPSORT`, also without the `MDB_` prefix, any case), decimal or `0x` hex numbers, separated by
 * `|`, `,`, `+` or spaces. Only persistent DBI flags are allowed (MDB_CREATE is not one).
 */
import {
  MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERDUP, MDB_INTEGERKEY, MDB_PERSISTENT_FLAGS, MDB_REVERSEDUP, MDB_REVERSEKEY,
} from './flags.js'; // plain constants, no native code

export const DBI_FLAGS: Readonly<Record<string, number>> = {
  MDB_REVERSEKEY, MDB_DUPSORT, MDB_INTEGERKEY, MDB_DUPFIXED, MDB_INTEGERDUP, MDB_REVERSEDUP,
};
const ALL_VALID = MDB_PERSISTENT_FLAGS;

export function parseDbiFlags(text: string): number {
  let flags = 0;
  for (const raw of text.split(/[|,+ ]/)) {
    const p = raw.trim().toUpperCase();
    if (p === '') continue;
    const named = DBI_FLAGS[p] ?? DBI_FLAGS[`MDB_${p}`];
    if (named !== undefined) {
      flags |= named;
      continue;
    }
    const value = /^0X[0-9A-F]{1,4}$/.test(p) ? parseInt(p.slice(2), 16) : /^\d{1,5}$/.test(p) ? Number(p) : NaN;
    if (!Number.isInteger(value) || value > 0xffff || (value & ALL_VALID) !== value) {
      throw new Error(`invalid persistent DBI flag: ${p}`);
    }
    flags |= value;
  }
  return flags;
}

/** Flags as `MDB_DUPSORT|MDB_DUPFIXED` (`0` when none). */
export function formatDbiFlags(flags: number): string {
  const names = Object.entries(DBI_FLAGS).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name);
  return names.length > 0 ? names.join('|') : '0';
}

const FRIENDLY: ReadonlyArray<[number, string]> = [
  [MDB_REVERSEKEY, 'ReverseKey'], [MDB_DUPSORT, 'DupSort'], [MDB_INTEGERKEY, 'IntegerKey'],
  [MDB_DUPFIXED, 'DupFixed'], [MDB_INTEGERDUP, 'IntegerDup'], [MDB_REVERSEDUP, 'ReverseDup'],
];

/** Flags as Go's status page shows them (dbiflags FriendlyString): `DupSort DupFixed`, '' when none. */
export function friendlyDbiFlags(flags: number): string {
  const names = FRIENDLY.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
  const unknown = flags & ~FRIENDLY.reduce((all, [bit]) => all | bit, 0);
  if (unknown !== 0) names.push(`UNKNOWN:0x${unknown.toString(16)}`);
  return names.join(' ');
}
