import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, ConfigSyntaxError, configToYaml, defaultConfig, expandEnv, formatDuration, formatSize, instanceName,
  loadConfig, parseConfig, parseDbiFlags, parseDuration, parseSize, redactConfig,
  requireStorage, yamlName,
} from '../../src/config/index.js';

const MINIMAL = 'lmdbs:\n  main:\n    path: /data/main\n';

const FULL = `
instance: \${LS_INSTANCE}
lmdb_poll_interval: 2s
lmdb_log_stats_interval: 5m
lmdb_scrape_smaps: false
storage_poll_interval: 500ms
storage_retry_interval: 1m30s
storage_retry_count: 7
storage_retry_forever: yes
storage_force_snapshot_interval: 0
memory_downloaded_snapshots: 4
memory_decompressed_snapshots: 5
only_once: true
lmdbs:
  main:
    path: /var/lib/pdns/pdns.lmdb
    options:
      no_subdir: true
      create: true
      dir_mask: 0770
      file_mask: 0660
      map_size: 1000MB
      max_dbs: 128
    schema_tracks_changes: true
    header_extra_padding_block: true
    dbi_options: {}
  shard:
    path: /var/lib/pdns/pdns.lmdb-0
    options: { map_size: 1GB }
    dupsort_hack: true
    dbi_options:
      domains:
        override_create_flags: MDB_INTEGERKEY
      domains_0:
        override_create_flags: MDB_DUPSORT|MDB_DUPFIXED
      pdns:
        override_create_flags: 0
sweeper:
  enabled: true
  retention_days: 3650
  interval: 1h
  first_interval: 1m
  lock_duration: 20ms
  release_duration: 30ms
  retention_load_cutoff_duration: 24h
  return_guard: false
storage:
  type: s3
  options:
    access_key: minioadmin
    secret_key: \${SECRET}
    region: us-east-1
    bucket: lightningstream
    endpoint_url: http://localhost:9000
    create_bucket: true
  cleanup:
    enabled: true
    interval: 15m
    must_keep_interval: 24h
    remove_old_instances_interval: 168h
http:
  address: ":8500"
log:
  level: debug
  format: json
  timestamp: full
health:
  storage_list: { interval: 10s, warn_duration: 2m, error_duration: 10m }
  storage_load: { interval: 11s, warn_duration: 3m, error_duration: 11m }
  storage_store: { interval: 12s, warn_duration: 4m, error_duration: 12m }
  start:
    interval: 2s
    warn_duration: 30s
    error_duration: 1h
    report_healthz: true
    report_metadata: false
`;

test('a full config with every key', () => {
  const c = parseConfig(FULL, { LS_INSTANCE: 'ns1', SECRET: 's3cr3t' });
  assert.equal(c.instance, 'ns1');
  assert.equal(c.lmdbPollInterval, 2000);
  assert.equal(c.lmdbLogStatsInterval, 300_000);
  assert.equal(c.lmdbScrapeSmaps, false);
  assert.equal(c.storagePollInterval, 500);
  assert.equal(c.storageRetryInterval, 90_000);
  assert.equal(c.storageRetryCount, 7);
  assert.equal(c.storageRetryForever, true);
  assert.equal(c.storageForceSnapshotInterval, 0);
  assert.equal(c.memoryDownloadedSnapshots, 4);
  assert.equal(c.memoryDecompressedSnapshots, 5);
  assert.equal(c.onlyOnce, true);
  assert.deepEqual(c.lmdbs.main, {
    path: '/var/lib/pdns/pdns.lmdb',
    options: { noSubdir: true, create: true, dirMask: 0o770, fileMask: 0o660, mapSize: 1000 * 2 ** 20, maxDbs: 128 },
    schemaTracksChanges: true, dupsortHack: false, headerExtraPaddingBlock: true, dbiOptions: {},
  });
  assert.equal(c.lmdbs.shard!.options.mapSize, 2 ** 30);
  assert.equal(c.lmdbs.shard!.options.create, false);
  assert.deepEqual(c.lmdbs.shard!.dbiOptions, {
    domains: { overrideCreateFlags: 0x08 }, domains_0: { overrideCreateFlags: 0x14 }, pdns: { overrideCreateFlags: 0 },
  });
  assert.deepEqual(c.sweeper, {
    enabled: true, retentionDays: 3650, interval: 3_600_000, firstInterval: 60_000, lockDuration: 20,
    releaseDuration: 30, retentionLoadCutoffDuration: 86_400_000, returnGuard: false,
  });
  assert.equal(c.storage.type, 's3');
  assert.deepEqual(c.storage.options, {
    access_key: 'minioadmin', secret_key: 's3cr3t', region: 'us-east-1', bucket: 'lightningstream',
    endpoint_url: 'http://localhost:9000', create_bucket: true,
  });
  assert.deepEqual(c.storage.cleanup, { enabled: true, interval: 900_000, mustKeepInterval: 86_400_000, removeOldInstancesInterval: 604_800_000, keepHourly: 0, keepDaily: 0 });
  assert.equal(c.http.address, ':8500');
  assert.deepEqual(c.log, { level: 'debug', format: 'json', timestamp: 'full' });
  assert.deepEqual(c.health.storageList, { interval: 10_000, warnDuration: 120_000, errorDuration: 600_000 });
  assert.deepEqual(c.health.storageLoad, { interval: 11_000, warnDuration: 180_000, errorDuration: 660_000 });
  assert.deepEqual(c.health.storageStore, { interval: 12_000, warnDuration: 240_000, errorDuration: 720_000 });
  assert.deepEqual(c.health.start, { interval: 2000, warnDuration: 30_000, errorDuration: 3_600_000, reportHealthz: true, reportMetadata: false });
  assert.deepEqual(c.warnings, []);
});

test('defaults match the Go implementation', () => {
  const c = parseConfig(MINIMAL, {});
  const d = defaultConfig();
  assert.deepEqual({ ...c, lmdbs: {} }, d);
  assert.equal(c.instance, '');
  assert.equal(c.lmdbPollInterval, 1000);
  assert.equal(c.lmdbLogStatsInterval, 30 * 60_000);
  assert.equal(c.lmdbScrapeSmaps, true);
  assert.equal(c.storagePollInterval, 1000);
  assert.equal(c.storageRetryInterval, 5000);
  assert.equal(c.storageRetryCount, 100);
  assert.equal(c.storageRetryForever, false);
  assert.equal(c.storageForceSnapshotInterval, 4 * 3_600_000);
  assert.equal(c.memoryDownloadedSnapshots, 2);
  assert.equal(c.memoryDecompressedSnapshots, 3);
  assert.equal(c.onlyOnce, false);
  assert.deepEqual(c.lmdbs.main, {
    path: '/data/main',
    options: { noSubdir: false, create: false, dirMask: 0, fileMask: 0, mapSize: 0, maxDbs: 0 },
    schemaTracksChanges: false, dupsortHack: false, headerExtraPaddingBlock: false, dbiOptions: {},
  });
  assert.deepEqual(c.sweeper, {
    enabled: false, retentionDays: 370, interval: 6 * 3_600_000, firstInterval: 600_000, lockDuration: 50,
    releaseDuration: 50, retentionLoadCutoffDuration: 0, returnGuard: true,
  });
  assert.deepEqual(c.storage, {
    type: '', options: {}, rootPath: '',
    cleanup: { enabled: false, interval: 300_000, mustKeepInterval: 600_000, removeOldInstancesInterval: 168 * 3_600_000, keepHourly: 0, keepDaily: 0 },
  });
  assert.deepEqual(c.http, { address: '' });
  assert.deepEqual(c.log, { level: 'info', format: 'human', timestamp: 'short' });
  for (const h of [c.health.storageList, c.health.storageLoad, c.health.storageStore]) {
    assert.deepEqual(h, { interval: 5000, warnDuration: 60_000, errorDuration: 300_000 });
  }
  assert.deepEqual(c.health.start, { interval: 1000, warnDuration: 60_000, errorDuration: 300_000, reportHealthz: false, reportMetadata: true });
});

test('empty sections (all keys commented out, as in the Go example.yaml) keep their defaults', () => {
  const c = parseConfig(`${MINIMAL}sweeper:\n  #enabled: false\nhealth:\nlog:\n`, {});
  assert.equal(c.sweeper.retentionDays, 370);
  assert.equal(c.health.start.interval, 1000);
  assert.equal(c.log.level, 'info');
});

test('a null leaf is Go\'s zero value', () => {
  assert.equal(parseConfig(`${MINIMAL}storage_force_snapshot_interval:\n`, {}).storageForceSnapshotInterval, 0);
  assert.throws(() => parseConfig(`${MINIMAL}lmdb_poll_interval:\n`, {}), /lmdb_poll_interval: too short/);
});

// Each invalid snippet must produce a ConfigError naming this key.
const INVALID: Array<[string, string, string, RegExp?]> = [
  ['unknown top-level key', 'lmdb_pol_interval: 1s', 'lmdb_pol_interval', /did you mean lmdb_poll_interval/],
  ['unknown nested key', 'storage:\n  cleanup:\n    enable: true', 'storage.cleanup.enable', /did you mean enabled/],
  ['unknown lmdb key', 'lmdbs:\n  main:\n    path: /x\n    opts: {}', 'lmdbs.main.opts'],
  ['unknown lmdb option', 'lmdbs:\n  main:\n    path: /x\n    options: { mapsize: 1GB }', 'lmdbs.main.options.mapsize'],
  ['unknown dbi option', 'lmdbs:\n  main:\n    path: /x\n    dbi_options: { d: { flags: 0 } }', 'lmdbs.main.dbi_options.d.flags'],
  ['unknown health key', 'health:\n  start: { intervall: 1s }', 'health.start.intervall'],
  ['wrong type: int', 'storage_retry_count: many', 'storage_retry_count', /expected an integer/],
  ['wrong type: bool', 'only_once: 3', 'only_once', /expected true or false/],
  ['wrong type: mapping', 'sweeper: 5', 'sweeper', /expected a mapping/],
  ['wrong type: list as string', 'instance: [a]', 'instance', /expected a string/],
  ['wrong type: options', 'storage:\n  options: [1]', 'storage.options', /expected a mapping/],
  ['bad duration', 'storage_poll_interval: 5 seconds', 'storage_poll_interval', /unknown unit/],
  ['duration missing unit', 'sweeper:\n  interval: "10"', 'sweeper.interval', /missing unit/],
  ['negative duration', 'storage:\n  cleanup:\n    interval: -5m', 'storage.cleanup.interval', /negative/],
  ['bad size', 'lmdbs:\n  main:\n    path: /x\n    options: { map_size: 1.5GB }', 'lmdbs.main.options.map_size'],
  ['size in bits', 'lmdbs:\n  main:\n    path: /x\n    options: { map_size: 1Gb }', 'lmdbs.main.options.map_size', /bits/],
  ['decimal file mask', 'lmdbs:\n  main:\n    path: /x\n    options: { file_mask: 664 }', 'lmdbs.main.options.file_mask', /octal/],
  ['bad dbi flags', 'lmdbs:\n  main:\n    path: /x\n    dbi_options: { d: { override_create_flags: MDB_CREATE } }', 'lmdbs.main.dbi_options.d.override_create_flags'],
  ['no lmdbs', '!instance: a', 'lmdbs', /no LMDBs/],
  ['lmdb without path', 'lmdbs:\n  main:\n    schema_tracks_changes: true', 'lmdbs.main.path'],
  ['db name with __', 'lmdbs:\n  a__b:\n    path: /x', 'lmdbs.a__b', /invalid database name/],
  ['db name with /', 'lmdbs:\n  a/b:\n    path: /x', 'lmdbs.a/b'],
  ['db name with space', 'lmdbs:\n  "a b":\n    path: /x', 'lmdbs.a b'],
  ['dupsort_hack with native schema', 'lmdbs:\n  main:\n    path: /x\n    schema_tracks_changes: true\n    dupsort_hack: true', 'lmdbs.main.dupsort_hack', /schema_tracks_changes/],
  ['lmdb poll too short', 'lmdb_poll_interval: 99ms', 'lmdb_poll_interval', /minimum 100ms/],
  ['storage poll too short', 'storage_poll_interval: 10ms', 'storage_poll_interval'],
  ['retry interval too short', 'storage_retry_interval: 1ms', 'storage_retry_interval'],
  ['force snapshot too short', 'storage_force_snapshot_interval: 59s', 'storage_force_snapshot_interval', /1m/],
  ['retry count zero', 'storage_retry_count: 0', 'storage_retry_count'],
  ['memory downloaded zero', 'memory_downloaded_snapshots: 0', 'memory_downloaded_snapshots'],
  ['memory decompressed zero', 'memory_decompressed_snapshots: 0', 'memory_decompressed_snapshots'],
  ['unknown storage type', 'storage:\n  type: ftp', 'storage.type', /unknown storage type/],
  ['bad log level', 'log:\n  level: verbose', 'log.level'],
  ['bad log format', 'log:\n  format: xml', 'log.format'],
  ['bad log timestamp', 'log:\n  timestamp: iso', 'log.timestamp'],
  ['bad http address', 'http:\n  address: localhost', 'http.address'],
  ['negative retention', 'sweeper:\n  retention_days: -1', 'sweeper.retention_days'],
];

for (const [name, snippet, key, extra] of INVALID) {
  test(`invalid: ${name} -> ${key}`, () => {
    const text = snippet.startsWith('!') ? snippet.slice(1) : snippet.startsWith('lmdbs:') ? snippet : `${MINIMAL}${snippet}\n`;
    assert.throws(() => parseConfig(text, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.key, key);
      assert.match(err.message, new RegExp(`^config: ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
      if (extra) assert.match(err.message, extra);
      return true;
    });
  });
}

test('errors give the line of the offending key', () => {
  assert.throws(() => parseConfig(`${MINIMAL}\n\nbogus: 1\n`, {}), /bogus: unknown key.*\(line 6\)/);
});

test('YAML syntax errors carry line and column', () => {
  assert.throws(() => parseConfig('lmdbs:\n  main:\n    path: [x\n  other: 1\n', {}), (err: unknown) => {
    assert.ok(err instanceof ConfigSyntaxError);
    assert.ok(err.line >= 3, `line ${err.line}`);
    assert.match(err.message, /^config: line \d+, column \d+: invalid YAML: /);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  assert.throws(() => parseConfig(`${MINIMAL}instance: a\ninstance: b\n`, {}), /line 5.*invalid YAML: .*unique/i);
});

test('YAML 1.1 scalars like Go yaml.v2', () => {
  const c = parseConfig(`${MINIMAL}    options: { dir_mask: 0755, create: on, no_subdir: Yes }\ninstance: 0123\n`, {});
  assert.equal(c.lmdbs.main!.options.dirMask, 0o755);
  assert.equal(c.lmdbs.main!.options.create, true);
  assert.equal(c.lmdbs.main!.options.noSubdir, true);
  assert.equal(c.instance, '0123'); // source text, as yaml.v2 stores scalars into strings
});

test('env expansion follows Go os.ExpandEnv', () => {
  const env = { A: 'x', B_2: 'y', EMPTY: '' };
  const cases: Array<[string, string, string[]]> = [
    ['${A}', 'x', []],
    ['$A-$B_2', 'x-y', []],
    ['pre${A}post', 'prexpost', []],
    ['${MISSING}', '', ['MISSING']],
    ['$MISSING/$MISSING', '/', ['MISSING']],
    ['${EMPTY}z', 'z', []],
    ['a$$b', 'ab', ['$']],
    ['cost $ 5', 'cost $ 5', []],
    ['end$', 'end$', []],
    ['x${}y', 'xy', []],
    ['x${A', 'xA', []],
    ['${A:-d}', '', ['A:-d']],
    ['$1', '', ['1']],
    ['p@$$w0rd', 'p@w0rd', ['$']],
  ];
  for (const [input, want, unset] of cases) {
    assert.deepEqual(expandEnv(input, env), { text: want, unset }, input);
  }
});

test('unset variables are warnings, not errors', () => {
  const c = parseConfig(`instance: \${NOPE}\n${MINIMAL}`, {});
  assert.equal(c.instance, '');
  assert.match(c.warnings.join('\n'), /NOPE is not set/);
});

test('durations: Go time.ParseDuration syntax, ms out', () => {
  const ok: Array<[string, number]> = [
    ['0', 0], ['100ms', 100], ['1s', 1000], ['5m', 300_000], ['4h', 14_400_000], ['1h30m', 5_400_000],
    ['1.5s', 1500], ['.5s', 500], ['1m0.5s', 60_500], ['1500us', 1.5], ['2µs', 0.002], ['3μs', 0.003],
    ['100ns', 0.0001], ['-1s', -1000], ['+2s', 2000], ['168h', 604_800_000],
  ];
  for (const [s, ms] of ok) assert.equal(parseDuration(s), ms, s);
  for (const s of ['', '1', 's', '1x', '1.s.', '--1s', '1 s', '.s']) assert.throws(() => parseDuration(s), Error, s);
  for (const [ms, s] of [[0, '0s'], [1000, '1s'], [300_000, '5m0s'], [14_400_000, '4h0m0s'], [100, '100ms'], [1500, '1.5s'], [5_400_000, '1h30m0s'], [0.0015, '1.5µs']] as const) {
    assert.equal(formatDuration(ms), s);
  }
});

test('a bare YAML integer duration is nanoseconds, as in Go (with a warning)', () => {
  const c = parseConfig(`${MINIMAL}sweeper:\n  lock_duration: 50000000\n`, {});
  assert.equal(c.sweeper.lockDuration, 50);
  assert.match(c.warnings.join(), /nanoseconds/);
});

test('sizes: datasize binary units', () => {
  const ok: Array<[string, number]> = [
    ['0', 0], ['123', 123], ['10b', 10], ['1k', 1024], ['1KB', 1024], ['1000MB', 1000 * 2 ** 20], ['1GB', 2 ** 30],
    ['1 gb', 2 ** 30], ['2gigabytes', 2 ** 31], ['1TB', 2 ** 40], ['1 byte', 1],
  ];
  for (const [s, n] of ok) assert.equal(parseSize(s), n, s);
  for (const s of ['', 'GB', '1.5GB', '1Gb', '1 KiB', '-1GB']) assert.throws(() => parseSize(s), Error, s);
  assert.equal(parseConfig(`${MINIMAL}    options: { map_size: 1073741824 }\n`, {}).lmdbs.main!.options.mapSize, 2 ** 30);
  assert.equal(formatSize(2 ** 30), '1GB');
  assert.equal(formatSize(1000 * 2 ** 20), '1000MB');
  assert.equal(formatSize(1000), '1000B');
});

test('DBI flags', () => {
  assert.equal(parseDbiFlags('MDB_DUPSORT|MDB_DUPFIXED'), 0x14);
  assert.equal(parseDbiFlags('integerkey, dupsort'), 0x0c);
  assert.equal(parseDbiFlags('0x08+4'), 0x0c);
  assert.equal(parseDbiFlags('0'), 0);
  assert.throws(() => parseDbiFlags('0x40000'), /invalid persistent DBI flag: 0X40000$/);
  assert.throws(() => parseDbiFlags('1'), /invalid persistent DBI flag: 1$/);
});

test('instance name: --instance override, host name fallback, Go sanitising', () => {
  assert.equal(parseConfig(`instance: a\n${MINIMAL}`, {}, { overrides: { instance: 'b' } }).instance, 'b');
  assert.equal(instanceName({ instance: 'ns1' }, 'host'), 'ns1');
  assert.equal(instanceName({ instance: '' }, 'host.example.com'), 'host-example-com');
  assert.equal(instanceName({ instance: 'a__b c/d' }, 'h'), 'a--b-c-d');
  assert.throws(() => instanceName({ instance: '' }, ''), (err: unknown) => err instanceof ConfigError && err.key === 'instance');
});

test('the storage parser is passed in, sees the type and options, and its result is storage.parsed', () => {
  const parseStorage = (type: string, o: Record<string, unknown>) => {
    if ('bogus' in o) throw new ConfigError('storage.options.bogus', `unknown ${type} option`);
    return { ...o, checked: true };
  };
  const base = `${MINIMAL}storage:\n  type: memory\n  options:\n`;
  const c = parseConfig(`${base}    a: 1\n`, {}, { parseStorage });
  assert.deepEqual(c.storage.parsed, { a: 1, checked: true });
  assert.deepEqual(c.storage.options, { a: 1 }, 'the options as written stay (for --log-config)');
  assert.throws(() => parseConfig(`${base}    bogus: 1\n`, {}, { parseStorage }), /storage\.options\.bogus: unknown memory option/);
  assert.deepEqual(parseConfig(`${base}    a: 2\n`, {}).storage.parsed, { type: 'memory', options: { a: 2 } },
    'without a parser the options are kept as they are');
  assert.equal(parseConfig(MINIMAL, {}, { parseStorage }).storage.parsed, undefined, 'no storage.type, nothing parsed');
});

test('log.format (an enum in the spec) is reported in the order of the other checks', () => {
  assert.throws(() => parseConfig(`${MINIMAL}log: { format: xml, level: nope }\n`, {}), /config: log\.level: must be one of/);
  assert.throws(() => parseConfig(`${MINIMAL}log: { format: xml }\nbogus: 1\n`, {}), /config: bogus: unknown key/);
  assert.throws(() => parseConfig(`${MINIMAL}log:\n  format:\n`, {}), /config: log\.format: must be one of: human, logfmt, json \(line 5\)$/);
  assert.equal(parseConfig(`${MINIMAL}log: { format: logfmt }\n`, {}).log.format, 'logfmt');
});

test('redactConfig leaves out the parsed storage options', () => {
  const c = parseConfig(`${MINIMAL}storage: { type: memory, options: { token: t } }\n`, {}, { parseStorage: (type, options) => ({ type, options, fn: () => 1 }) });
  assert.equal(typeof c.storage.parsed?.fn, 'function');
  const r = redactConfig(c);
  assert.equal('parsed' in r.storage, false);
  assert.deepEqual(r.storage.options, { token: '***' });
});

test('deprecated storage.root_path moves into options with a warning; requireStorage', () => {
  const c = parseConfig(`${MINIMAL}storage:\n  type: fs\n  root_path: /snap\n`, {});
  assert.equal(c.storage.options.root_path, '/snap');
  assert.match(c.warnings.join(), /deprecated/);
  assert.equal(requireStorage(c).type, 'fs');
  assert.throws(() => requireStorage(parseConfig(MINIMAL, {})), /storage\.type/);
});

test('redaction masks secrets but keeps the config usable', () => {
  const c = parseConfig(FULL, { LS_INSTANCE: 'ns1', SECRET: 'very-secret-value' });
  c.storage.options.password = 'pw';
  c.storage.options.secret_key_file = '/etc/ls/secret';
  c.storage.options.endpoint_url = 'https://user:pass@s3.example.com';
  const r = redactConfig(c);
  assert.equal(r.storage.options.secret_key, '***');
  assert.equal(r.storage.options.password, '***');
  assert.equal(r.storage.options.access_key, 'mini***');
  assert.equal(r.storage.options.secret_key_file, '/etc/ls/secret');
  assert.equal(r.storage.options.endpoint_url, 'https://***@s3.example.com');
  assert.equal(r.storage.options.bucket, 'lightningstream');
  assert.equal(c.storage.options.secret_key, 'very-secret-value', 'original untouched');
  const yaml = configToYaml(c);
  assert.doesNotMatch(yaml, /very-secret-value|pass@/);
  assert.match(yaml, /storage_retry_interval: 1m30s/);
  assert.match(yaml, /map_size: 1000MB/);
  // The YAML view parses back to the same config.
  const again = parseConfig(configToYaml({ ...c, storage: { ...c.storage, options: {} } }), {});
  assert.equal(again.storageRetryInterval, c.storageRetryInterval);
  assert.deepEqual(again.lmdbs, c.lmdbs);
  assert.deepEqual(again.health, c.health);
  assert.deepEqual(again.sweeper, c.sweeper);
});

test('yamlName maps TS paths back to YAML keys', () => {
  assert.equal(yamlName('storage.cleanup.mustKeepInterval'), 'storage.cleanup.must_keep_interval');
  assert.equal(yamlName('lmdbPollInterval'), 'lmdb_poll_interval');
});

test('loadConfig names a missing file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-config-'));
  const missing = join(dir, 'nope.yaml');
  assert.throws(() => loadConfig(missing, {}), (err: unknown) => err instanceof ConfigError && err.key === missing && /no such file/.test(err.message));
  const file = join(dir, 'ls.yaml');
  writeFileSync(file, `instance: \${I}\n${MINIMAL}`);
  assert.equal(loadConfig(file, { I: 'x1' }).instance, 'x1');
  rmSync(dir, { recursive: true, force: true });
});

test('retention tiers: storage.cleanup.keep_hourly / keep_daily are durations, off by default, misspellings refused', () => {
  const c = parseConfig(`${MINIMAL}storage:\n  type: fs\n  cleanup: { enabled: true, keep_hourly: 48h, keep_daily: 720h }\n`, {});
  assert.equal(c.storage.cleanup.keepHourly, 48 * 3_600_000);
  assert.equal(c.storage.cleanup.keepDaily, 720 * 3_600_000);
  assert.equal(parseConfig(MINIMAL, {}).storage.cleanup.keepHourly, 0);
  assert.throws(() => parseConfig(`${MINIMAL}storage:\n  cleanup: { keep_hourly: -1h }\n`, {}), /storage\.cleanup\.keep_hourly: must not be negative/);
  assert.throws(() => parseConfig(`${MINIMAL}storage:\n  cleanup: { keep_hourlly: 1h }\n`, {}), /storage\.cleanup\.keep_hourlly: unknown key; did you mean keep_hourly\?/);
});
