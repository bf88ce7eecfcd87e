/**
 * A small structured logger, written by hand on purpose: we need three exact output formats that
 * match what the Go implementation (logrus) prints, so existing log pipelines keep working, and none
 * of that needs a dependency:
 * - `human`:  `INFO[0012] [main          ] message                                     key=value`
 *             (level, seconds since start or a full timestamp, the `db` field as a prefix; colours only on a TTY)
 * - `logfmt`: `time="2024-05-01T10:00:00Z" level=info msg="message" db=main key=value` (logrus quoting rules)
 * - `json`:   `{"db":"main","level":"info","msg":"message","time":"2024-05-01T10:00:00Z"}` (keys sorted)
 * Level names are logrus's (`warning`, not `warn`). Error values are rendered as their message.
 * Lines go to stderr unless another stream is given.
 */
import { maskUrlUserinfo } from '../util/secrets.js';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A child logger adding `fields` to every line (child fields win over the parent's). */
  with(fields: Fields): Logger;
  isEnabled(level: Level): boolean;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'human' | 'logfmt' | 'json';
export type LogTimestamp = 'short' | 'full' | 'disable';

const SEVERITY = { trace: 0, debug: 1, info: 2, warn: 3, warning: 3, error: 4, fatal: 5, panic: 6 } as const;
const DISPLAY: Record<Level, string> = { debug: 'debug', info: 'info', warn: 'warning', error: 'error' };
const COLOUR: Record<Level, number> = { debug: 37, info: 36, warn: 33, error: 31 };

/** Threshold from a config/flag level name (logrus names, any case); throws on an unknown name. */
export function parseLevel(name: string): number {
  const key = name.toLowerCase();
  const severity = Object.hasOwn(SEVERITY, key) ? (SEVERITY as Record<string, number>)[key] : undefined;
  if (severity === undefined) throw new Error(`unknown log level ${JSON.stringify(name)}`);
  return severity;
}

export interface LoggerOptions {
  /** Minimum level name (`debug`, `info`, `warning`/`warn`, `error`, also `trace`, `fatal`, `panic`). */
  level?: string;
  format?: LogFormat;
  /** '' = short. */
  timestamp?: LogTimestamp | '';
  /** Where lines go (default process.stderr); `isTTY` enables colours in the human format. */
  stream?: { write(line: string): unknown; isTTY?: boolean };
  /** Force colours on/off (default: stream is a TTY and NO_COLOR is not set). */
  colour?: boolean;
  now?: () => Date;
  /** Reference for the short timestamp (seconds since start); default: process start. */
  startTime?: Date;
}

/** Go's time.RFC3339 in local time: `2006-01-02T15:04:05+01:00`, `Z` for UTC. */
export function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const p = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
  return `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${zone}`;
}

/** A field value as text (errors as their message); URL userinfo (passwords, tokens) is masked. */
function text(v: unknown): string {
  if (v instanceof Error) return maskUrlUserinfo(v.message);
  if (v instanceof Date) return rfc3339(v);
  if (typeof v === 'string') return maskUrlUserinfo(v);
  if (typeof v === 'object' && v !== null) return JSON.stringify(jsonValue(v));
  return String(v);
}

function jsonValue(v: unknown): unknown {
  if (v instanceof Error) return maskUrlUserinfo(v.message);
  if (typeof v === 'string') return maskUrlUserinfo(v);
  if (v instanceof Date) return rfc3339(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonValue(x)]));
  if (v instanceof Set) return [...v].map(jsonValue);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/** logrus's rule: quote unless every character is in [A-Za-z0-9-._/@^+]; empty stays bare. */
export function logfmtValue(v: unknown): string {
  const s = text(v);
  return /^[A-Za-z0-9\-._/@^+]*$/.test(s) ? s : JSON.stringify(s);
}

interface Entry {
  time: Date;
  level: Level;
  msg: string;
  fields: Fields;
}

type Formatter = (e: Entry) => string;

function sortedFields(fields: Fields): Array<[string, unknown]> {
  return Object.entries(fields).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Fields that collide with the fixed keys are renamed `fields.<key>`, as logrus does. */
function withoutClashes(fields: Fields, fixed: readonly string[]): Array<[string, unknown]> {
  return sortedFields(Object.fromEntries(Object.entries(fields).map(([k, v]) => [fixed.includes(k) ? `fields.${k}` : k, v])));
}

function makeFormatter(format: LogFormat, timestamp: LogTimestamp, colour: boolean, start: Date): Formatter {
  const withTime = timestamp !== 'disable';
  if (format === 'json') {
    return (e) => {
      const obj: Fields = Object.fromEntries(withoutClashes(e.fields, ['time', 'level', 'msg']).map(([k, v]) => [k, jsonValue(v)]));
      obj.level = DISPLAY[e.level];
      obj.msg = e.msg;
      if (withTime) obj.time = rfc3339(e.time);
      return JSON.stringify(Object.fromEntries(sortedFields(obj)));
    };
  }
  if (format === 'logfmt') {
    return (e) => {
      const parts: string[] = [];
      if (withTime) parts.push(`time=${logfmtValue(rfc3339(e.time))}`);
      parts.push(`level=${DISPLAY[e.level]}`, `msg=${logfmtValue(e.msg)}`);
      for (const [k, v] of withoutClashes(e.fields, ['time', 'level', 'msg'])) parts.push(`${k}=${logfmtValue(v)}`);
      return parts.join(' ');
    };
  }
  return (e) => {
    const paint = (s: string): string => (colour ? `\x1b[${COLOUR[e.level]}m${s}\x1b[0m` : s);
    const label = paint(DISPLAY[e.level].toUpperCase().slice(0, 4));
    const when = !withTime ? ' '
      : timestamp === 'full' ? `[${rfc3339(e.time)}] `
      : `[${String(Math.max(0, Math.floor((e.time.getTime() - start.getTime()) / 1000))).padStart(4, '0')}] `;
    const db = e.fields.db;
    const msg = (db !== undefined ? `[${text(db).padEnd(14)}] ` : '') + e.msg;
    // The db is already the line's prefix.
    const fields = sortedFields(e.fields).filter(([k]) => k !== 'db').map(([k, v]) => ` ${paint(k)}=${logfmtValue(v)}`).join('');
    return `${label}${when}${fields ? msg.padEnd(44) + ' ' + fields : msg}`.trimEnd();
  };
}

class StructuredLogger implements Logger {
  constructor(
    private readonly threshold: number,
    private readonly format: Formatter,
    private readonly out: { write(line: string): unknown },
    private readonly now: () => Date,
    private readonly fields: Fields,
  ) {}

  private log(level: Level, msg: string, fields?: Fields): void {
    if (!this.isEnabled(level)) return;
    const line = this.format({ time: this.now(), level, msg: maskUrlUserinfo(msg.replace(/\n$/, '')), fields: { ...this.fields, ...fields } });
    this.out.write(line + '\n');
  }

  debug(msg: string, fields?: Fields): void { this.log('debug', msg, fields); }
  info(msg: string, fields?: Fields): void { this.log('info', msg, fields); }
  warn(msg: string, fields?: Fields): void { this.log('warn', msg, fields); }
  error(msg: string, fields?: Fields): void { this.log('error', msg, fields); }

  isEnabled(level: Level): boolean {
    return SEVERITY[level] >= this.threshold;
  }

  with(fields: Fields): Logger {
    return new StructuredLogger(this.threshold, this.format, this.out, this.now, { ...this.fields, ...fields });
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const colour = opts.colour ?? (stream.isTTY === true && !process.env.NO_COLOR);
  const start = opts.startTime ?? new Date(Date.now() - process.uptime() * 1000);
  const timestamp = opts.timestamp || 'short';
  const format = makeFormatter(opts.format ?? 'human', timestamp, colour, start);
  return new StructuredLogger(parseLevel(opts.level ?? 'info'), format, stream, opts.now ?? (() => new Date()), {});
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ level: 'panic', stream: { write: () => true } });
