/**
 * The TIME of `restore --at TIME`, as nanoseconds since the epoch: RFC 3339 / ISO 8601 with a zone
 * (`2026-12-03T14:00:00Z`, `2026-12-03 15:00:00.5+01:00`), the timestamp of snapshot names
 * (`20261203-140000-000000000`, UTC), `now`, or a time relative to now (`-1h`, `1h30m ago`; Go duration syntax).
 * A time without a zone is refused: a restore must not depend on the machine's time zone.
 */
import { parseDuration } from '../config/units.js';
import { parseTimestamp } from '../snapshot/name.js';
import { utcParts } from '../snapshot/go-display.js';

const NS_PER_MS = 1_000_000n;
const NS_PER_SECOND = 1_000_000_000n;
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?$/;
const RELATIVE_RE = /^-(\S+)$|^(\S+)\s+ago$/;

const FORMS = 'RFC 3339 like 2026-12-03T14:00:00Z, a snapshot timestamp like 20261203-140000-000000000, ' +
  'now, or a relative time like -1h or "90m ago"';

export function parseRestoreTime(text: string, nowMs: number): bigint {
  const input = text.trim();
  const nowNs = BigInt(Math.round(nowMs)) * NS_PER_MS;
  if (input === 'now') return nowNs;
  const stamp = parseTimestamp(input);
  if (stamp !== undefined) return stamp;
  const rfc = RFC3339_RE.exec(input);
  if (rfc) return parseRfc3339(input, rfc);
  const relative = RELATIVE_RE.exec(input);
  if (relative) {
    let ms: number;
    try {
      ms = parseDuration(relative[1] ?? relative[2]!);
    } catch (err) {
      throw new Error(`invalid time ${JSON.stringify(text)}: ${(err as Error).message}`, { cause: err });
    }
    if (ms < 0) throw new Error(`invalid time ${JSON.stringify(text)}: a relative time goes back from now`);
    return nowNs - BigInt(Math.round(ms * 1e6));
  }
  throw new Error(`invalid time ${JSON.stringify(text)}: expected ${FORMS}`);
}

function parseRfc3339(input: string, m: RegExpExecArray): bigint {
  const zone = m[8];
  if (zone === undefined) {
    throw new Error(`invalid time ${JSON.stringify(input)}: no time zone; add Z for UTC or an offset like +01:00`);
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Date.UTC normalises out-of-range parts (Feb 30, 25:00); refuse those instead.
  if (year < 1970 || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || d.getUTCHours() !== hour ||
    d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) {
    throw new Error(`invalid time ${JSON.stringify(input)}: not a date and time`);
  }
  let offsetSeconds = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetSeconds = sign * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  }
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'));
  return (BigInt(ms / 1000 - offsetSeconds)) * NS_PER_SECOND + fraction;
}

/** `2026-12-03T14:00:00.000000000Z`: how restore names the time it restores. */
export function formatRestoreTime(ns: bigint): string {
  const p = utcParts(ns);
  return `${p.date}T${p.time}.${p.nanos}Z`;
}
