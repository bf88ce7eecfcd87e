import { ConfigError } from '../config/errors.js';
import { parseDuration } from '../config/units.js';


/** Readers for one options mapping, reporting problems as ConfigErrors that name the full key path. */
export class OptionReader {
  private readonly obj: Record<string, unknown>;

  /** raw: the parsed YAML value (undefined/null = empty mapping); path: e.g. `storage.options`. */
  constructor(raw: unknown, readonly path: string) {
    if (raw === undefined || raw === null) {
      this.obj = {};
    } else if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigError(path, `must be a mapping, got ${describe(raw)}`);
    } else {
      this.obj = raw as Record<string, unknown>;
    }
  }

  key(name: string): string {
    return `${this.path}.${name}`;
  }

  /** Refuses any key not listed. */
  allowOnly(known: readonly string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!known.includes(k)) throw new ConfigError(this.key(k), 'unknown option');
    }
  }

  has(name: string): boolean {
    const v = this.obj[name];
    return v !== undefined && v !== null;
  }

  raw(name: string): unknown {
    return this.obj[name];
  }

  /** A string; an empty string counts as unset (as Go's zero value). */
  string(name: string): string | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new ConfigError(this.key(name), `must be a string, got ${describe(v)}`);
    return v === '' ? undefined : v;
  }

  bool(name: string, def: boolean): boolean {
    const v = this.obj[name];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') throw new ConfigError(this.key(name), `must be true or false, got ${describe(v)}`);
    return v;
  }

  int(name: string, def: number, min = 0): number {
    const v = this.obj[name];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new ConfigError(this.key(name), `must be an integer, got ${describe(v)}`);
    }
    if (v < min) throw new ConfigError(this.key(name), `must be at least ${min}`);
    return v;
  }

  /** A Go-style duration ("15s", "1m30s", "250ms") in milliseconds; 0 or unset gives def. */
  duration(name: string, def: number): number {
    const v = this.obj[name];
    if (v === undefined || v === null) return def;
    let ms: number;
    if (v === 0) {
      ms = 0;
    } else if (typeof v === 'string') {
      try {
        ms = parseDuration(v);
      } catch (err) {
        throw new ConfigError(this.key(name), (err as Error).message);
      }
    } else {
      throw new ConfigError(this.key(name), `must be a duration such as "15s" or "5m", got ${describe(v)}`);
    }
    if (ms < 0) throw new ConfigError(this.key(name), 'must not be negative');
    return ms === 0 ? def : ms;
  }

  /** A nested mapping, read with its own reader. */
  nested(name: string): OptionReader {
    return new OptionReader(this.obj[name], this.key(name));
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return 'a string';
  const scalar = v as number | boolean | bigint | undefined; // what is left of a parsed YAML value
  return `${typeof v} ${String(scalar)}`;
}


/**
 * The connection and listing options the Go implementation's s3 and azure backends share (PowerDNS/simpleblob),
 * with the same defaults; durations in milliseconds.
 */
export interface ConnectionOptions {
  init_timeout: number;
  idle_conn_timeout: number;
  max_idle_conns: number;
  dial_timeout: number;
  dial_keep_alive: number;
  tls_handshake_timeout: number;
  client_timeout: number;
  use_update_marker: boolean;
  update_marker_force_list_interval: number;
}

export const CONNECTION_DEFAULTS = {
  secrets_refresh_interval: 15_000,
  init_timeout: 20_000,
  update_marker_force_list_interval: 5 * 60_000,
  dial_timeout: 10_000,
  dial_keep_alive: 10_000,
  idle_conn_timeout: 90_000,
  tls_handshake_timeout: 10_000,
  client_timeout: 15 * 60_000,
  max_idle_conns: 100,
} as const;

export const CONNECTION_KEYS = [
  'init_timeout',
  'idle_conn_timeout',
  'max_idle_conns',
  'dial_timeout',
  'dial_keep_alive',
  'tls_handshake_timeout',
  'client_timeout',
  'use_update_marker',
  'update_marker_force_list_interval',
] as const;

/** Reads the ConnectionOptions keys of r, with their defaults. */
export function readConnectionOptions(r: OptionReader): ConnectionOptions {
  const d = CONNECTION_DEFAULTS;
  return {
    init_timeout: r.duration('init_timeout', d.init_timeout),
    idle_conn_timeout: r.duration('idle_conn_timeout', d.idle_conn_timeout),
    max_idle_conns: r.int('max_idle_conns', 0, 0) || d.max_idle_conns,
    dial_timeout: r.duration('dial_timeout', d.dial_timeout),
    dial_keep_alive: r.duration('dial_keep_alive', d.dial_keep_alive),
    tls_handshake_timeout: r.duration('tls_handshake_timeout', d.tls_handshake_timeout),
    client_timeout: r.duration('client_timeout', d.client_timeout),
    use_update_marker: r.bool('use_update_marker', false),
    update_marker_force_list_interval: r.duration('update_marker_force_list_interval', d.update_marker_force_list_interval),
  };
}
