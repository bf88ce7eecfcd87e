// Security: secrets never reach a log line (any level) or an HTTP page; `snapshots get -o` never replaces
// special files; slow clients cannot silence /healthz. Real processes, real files.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, it } from 'node:test';
import { NativeApp, runLightningstream, startLightningstream, waitFor, writeConfig, BIN } from '../sync/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ls-security-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function get(port: number, path: string, timeoutMs = 2000): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}

suite('secrets', { timeout: 120_000 }, () => {
  it('keys, key files and URL userinfo appear in no log line (debug included) and no HTTP page', async () => {
    const secrets = {
      accessKey: 'AKIAQWERTYUIOPASDFGH', secretKey: 'sEcReT+kEy/0123456789abcdefghijklmnopqrst', fileSecret: 'FiLeSeCrEt-9876543210-zyxwvu',
      urlUser: 'urluser', urlPassword: 'UrlPassw0rd-4242',
    };
    const secretFile = join(dir, 'secret_key');
    writeFileSync(secretFile, `${secrets.fileSecret}\n`);
    const port = await freePort();
    // An endpoint nobody listens on: every storage call fails, so errors (with the endpoint) get logged.
    const storage = {
      type: 's3', options: {
        access_key: secrets.accessKey, secret_key_file: secretFile, bucket: 'b',
        endpoint_url: `http://${secrets.urlUser}:${secrets.urlPassword}@127.0.0.1:9`,
      },
    };
    const cfg = writeConfig(dir, { instance: 'sec', lmdbPath: join(dir, 'sec'), storage, extra: `http: { address: 127.0.0.1:${port} }\nlog: { level: debug }` });
    const otherCfg = join(dir, 'sec-inline.yaml');
    writeFileSync(otherCfg, readFileSync(cfg, 'utf8').replace(`"secret_key_file":"${secretFile}"`, `"secret_key":"${secrets.secretKey}"`));
    const app = new NativeApp(join(dir, 'sec'));
    app.put('data', 'k', 'v', 1n);
    app.close();
    const outputs: string[] = [];
    for (const args of [['checkconfig', '--log-config'], ['snapshots', 'list'], ['sync', '--only-once']]) {
      for (const c of [cfg, otherCfg]) {
        const r = await runLightningstream(dir, `sec-${args[0]}`, ['--debug', '-c', c, '--timeout', '20s', ...args], 60_000);
        outputs.push(r.log);
      }
    }
    const p = startLightningstream(dir, 'sec-daemon', ['--debug', '-c', otherCfg, 'sync']);
    try {
      await waitFor('the status server', 20_000, async () => (await get(port, '/healthz').catch(() => undefined)) !== undefined);
      await new Promise((r) => setTimeout(r, 2500)); // a few failed storage calls
      for (const path of ['/', '/status.json', '/metrics', '/healthz', '/readyz', '/storage', '/assets/status.js']) {
        const page = await get(port, path);
        outputs.push(`${path}: ${page.body}`);
      }
    } finally {
      await p.stop();
      outputs.push(p.log());
    }
    const all = outputs.join('\n');
    assert.match(all, /127\.0\.0\.1:9/, 'the endpoint itself is shown (the check looks at real output)');
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(!all.includes(value), `${what} leaked: ...${all.slice(Math.max(0, all.indexOf(value) - 200), all.indexOf(value) + 50)}`);
    }
    assert.match(all, /AKIA\*\*\*/, 'the access key id is shown partly');
  });
});

suite('snapshots get -o', { timeout: 60_000 }, () => {
  const root = process.getuid?.() === 0;
  it('writes into FIFOs and character devices, follows symlinks, refuses block devices and sockets, never replaces them', { skip: !root && 'needs root (mknod)' }, async () => {
    const bucket = join(dir, 'bucket-get');
    const app = new NativeApp(join(dir, 'get-src'));
    app.put('data', 'k', 'v'.repeat(1000), 1n);
    app.close();
    const cfg = writeConfig(dir, { instance: 'getsrc', lmdbPath: join(dir, 'get-src'), storage: { type: 'fs', options: { root_path: bucket } } });
    assert.equal((await runLightningstream(dir, 'get-store', ['-c', cfg, 'sync', '--only-once'])).code, 0);
    const name = readdirSync(bucket).filter((n) => n.endsWith('.pb.gz')).join(); // the one snapshot (its journal reference beside it)
    const snapshot = readFileSync(join(bucket, name));
    const getTo = (target: string) => spawnSync(process.execPath, [BIN, '-c', cfg, 'snapshots', 'get', name, '-o', target], { encoding: 'utf8', timeout: 30_000 });
    const t = join(dir, 'targets');
    mkdirSync(t);
    // A private /dev/null (same device numbers): written into, still a character device.
    execFileSync('mknod', [join(t, 'null'), 'c', '1', '3']);
    const toNull = getTo(join(t, 'null'));
    assert.equal(toNull.status, 0, toNull.stderr);
    assert.ok(lstatSync(join(t, 'null')).isCharacterDevice(), 'still a character device');
    // A FIFO: the reader gets the bytes, the FIFO stays.
    execFileSync('mkfifo', [join(t, 'fifo')]);
    const reader = spawnSync('sh', ['-c', `(${process.execPath} ${BIN} -c ${cfg} snapshots get ${name} -o ${join(t, 'fifo')} &) ; cat ${join(t, 'fifo')} > ${join(t, 'from-fifo')}`], { timeout: 30_000 });
    assert.equal(reader.status, 0);
    assert.ok(lstatSync(join(t, 'fifo')).isFIFO(), 'still a FIFO');
    assert.deepEqual(readFileSync(join(t, 'from-fifo')), snapshot);
    // A symlink: the file it points to gets the snapshot, the link stays a link.
    writeFileSync(join(t, 'real'), 'old');
    symlinkSync(join(t, 'real'), join(t, 'link'));
    assert.equal(getTo(join(t, 'link')).status, 0);
    assert.ok(lstatSync(join(t, 'link')).isSymbolicLink());
    assert.equal(readlinkSync(join(t, 'link')), join(t, 'real'));
    assert.deepEqual(readFileSync(join(t, 'real')), snapshot);
    // A block device and a socket: refused in one line, left alone.
    execFileSync('mknod', [join(t, 'block'), 'b', '7', '250']);
    const toBlock = getTo(join(t, 'block'));
    assert.notEqual(toBlock.status, 0);
    assert.match(toBlock.stderr, /^lightningstream: refusing to write the snapshot onto .*block: it is a block device\n$/);
    assert.ok(lstatSync(join(t, 'block')).isBlockDevice());
    const sock = createServer().listen(join(t, 'sock'));
    try {
      await new Promise((r) => sock.once('listening', r));
      const toSock = getTo(join(t, 'sock'));
      assert.notEqual(toSock.status, 0);
      assert.match(toSock.stderr, /it is a socket/);
      assert.ok(lstatSync(join(t, 'sock')).isSocket());
    } finally {
      sock.close();
    }
  });
});

suite('status server under slow clients', { timeout: 120_000 }, () => {
  it('300 clients trickling headers do not stop /healthz from answering, and are cut off', async () => {
    const port = await freePort();
    const app = new NativeApp(join(dir, 'slow'));
    app.put('data', 'k', 'v', 1n);
    app.close();
    const cfg = writeConfig(dir, {
      instance: 'slow', lmdbPath: join(dir, 'slow'), storage: { type: 'fs', options: { root_path: join(dir, 'bucket-slow') } },
      extra: `http: { address: 127.0.0.1:${port} }`,
    });
    const p = startLightningstream(dir, 'slow', ['-c', cfg, 'sync']);
    const sockets: Socket[] = [];
    let closedByServer = 0;
    try {
      await waitFor('the status server', 20_000, async () => (await get(port, '/healthz').catch(() => undefined))?.status === 200);
      const timers: NodeJS.Timeout[] = [];
      for (let i = 0; i < 300; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => closedByServer++);
        s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        timers.push(setInterval(() => s.writable && s.write(`X-Slow-${i}: ${Date.now()}\r\n`), 1000));
        sockets.push(s);
      }
      // The server cuts a client off 5 s (its headers timeout) after it connected, checked every second. A
      // /healthz blocked behind the slow clients would answer only then, at the earliest: each one is
      // expected well within that (half of it, a margin a loaded machine keeps), while all 300 are held, and
      // the test then waits for the server to cut them all off.
      let answeredWhileHeld = 0;
      let slowest = 0;
      const until = Date.now() + 60_000;
      while (closedByServer < sockets.length && Date.now() < until) {
        const r = await get(port, '/healthz', 10_000);
        assert.equal(r.status, 200);
        if (closedByServer === 0) answeredWhileHeld++;
        slowest = Math.max(slowest, r.ms);
        await new Promise((res) => setTimeout(res, 200));
      }
      for (const t of timers) clearInterval(t);
      console.log(`# slow clients: 300 held, /healthz answered ${answeredWhileHeld} times while all were held, slowest ${slowest} ms, ` +
        `${closedByServer} slow clients cut off`);
      assert.equal(closedByServer, sockets.length, 'the server cut off every slow client');
      assert.ok(answeredWhileHeld >= 3, `/healthz answered ${answeredWhileHeld} times while the slow clients were held`);
      assert.ok(slowest < 2500, `slowest /healthz ${slowest} ms (the slow clients are cut off after 5 s)`);
    } finally {
      for (const s of sockets) s.destroy();
      await p.stop();
    }
  });
});
