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

