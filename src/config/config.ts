/**
 * The YAML configuration, compatible with the Go Lightning Stream (config/config.go, yaml.v2 UnmarshalStrict):
 * the same keys, defaults and checks. Durations are milliseconds, sizes bytes.
 *
 * Loading: `${VAR}`/`$VAR` expansion over the whole text (see env.ts: unset variables become empty, as in Go,
 * and are reported in `warnings`), YAML 1.1 parsing like yaml.v2 (`yes`/`on` are booleans, `0775` is octal),
 * duplicate and unknown keys are errors, then validation. Every error is a ConfigError naming the key path.
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { ConfigError, ConfigSyntaxError } from './errors.js';
import { expandEnv } from './env.js';
import {
  bool, dbiFlags, decodeAs, duration, fail, float, int, map, mode, oneOf, raw, size, str, struct,
  type DecodeContext, type SourceInfo, type ValueOf,
} from './schema.js';
import { validateDbName } from '../snapshot/name.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'] as const;
export const LOG_FORMATS = ['human', 'logfmt', 'json'] as const;
export const LOG_TIMESTAMPS = ['short', 'disable', 'full'] as const;
/** Storage types this implementation has backends for (src/storage has one file each). */
export const STORAGE_TYPES = ['fs', 'memory', 's3', 'azure'] as const;
export type StorageType = (typeof STORAGE_TYPES)[number];

/** LMDB defaults applied when opening (Go lmdbenv), for the LMDB layer. */
export const LMDB_DEFAULTS = { mapSize: 2 ** 30, maxDbs: 64, dirMask: 0o775, fileMask: 0o664 } as const;

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const health = (interval: number) => ({
  interval: duration(interval),
  warn_duration: duration(1 * M),
  error_duration: duration(5 * M),
});

const LMDB_OPTIONS_SPEC = struct({
  /** 0 = default 0o775. */
  dir_mask: mode(),
  /** 0 = default 0o664. */
  file_mask: mode(),
  /** 0 = LMDB default when creating (1 GiB, applied by the LMDB layer only with `create`). */
  map_size: size(),
  /** 0 = default 64. */
  max_dbs: int(),
  no_subdir: bool(),
  create: bool(),
});

const DBI_OPTIONS_SPEC = struct({
  /** LMDB DBI flags to create the DBI with when loading a snapshot, instead of the snapshot's. */
  override_create_flags: dbiFlags(),
});

const LMDB_SPEC = struct({
  path: str(),
  options: LMDB_OPTIONS_SPEC,
  dbi_options: map(DBI_OPTIONS_SPEC),
  schema_tracks_changes: bool(),
  dupsort_hack: bool(),
  header_extra_padding_block: bool(),
});

const SWEEPER_SPEC = struct({
  enabled: bool(false),
  retention_days: float(370),
  interval: duration(6 * H),
  first_interval: duration(10 * M),
  lock_duration: duration(50),
  release_duration: duration(50),
  /** 0 = 1% of the retention (the sweeper code caps an explicit value at 75% of it). */
  retention_load_cutoff_duration: duration(0),
  /** The return guard (README "Coming back after a long absence"), on whenever the sweeper is. */
  return_guard: bool(true),
});

/** Delta snapshots (an extension of this implementation: README, "Delta snapshots"). */
const DELTAS_SPEC = struct({
  /** Deltas between full snapshots (README "Delta snapshots"); false: full snapshots only, as Go writes. */
  enabled: bool(true),
  /** A full snapshot at least this often (ms). */
  full_interval: duration(10 * M),
  /** A full snapshot once the deltas since the last one add up to this fraction of its size. */
  max_chain_ratio: float(0.25),
  /** A full snapshot after this many deltas (every object is in every listing until the next full one). */
  max_chain_length: int(100),
  /**
   * While every peer announces its full snapshots in the journal, polls list only the journal's new entries,
   * and the full snapshots this often (ms); see DbListing.
   */
  full_list_interval: duration(M),
  /**
   * A peer that takes only full snapshots counts as present this long after its newest one (ms); 0: 1.5 times
   * storage_force_snapshot_interval, or 6 h when that is 0 (src/sync/receive/full-only-peers.ts).
   */
  full_only_peer_timeout: duration(0),
  /**
   * Store a full snapshot beside every delta as if a peer that takes only full snapshots were present: for fleets
   * with Go instances that never store (a Go `receive`, or a `sync` with no local writes), which nothing in the
   * storage shows.
   */
  assume_full_only_peers: bool(false),
});

/** Content hashes of synced data (an extension of this implementation: README, "Content hashes"). */
const CONTENT_HASH_SPEC = struct({
  /** Hashes in full snapshots (checked on merge), local hashes after merges and local changes, published states. */
  enabled: bool(true),
  /** At most one local hash scan per this long (ms); also how often other instances' states are listed. */
  interval: duration(10 * S),
  /** Publish this instance's state hash after it changes (`_hash__<db>__...` objects; never in `receive`). */
  publish: bool(true),
});

const CLEANUP_SPEC = struct({
  enabled: bool(false),
  interval: duration(5 * M),
  must_keep_interval: duration(10 * M),
  remove_old_instances_interval: duration(168 * H),
  /** Retention tiers (an extension, README "Point-in-time restore"): 0 = off. See src/ops/retention-tiers.ts. */
  keep_hourly: duration(0),
  keep_daily: duration(0),
});

const STORAGE_SPEC = struct({
  /** `s3`, `azure`, `fs`, `memory`, or '' when not configured (only commands that use storage need it). */
  type: str(),
  /**
   * Backend-specific, as written (after the root_path move); the storage parser passed to parseConfig
   * checks them and its result is `storage.parsed`.
   */
  options: raw(),
  cleanup: CLEANUP_SPEC,
  /** Deprecated: copied into `options.root_path` (with a warning) when set. */
  root_path: str(),
});

const LOG_SPEC = struct({
  /** One of LOG_LEVELS (logrus names: `warning` and `warn` are the same). */
  level: str('info'),
  format: oneOf(LOG_FORMATS, 'human'),
  /** `short`, `full`, `disable`; '' means short. */
  timestamp: str('short'),
});

const HEALTH_SPEC = struct(health(5 * S));
const START_HEALTH_SPEC = struct({ ...health(1 * S), report_healthz: bool(false), report_metadata: bool(true) });

/** Every key with its type and default (Go config.Default()); the Config types below are derived from it. */
export const CONFIG_SPEC = struct({
  /** As configured (after a `--instance` override); may be '' or unsafe: use instanceName(). */
  instance: str(),
  lmdbs: map(LMDB_SPEC),
  sweeper: SWEEPER_SPEC,
  deltas: DELTAS_SPEC,
  content_hash: CONTENT_HASH_SPEC,
  storage: STORAGE_SPEC,
  http: struct({ address: str() }),
  log: LOG_SPEC,
  health: struct({
    storage_list: HEALTH_SPEC,
    storage_load: HEALTH_SPEC,
    storage_store: HEALTH_SPEC,
    start: START_HEALTH_SPEC,
  }),
  lmdb_poll_interval: duration(1 * S),
  /** 0 disables. */
  lmdb_log_stats_interval: duration(30 * M),
  lmdb_scrape_smaps: bool(true),
  storage_poll_interval: duration(1 * S),
  storage_retry_interval: duration(5 * S),
  storage_retry_count: int(100),
  storage_retry_forever: bool(false),
  /** 0 disables. */
  storage_force_snapshot_interval: duration(4 * H),
  memory_downloaded_snapshots: int(2),
  memory_decompressed_snapshots: int(3),
  only_once: bool(false),
});

export type LmdbOptions = ValueOf<typeof LMDB_OPTIONS_SPEC>;
export type DbiOptions = ValueOf<typeof DBI_OPTIONS_SPEC>;
export type LmdbConfig = ValueOf<typeof LMDB_SPEC>;
export type SweeperConfig = ValueOf<typeof SWEEPER_SPEC>;
export type DeltasConfig = ValueOf<typeof DELTAS_SPEC>;
export type ContentHashConfig = ValueOf<typeof CONTENT_HASH_SPEC>;
export type CleanupConfig = ValueOf<typeof CLEANUP_SPEC>;
export type HealthConfig = ValueOf<typeof HEALTH_SPEC>;
export type StartHealthConfig = ValueOf<typeof START_HEALTH_SPEC>;
export type LogConfig = ValueOf<typeof LOG_SPEC>;

/** storage.options as written, for a configured type: what parseConfig keeps without a storage parser. */
export interface UnparsedStorage {
  type: StorageType;
  options: Record<string, unknown>;
}

/**
 * The storage section. `S` is what the storage parser made of type and options (the storage layer's
 * StorageOptions for the CLI; config sits below storage, so it only carries the type through);
 * absent when storage.type is not set. Read it with requireStorage().
 */
export interface StorageConfig<S = unknown> extends ValueOf<typeof STORAGE_SPEC> {
  parsed?: S;
}

type DecodedConfig = ValueOf<typeof CONFIG_SPEC>;

/** The loaded configuration: every key of CONFIG_SPEC, camelCased. Durations are ms, sizes bytes. */
export interface Config<S = unknown> extends Omit<DecodedConfig, 'storage'> {
  storage: StorageConfig<S>;
  /** Not from YAML: things worth a warning in the log (unset variables, deprecated keys). */
  warnings: string[];
}

/**
 * Checks storage.options for the config's storage type and returns them in the caller's form (the
 * storage layer's parser, passed in by the caller: config sits below storage). Throw ConfigError with
 * keys like `storage.options.bucket`.
 */
export type StorageParser<S> = (type: StorageType, options: Record<string, unknown>) => S;

export interface ParseOptions {
  /** Applied after parsing, before validation (CLI flags). */
  overrides?: { instance?: string };
}

export interface ParseOptionsWith<S> extends ParseOptions {
  /** Parses storage.options when the file is loaded, so a bad key fails before anything starts. */
  parseStorage: StorageParser<S>;
}

const keepUnparsed: StorageParser<UnparsedStorage> = (type, options) => ({ type, options });

/**
 * Where each key path is in the text (for error lines), and the duplicate-key check: the YAML library's
 * own (`uniqueKeys`) compares every key with every other of its map, quadratic in the map's size.
 */
function sourceMap(node: YamlNode | null | undefined, lines: LineCounter): Map<string, SourceInfo> {
  const out = new Map<string, SourceInfo>();
  const walk = (n: unknown, path: string): void => {
    if (isSeq(n)) {
      n.items.forEach((item, i) => walk(item, `${path}[${i}]`));
      return;
    }
    if (!isMap(n)) return;
    const seen = new Set<string>();
    for (const pair of n.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const offset = (pair.key as YamlNode | null)?.range?.[0];
      const line = offset !== undefined ? lines.linePos(offset) : { line: 0, col: 0 };
      if (seen.has(key)) throw new ConfigSyntaxError(line.line, line.col, `invalid YAML: map keys must be unique (${JSON.stringify(key)} appears twice)`);
      seen.add(key);
      const sub = path ? `${path}.${key}` : key;
      const source = isScalar(pair.value) ? pair.value.source : undefined;
      out.set(sub, { line: line.line, ...(source !== undefined && { source }) });
      walk(pair.value, sub);
    }
  };
  walk(node, '');
  return out;
}

const isStorageType = (type: string): type is StorageType => (STORAGE_TYPES as readonly string[]).includes(type);

/** Fails for an enum key whose value the decoder rejected (see DecodeContext.rejected). */
function reportRejected(ctx: DecodeContext, key: string): void {
  const problem = ctx.rejected.get(key);
  if (problem !== undefined) fail(ctx, key, problem);
}

function validate<S>(c: Config<S>, ctx: DecodeContext, parseStorage: StorageParser<S>): void {
  const check = (ok: boolean, key: string, problem: string): void => {
    if (!ok) fail(ctx, key, problem);
  };
  const level = c.log.level.toLowerCase();
  check((LOG_LEVELS as readonly string[]).includes(level), 'log.level', `must be one of: ${LOG_LEVELS.join(', ')}`);
  reportRejected(ctx, 'log.format');
  check(c.log.timestamp === '' || (LOG_TIMESTAMPS as readonly string[]).includes(c.log.timestamp),
    'log.timestamp', `must be one of: ${LOG_TIMESTAMPS.join(', ')}`);

  check(Object.keys(c.lmdbs).length > 0, 'lmdbs', 'no LMDBs configured');
  for (const [name, l] of Object.entries(c.lmdbs)) {
    const key = `lmdbs.${name}`;
    const nameProblem = validateDbName(name);
    check(nameProblem === undefined, key, `invalid database name: ${nameProblem ?? ''} (it becomes part of snapshot names)`);
    check(l.path !== '', `${key}.path`, 'no path configured');
    check(l.options.maxDbs >= 0, `${key}.options.max_dbs`, 'must not be negative');
    check(!(l.schemaTracksChanges && l.dupsortHack), `${key}.dupsort_hack`,
      'cannot be used together with schema_tracks_changes: true');
  }

  if (c.http.address !== '') {
    const m = /^(\[[^\]]*\]|[^:[\]]*):([^:]*)$/.exec(c.http.address);
    check(m !== null, 'http.address', `invalid address ${JSON.stringify(c.http.address)}: expected host:port or :port`);
  }
  const minimum100ms = [
    ['lmdb_poll_interval', c.lmdbPollInterval],
    ['storage_poll_interval', c.storagePollInterval],
    ['storage_retry_interval', c.storageRetryInterval],
  ] as const;
  for (const [key, ms] of minimum100ms) check(ms >= 100, key, 'too short interval (minimum 100ms)');
  const force = c.storageForceSnapshotInterval;
  check(force === 0 || force >= M, 'storage_force_snapshot_interval', 'too short interval (minimum 1m if enabled, 0 disables)');
  check(c.storageRetryCount >= 1, 'storage_retry_count', 'positive number required');
  check(c.memoryDownloadedSnapshots >= 1, 'memory_downloaded_snapshots', 'positive number required');
  check(c.memoryDecompressedSnapshots >= 1, 'memory_decompressed_snapshots', 'positive number required');
  check(c.sweeper.retentionDays >= 0, 'sweeper.retention_days', 'must not be negative');
  check(c.deltas.fullInterval >= S, 'deltas.full_interval', 'too short interval (minimum 1s)');
  check(c.deltas.maxChainRatio > 0 && c.deltas.maxChainRatio <= 10, 'deltas.max_chain_ratio', 'must be above 0 and at most 10');
  check(c.deltas.maxChainLength >= 1, 'deltas.max_chain_length', 'positive number required');
  check(c.deltas.fullListInterval >= S, 'deltas.full_list_interval', 'too short interval (minimum 1s)');
  check(c.contentHash.interval >= S, 'content_hash.interval', 'too short interval (minimum 1s)');

  if (c.storage.rootPath !== '') {
    c.warnings.push('storage.root_path is deprecated and will be removed, use storage.options.root_path instead');
    c.storage.options.root_path = c.storage.rootPath;
  }
  const type = c.storage.type;
  if (type !== '') {
    if (!isStorageType(type)) {
      fail(ctx, 'storage.type', `unknown storage type ${JSON.stringify(type)}; supported: ${STORAGE_TYPES.join(', ')}`);
    }
    c.storage.parsed = parseStorage(type, c.storage.options);
  }
  for (const key of ctx.rejected.keys()) reportRejected(ctx, key); // enum keys not checked above
}

/** Config files larger than this are refused (a real one is a few KiB). */
export const MAX_CONFIG_BYTES = 1 << 20;

/**
 * Parses config text; `env` feeds the `${VAR}` expansion. Throws ConfigError. With `parseStorage` (the
 * storage layer's parser), `storage.parsed` is its result; without, the options as written.
 */
export function parseConfig<S>(text: string, env: NodeJS.ProcessEnv | undefined, opts: ParseOptionsWith<S>): Config<S>;
export function parseConfig(text: string, env?: NodeJS.ProcessEnv, opts?: ParseOptions): Config<UnparsedStorage>;
export function parseConfig<S>(
  text: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions & { parseStorage?: StorageParser<S> } = {},
): Config<S> | Config<UnparsedStorage> {
  return opts.parseStorage ? parseWith(text, env, opts, opts.parseStorage) : parseWith(text, env, opts, keepUnparsed);
}

function parseWith<S>(text: string, env: NodeJS.ProcessEnv, opts: ParseOptions, parseStorage: StorageParser<S>): Config<S> {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError('size', `the text has ${text.length} characters, more than the limit of ${MAX_CONFIG_BYTES} (1 MiB)`);
  }
  try {
    return parseConfigText(text, env, opts, parseStorage);
  } catch (err) {
    // The YAML parser recurses per nesting level: a pathological file must end in a clear error.
    if (err instanceof RangeError) throw new ConfigError('YAML', 'nested too deeply to parse');
    throw err;
  }
}

function parseConfigText<S>(text: string, env: NodeJS.ProcessEnv, opts: ParseOptions, parseStorage: StorageParser<S>): Config<S> {
  const expanded = expandEnv(text, env);
  const lines = new LineCounter();
  const doc = parseDocument(expanded.text, { version: '1.1', uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const err = doc.errors[0];
  if (err) {
    const pos = lines.linePos(err.pos[0]);
    throw new ConfigSyntaxError(pos.line, pos.col, `invalid YAML: ${err.message.split('\n')[0]}`);
  }
  const ctx: DecodeContext = { sources: sourceMap(doc.contents, lines), warnings: [], rejected: new Map() };
  for (const name of expanded.unset) {
    ctx.warnings.push(`environment variable ${name === '$' ? '$ (from "$$", which is not an escape)' : name} is not set; expanded to an empty string`);
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigSyntaxError(1, 1, `invalid YAML: ${(e as Error).message}`);
  }
  if (js === null || js === undefined) js = {}; // empty file: defaults, then "no LMDBs configured"
  const config: Config<S> = { ...decodeAs(CONFIG_SPEC, js, '', ctx), warnings: ctx.warnings };
  if (opts.overrides?.instance) config.instance = opts.overrides.instance;
  validate(config, ctx, parseStorage);
  return config;
}

/** Reads and parses a config file (see parseConfig). A missing or unreadable file is a ConfigError naming the file. */
export function loadConfig<S>(path: string, env: NodeJS.ProcessEnv | undefined, opts: ParseOptionsWith<S>): Config<S>;
export function loadConfig(path: string, env?: NodeJS.ProcessEnv, opts?: ParseOptions): Config<UnparsedStorage>;
export function loadConfig<S>(
  path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions & { parseStorage?: StorageParser<S> } = {},
): Config<S> | Config<UnparsedStorage> {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError('size', `the file has ${size} bytes, more than the limit of ${MAX_CONFIG_BYTES} (1 MiB)`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ConfigError(path, `cannot read config file: ${why}`);
  }
  return opts.parseStorage ? parseWith(text, env, opts, opts.parseStorage) : parseWith(text, env, opts, keepUnparsed);
}

/** The configuration with every default, as an empty file would give it (before validation; storage not parsed). */
export function defaultConfig(): Config<never> {
  return { ...decodeAs(CONFIG_SPEC, {}, '', { sources: new Map(), warnings: [], rejected: new Map() }), warnings: [] };
}

/**
 * The instance name used in snapshot names, exactly as Go derives it: the configured name (or `--instance`),
 * else the host name, with every character outside [A-Za-z0-9-] replaced by `-`. Sanitising (instead of
 * refusing) keeps our snapshot names identical to the ones the Go implementation wrote for the same config.
 */
export function instanceName(config: Pick<Config, 'instance'>, hostname: string = safeHostname()): string {
  const name = (config.instance || hostname).replace(/[^a-zA-Z0-9-]/g, '-');
  if (name === '') {
    throw new ConfigError('instance', 'instance name could not be determined, please provide one with --instance');
  }
  return name;
}

function safeHostname(): string {
  try {
    return osHostname();
  } catch {
    return '';
  }
}

/** For commands that need storage: its parsed options; throws unless `storage.type` is set. */
export function requireStorage<S>(config: Config<S>): S {
  const { parsed } = config.storage;
  if (parsed === undefined) throw new ConfigError('storage.type', `not set; one of: ${STORAGE_TYPES.join(', ')}`);
  return parsed;
}
