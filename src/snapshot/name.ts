/**
 * Snapshot object names: `<db>__<instance>__<timestamp>__<generation>[__<extra>...].pb.gz`.
 *
 * The timestamp is UTC with nanoseconds, `YYYYMMDD-HHMMSS-nnnnnnnnn`, fixed width, so the
 * lexicographic order of the names of one instance is their chronological order.
 */

export const SNAPSHOT_EXTENSION = '.pb.gz';
/**
 * Delta snapshots (README, "Delta snapshots"): `<db>__<instance>__<timestamp>__<generation>__P<previous>.dpb.gz`.
 * Go readers take only `.pb.gz` objects as snapshots: `x.dpb.gz` fails a suffix test on `.pb.gz` and an
 * equality test on the extension alike, so they skip deltas.
 */
export const DELTA_EXTENSION = '.dpb.gz';
/** The extra name part of a delta that names the snapshot (full or delta) it follows, by timestamp. */
export const DELTA_PREVIOUS_TYPE = 'P';
export const NAME_SEPARATOR = '__';

/**
 * The generation we write. Go 0.4.x writes `G-0000000000000000`, newer versions `GX`; every
 * reader accepts any generation starting with `G`. We write the 0.4.x form because it is what the
 * oldest implementation in a mixed fleet writes itself (and what the reference fixtures carry), so
 * no reader can be surprised by it.
 */
export const DEFAULT_GENERATION = 'G-0000000000000000';

export interface SnapshotName {
  db: string;
  instance: string;
  /** Nanoseconds since the UNIX epoch (UTC). */
  timestamp: bigint;
  /** The timestamp part as it appears in the name. */
  timestampText: string;
  generation: string;
  /** Extra parts after the generation, each starting with a capital letter (its type). */
  extras: string[];
  /** The whole object name. */
  name: string;
}

export type ParseNameResult = { ok: true; value: SnapshotName } | { ok: false; error: string };

const NS_PER_SECOND = 1_000_000_000n;
const TIMESTAMP_RE = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d{9})$/;
const SAFE_CHARS_RE = /^[A-Za-z0-9._-]+$/;
const EXTRA_RE = /^[A-Z][A-Za-z0-9._-]*$/;
const MAX_PART_LENGTH = 200;

/** Formats nanoseconds since the epoch as `YYYYMMDD-HHMMSS-nnnnnnnnn` (UTC). Years 0..9999 only. */
export function formatTimestamp(ns: bigint): string {
  if (ns < 0n) throw new RangeError(`timestamp before the epoch: ${ns}`);
  const seconds = ns / NS_PER_SECOND;
  const frac = ns % NS_PER_SECOND;
  const d = new Date(Number(seconds) * 1000);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || year > 9999) throw new RangeError(`timestamp out of range: ${ns}`);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return (
    String(year).padStart(4, '0') + p2(d.getUTCMonth() + 1) + p2(d.getUTCDate()) + '-' +
    p2(d.getUTCHours()) + p2(d.getUTCMinutes()) + p2(d.getUTCSeconds()) + '-' +
    String(frac).padStart(9, '0')
  );
}

/** Parses `YYYYMMDD-HHMMSS-nnnnnnnnn` (UTC) into nanoseconds; undefined when malformed or not a real date. */
export function parseTimestamp(text: string): bigint | undefined {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1970) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  // Date normalises out-of-range parts (Feb 30, 25:00); refuse those instead.
  if (
    d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day ||
    d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second
  ) {
    return undefined;
  }
  return BigInt(d.getTime() / 1000) * NS_PER_SECOND + BigInt(m[7]!);
}

function validatePart(kind: string, value: string): string | undefined {
  if (value === '') return `empty ${kind}`;
  if (value.length > MAX_PART_LENGTH) return `${kind} longer than ${MAX_PART_LENGTH} characters`;
  if (value.includes(NAME_SEPARATOR)) return `${kind} ${JSON.stringify(value)} contains "__"`;
  if (!SAFE_CHARS_RE.test(value)) {
    return `${kind} ${JSON.stringify(value)} has characters other than letters, digits, ".", "_" and "-"`;
  }
  if (value.startsWith('_') || value.endsWith('_')) {
    return `${kind} ${JSON.stringify(value)} starts or ends with "_" (ambiguous next to "__")`;
  }
  return undefined;
}

/** Why `name` cannot be an instance name (no `__`, `/`, spaces; hostname-safe characters), or undefined when fine. */
export function validateInstanceName(name: string): string | undefined {
  return validatePart('instance name', name);
}

/** Why `name` cannot be an LMDB name (the key of the `lmdbs` config map), or undefined when fine. */
export function validateDbName(name: string): string | undefined {
  const problem = validatePart('db name', name);
  if (problem) return problem;
  // It also names files and metrics: no leading "." or "-".
  return /^[A-Za-z0-9]/.test(name) ? undefined : `db name ${JSON.stringify(name)} does not start with a letter or digit`;
}

/** The listing prefix of every snapshot of LMDB `db`. */
export function snapshotPrefix(db: string): string {
  return db + NAME_SEPARATOR;
}

export interface BuildNameInput {
  db: string;
  instance: string;
  timestamp: bigint;
  generation?: string;
  extras?: string[];
}

/** Builds a snapshot object name; throws RangeError on an invalid part (a programming or config error). */
export function buildSnapshotName(input: BuildNameInput): string {
  const generation = input.generation ?? DEFAULT_GENERATION;
  const problem =
    validateDbName(input.db) ??
    validateInstanceName(input.instance) ??
    validateGeneration(generation) ??
    (input.extras ?? []).map(validateExtra).find((p) => p !== undefined);
  if (problem) throw new RangeError(`cannot build snapshot name: ${problem}`);
  const parts = [input.db, input.instance, formatTimestamp(input.timestamp), generation, ...(input.extras ?? [])];
  return parts.join(NAME_SEPARATOR) + SNAPSHOT_EXTENSION;
}

function validateGeneration(g: string): string | undefined {
  if (!g.startsWith('G')) return `generation ${JSON.stringify(g)} does not start with "G"`;
  if (!SAFE_CHARS_RE.test(g) || g.includes(NAME_SEPARATOR)) return `generation ${JSON.stringify(g)} has invalid characters`;
  return undefined;
}

function validateExtra(e: string): string | undefined {
  if (!EXTRA_RE.test(e) || e.includes(NAME_SEPARATOR)) {
    return `extra part ${JSON.stringify(e)} must start with a capital letter and use hostname-safe characters`;
  }
  if (e.startsWith('G')) return `extra part ${JSON.stringify(e)} uses the reserved type "G"`;
  return undefined;
}

/** Builds a delta's object name: the parts of a snapshot name, then `P<previous timestamp>`, extension .dpb.gz. */
export function buildDeltaName(input: BuildNameInput & { previous: bigint }): string {
  const full = buildSnapshotName({ ...input, extras: [...(input.extras ?? []), DELTA_PREVIOUS_TYPE + formatTimestamp(input.previous)] });
  return full.slice(0, -SNAPSHOT_EXTENSION.length) + DELTA_EXTENSION;
}

/** A full snapshot or a delta, as the receiver and the cleaner tell them apart. */
export type ObjectName = (SnapshotName & { kind: 'full' }) | (SnapshotName & { kind: 'delta'; previous: bigint });

export type ParseObjectResult = { ok: true; value: ObjectName } | { ok: false; error: string };

/** Parses a full snapshot's or a delta's name; a delta needs exactly one valid `P<timestamp>` part, older than its own. */
export function parseObjectName(name: string): ParseObjectResult {
  if (!name.endsWith(DELTA_EXTENSION)) {
    const r = parseSnapshotName(name);
    return r.ok ? { ok: true, value: { ...r.value, kind: 'full' } } : r;
  }
  const r = parseSnapshotName(name.slice(0, -DELTA_EXTENSION.length) + SNAPSHOT_EXTENSION);
  if (!r.ok) return { ok: false, error: r.error.replace(/\.pb\.gz"/, `${DELTA_EXTENSION}"`) };
  const fail = (error: string): ParseObjectResult => ({ ok: false, error: `${JSON.stringify(name)}: ${error}` });
  const prevParts = r.value.extras.filter((e) => e.startsWith(DELTA_PREVIOUS_TYPE));
  if (prevParts.length !== 1) return fail(`a delta needs one ${DELTA_PREVIOUS_TYPE}<timestamp> part, found ${prevParts.length}`);
  const previous = parseTimestamp(prevParts[0]!.slice(DELTA_PREVIOUS_TYPE.length));
  if (previous === undefined) return fail(`invalid previous timestamp ${JSON.stringify(prevParts[0])}`);
  if (previous >= r.value.timestamp) return fail('a delta must follow an older snapshot');
  return { ok: true, value: { ...r.value, name, kind: 'delta', previous } };
}

/**
 * Parses a snapshot object name. Never throws: names that are not snapshots (other extension,
 * wrong shape) give `{ ok: false, error }`; callers skip them and log the reason once.
 */
export function parseSnapshotName(name: string): ParseNameResult {
  const fail = (error: string): ParseNameResult => ({ ok: false, error: `${JSON.stringify(name)}: ${error}` });
  if (!name.endsWith(SNAPSHOT_EXTENSION)) return fail(`not a ${SNAPSHOT_EXTENSION} object`);
  const parts = name.slice(0, -SNAPSHOT_EXTENSION.length).split(NAME_SEPARATOR);
  if (parts.length < 4) return fail('expected <db>__<instance>__<timestamp>__<generation>');
  const [db, instance, timestampText, generation, ...extras] = parts as [string, string, string, string, ...string[]];
  const problem =
    validateDbName(db) ??
    validateInstanceName(instance) ??
    validateGeneration(generation) ??
    extras.map(validateExtra).find((p) => p !== undefined);
  if (problem) return fail(problem);
  const timestamp = parseTimestamp(timestampText);
  if (timestamp === undefined) return fail(`invalid timestamp ${JSON.stringify(timestampText)} (want YYYYMMDD-HHMMSS-nnnnnnnnn)`);
  return { ok: true, value: { db, instance, timestamp, timestampText, generation, extras, name } };
}
