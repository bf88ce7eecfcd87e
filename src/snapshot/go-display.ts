/**
 * How the Go implementation prints keys, values, timestamps and durations (`snapshots dump`, `dump`,
 * `snapshots list`): shared by the CLI and the LMDB tools so their output stays byte-identical to Go's.
 */
import { formatDbiFlags } from '../lmdb/flag-names.js';

export const NS_PER_SECOND = 1_000_000_000n;

/** UTC calendar parts of a time in nanoseconds since the epoch (negative allowed): `2026-11-26`, `08:51:01`, 9-digit fraction. */
export function utcParts(ns: bigint): { date: string; time: string; nanos: string } {
  let seconds = ns / NS_PER_SECOND;
  let frac = ns % NS_PER_SECOND;
  if (frac < 0n) {
    frac += NS_PER_SECOND;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return { date: iso.slice(0, 10), time: iso.slice(11, 19), nanos: String(frac).padStart(9, '0') };
}

/** `2026-11-26T08:51:02.524196773Z`: ISO 8601 in UTC, always with the 9 digits of nanoseconds. */
export function isoNanos(ns: bigint): string {
  const p = utcParts(ns);
  return `${p.date}T${p.time}.${p.nanos}Z`;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** DisplayASCII shows a leading timestamp only when it is after this (2022-01-01T00:00:00Z)... */
const TS_DISPLAY_MIN = 1_640_995_200n * NS_PER_SECOND;
/** ...and before now plus this. */
const TS_DISPLAY_AHEAD = 30n * 24n * 3600n * NS_PER_SECOND;
/** Bytes DisplayASCII shows as '.'. */
const UNSAFE = /[^\x20-\x7e]/;
const UNSAFE_ALL = /[^\x20-\x7e]/g;

/** A Go string as `%q` prints it (for the names and flags of DBIs). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${HEX[c]}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A string as Go's encoding/json writes it (HTML-safe escapes included). */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go's dbiflags.Flags String(): `MDB_DUPSORT|MDB_INTEGERKEY`, '' for none, unknown bits as `UNKNOWN:0x..`. */
export function goDbiFlags(flags: number): string {
  const known = flags & 0x7e;
  const parts = known === 0 ? [] : [formatDbiFlags(known)];
  const unknown = flags & 0xffff & ~0x7e;
  if (unknown !== 0) parts.push(`UNKNOWN:0x${unknown.toString(16)}`);
  return parts.join('|');
}

/** `.169218489` for a fraction of a second in ns, trailing zeros trimmed; '' for 0 (Go's time formats). */
function nanosSuffix(nanos: string): string {
  const frac = nanos.replace(/0+$/, '');
  return frac ? `.${frac}` : '';
}

/**
 * The time part of entry lines: Go's time.Time String() in UTC and the age rounded to the second,
 * `2026-11-26 08:51:01.169218489 +0000 UTC, 4s ago`. The calendar part and the age are cached: entries of
 * one snapshot share a few seconds, and formatting dates is what would cost the most otherwise.
 */
export class EntryTimeFormatter {
  private second: bigint | undefined;
  private secondText = '';
  private age: bigint | undefined;
  private ageText = '';

  constructor(private readonly nowNs: bigint) {}

  format(ns: bigint): string {
    let second = ns / NS_PER_SECOND;
    let frac = ns % NS_PER_SECOND;
    if (frac < 0n) {
      frac += NS_PER_SECOND;
      second -= 1n;
    }
    if (second !== this.second) {
      const p = utcParts(second * NS_PER_SECOND);
      this.second = second;
      this.secondText = `${p.date} ${p.time}`;
    }
    const age = roundToSecond(clampInt64(this.nowNs - ns));
    if (age !== this.age) {
      this.age = age;
      this.ageText = goDuration(age);
    }
    const nanos = frac === 0n ? '' : nanosSuffix(String(frac).padStart(9, '0'));
    return `${this.secondText}${nanos} +0000 UTC, ${this.ageText} ago`;
  }
}

/** Go's RFC3339Nano in UTC: `2026-11-26T08:51:01.169218489Z`. */
function goRfc3339Nano(ns: bigint): string {
  const p = utcParts(ns);
  return `${p.date}T${p.time}${nanosSuffix(p.nanos)}Z`;
}

const clampInt64 = (v: bigint): bigint => (v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : v);

/** Go's Duration.Round(time.Second) (halves away from zero, saturating). */
export function roundToSecond(d: bigint): bigint {
  const m = NS_PER_SECOND;
  let r = d % m;
  if (d < 0n) {
    r = -r;
    return clampInt64(r + r < m ? d + r : d - m + r);
  }
  return clampInt64(r + r < m ? d - r : d + m - r);
}

function trimmedFraction(value: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const frac = String(value % scale).padStart(digits, '0').replace(/0+$/, '');
  return `${value / scale}${frac ? `.${frac}` : ''}`;
}

/** Go's Duration String(): `4s`, `1m0s`, `498800h51m6s`, `1.5ms`, `-3s`, `0s`. */
export function goDuration(d: bigint): string {
  if (d === 0n) return '0s';
  const sign = d < 0n ? '-' : '';
  const u = d < 0n ? -d : d;
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${trimmedFraction(u, 3)}µs`;
  if (u < NS_PER_SECOND) return `${sign}${trimmedFraction(u, 6)}ms`;
  const secs = u / NS_PER_SECOND;
  const h = secs / 3600n;
  const m = (secs / 60n) % 60n;
  const s = trimmedFraction(u % (60n * NS_PER_SECOND), 9);
  return `${sign}${h > 0n ? `${h}h` : ''}${h > 0n || m > 0n ? `${m}m` : ''}${s}s`;
}

/** Go's utils.DisplayASCII of buf[start, start+len). */
export function displayAscii(buf: Buffer, start: number, len: number, nowNs: bigint): string {
  let text = buf.toString('latin1', start, start + len);
  const unsafe = UNSAFE.test(text);
  if (unsafe) text = text.replace(UNSAFE_ALL, '.');
  let ts = '';
  if (len >= 8) {
    const v = buf.readBigInt64BE(start);
    if (v > TS_DISPLAY_MIN && v < nowNs + TS_DISPLAY_AHEAD) ts = goRfc3339Nano(v);
  }
  if (!unsafe && len > 8 && !ts) return text;
  let hex = '';
  for (let i = start; i < start + len; i++) hex += i === start ? HEX[buf[i]!]! : ` ${HEX[buf[i]!]!}`;
  return ts ? `${text} [${hex}] (${ts})` : `${text} [${hex}]`;
}
