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
  bool, decode, duration, fail, float, int, mode, size, str, struct,
  type DecodeContext, type SourceInfo, type Spec,
} from './schema.js';
import { validateDbName } from '../snapshot/name.js';

export interface LmdbOptions {
  /** 0 = LMDB default when creating (1 GiB, applied by the LMDB layer only with `create`). */
  mapSize: number;
  /** 0 = default 64. */
  maxDbs: number;
  /** 0 = default 0o775. */
  dirMask: number;
  /** 0 = default 0o664. */
  fileMask: number;
  noSubdir: boolean;
  create: boolean;
}

export interface DbiOptions {
  /** LMDB DBI flags to create the DBI with when loading a snapshot, instead of the snapshot's. */
  overrideCreateFlags?: number;
}

export interface LmdbConfig {
  path: string;
  options: LmdbOptions;
  dbiOptions: Record<string, DbiOptions>;
  schemaTracksChanges: boolean;
  dupsortHack: boolean;
  headerExtraPaddingBlock: boolean;
}

export interface SweeperConfig {
  enabled: boolean;
  retentionDays: number;
  interval: number;
  firstInterval: number;
  lockDuration: number;
  releaseDuration: number;
  /** 0 = 1% of the retention (the sweeper code caps an explicit value at 75% of it). */
  retentionLoadCutoffDuration: number;
}

/** Delta snapshots (an extension of this implementation: README, "Delta snapshots"). */
export interface DeltasConfig {
  enabled: boolean;
  /** A full snapshot at least this often (ms). */
  fullInterval: number;
  /** A full snapshot once the deltas since the last one add up to this fraction of its size. */
  maxChainRatio: number;
  /** A full snapshot after this many deltas (every object is in every listing until the next full one). */
  maxChainLength: number;
  /**
   * While every peer announces its full snapshots in the journal, polls list only the journal's new entries,
   * and the full snapshots this often (ms); see DbListing.
   */
  fullListInterval: number;
}

/** Content hashes of synced data (an extension of this implementation: README, "Content hashes"). */
export interface ContentHashConfig {
  /** Hashes in full snapshots (checked on merge), local hashes after merges and local changes, published states. */
  enabled: boolean;
  /** At most one local hash scan per this long (ms); also how often other instances' states are listed. */
  interval: number;
  /** Publish this instance's state hash after it changes (`_hash__<db>__...` objects; never in `receive`). */
  publish: boolean;
}

export interface CleanupConfig {
  enabled: boolean;
  interval: number;
  mustKeepInterval: number;
  removeOldInstancesInterval: number;
  /** Retention tiers (an extension, README "Point-in-time restore"): 0 = off. See src/ops/retention-tiers.ts. */
  keepHourly: number;
  keepDaily: number;
}

export interface StorageConfig {
  /** `s3`, `azure`, `fs`, `memory`, or '' when not configured (only commands that use storage need it). */
  type: string;
  /** Backend-specific, checked by the validator registered for `type`. */
  options: Record<string, unknown>;
  cleanup: CleanupConfig;
  /** Deprecated: copied into `options.root_path` (with a warning) when set. */
  rootPath: string;
}

export interface HealthConfig {
  interval: number;
  warnDuration: number;
  errorDuration: number;
}

export interface StartHealthConfig extends HealthConfig {
  reportHealthz: boolean;
  reportMetadata: boolean;
}

export interface LogConfig {
  /** One of LOG_LEVELS (logrus names: `warning` and `warn` are the same). */
  level: string;
  format: 'human' | 'logfmt' | 'json';
  /** `short`, `full`, `disable`; '' means short. */
  timestamp: string;
}

export interface Config {
  /** As configured (after a `--instance` override); may be '' or unsafe: use instanceName(). */
  instance: string;
  lmdbs: Record<string, LmdbConfig>;
  sweeper: SweeperConfig;
  deltas: DeltasConfig;
  contentHash: ContentHashConfig;
  storage: StorageConfig;
  http: { address: string };
  log: LogConfig;
  health: { storageList: HealthConfig; storageLoad: HealthConfig; storageStore: HealthConfig; start: StartHealthConfig };
  lmdbPollInterval: number;
  /** 0 disables. */
  lmdbLogStatsInterval: number;
  lmdbScrapeSmaps: boolean;
  storagePollInterval: number;
  storageRetryInterval: number;
  storageRetryCount: number;
  storageRetryForever: boolean;
  /** 0 disables. */
  storageForceSnapshotInterval: number;
  memoryDownloadedSnapshots: number;
  memoryDecompressedSnapshots: number;
  onlyOnce: boolean;
  /** Not from YAML: things worth a warning in the log (unset variables, deprecated keys). */
  warnings: string[];
}

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
const health = (interval: number): Record<string, Spec> => ({
  interval: duration(interval),
  warn_duration: duration(1 * M),
  error_duration: duration(5 * M),
});

/** Every key with its type and default (Go config.Default()). */
export const CONFIG_SPEC: Spec = struct({
  instance: str(),
  lmdbs: {
    kind: 'map',
    of: struct({
      path: str(),
      options: struct({
        dir_mask: mode(), file_mask: mode(), map_size: size(), max_dbs: int(), no_subdir: bool(), create: bool(),
      }),
      dbi_options: { kind: 'map', of: struct({ override_create_flags: { kind: 'dbiflags' } }) },
      schema_tracks_changes: bool(),
      dupsort_hack: bool(),
      header_extra_padding_block: bool(),
    }),
  },
  sweeper: struct({
    enabled: bool(false),
    retention_days: float(370),
    interval: duration(6 * H),
    first_interval: duration(10 * M),
    lock_duration: duration(50),
    release_duration: duration(50),
    retention_load_cutoff_duration: duration(0),
  }),
  deltas: struct({
    enabled: bool(false),
    full_interval: duration(10 * M),
    max_chain_ratio: float(0.25),
    max_chain_length: int(100),
    full_list_interval: duration(M),
  }),
  content_hash: struct({
    enabled: bool(true),
    interval: duration(10 * S),
    publish: bool(true),
  }),
  storage: struct({
    type: str(),
    options: { kind: 'raw' },
    cleanup: struct({
      enabled: bool(false),
      interval: duration(5 * M),
      must_keep_interval: duration(10 * M),
      remove_old_instances_interval: duration(168 * H),
      keep_hourly: duration(0),
      keep_daily: duration(0),
    }),
    root_path: str(),
  }),
  http: struct({ address: str() }),
  log: struct({ level: str('info'), format: str('human'), timestamp: str('short') }),
  health: struct({
    storage_list: struct(health(5 * S)),
    storage_load: struct(health(5 * S)),
    storage_store: struct(health(5 * S)),
    start: struct({ ...health(1 * S), report_healthz: bool(false), report_metadata: bool(true) }),
  }),
  lmdb_poll_interval: duration(1 * S),
  lmdb_log_stats_interval: duration(30 * M),
  lmdb_scrape_smaps: bool(true),
  storage_poll_interval: duration(1 * S),
  storage_retry_interval: duration(5 * S),
  storage_retry_count: int(100),
  storage_retry_forever: bool(false),
  storage_force_snapshot_interval: duration(4 * H),
  memory_downloaded_snapshots: int(2),
  memory_decompressed_snapshots: int(3),
  only_once: bool(false),
});

/**
 * Checks (and may normalise) `storage.options` for the config's storage type: the storage layer's
 * parser, passed in by the caller (config sits below storage). Throw ConfigError with keys like
 * `storage.options.bucket`; return a replacement object, or nothing to keep the raw options.
 */
export type StorageOptionsValidator = (type: StorageType, options: Record<string, unknown>) => Record<string, unknown> | undefined;

export interface ParseOptions {
  /** Checks storage.options when the file is loaded, so a bad key fails before anything starts. */
  validateStorageOptions?: StorageOptionsValidator;
  /** Applied after parsing, before validation (CLI flags). */
  overrides?: { instance?: string };
}

/** Line numbers and scalar source texts by key path, for messages and Go-like string reading. */
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

function validate(c: Config, ctx: DecodeContext, opts: ParseOptions): void {
  const check = (ok: boolean, key: string, problem: string): void => {
    if (!ok) fail(ctx, key, problem);
  };
  const level = c.log.level.toLowerCase();
  check((LOG_LEVELS as readonly string[]).includes(level), 'log.level', `must be one of: ${LOG_LEVELS.join(', ')}`);
  check((LOG_FORMATS as readonly string[]).includes(c.log.format), 'log.format', `must be one of: ${LOG_FORMATS.join(', ')}`);
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
  for (const key of ['lmdb_poll_interval', 'storage_poll_interval', 'storage_retry_interval'] as const) {
    const ms = (c as unknown as Record<string, number>)[key.replace(/_([a-z])/g, (_, x: string) => x.toUpperCase())]!;
    check(ms >= 100, key, 'too short interval (minimum 100ms)');
  }
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
    check((STORAGE_TYPES as readonly string[]).includes(type), 'storage.type',
      `unknown storage type ${JSON.stringify(type)}; supported: ${STORAGE_TYPES.join(', ')}`);
    const replaced = opts.validateStorageOptions?.(type as StorageType, c.storage.options);
    if (replaced) c.storage.options = replaced;
  }
}

/** Config files larger than this are refused (a real one is a few KiB). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Parses config text; `env` feeds the `${VAR}` expansion. Throws ConfigError. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Config {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError('size', `the text has ${text.length} characters, more than the limit of ${MAX_CONFIG_BYTES} (1 MiB)`);
  }
  try {
    return parseConfigText(text, env, opts);
  } catch (err) {
    // The YAML parser recurses per nesting level: a pathological file must end in a clear error.
    if (err instanceof RangeError) throw new ConfigError('YAML', 'nested too deeply to parse');
    throw err;
  }
}

function parseConfigText(text: string, env: NodeJS.ProcessEnv, opts: ParseOptions): Config {
  const expanded = expandEnv(text, env);
  const lines = new LineCounter();
  const doc = parseDocument(expanded.text, { version: '1.1', uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const err = doc.errors[0];
  if (err) {
    const pos = lines.linePos(err.pos[0]);
    throw new ConfigSyntaxError(pos.line, pos.col, `invalid YAML: ${err.message.split('\n')[0]}`);
  }
  const ctx: DecodeContext = { sources: sourceMap(doc.contents, lines), warnings: [] };
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
  const config = decode(CONFIG_SPEC, js, '', ctx) as Config;
  config.warnings = ctx.warnings;
  if (opts.overrides?.instance) config.instance = opts.overrides.instance;
  validate(config, ctx, opts);
  return config;
}

/** Reads and parses a config file. A missing or unreadable file is a ConfigError naming the file. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Config {
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
  return parseConfig(text, env, opts);
}

/** The configuration with every default, as an empty file would give it (before validation). */
export function defaultConfig(): Config {
  const config = decode(CONFIG_SPEC, {}, '', { sources: new Map(), warnings: [] }) as Config;
  config.warnings = [];
  return config;
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

/** For commands that need storage: throws unless `storage.type` is set. */
export function requireStorage(config: Config): StorageConfig {
  if (config.storage.type === '') throw new ConfigError('storage.type', `not set; one of: ${STORAGE_TYPES.join(', ')}`);
  return config.storage;
}
