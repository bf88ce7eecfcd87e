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
 * An empty journal object announcing a snapshot, so receivers that list only the journal learn of it:
 * `_journal__<db>__<timestamp>__<instance>__<generation>__F<target timestamp>__S<size>.ref` stands for the full
 * snapshot `<db>__<instance>__<target timestamp>__<generation>.pb.gz` of <size> bytes, and
 * `..._F<target timestamp>__P<previous>__S<size>.ref` for the delta `_journal__<db>__<target timestamp>__<instance>__<generation>__P<previous>.dpb.gz`
 * (announced again when its upload took so long that journal listings may have passed over it). Its own
 * timestamp is when it was written, so it sorts among the journal entries that became visible with it.
 */
export const JOURNAL_REF_EXTENSION = '.ref';
export const JOURNAL_REF_TARGET_TYPE = 'F';
export const JOURNAL_REF_SIZE_TYPE = 'S';

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

/** Builds the journal reference, written at `timestamp`, to the snapshot `targetName` (full or delta) of `size` bytes. */
export function buildJournalRefName(targetName: string, size: number, timestamp: bigint): string {
  const parsed = parseObjectName(targetName);
  if (!parsed.ok || parsed.value.extras.length !== (parsed.value.kind === 'delta' ? 1 : 0)) {
    throw new RangeError(`cannot reference ${targetName}: not a plain snapshot or delta name`);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`cannot reference ${targetName}: invalid size ${size}`);
  const { db, instance, generation, timestampText } = parsed.value;
  const at = timestamp > parsed.value.timestamp ? timestamp : parsed.value.timestamp;
  const extras = [JOURNAL_REF_TARGET_TYPE + timestampText, ...parsed.value.extras, JOURNAL_REF_SIZE_TYPE + String(size)];
  return toJournalOrder(stem(buildSnapshotName({ db, instance, timestamp: at, generation, extras }))) + JOURNAL_REF_EXTENSION;
}

export interface JournalRef {
  /** The referenced snapshot (a full one, or a delta), parsed. */
  target: ObjectName;
  size: number;
  /** When the reference was written (the timestamp in its own name). */
  timestamp: bigint;
  /** The reference's own object name. */
  name: string;
}

export type ParseJournalRefResult = { ok: true; value: JournalRef } | { ok: false; error: string };

/** Parses a journal reference (see JOURNAL_REF_EXTENSION). */
export function parseJournalRef(name: string): ParseJournalRefResult {
  const fail = (error: string): ParseJournalRefResult => ({ ok: false, error: `${JSON.stringify(name)}: ${error}` });
  if (!name.endsWith(JOURNAL_REF_EXTENSION)) return fail(`not a ${JOURNAL_REF_EXTENSION} object`);
  const base = fromJournalOrder(name.slice(0, -JOURNAL_REF_EXTENSION.length));
  if (base === undefined) return fail(`expected ${JOURNAL_PREFIX}<db>__<timestamp>__<instance>__<generation>__F<timestamp>[__P<timestamp>]__S<size>`);
  const own = parseSnapshotName(base + SNAPSHOT_EXTENSION);
  if (!own.ok) return fail(own.error.slice(own.error.indexOf(': ') + 2));
  const extras = own.value.extras;
  const targetPart = extras[0];
  const sizePart = extras.at(-1);
  const middle = extras.slice(1, -1);
  const targetText = targetPart?.startsWith(JOURNAL_REF_TARGET_TYPE) ? targetPart.slice(JOURNAL_REF_TARGET_TYPE.length) : undefined;
  const sizeText = extras.length >= 2 && sizePart?.startsWith(JOURNAL_REF_SIZE_TYPE) ? sizePart.slice(JOURNAL_REF_SIZE_TYPE.length) : '';
  const delta = middle.length === 1 && middle[0]!.startsWith(DELTA_PREVIOUS_TYPE);
  if (targetText === undefined || !/^\d{1,15}$/.test(sizeText) || (middle.length > 0 && !delta)) {
    return fail(`a journal reference needs the parts ${JOURNAL_REF_TARGET_TYPE}<timestamp>[__${DELTA_PREVIOUS_TYPE}<timestamp>]__${JOURNAL_REF_SIZE_TYPE}<size>, in that order`);
  }
  const { db, instance, generation } = own.value;
  const stemOfTarget = [db, instance, targetText, generation, ...middle].join(NAME_SEPARATOR);
  const targetName = delta ? toJournalOrder(stemOfTarget) + DELTA_EXTENSION : stemOfTarget + SNAPSHOT_EXTENSION;
  const target = parseObjectName(targetName);
  if (!target.ok) return fail(target.error.slice(target.error.indexOf(': ') + 2));
  if (target.value.timestamp > own.value.timestamp) return fail('a reference cannot be older than its snapshot');
  return { ok: true, value: { target: target.value, size: Number(sizeText), timestamp: own.value.timestamp, name } };
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
