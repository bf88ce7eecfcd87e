/**
 * Snapshot object names: `<db>__<instance>__<timestamp>__<generation>[__<extra>...].pb.gz`.
 *
 * The timestamp is UTC with nanoseconds, `YYYYMMDD-HHMMSS-nnnnnnnnn`, fixed width, so the
 * lexicographic order of the names of one instance is their chronological order.
 */

export const SNAPSHOT_EXTENSION = '.pb.gz';
/**
 * Delta snapshots (README, "Delta snapshots") live in the time-ordered *journal* of their LMDB:
 * `_journal__<db>__<timestamp>__<instance>__<generation>__P<previous>.dpb.gz`. The timestamp comes before
 * the instance so a receiver lists only what is newer than what it saw (S3 StartAfter). Go readers list only
 * `<db>__`, and take only `.pb.gz` objects as snapshots, so they never see deltas. Deltas of earlier versions,
 * `<db>__<instance>__<timestamp>__<generation>__P<previous>.dpb.gz`, are still read.
 */
export const DELTA_EXTENSION = '.dpb.gz';
/** The extra name part of a delta that names the snapshot (full or delta) it follows, by timestamp. */
export const DELTA_PREVIOUS_TYPE = 'P';
export const NAME_SEPARATOR = '__';
/** What every journal object's name starts with (then `<db>__`). Go lists only `<db>__`: it never sees them. */
export const JOURNAL_PREFIX = '_journal' + NAME_SEPARATOR;
/**
 * An empty journal object announcing a full snapshot, so receivers that list only the journal learn of it:
 * `_journal__<db>__<timestamp>__<instance>__<generation>__F<full timestamp>__S<size>.ref` stands for
 * `<db>__<instance>__<full timestamp>__<generation>.pb.gz` of <size> bytes. Its own timestamp is when it was
 * written (after the snapshot's upload), so it sorts among the journal entries that became visible with it.
 */
export const FULL_REF_EXTENSION = '.ref';
export const FULL_REF_FULL_TYPE = 'F';
export const FULL_REF_SIZE_TYPE = 'S';

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

/** The listing prefix of the journal (deltas and full-snapshot references) of LMDB `db`. */
export function journalPrefix(db: string): string {
  return JOURNAL_PREFIX + db + NAME_SEPARATOR;
}

/** `<db>__<instance>__<ts>__<rest>` (a snapshot name without extension) as its journal name, without extension. */
function toJournalOrder(snapshotStem: string): string {
  const [db, instance, ts, ...rest] = snapshotStem.split(NAME_SEPARATOR);
  return JOURNAL_PREFIX + [db, ts, instance, ...rest].join(NAME_SEPARATOR);
}

/** The snapshot name (without extension) a journal name (without extension) stands for; undefined when malformed. */
function fromJournalOrder(journalStem: string): string | undefined {
  if (!journalStem.startsWith(JOURNAL_PREFIX)) return undefined;
  const parts = journalStem.slice(JOURNAL_PREFIX.length).split(NAME_SEPARATOR);
  if (parts.length < 4) return undefined;
  const [db, ts, instance, ...rest] = parts as [string, string, string, ...string[]];
  return [db, instance, ts, ...rest].join(NAME_SEPARATOR);
}

function stem(fullName: string): string {
  return fullName.slice(0, -SNAPSHOT_EXTENSION.length);
}

/** Builds a delta's object name: in the journal, the snapshot name's parts then `P<previous timestamp>`, extension .dpb.gz. */
export function buildDeltaName(input: BuildNameInput & { previous: bigint }): string {
  const full = buildSnapshotName({ ...input, extras: [...(input.extras ?? []), DELTA_PREVIOUS_TYPE + formatTimestamp(input.previous)] });
  return toJournalOrder(stem(full)) + DELTA_EXTENSION;
}

/** Builds the journal reference, written at `timestamp`, to a full snapshot `fullName` of `size` bytes (see FULL_REF_EXTENSION). */
export function buildFullRefName(fullName: string, size: number, timestamp: bigint): string {
  const parsed = parseSnapshotName(fullName);
  if (!parsed.ok || parsed.value.extras.length > 0) throw new RangeError(`cannot reference ${fullName}: not a plain full snapshot name`);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`cannot reference ${fullName}: invalid size ${size}`);
  const { db, instance, generation } = parsed.value;
  const at = timestamp > parsed.value.timestamp ? timestamp : parsed.value.timestamp;
  const extras = [FULL_REF_FULL_TYPE + parsed.value.timestampText, FULL_REF_SIZE_TYPE + String(size)];
  return toJournalOrder(stem(buildSnapshotName({ db, instance, timestamp: at, generation, extras }))) + FULL_REF_EXTENSION;
}

export interface FullRef {
  /** The referenced full snapshot, parsed. */
  full: SnapshotName;
  size: number;
  /** When the reference was written (the timestamp in its own name). */
  timestamp: bigint;
  /** The reference's own object name. */
  name: string;
}

export type ParseFullRefResult = { ok: true; value: FullRef } | { ok: false; error: string };

/** Parses a journal reference to a full snapshot (see FULL_REF_EXTENSION). */
export function parseFullRef(name: string): ParseFullRefResult {
  const fail = (error: string): ParseFullRefResult => ({ ok: false, error: `${JSON.stringify(name)}: ${error}` });
  if (!name.endsWith(FULL_REF_EXTENSION)) return fail(`not a ${FULL_REF_EXTENSION} object`);
  const base = fromJournalOrder(name.slice(0, -FULL_REF_EXTENSION.length));
  if (base === undefined) return fail(`expected ${JOURNAL_PREFIX}<db>__<timestamp>__<instance>__<generation>__F<timestamp>__S<size>`);
  const own = parseSnapshotName(base + SNAPSHOT_EXTENSION);
  if (!own.ok) return fail(own.error.slice(own.error.indexOf(': ') + 2));
  const [fullPart, sizePart, ...more] = own.value.extras;
  const fullText = fullPart?.startsWith(FULL_REF_FULL_TYPE) ? fullPart.slice(FULL_REF_FULL_TYPE.length) : undefined;
  const sizeText = sizePart?.startsWith(FULL_REF_SIZE_TYPE) ? sizePart.slice(FULL_REF_SIZE_TYPE.length) : '';
  if (fullText === undefined || !/^\d{1,15}$/.test(sizeText) || more.length > 0) {
    return fail(`a full-snapshot reference needs the parts ${FULL_REF_FULL_TYPE}<timestamp>__${FULL_REF_SIZE_TYPE}<size>, in that order`);
  }
  const { db, instance, generation } = own.value;
  const full = parseSnapshotName([db, instance, fullText, generation].join(NAME_SEPARATOR) + SNAPSHOT_EXTENSION);
  if (!full.ok) return fail(full.error.slice(full.error.indexOf(': ') + 2));
  if (full.value.timestamp > own.value.timestamp) return fail('a reference cannot be older than its snapshot');
  return { ok: true, value: { full: full.value, size: Number(sizeText), timestamp: own.value.timestamp, name } };
}

/** A full snapshot or a delta, as the receiver and the cleaner tell them apart. */
export type ObjectName = (SnapshotName & { kind: 'full' }) | (SnapshotName & { kind: 'delta'; previous: bigint });

export type ParseObjectResult = { ok: true; value: ObjectName } | { ok: false; error: string };

/**
 * Parses a full snapshot's or a delta's name (in the journal, or of an earlier version); a delta needs exactly
 * one valid `P<timestamp>` part, older than its own.
 */
export function parseObjectName(name: string): ParseObjectResult {
  if (!name.endsWith(DELTA_EXTENSION)) {
    if (name.startsWith(JOURNAL_PREFIX)) return { ok: false, error: `${JSON.stringify(name)}: a journal object that is not a delta` };
    const r = parseSnapshotName(name);
    return r.ok ? { ok: true, value: { ...r.value, kind: 'full' } } : r;
  }
  const deltaStem = name.slice(0, -DELTA_EXTENSION.length);
  const base = name.startsWith(JOURNAL_PREFIX) ? fromJournalOrder(deltaStem) : deltaStem;
  if (base === undefined) return { ok: false, error: `${JSON.stringify(name)}: expected ${JOURNAL_PREFIX}<db>__<timestamp>__<instance>__<generation>__P<previous>` };
  const r = parseSnapshotName(base + SNAPSHOT_EXTENSION);
  if (!r.ok) return { ok: false, error: JSON.stringify(name) + r.error.slice(JSON.stringify(base + SNAPSHOT_EXTENSION).length) };
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
