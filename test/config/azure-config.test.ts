// storage.type: azure in the configuration: the Go option names are accepted (checkconfig), anything else
// is refused with one line naming the key; ${VAR} works in azure options as everywhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { AZURE_KEYS } from '../../src/storage/azure/options.js';
import { parseAzureOptions, parseStorageOptions, STORAGE_TYPES } from '../../src/storage/index.js';
import { BIN } from '../sync/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ls-azure-config-'));
after(() => { rmSync(dir, { recursive: true, force: true }); });
const KEY = Buffer.alloc(64, 1).toString('base64');

function checkconfig(storageOptions: string, env: NodeJS.ProcessEnv = {}): { code: number | null; stderr: string; file: string } {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `lmdbs:\n  main:\n    path: ${join(dir, 'lmdb')}\nstorage:\n  type: azure\n  options:\n${storageOptions}`);
  const r = spawnSync(process.execPath, [BIN, 'checkconfig', '-c', file], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stderr: r.stderr, file };
}

const BASE = [
  '    account_name: myaccount',
  '    account_key: ${LS_TEST_AZURE_KEY}',
  '    use_shared_key: true',
  '    container: lightningstream',
].join('\n') + '\n';

test('azure is a storage type', () => {
  assert.ok((STORAGE_TYPES as readonly string[]).includes('azure'));
});

test('checkconfig accepts an azure config with every Go option, ${VAR} expanded, and prints no key', () => {
  const all = BASE + [
    '    create_container: true',
    '    global_prefix: ls/',
    '    endpoint_url: http://127.0.0.1:10000/devstoreaccount1',
    '    tls: { insecure_skip_verify: false }',
    '    init_timeout: 30s',
    '    idle_conn_timeout: 90s',
    '    max_idle_conns: 10',
    '    dial_timeout: 5s',
    '    dial_keep_alive: 10s',
    '    tls_handshake_timeout: 10s',
    '    client_timeout: 10m',
    '    use_update_marker: true',
    '    update_marker_force_list_interval: 5m',
    '    concurrency: 2',
    '',
  ].join('\n');
  const r = checkconfig(all, { LS_TEST_AZURE_KEY: KEY });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stderr.includes(KEY));
  const f = checkconfig(BASE.replace('    account_key: ${LS_TEST_AZURE_KEY}\n', '    account_key_file: /run/secrets/azure-key\n    secrets_refresh_interval: 30s\n'));
  assert.equal(f.code, 0, f.stderr);
});

test('checkconfig refuses an unknown azure option with one line naming it', () => {
  const r = checkconfig(`${BASE}    bucket: nope\n`, { LS_TEST_AZURE_KEY: KEY });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^lightningstream: .*: config: storage\.options\.bucket: unknown option/);
  assert.ok(!r.stderr.includes(KEY));
});

test('azure option checks, each naming its key', () => {
  const ok = { account_name: 'a', account_key: KEY, use_shared_key: true, container: 'c' };
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...ok, container: undefined }, /storage\.options\.container: is required/],
    [{ ...ok, account_name: undefined }, /storage\.options\.account_name: is required when endpoint_url is not set/],
    [{ ...ok, account_key: undefined }, /storage\.options\.account_key: account_key or account_key_file is required/],
    [{ ...ok, account_key_file: '/k' }, /storage\.options\.account_key_file: use either/],
    [{ ...ok, account_key: 'not base64!' }, /storage\.options\.account_key: is not a base64 account key/],
    [{ ...ok, endpoint_url: 'ftp://x' }, /storage\.options\.endpoint_url: unsupported scheme "ftp"/],
    [{ ...ok, endpoint_url: 'https://a.blob.core.windows.net/?sv=2020&sig=abc' }, /storage\.options\.endpoint_url: must not contain a query/],
    [{ ...ok, init_timeout: 5 }, /storage\.options\.init_timeout: must be a duration/],
    [{ ...ok, tls: { bogus: 1 } }, /storage\.options\.tls\.bogus: unknown option/],
    [{ ...ok, account_key_file: '/k', account_key: undefined, secrets_refresh_interval: '10ms' }, /secrets_refresh_interval: must be at least 1s/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => parseAzureOptions(o), (err: unknown) => err instanceof ConfigError && re.test(err.message), JSON.stringify(o));
  }
  // use_shared_key false (Go's default): the default Azure credential chain, no key needed (one given is ignored).
  const identity = parseAzureOptions({ account_name: 'a', container: 'c' });
  assert.equal(identity.use_shared_key, false);
  assert.equal(parseAzureOptions({ endpoint_url: 'https://127.0.0.1:10000/devstoreaccount1', container: 'c' }).use_shared_key, false);
  assert.equal(parseAzureOptions({ ...ok, use_shared_key: false }).use_shared_key, false);
  const parsed = parseStorageOptions('azure', ok);
  assert.equal(parsed.type, 'azure');
  assert.equal(JSON.stringify(parsed.options).includes(KEY), false, 'the key is a Secret');
  assert.equal(AZURE_KEYS.length, 20);
});
