/**
 * A small declarative schema for the YAML config: each key's type and default. One decoder walks the
 * parsed YAML with it, so every key gets the same type checks and unknown-key detection, and errors name
 * the YAML key path (`lmdbs.main.options.map_size`). TypeScript property names are the camelCase of the
 * YAML names (`lmdb_poll_interval` -> `lmdbPollInterval`); `yamlName()` maps back.
 *
 * The spec is also the config's type: the builders keep their field types, and `ValueOf<typeof spec>`
 * is what `decodeAs(spec, ...)` returns, so a key is declared (and documented) once.
 */
import { ConfigError } from './errors.js';
import { parseDbiFlags } from '../lmdb/flag-names.js';
import { parseDuration, parseSize } from './units.js';

export interface StringSpec { kind: 'string'; def: string }
/** A string that must be one of `values` (see DecodeContext.rejected). */
export interface EnumSpec<T extends string = string> { kind: 'enum'; def: T; values: readonly T[] }
export interface BoolSpec { kind: 'bool'; def: boolean }
export interface NumberSpec { kind: 'int' | 'float' | 'duration' | 'size' | 'mode'; def: number }
/** LMDB DBI flag names (`MDB_DUPSORT|MDB_DUPFIXED`); undefined when absent. */
export interface DbiFlagsSpec { kind: 'dbiflags' }
export interface StructSpec<F extends Fields = Fields> { kind: 'struct'; fields: F }
export interface MapSpec<T extends Spec = Spec> { kind: 'map'; of: T }
/** A mapping kept as it is (checked by someone else: storage.options). */
export interface RawSpec { kind: 'raw' }

export type Spec = StringSpec | EnumSpec | BoolSpec | NumberSpec | DbiFlagsSpec | StructSpec | MapSpec | RawSpec;
export interface Fields { readonly [yamlKey: string]: Spec }

/** `lmdb_poll_interval` -> `lmdbPollInterval`, as camelCase() does at run time. */
export type CamelCase<K extends string> = K extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : K;

/** The decoded value of a spec. */
export type ValueOf<T extends Spec> =
  T extends StructSpec<infer F> ? { -readonly [K in keyof F as CamelCase<K & string>]: ValueOf<F[K]> }
    : T extends MapSpec<infer O> ? Record<string, ValueOf<O>>
      : T extends EnumSpec<infer E> ? E
        : T extends StringSpec ? string
          : T extends BoolSpec ? boolean
            : T extends NumberSpec ? number
              : T extends DbiFlagsSpec ? number | undefined
                : T extends RawSpec ? Record<string, unknown>
                  : never;

export const str = (def = ''): StringSpec => ({ kind: 'string', def });
export const oneOf = <const T extends string>(values: readonly T[], def: NoInfer<T>): EnumSpec<T> => ({ kind: 'enum', def, values });
export const bool = (def = false): BoolSpec => ({ kind: 'bool', def });
export const int = (def = 0): NumberSpec => ({ kind: 'int', def });
export const float = (def = 0): NumberSpec => ({ kind: 'float', def });
export const duration = (def = 0): NumberSpec => ({ kind: 'duration', def });
export const size = (def = 0): NumberSpec => ({ kind: 'size', def });
export const mode = (def = 0): NumberSpec => ({ kind: 'mode', def });
export const dbiFlags = (): DbiFlagsSpec => ({ kind: 'dbiflags' });
export const struct = <F extends Fields>(fields: F): StructSpec<F> => ({ kind: 'struct', fields });
export const map = <T extends Spec>(of: T): MapSpec<T> => ({ kind: 'map', of });
export const raw = (): RawSpec => ({ kind: 'raw' });

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
  /**
   * Enum values not among the allowed ones, by key path: decoded as the default (so the value keeps its
   * type), the problem reported by the caller's validation in its order of checks (the first error of a
   * file with several stays the same).
   */
  rejected: Map<string, string>;
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
function zeroOf(spec: Spec, path: string, ctx: DecodeContext): unknown {
  switch (spec.kind) {
    case 'string':
      return '';
    case 'enum':
      return oneOfValues(spec, '', path, ctx);
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

function oneOfValues<T extends string>(spec: EnumSpec<T>, s: string, path: string, ctx: DecodeContext): T {
  const value = spec.values.find((v) => v === s);
  if (value !== undefined) return value;
  ctx.rejected.set(path, `must be one of: ${spec.values.join(', ')}`);
  return spec.def;
}

function decodeLeaf(spec: Spec, v: unknown, path: string, ctx: DecodeContext): unknown {
  const expected = (what: string): never => fail(ctx, path, `expected ${what}, got ${describe(v)}`);
  switch (spec.kind) {
    case 'string':
    case 'enum': {
      // yaml.v2 stores any scalar into a Go string field as its source text (`instance: 007` -> "007").
      let s: string;
      if (typeof v === 'string') s = v;
      else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v instanceof Date) {
        s = ctx.sources.get(path)?.source ?? String(v);
      } else {
        return expected('a string');
      }
      return spec.kind === 'enum' ? oneOfValues(spec, s, path, ctx) : s;
    }
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

function decode(spec: Spec, v: unknown, path: string, ctx: DecodeContext): unknown {
  if (v === undefined) return defaultOf(spec);
  if (v === null) return zeroOf(spec, path, ctx);
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

/** Decodes `v` (plain JS from the YAML document; undefined = key absent) according to `spec`. */
export function decodeAs<T extends Spec>(spec: T, v: unknown, path: string, ctx: DecodeContext): ValueOf<T> {
  // The one place the spec's type meets the untyped walk: decode() builds exactly ValueOf<T> (a struct's
  // camelCase keys from defaultOf, every leaf checked), which TypeScript cannot follow through the recursion.
  return decode(spec, v, path, ctx) as ValueOf<T>;
}
