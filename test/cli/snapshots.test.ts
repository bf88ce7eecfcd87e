// `lightningstream snapshots list|get|put|dump|remove`: the real binary as a child process, against the fs
// backend in a temporary directory and against the real Ceph S3 (LS_S3_* set; skipped without it unless CI=true).
// The Go 0.4.4 fixtures go in and come back byte-identical; dumps match Go's own dump output.
// Independent invocations run concurrently: each process start costs ~0.6 s.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { encodeSnapshot } from '../../src/snapshot/encode.js';
import { createStorage } from '../../src/storage/index.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'lightningstream.js');
import { FIXTURES } from '../snapshot/helpers.js';
const NAT = 'nat__inst-a__20261126-085102-524196773__G-0000000000000000.pb.gz';
const SHD = 'shd__inst-a__20261126-085102-428483100__G-0000000000000000.pb.gz';
const MISSING = 'main__x__20261126-085102-524196773__GX.pb.gz';
// The AWS SDK warns about Node 20 on every start; that is not what these tests look at.
const ENV = { ...process.env, NODE_NO_WARNINGS: '1' };

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

type Cli = (...args: string[]) => Promise<Result>;

function cliFor(config: string, cwd: string): Cli {
  return (...args) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '-c', config, 'snapshots', ...args], { cwd, env: ENV, timeout: 30_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({ code, bytes, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Exit 0, and nothing on stderr but informational log lines. */
function ok(r: Result): Result {
  assert.equal(r.code, 0, r.stderr);
  const noise = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('INFO['));
  assert.deepEqual(noise, [], r.stderr);
  return r;
}

/** The one-line error contract: exit 1, exactly one stderr line `lightningstream: ...` matching re. */
function fails(r: Result, re: RegExp): void {
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0]!, /^lightningstream: /);
  assert.match(lines[0]!, re);
}

const names = (r: Result): string[] => ok(r).stdout.split('\n').filter(Boolean);

/** Dump text without the relative ages, which depend on when it ran. */
const withoutAges = (text: string): string => text.replace(/, -?[0-9hms.]+ ago; flags=/g, '; flags=');

function fixtureDump(name: string): string {
  return withoutAges(readFileSync(join(FIXTURES, name.replace(/\.pb\.gz$/, '.dump.txt')), 'utf8'));
}

function writeConfig(dir: string, storage: unknown): string {
  const file = join(dir, 'lightningstream.yaml');
  // JSON is YAML; ${VAR} references are expanded by the config loader (secrets stay out of the file).
  writeFileSync(file, JSON.stringify({ lmdbs: { nat: { path: join(dir, 'lmdb') } }, storage }, null, 2));
  return file;
}

/** A one-DBI snapshot with `n` entries `k0000000`..: `valueval`, timestamps 1, 2, ... ns. */
async function writeBigSnapshot(file: string, n: number): Promise<void> {
  const meta = { generationId: 'GX', instanceId: 'x', hostname: 'h', lmdbTxnId: 7n, timestampNano: 1n, databaseName: 'big', fromLmdbTxnId: 0n };
  const batches = function* () {
    const buf = Buffer.alloc(n * 16);
    const b = {
      count: n, buf, keyOff: new Uint32Array(n), keyLen: new Uint32Array(n), valOff: new Uint32Array(n),
      valLen: new Uint32Array(n), tsHi: new Uint32Array(n), tsLo: new Uint32Array(n), flags: new Uint8Array(n),
    };
    for (let i = 0; i < n; i++) {
      buf.write(`k${String(i).padStart(7, '0')}valueval`, i * 16, 'latin1');
      b.keyOff[i] = i * 16;
      b.valOff[i] = i * 16 + 8;
      b.keyLen[i] = b.valLen[i] = 8;
      b.tsLo[i] = i + 1;
    }
    yield b;
  };
  const chunks: Buffer[] = [];
  for await (const c of encodeSnapshot(meta, [{ name: 'big', flags: 0, transform: '', batches }])) chunks.push(c as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
}

function snapshotCommands(label: string, storage: (dir: string) => { type: string; options: Record<string, unknown> }): void {
  describe(`snapshots commands against storage (${label})`, { timeout: 60_000 }, () => {
    let dir: string;
    let work: string;
    let cli: Cli;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `ls-snapshots-${label}-`));
      work = join(dir, 'work');
      mkdirSync(work);
      const config = storage(dir);
      if (config.type === 's3') {
        // Created here rather than with create_bucket, which logs on every command.
        const s = await createStorage('s3', { ...config.options, ...s3Options(s3!, config.options.bucket as string, { create_bucket: true }) });
        await s.close();
      }
      cli = cliFor(writeConfig(dir, config), work);
    });
    after(async () => {
      const left = (await cli('list')).stdout.split('\n').filter(Boolean); // leave the bucket empty
      if (left.length > 0) await cli('remove', ...left);
      rmSync(dir, { recursive: true, force: true });
    });

    it('put uploads the Go fixtures under their file names; --force stores an invalid name, with a warning', async () => {
      const [nat, shd, forced] = await Promise.all([
        cli('put', join(FIXTURES, NAT)),
        cli('put', join(FIXTURES, SHD)),
        cli('put', join(FIXTURES, 'README.md'), '--force', '-n', 'notes.txt'),
      ]);
      ok(nat);
      ok(shd);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stderr, /Invalid snapshot name forced/);
    });

    it('list: by name, -p filters, -t by snapshot time (invalid names first), -l adds columns after Go\'s', async () => {
      const [all, prefixed, byTime, long] = await Promise.all([
        cli('list'), cli('list', '--prefix', 'shd__'), cli('list', '-t'), cli('list', '-l', '--time'),
      ]);
      assert.deepEqual(names(all), [NAT, 'notes.txt', SHD]);
      assert.deepEqual(names(prefixed), [SHD]);
      assert.deepEqual(names(byTime), ['notes.txt', SHD, NAT]);

      const rows = names(long).map((l) => l.split('\t'));
      assert.equal(rows.length, 3);
      const [notes, shd, nat] = rows as [string[], string[], string[]];
      // Go's first two columns: %12d size, name.
      assert.equal(shd[0], String(statSync(join(FIXTURES, SHD)).size).padStart(12));
      assert.equal(shd[1], SHD);
      assert.match(shd[2]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.ok(Math.abs(Date.parse(shd[2]!) - Date.now()) < 600_000, `last modified ${shd[2]} is recent`);
      assert.deepEqual(shd.slice(3), ['shd', 'inst-a', '2026-11-26T08:51:02.428483100Z']);
      assert.deepEqual([nat[1], ...nat.slice(3)], [NAT, 'nat', 'inst-a', '2026-11-26T08:51:02.524196773Z']);
      assert.deepEqual([notes[1], notes[3]], ['notes.txt', 'invalid name: not a .pb.gz object']);
    });

    it('dump prints what Go printed for the fixtures (ages aside); -d selects a DBI', async () => {
      const [nat, shd, plain] = await Promise.all([cli('dump', NAT), cli('dump', SHD), cli('dump', SHD, '-d', 'plain')]);
      assert.equal(withoutAges(ok(nat).stdout), fixtureDump(NAT));
      assert.equal(withoutAges(ok(shd).stdout), fixtureDump(SHD));
      // Ages are Go durations rounded to the second.
      assert.match(shd.stdout, /\(1970-01-01 00:00:00\.000000001 \+0000 UTC, \d+h\d+m\d+s ago; flags=01\)/);
      const full = fixtureDump(SHD);
      assert.equal(withoutAges(ok(plain).stdout), full.slice(0, full.indexOf('\n### dups')) + full.slice(full.indexOf('\n### plain')));
    });

    it('get: byte-identical copies to the name in the cwd, -o FILE (replaced), -o DIR, -o - (stdout)', async () => {
      mkdirSync(join(work, 'sub'));
      writeFileSync(join(work, 'copy.pb.gz'), 'old');
      const [toCwd, toFile, toDir, toStdout] = await Promise.all([
        cli('get', NAT), cli('get', NAT, '-o', 'copy.pb.gz'), cli('get', SHD, '--output', 'sub'), cli('get', NAT, '-o', '-'),
      ]);
      const nat = readFileSync(join(FIXTURES, NAT));
      ok(toCwd);
      assert.deepEqual(readFileSync(join(work, NAT)), nat);
      ok(toFile);
      assert.deepEqual(readFileSync(join(work, 'copy.pb.gz')), nat);
      ok(toDir);
      assert.deepEqual(readFileSync(join(work, 'sub', SHD)), readFileSync(join(FIXTURES, SHD)));
      assert.deepEqual(ok(toStdout).bytes, nat);
      assert.deepEqual(readdirSync(work).filter((f) => f.includes('.tmp')), [], 'no temporary file left');
    });

    it('errors: a missing or corrupt snapshot is one line naming it, exit 1', async () => {
      const [get, dump] = await Promise.all([cli('get', MISSING), cli('dump', MISSING)]);
      fails(get, new RegExp(`^lightningstream: snapshot ${MISSING}: not found$`));
      fails(dump, new RegExp(`^lightningstream: snapshot ${MISSING}: not found$`));
      assert.ok(!readdirSync(work).some((f) => f.includes(MISSING)), 'no file created for a missing snapshot');

      const corrupt = join(work, 'corrupt.pb.gz');
      writeFileSync(corrupt, readFileSync(join(FIXTURES, SHD)).subarray(0, 120));
      ok(await cli('put', corrupt, '-n', MISSING, '--force'));
      fails(await cli('dump', MISSING), new RegExp(`^lightningstream: snapshot ${MISSING}: truncated gzip stream$`));
    });

    it('remove deletes one or several objects; a missing one only warns (Go: no error)', async () => {
      ok(await cli('remove', NAT, 'notes.txt', MISSING));
      const [list, again] = await Promise.all([cli('list'), cli('remove', NAT)]);
      assert.deepEqual(names(list), [SHD]);
      assert.equal(again.code, 0);
      assert.match(again.stderr, /^WARN.*Snapshot not found, nothing removed.*name=nat__inst-a__/);
    });
  });
}

snapshotCommands('fs', (dir) => ({ type: 'fs', options: { root_path: join(dir, 'storage') } }));

const s3 = requireS3TestEnv('snapshots commands');
if (s3) {
  snapshotCommands('s3', () => ({
    type: 's3',
    options: {
      ...s3Options(s3, uniqueBucket('snapcli')),
      access_key: '${LS_S3_ACCESS_KEY}',
      secret_key: '${LS_S3_SECRET_KEY}',
    },
  }));
}

describe('snapshots commands without storage access', { timeout: 60_000 }, () => {
  let dir: string;
  let cli: Cli;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ls-snapshots-local-'));
    cli = cliFor(writeConfig(dir, { type: 'fs', options: { root_path: join(dir, 'storage') } }), dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('dump --local reads a file; put refuses bad names and corrupt or missing files; usage errors exit 2', async () => {
    const corrupt = join(dir, 'corrupt.pb.gz');
    const notGzip = join(dir, 'text.pb.gz');
    writeFileSync(corrupt, readFileSync(join(FIXTURES, NAT)).subarray(0, 100));
    writeFileSync(notGzip, 'this is not gzip');
    const [local, truncated, garbage, absent, badName, putCorrupt, putAbsent, ...usage] = await Promise.all([
      cli('dump', '--local', join(FIXTURES, NAT), '-f', 'text'),
      cli('dump', '-l', corrupt),
      cli('dump', '--local', notGzip),
      cli('dump', '--local', join(dir, 'absent.pb.gz')),
      cli('put', join(FIXTURES, 'README.md')),
      cli('put', corrupt, '-n', MISSING),
      cli('put', join(dir, 'absent.pb.gz'), '--name', MISSING),
      cli('get'), cli('dump', NAT, '-f', 'json'),
    ]);
    assert.equal(withoutAges(ok(local).stdout), fixtureDump(NAT));
    fails(truncated, new RegExp(`^lightningstream: snapshot ${corrupt}: truncated gzip stream$`));
    fails(garbage, new RegExp(`^lightningstream: snapshot ${notGzip}: not a gzip stream`));
    fails(absent, /no such file.*absent\.pb\.gz/);
    fails(badName, /^lightningstream: invalid snapshot name \(use -n .* --force .*\): "README\.md": /);
    fails(putCorrupt, new RegExp(`^lightningstream: snapshot ${corrupt}: truncated gzip stream$`));
    fails(putAbsent, /no such file.*absent\.pb\.gz/);
    for (const r of usage) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^lightningstream: .*\(see --help\)\n$/);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f === 'storage').flatMap(() => readdirSync(join(dir, 'storage'))), [], 'nothing stored');
  });

  it('dump streams every entry of a large snapshot, and stops quietly (exit 0) when the pipe reader goes away', async () => {
    const file = join(dir, 'big.pb.gz');
    await writeBigSnapshot(file, 50_000);
    const full = ok(await cli('dump', '--local', file));
    assert.equal(full.stdout.split('\n').filter((l) => l.startsWith('k')).length, 50_000);
    assert.ok(full.stdout.includes('\nk0049999 [6b 30 30 34 39 39 39 39]  =  valueval [76 61 6c 75 65 76 61 6c]  (1970-01-01 00:00:00.00005 +0000 UTC, '));

    const child = spawn(process.execPath, [BIN, '-c', join(dir, 'lightningstream.yaml'), 'snapshots', 'dump', '--local', file], { cwd: dir, env: ENV });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  });

  it('a header field stored after the DBIs (field-number order) is reported, not left wrong', async () => {
    // formatVersion 3, meta, one DBI with one entry, then compatVersion 1: what a field-order encoder writes.
    const kv = Buffer.from([0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x19, 1, 0, 0, 0, 0, 0, 0, 0]);
    const dbi = Buffer.concat([Buffer.from([0x0a, 0x01, 0x64, 0x12, kv.length]), kv]);
    const meta = Buffer.from([0x12, 0x02, 0x69, 0x31]); // instanceID "i1"
    const pb = Buffer.concat([Buffer.from([0x08, 0x03, 0x12, meta.length]), meta, Buffer.from([0x1a, dbi.length]), dbi, Buffer.from([0x20, 0x01])]);
    const file = join(dir, 'late.pb.gz');
    writeFileSync(file, gzipSync(pb));
    const out = ok(await cli('dump', '--local', file)).stdout;
    assert.match(out, /^\{\n {2}"FormatVersion": 3,\n {2}"CompatVersion": 0,\n {2}"Meta": \{\n {4}"GenerationID": "",\n {4}"InstanceID": "i1",/);
    assert.match(out, /\n### d \(transform="", flags=""\)\n\na \[61\] {2}= {2}b \[62\] {2}\(1970-01-01 00:00:00\.000000001 \+0000 UTC, /);
    assert.match(out, /# Snapshot fields stored after the DBIs; the complete header:\n\{\n {2}"FormatVersion": 3,\n {2}"CompatVersion": 1,/);
  });
});
