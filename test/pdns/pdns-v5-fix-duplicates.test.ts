// `experimental pdns-v5-fix-duplicate-domains` on real PowerDNS Auth 4.9.17 LMDBs (schema 5, native headers; built
// by scripts/pdns49.sh), with a duplicate made the way it happens in a fleet: two instances each create the same
// zone with pdnsutil (each with its own random domain id and its own records), then real `lightningstream sync
// --only-once` runs (fs storage) merge instance 1 into instance 2, whose `domains_v5_0` index then holds the zone
// under both ids. Without --dangerous-do-rename the command reports the duplicate and changes nothing; with it, the
// newer id is renamed to `<zone>.dup-<id>.invalid` and listed on stdout for `pdnsutil delete-zone`, after which
// pdnsutil serves the zone with the older instance's records and check-all-zones finds no error. With
// LS_REFERENCE_BIN set, Go v1.0 runs on a copy of the same LMDB and must leave the same index keys and flags.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Env, parseValue } from '../../src/lmdb/index.js';
import { BIN, ROOT } from '../sync/helpers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd?: string): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, cwd, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** pdnsutil of the scripts/pdns49.sh build, or undefined when it is not built here. */
function findPdnsutil(dir: string): string | undefined {
  const r = run('bash', [join(ROOT, 'scripts', 'pdns49.sh'), 'env', join(dir, 'probe'), '1']);
  const m = /^export LS_PDNS_PDNSUTIL=(.*)$/m.exec(r.stdout);
  return m && existsSync(m[1]!) ? m[1]! : undefined;
}

interface IndexEntry {
  name: string;
  id: number;
  deleted: boolean;
  timestamp: bigint;
}

/** The `domains_v5_0` index of a main LMDB (read-only, from this process). */
function readIndex(file: string): IndexEntry[] {
  const env = Env.open(file, { noSubdir: true, readOnly: true, maxDbs: 32 });
  try {
    const dbi = env.openDbi('domains_v5_0');
    assert.ok(dbi, 'domains_v5_0 exists');
    return env.read((txn) => {
      const out: IndexEntry[] = [];
      for (const b of txn.scan(dbi)) {
        for (let i = 0; i < b.count; i++) {
          const key = Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!));
          const h = parseValue(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!));
          const n = key.readUInt16BE(0);
          const name = key.subarray(2, 2 + n).toString('latin1').split('\0').filter(Boolean).reverse().join('.');
          out.push({ name, id: key.readUInt32BE(2 + n), deleted: h.deleted, timestamp: h.timestamp });
        }
      }
      return out;
    });
  } finally {
    env.close();
  }
}

const live = (idx: IndexEntry[], name: string) => idx.filter((e) => e.name === name && !e.deleted);
const shape = (idx: IndexEntry[]) => idx.map((e) => `${e.name}/${e.id}/${e.deleted ? 'deleted' : 'live'}`).sort();

describe('pdns-v5-fix-duplicate-domains on a PowerDNS 4.9 LMDB with a duplicate zone', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-pdns-dup-'));
  let pdnsutil: string | undefined;
  const inst = (n: number) => ({ conf: join(dir, `pdns${n}`, 'conf'), main: join(dir, `pdns${n}`, 'db', 'pdns.lmdb'), config: join(dir, `ls${n}.yaml`) });

  function writeInstance(n: number, main: string, conf: string, config: string): void {
    mkdirSync(conf, { recursive: true });
    mkdirSync(join(main, '..'), { recursive: true });
    // As scripts/pdns49.sh configures its instances (lmdb-lightning-stream: native headers, schema 5).
    writeFileSync(join(conf, 'pdns.conf'), [
      'launch=lmdb', `lmdb-filename=${main}`, 'lmdb-lightning-stream=yes', 'lmdb-shards=1', 'lmdb-random-ids=yes',
      'lmdb-sync-mode=sync', 'lmdb-map-size=1000', '',
    ].join('\n'));
    const lmdb = (path: string) => [`    path: ${path}`, '    schema_tracks_changes: true',
      '    options: { no_subdir: true, create: false, map_size: 1000MB }'];
    writeFileSync(config, [
      `instance: pdns${n}`, 'lmdbs:', '  main:', ...lmdb(main), '  shard:', ...lmdb(`${main}-0`),
      `storage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }`, '',
    ].join('\n'));
  }

  const fix = (config: string, ...args: string[]) =>
    run(process.execPath, [BIN, '-c', config, '--log-format', 'logfmt', 'experimental', 'pdns-v5-fix-duplicate-domains', ...args]);

  function skipWithoutPdns(t: TestContext): boolean {
    if (pdnsutil) return false;
    if (process.env.CI === 'true') assert.fail('pdns 4.9 is not built (scripts/pdns49.sh install): required under CI');
    t.skip('pdns 4.9 is not built (run bash scripts/pdns49.sh install): not tested');
    return true;
  }

  let firstId = 0;
  let secondId = 0;

  before(() => {
    pdnsutil = findPdnsutil(dir);
    if (!pdnsutil) return;
    for (const n of [1, 2]) {
      const i = inst(n);
      writeInstance(n, i.main, i.conf, i.config);
      ok(pdnsutil, [`--config-dir=${i.conf}`, 'create-zone', 'example.com', 'ns1.example.com']);
      ok(pdnsutil, [`--config-dir=${i.conf}`, 'add-record', 'example.com', 'www', 'A', '3600', `192.0.2.${n}`]);
      ok(pdnsutil, [`--config-dir=${i.conf}`, 'create-zone', `only${n}.example`, 'ns1.example.com']);
    }
    firstId = live(readIndex(inst(1).main), 'example.com')[0]?.id ?? 0;
    secondId = live(readIndex(inst(2).main), 'example.com')[0]?.id ?? 0;
    // Instance 1 stores its LMDBs; instance 2 stores its own and merges instance 1's.
    for (const n of [1, 2]) {
      const r = run(process.execPath, [BIN, '-c', inst(n).config, '--log-format', 'logfmt', 'sync', '--only-once']);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(() => {
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('the sync made a real duplicate: one zone, two live ids', (t) => {
    if (skipWithoutPdns(t)) return;
    assert.ok(firstId && secondId && firstId !== secondId, `ids ${firstId} ${secondId}`);
    const idx = readIndex(inst(2).main);
    assert.deepEqual(live(idx, 'example.com').map((e) => e.id).sort(), [firstId, secondId].sort());
    assert.match(ok(pdnsutil!, [`--config-dir=${inst(2).conf}`, 'list-all-zones']), /only1\.example/);
  });

  it('without --dangerous-do-rename: reports the duplicate (the older id kept), changes nothing', (t) => {
    if (skipWithoutPdns(t)) return;
    const before = shape(readIndex(inst(2).main));
    const r = fix(inst(2).config, '-d', 'main');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`level=error msg="Duplicate domain entry!" db=main domain=example\\.com .*keeping_oldest_id=${firstId} .*renaming_newest_id=${secondId}`));
    assert.match(r.stderr, /msg="Not patching, because --dangerous-do-rename not set"/);
    assert.equal(r.stdout, '', 'no zone to delete yet');
    assert.deepEqual(shape(readIndex(inst(2).main)), before);
  });

  it('bad input: an unknown database, a shard instead of the main LMDB, no -d', (t) => {
    if (skipWithoutPdns(t)) return;
    let r = fix(inst(2).config, '-d', 'nope');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^lightningstream: no LMDB with name "nope" configured$/m);
    r = fix(inst(2).config, '-d', 'shard');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^lightningstream: 'pdns' DBI not found, this does not look like a main DBI$/m);
    r = fix(inst(2).config);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '-d, --database <name>' not specified/);
  });

  it('with --dangerous-do-rename: the newer id becomes <zone>.dup-<id>.invalid (Go leaves the same keys)', (t) => {
    if (skipWithoutPdns(t)) return;
    const goBin = process.env.LS_REFERENCE_BIN;
    let goShape: string[] | undefined;
    if (goBin) {
      const copyDir = join(dir, 'go-copy');
      mkdirSync(copyDir);
      const copy = join(copyDir, 'pdns.lmdb');
      ok('mdb_copy', ['-n', inst(2).main, copy]);
      const conf = join(dir, 'go.yaml');
      writeFileSync(conf, `lmdbs: { main: { path: ${copy}, schema_tracks_changes: true, options: { no_subdir: true, create: false } } }\n` +
        `storage: { type: fs, options: { root_path: ${join(dir, 'go-bucket')} } }\n`);
      const g = run(goBin, ['-c', conf, 'experimental', 'pdns-v5-fix-duplicate-domains', '-d', 'main', '--dangerous-do-rename']);
      assert.equal(g.code, 0, g.stderr);
      assert.match(g.stdout, new RegExp(`- example\\.com\\.dup-${secondId}\\.invalid`));
      goShape = shape(readIndex(copy));
    } else {
      t.diagnostic('LS_REFERENCE_BIN is not set: Go comparison skipped');
    }
    const before = readIndex(inst(2).main);
    const r = fix(inst(2).config, '-d', 'main', '--dangerous-do-rename');
    assert.equal(r.code, 0, r.stderr);
    const dupName = `example.com.dup-${secondId}.invalid`;
    assert.equal(r.stdout, '\n\nThe following zones need to be removed with `pdnsutil delete-zone ZONE`:\n\n' +
      `- ${dupName}\n\nNote that these will NOT show up in list-all-zones. Removing the zones will also not remove it from this list.\n\n`);
    assert.match(r.stderr, new RegExp(`level=warning msg=PATCHING db=main domain=example\\.com domain_id=${secondId} flags=1 `));
    assert.match(r.stderr, new RegExp(`level=warning msg=PATCHING db=main domain=${dupName.replace(/\./g, '\\.')} domain_id=${secondId} flags=0 `));
    const after = readIndex(inst(2).main);
    assert.deepEqual(live(after, 'example.com').map((e) => e.id), [firstId]);
    assert.deepEqual(live(after, dupName).map((e) => e.id), [secondId]);
    const renamed = after.find((e) => e.name === 'example.com' && e.id === secondId)!;
    assert.ok(renamed.deleted && renamed.timestamp > before.find((e) => e.id === secondId && e.name === 'example.com')!.timestamp,
      'the renamed entry is a newer deletion marker (so it wins when synced)');
    if (goShape) assert.deepEqual(shape(after), goShape, 'same index keys and flags as Go');

    // A second run finds no duplicate, only the zone left to delete.
    const again = fix(inst(2).config, '-d', 'main');
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /Duplicate domain entry/);
    assert.match(again.stdout, new RegExp(`- ${dupName.replace(/\./g, '\\.')}\n`));
  });

  it('pdnsutil then removes the renamed zone and serves the older instance\'s zone without errors', (t) => {
    if (skipWithoutPdns(t)) return;
    const c = `--config-dir=${inst(2).conf}`;
    ok(pdnsutil!, [c, 'delete-zone', `example.com.dup-${secondId}.invalid`]);
    const zones = ok(pdnsutil!, [c, 'list-all-zones']).split('\n').filter(Boolean).sort();
    assert.deepEqual(zones, ['example.com', 'only1.example', 'only2.example']);
    const zone = ok(pdnsutil!, [c, 'list-zone', 'example.com']);
    assert.match(zone, /^www\.example\.com\s+3600\s+IN\s+A\s+192\.0\.2\.1$/m, zone);
    assert.doesNotMatch(zone, /192\.0\.2\.2/);
    assert.match(ok(pdnsutil!, [c, 'check-all-zones']), /Checked 3 zones, 0 had errors/);
  });
});
