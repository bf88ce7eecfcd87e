// `lightningstream dump`, `stats` and `experimental migrate-timestamps`: the real binary as a child
// process against real LMDB files, one of them kept open (with a write txn in progress) by this process
// as an application would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { buildValue, Env, MDB_DUPSORT, parseValue } from '../../src/lmdb/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'lightningstream.js');
const DIR = mkdtempSync(join(tmpdir(), 'ls-tools-'));
after(() => { if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(DIR, { recursive: true, force: true }); });

interface Result { code: number | null; stdout: string; stderr: string }

function cli(config: string, ...args: string[]): Result {
  const r = spawnSync(process.execPath, [BIN, '-c', config, ...args], {
    cwd: DIR, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeConfig(name: string, lmdbs: Record<string, { path: string; schema_tracks_changes: boolean }>): string {
  const file = join(DIR, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({ lmdbs }, null, 2));
  return file;
}

type Raw = [key: string | Buffer, value: Buffer];

function fill(env: Env, dbiName: string, entries: Raw[], flags = 0): void {
  const dbi = env.openDbi(dbiName, { create: true, flags })!;
  env.write((txn) => {
    for (const [k, v] of entries) txn.put(dbi, typeof k === 'string' ? Buffer.from(k) : k, v);
  });
}

const hv = (ts: bigint, txnId: number, value: string | Buffer, opts: { deleted?: boolean; extraBlocks?: number } = {}) =>
  buildValue(ts, txnId, typeof value === 'string' ? Buffer.from(value) : value, opts);

describe('dump and stats', () => {
  const nativePath = join(DIR, 'native');
  const shadowPath = join(DIR, 'shadow');
  const config = writeConfig('tools', {
    main: { path: nativePath, schema_tracks_changes: true },
    shd: { path: shadowPath, schema_tracks_changes: false },
  });
  const app = Env.open(nativePath, { create: true, maxDbs: 16 });
  fill(app, 'data', [
    ['k1', hv(1n, 42, 'hello world!')],
    ['bin', hv(1_000_000_000n, 42, Buffer.from([0x00, 0xff]))],
    ['gone', hv(1_700_000_000_123_456_789n, 42, '', { deleted: true })],
  ]);
  fill(app, '_sync_shadow_data', [['s', hv(2n, 7, 'sv', { extraBlocks: 1 })]]);
  fill(app, '_sync_x', [['kk', Buffer.from('raw value here')]]);
  const shd = Env.open(shadowPath, { create: true, maxDbs: 16 });
  fill(shd, 'records', [['r1', Buffer.from('plain application value')]]);
  fill(shd, 'dup', [['a', Buffer.from('3')], ['a', Buffer.from('1')], ['a', Buffer.from('2')], ['b', Buffer.from('x')]], MDB_DUPSORT);
  fill(shd, '_sync_shadow_records', [['r1', hv(1n, 3, 'plain application value')]]);
  shd.close();

  const mainDump = [
    '',
    '### main :: _sync_shadow_data',
    '',
    's [73]  =  sv [73 76]  (1970-01-01 00:00:00.000000002 UTC, txn 7, 1 extension block)',
    '',
    '### main :: _sync_x',
    '',
    'kk [6b 6b]  =  raw value here',
    '',
    '### main :: data',
    '',
    'bin [62 69 6e]  =  .. [00 ff]  (1970-01-01 00:00:01.000000000 UTC, txn 42)',
    'gone [67 6f 6e 65]  =  <deleted>  (2023-11-14 22:13:20.123456789 UTC, txn 42, deleted)',
    'k1 [6b 31]  =  hello world!  (1970-01-01 00:00:00.000000001 UTC, txn 42)',
    '',
  ].join('\n');
  const shdDump = [
    '',
    '### shd :: _sync_shadow_records',
    '',
    'r1 [72 31]  =  plain application value  (1970-01-01 00:00:00.000000001 UTC, txn 3)',
    '',
    '### shd :: dup',
    '',
    'a [61]  =  1 [31]',
    'a [61]  =  2 [32]',
    'a [61]  =  3 [33]',
    'b [62]  =  x [78]',
    '',
    '### shd :: records',
    '',
    'r1 [72 31]  =  plain application value',
    '',
  ].join('\n');

  it('dump prints every DBI of every LMDB, native headers decoded where values carry them', () => {
    const r = cli(config, 'dump');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, mainDump + shdDump);
  });

  it('dump --name selects LMDBs (repeatable), --hide leaves out the _sync DBIs', () => {
    const r = cli(config, 'dump', '-n', 'shd', '--hide');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, shdDump.slice(shdDump.indexOf('\n### shd :: dup')));
    assert.equal(cli(config, 'dump', '--name', 'main', '-n', 'shd').stdout, mainDump + shdDump);
    const bad = cli(config, 'dump', '-n', 'nope');
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'lightningstream: no LMDB named "nope" in the config (have: main, shd)\n');
  });

  it('stats prints what Go prints (env info, per-DBI stats and usage, total), plus the main DB stat', () => {
    const r = cli(config, 'stats');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    const stat = (entries: number) =>
      `\\{PSize:4096 Depth:1 BranchPages:0 LeafPages:1 OverflowPages:0 Entries:${entries}\\}`;
    const want = [
      /^main: Env info: \{MapSize:1048576 LastPNO:\d+ LastTxnID:\d+ MaxReaders:126 NumReaders:\d+\}$/,
      new RegExp(`^main: Env stat: ${stat(3)}$`),
      new RegExp(`^main: dbi _sync_shadow_data: ${stat(1)} \\(4\\.0 KB\\)$`),
      new RegExp(`^main: dbi _sync_x: ${stat(1)} \\(4\\.0 KB\\)$`),
      new RegExp(`^main: dbi data: ${stat(3)} \\(4\\.0 KB\\)$`),
      /^main: Total Used: 12\.0 KB \/ 1024\.0 KB \(~ 1\.2 %\)$/,
      /^shd: Env info: /,
      new RegExp(`^shd: Env stat: ${stat(3)}$`),
      new RegExp(`^shd: dbi _sync_shadow_records: ${stat(1)} \\(4\\.0 KB\\)$`),
      new RegExp(`^shd: dbi dup: \\{PSize:4096 Depth:1 BranchPages:0 LeafPages:1 OverflowPages:0 Entries:4\\} \\(4\\.0 KB\\)$`),
      new RegExp(`^shd: dbi records: ${stat(1)} \\(4\\.0 KB\\)$`),
      /^shd: Total Used: 12\.0 KB \/ 1024\.0 KB \(~ 1\.2 %\)$/,
    ];
    assert.equal(lines.length, want.length, r.stdout);
    want.forEach((re, i) => assert.match(lines[i]!, re));
  });

  it('an LMDB that cannot be opened is reported, the others are still dumped, exit 1', () => {
    const cfg = writeConfig('missing', {
      absent: { path: join(DIR, 'does-not-exist'), schema_tracks_changes: true },
      main: { path: nativePath, schema_tracks_changes: true },
    });
    const r = cli(cfg, 'dump');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, mainDump);
    assert.match(r.stderr, /LMDB dump error.*absent.*does-not-exist/);
    const s = cli(cfg, 'stats');
    assert.equal(s.code, 1);
    assert.match(s.stdout, /^main: Total Used/m);
  });

  it('works next to a process that has the LMDB open with a write txn in progress, and does not disturb it', () => {
    const data = app.openDbi('data')!;
    const reader = app.beginRead();
    const txn = app.beginWrite();
    try {
      txn.put(data, Buffer.from('uncommitted'), hv(5n, 99, 'pending'));
      const d = cli(config, 'dump', '-n', 'main');
      assert.equal(d.code, 0, d.stderr);
      assert.equal(d.stdout, mainDump, 'the dump sees the committed state');
      assert.equal(cli(config, 'stats').code, 0);
      assert.equal(reader.get(data, Buffer.from('k1'))?.length, 24 + 12, 'our read txn still works');
      txn.commit();
    } finally {
      if (txn.isActive) txn.abort();
      reader.abort();
    }
    const d = cli(config, 'dump', '-n', 'main', '-H');
    assert.match(d.stdout, /^uncommitted {2}= {2}pending \[70 65 6e 64 69 6e 67\] {2}\(1970-01-01 00:00:00\.000000005 UTC, txn 99\)$/m);
    app.write((t) => t.del(data, Buffer.from('uncommitted')));
  });
});

describe('experimental migrate-timestamps', () => {
  const T = (n: number) => 1_800_000_000_000_000_000n + BigInt(n);
  let n = 0;
  function setup(): { config: string; path: string } {
    const path = join(DIR, `mig-${++n}`);
    const env = Env.open(path, { create: true, maxDbs: 16 });
    fill(env, '_sync_shadow_records', [
      ['newer', hv(T(10), 1, 'src')],
      ['older', hv(T(1), 1, 'src')],
      ['equal', hv(T(5), 1, 'src')],
      ['old8', Buffer.from(T(20).toString(16).padStart(16, '0'), 'hex')], // v0.2.0: bare 8-byte timestamp
      ['del-absent', hv(T(30), 1, '', { deleted: true })],
      ['del-present', hv(T(31), 1, '', { deleted: true })],
      ['old8-absent', Buffer.from(T(32).toString(16).padStart(16, '0'), 'hex')],
      ['src-only', hv(T(33), 1, 'live')],
    ]);
    fill(env, 'records_v5', [
      ['newer', hv(T(2), 2, 'dst-value', { extraBlocks: 1 })],
      ['older', hv(T(9), 2, 'dst-value')],
      ['equal', hv(T(5), 2, 'dst-value')],
      ['old8', hv(T(3), 2, 'dst-value')],
      ['del-present', hv(T(4), 2, 'still here')],
      ['dst-only', hv(T(6), 2, 'dst-value')],
    ]);
    env.close();
    return { path, config: writeConfig(`mig-${n}`, { shard: { path, schema_tracks_changes: false } }) };
  }

  function read(path: string): Map<string, string> {
    const env = Env.open(path, { readOnly: true, maxDbs: 16 });
    try {
      const dbi = env.openDbi('records_v5')!;
      return env.read((txn) => {
        const out = new Map<string, string>();
        for (const e of txn.entries(dbi)) {
          const v = parseValue(e.value);
          out.set(e.key.toString(), `${v.deleted ? '<deleted>' : v.value.toString()}@${v.timestamp - T(0)}#${v.txnId}/${v.extensionBlocks}`);
        }
        return out;
      });
    } finally {
      env.close();
    }
  }

  const base = {
    newer: 'dst-value@2#2/1', older: 'dst-value@9#2/0', equal: 'dst-value@5#2/0', old8: 'dst-value@3#2/0',
    'del-present': 'still here@4#2/0', 'dst-only': 'dst-value@6#2/0',
  };

  it('copies newer source timestamps (new and v0.2.0 headers) by key, keeps the values; adds deletion markers', () => {
    const { config, path } = setup();
    const r = cli(config, 'experimental', 'migrate-timestamps', '--add-delete-entries', '--database', 'shard',
      '--src-dbi', '_sync_shadow_records', '--dst-dbi', 'records_v5');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Done.*n_added_deletes=2 n_updated=3/);
    const got = read(path);
    const txn = /#(\d+)\//.exec(got.get('newer')!)![1];
    assert.notEqual(txn, '2');
    assert.deepEqual(Object.fromEntries(got), {
      ...base,
      newer: `dst-value@10#${txn}/1`,
      old8: `dst-value@20#${txn}/0`,
      // Go copies blindly: a newer deletion in src gives its timestamp to a live dst entry.
      'del-present': `still here@31#${txn}/0`,
      'del-absent': `<deleted>@30#${txn}/0`,
      'old8-absent': `<deleted>@32#${txn}/0`,
    });
  });

  it('without --add-delete-entries only timestamps change', () => {
    const { config, path } = setup();
    const r = cli(config, 'experimental', 'migrate-timestamps', '-d', 'shard', '--src-dbi', '_sync_shadow_records', '--dst-dbi', 'records_v5');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...read(path).keys()].sort(), Object.keys(base).sort());
  });

  it('errors: same DBIs, missing DBIs, missing flags, a short destination value (nothing written)', () => {
    const { config, path } = setup();
    const mig = (...args: string[]) => cli(config, 'experimental', 'migrate-timestamps', '-d', 'shard', ...args);
    const same = mig('--src-dbi', 'records_v5', '--dst-dbi', 'records_v5');
    assert.equal(same.code, 1);
    assert.equal(same.stderr, 'lightningstream: source and destination DBI cannot be the same\n');
    assert.equal(mig('--src-dbi', 'nope', '--dst-dbi', 'records_v5').code, 1);
    const ignored = mig('--src-dbi', 'nope', '--dst-dbi', 'records_v5', '--ignore-src-dbi-not-present');
    assert.equal(ignored.code, 0, ignored.stderr);
    assert.match(ignored.stderr, /Source DBI not found, no migration performed/);
    assert.match(mig('--src-dbi', '_sync_shadow_records', '--dst-dbi', 'nope').stderr, /destination DBI nope does not exist/);
    const usage = cli(config, 'experimental', 'migrate-timestamps', '-d', 'shard', '--src-dbi', 'x');
    assert.equal(usage.code, 2);
    assert.match(cli(config, 'experimental', 'migrate-timestamps', '-d', 'other', '--src-dbi', 'a', '--dst-dbi', 'b').stderr,
      /no LMDB with name "other" configured/);
    const env = Env.open(path, { maxDbs: 16 });
    fill(env, 'records_v5', [['zz-short', Buffer.from('short')]]);
    env.close();
    const short = mig('--add-delete-entries', '--src-dbi', '_sync_shadow_records', '--dst-dbi', 'records_v5');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /dst: value too short for a header for key "zz-short"/);
    const env2 = Env.open(path, { maxDbs: 16 });
    const dbi = env2.openDbi('records_v5')!;
    env2.write((t) => t.del(dbi, Buffer.from('zz-short')));
    env2.close();
    assert.deepEqual(Object.fromEntries(read(path)), base, 'the failed migration changed nothing');
  });
});
