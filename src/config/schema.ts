/**
 * A small declarative schema for the YAML config: each key's type and default. One decoder walks the
 * parsed YAML with it, so every key gets the same type checks and unknown-key detection, and errors name
 * the YAML key path (`lmdbs.main.options.map_size`). TypeScript property names are the camelCase of the
 * YAML names (`lmdb_poll_interval` -> `lmdbPollInterval`); `yamlName()` maps back.
 */
import { ConfigError } from './errors.js';
import { parseDbiFlags } from '../lmdb/flag-names.js';
import { parseDuration, parseSize } from './units.js';

export type Spec =
  | { kind: 'string'; def: string }
  | { kind: 'bool'; def: boolean }
  | { kind: 'int'; def: number }
  | { kind: 'float'; def: number }
  | { kind: 'duration'; def: number }
  | { kind: 'size'; def: number }
  | { kind: 'mode'; def: number }
  | { kind: 'dbiflags' }
  | { kind: 'struct'; fields: Record<string, Spec> }
  | { kind: 'map'; of: Spec }
  | { kind: 'raw' };

export const str = (def = ''): Spec => ({ kind: 'string', def });
export const bool = (def = false): Spec => ({ kind: 'bool', def });
export const int = (def = 0): Spec => ({ kind: 'int', def });
export const float = (def = 0): Spec => ({ kind: 'float', def });
export const duration = (def = 0): Spec => ({ kind: 'duration', def });
export const size = (def = 0): Spec => ({ kind: 'size', def });
export const mode = (def = 0): Spec => ({ kind: 'mode', def });
export const struct = (fields: Record<string, Spec>): Spec => ({ kind: 'struct', fields });

export const camelCase = (yaml: string): string => yaml.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** `storage.cleanup.mustKeepInterval` -> `storage.cleanup.must_keep_interval` (map keys such as db names pass). */
export const yamlName = (path: string): string => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Where a key path was found in the YAML text, and the scalar's source text (Go reads strings from it). */
export interface SourceInfo {
  line: number;
  source?: string;
}

export interface DecodeContext {
  sources: Map<string, SourceInfo>;
  warnings: string[];
}

export function fail(ctx: DecodeContext | undefined, path: string, problem: string): never {
  const line = ctx?.sources.get(path)?.line;
  throw new ConfigError(path, line !== undefined ? `${problem} (line ${line})` : problem);
}

export function defaultOf(spec: Spec): unknown {
  switch (spec.kind) {
    case 'struct':
      return Object.fromEntries(Object.entries(spec.fields).map(([k, s]) => [camelCase(k), defaultOf(s)]));
    case 'map':
    case 'raw':
      return {};
    case 'dbiflags':
      return undefined;
    default:
      return spec.def;
  }
}

/** Go's zero value, which yaml.v2 stores for an explicit null (`key:` with nothing after it). */
function zeroOf(spec: Spec): unknown {
  switch (spec.kind) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'struct':
      return defaultOf(spec); // deviation from Go (which zeroes the section): keep the defaults
    case 'map':
    case 'raw':
    case 'dbiflags':
      return defaultOf(spec);
    default:
      return 0;
  }
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return `a date (${v.toISOString()})`;
  if (isMapping(v)) return 'a mapping';
  if (typeof v === 'string') return `a string (${JSON.stringify(v)})`;
  return `a ${typeof v} (${String(v)})`;
}

/** Edit distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function unknownKey(ctx: DecodeContext, path: string, key: string, known: string[]): never {
  const close = known.filter((k) => distance(k, key) <= Math.max(1, Math.floor(k.length / 4)));
  const hint = close.length > 0 ? `did you mean ${close.join(' or ')}?` : `known keys: ${known.join(', ')}`;
  fail(ctx, path, `unknown key; ${hint}`);
}

function decodeLeaf(spec: Spec, v: unknown, path: string, ctx: DecodeContext): unknown {
  const expected = (what: string): never => fail(ctx, path, `expected ${what}, got ${describe(v)}`);
  switch (spec.kind) {
    case 'string':
      // yaml.v2 stores any scalar into a Go string field as its source text (`instance: 007` -> "007").
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v instanceof Date) {
        return ctx.sources.get(path)?.source ?? String(v);
      }
      return expected('a string');
    case 'bool':
      return typeof v === 'boolean' ? v : expected('true or false');
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) ? v : expected('an integer');
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? v : expected('a number');
    case 'mode':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return expected('an octal file mode like 0775');
      if (v > 0o777) {
        fail(ctx, path, `too large value, possible use of decimal (${v}) instead of octal (0${v.toString(8)})`);
      }
      return v;
    case 'duration': {
      let ms: number;
      if (typeof v === 'number' && Number.isSafeInteger(v)) {
        ms = v / 1e6; // Go reads a bare YAML integer as nanoseconds
        if (v !== 0) ctx.warnings.push(`${path}: ${v} without a unit means ${v} nanoseconds (as in Go); write e.g. ${v}s`);
      } else if (typeof v === 'string') {
        try {
          ms = parseDuration(v.trim());
        } catch (err) {
          return fail(ctx, path, `${(err as Error).message} (examples: 100ms, 5s, 1h30m)`);
        }
      } else {
        return expected('a duration like 5s');
      }
      return ms < 0 ? fail(ctx, path, 'must not be negative') : ms;
    }
    case 'size': {
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
      if (typeof v !== 'string') return expected('a size like 1000MB');
      try {
        return parseSize(v);
      } catch (err) {
        return fail(ctx, path, (err as Error).message);
      }
    }
    case 'dbiflags': {
      const text = typeof v === 'number' ? (ctx.sources.get(path)?.source ?? String(v)) : v;
      if (typeof text !== 'string') return expected('DBI flags like MDB_DUPSORT|MDB_DUPFIXED');
      try {
        return parseDbiFlags(text);
      } catch (err) {
        return fail(ctx, path, (err as Error).message);
      }
    }
    default:
      throw new Error(`not a leaf spec: ${spec.kind}`);
  }
}

/** Decodes `v` (plain JS from the YAML document; undefined = key absent) according to `spec`. */
export function decode(spec: Spec, v: unknown, path: string, ctx: DecodeContext): unknown {
  if (v === undefined) return defaultOf(spec);
  if (v === null) return zeroOf(spec);
  switch (spec.kind) {
    case 'struct': {
      if (!isMapping(v)) return fail(ctx, path, `expected a mapping, got ${describe(v)}`);
      const out = defaultOf(spec) as Record<string, unknown>;
      const known = Object.keys(spec.fields);
      for (const [key, value] of Object.entries(v)) {
        const sub = path ? `${path}.${key}` : key;
        const fieldSpec = Object.hasOwn(spec.fields, key) ? spec.fields[key] : undefined;
        if (!fieldSpec) unknownKey(ctx, sub, key, known);
        out[camelCase(key)] = decode(fieldSpec, value, sub, ctx);
      }
      return out;
    }
    case 'map': {
      if (!isMapping(v)) return fail(ctx, path, `expected a mapping, got ${describe(v)}`);
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(v)) out[key] = decode(spec.of, value, `${path}.${key}`, ctx);
      return out;
    }
    case 'raw':
      return isMapping(v) ? v : fail(ctx, path, `expected a mapping, got ${describe(v)}`);
    default:
      return decodeLeaf(spec, v, path, ctx);
  }
}
