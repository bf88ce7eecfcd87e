// End-to-end check of scripts/pdns.sh: installs PowerDNS 4.7.3 with the LMDB backend (when missing), starts two
// instances on loopback, serves a zone created with pdnsutil from instance 1 only, checks the LMDB layout pdns
// wrote, then stops both and checks processes and ports are gone.
//
// Ports: instance N uses 127.0.0.1:(LS_PDNS_DNS_PORT_BASE:-5300 + N) and (LS_PDNS_API_PORT_BASE:-8100 + N); the
// script's own `env` command is the source of truth here, so exporting those variables moves this test too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

// dist/test/pdns/ -> repository root (also right for test/pdns/ when run from source)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = join(ROOT, 'scripts', 'pdns.sh');

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a timeout; never throws on a non-zero exit (the caller asserts). */
function run(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, env: env ?? process.env },
      (err: (Error & { code?: string | number | null; signal?: NodeJS.Signals }) | null, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          // spawn failure (ENOENT...), not an exit status
          reject(err);
          return;
        }
        const e = err as (Error & { code?: number | null; signal?: NodeJS.Signals | null }) | null;
        resolvePromise({
          code: e ? (e.code ?? null) : 0,
          signal: e ? (e.signal ?? null) : null,
          stdout,
          stderr,
        });
      },
    );
  });
}

function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

async function script(args: string[], timeoutMs: number): Promise<RunResult> {
  return run('bash', [SCRIPT, ...args], timeoutMs);
}

async function scriptOk(args: string[], timeoutMs: number): Promise<RunResult> {
  const r = await script(args, timeoutMs);
  assert.equal(r.code, 0, `scripts/pdns.sh ${args.join(' ')} failed: ${describeRun(r)}`);
  return r;
}

interface Instance {
  n: number;
  dir: string;
  conf: string;
  dnsPort: number;
  apiPort: number;
  apiKey: string;
  lmdb: string;
  pid?: number;
}

/** The instance's settings, as exported by `scripts/pdns.sh env DIR N` and evaluated by bash. */
async function instanceEnv(dir: string, n: number): Promise<Instance> {
  const r = await run(
    'bash',
    ['-c', 'eval "$(bash "$0" env "$1" "$2")" && env | grep "^LS_PDNS_"', SCRIPT, dir, String(n)],
    10_000,
  );
  assert.equal(r.code, 0, `env failed: ${describeRun(r)}`);
  const vars = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) vars.set(line.slice(0, i), line.slice(i + 1));
  }
  const get = (k: string): string => {
    const v = vars.get(k);
    assert.ok(v !== undefined && v !== '', `env does not export ${k}: ${r.stdout}`);
    return v;
  };
  return {
    n,
    dir,
    conf: get('LS_PDNS_CONF'),
    dnsPort: Number(get('LS_PDNS_DNS_PORT')),
    apiPort: Number(get('LS_PDNS_API_PORT')),
    apiKey: get('LS_PDNS_API_KEY'),
    lmdb: get('LS_PDNS_LMDB'),
  };
}

function dig(inst: Instance, ...args: string[]): Promise<RunResult> {
  return run('dig', ['+norec', '+time=2', '+tries=1', '@127.0.0.1', '-p', String(inst.dnsPort), ...args], 10_000);
}

function rcodeOf(digOutput: string): string | undefined {
  return /status: ([A-Z]+)/.exec(digOutput)?.[1];
}

async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e as Error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie (not yet reaped by its parent) counts as gone
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== 'Z';
  } catch {
    return false;
  }
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => res(true)));
  });
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      res(false);
    });
    sock.bind({ address: '127.0.0.1', port, exclusive: true }, () => sock.close(() => res(true)));
  });
}

/** DBI names listed by `mdb_stat -a -n FILE`, with their entry counts. */
async function mdbStat(file: string): Promise<Map<string, number>> {
  const r = await run('mdb_stat', ['-a', '-n', file], 10_000);
  assert.equal(r.code, 0, `mdb_stat ${file} failed: ${describeRun(r)}`);
  const dbis = new Map<string, number>();
  let current: string | undefined;
  for (const line of r.stdout.split('\n')) {
    const status = /^Status of (.+)$/.exec(line);
    if (status) {
      current = status[1] === 'Main DB' ? undefined : status[1];
      continue;
    }
    const entries = /^\s*Entries: (\d+)/.exec(line);
    if (entries && current !== undefined) dbis.set(current, Number(entries[1]));
  }
  return dbis;
}

describe('scripts/pdns.sh: two PowerDNS LMDB instances on loopback', { timeout: 120_000 }, () => {
  let work = '';
  const instances: Instance[] = [];

  before(async () => {
    // Fast when the packages are there; a first install on a fresh machine needs the network and a minute or two.
    await scriptOk(['install'], 600_000);
    work = mkdtempSync(join(tmpdir(), 'ls-pdns-script-'));
    for (const n of [1, 2]) instances.push(await instanceEnv(join(work, `pdns${n}`), n));
  });

  after(async () => {
    // Always stop what we started, even when an assertion failed half-way.
    for (const inst of instances) {
      const r = await script(['stop', inst.dir], 20_000).catch((e: unknown) => String(e));
      if (typeof r !== 'string' && r.code !== 0) console.error(`stop ${inst.dir}: ${describeRun(r)}`);
    }
    if (work && !process.env.LS_PDNS_TEST_KEEP) rmSync(work, { recursive: true, force: true });
  });

  it('env prints the instance settings', () => {
    const [i1, i2] = instances as [Instance, Instance];
    const dnsBase = Number(process.env.LS_PDNS_DNS_PORT_BASE ?? 5300);
    const apiBase = Number(process.env.LS_PDNS_API_PORT_BASE ?? 8100);
    assert.equal(i1.dnsPort, dnsBase + 1);
    assert.equal(i2.dnsPort, dnsBase + 2);
    assert.equal(i1.apiPort, apiBase + 1);
    assert.equal(i2.apiPort, apiBase + 2);
    assert.equal(i1.apiKey, 'key1');
    assert.equal(i2.apiKey, 'key2');
    assert.equal(i1.conf, join(i1.dir, 'conf'));
    assert.equal(i1.lmdb, join(i1.dir, 'db', 'pdns.lmdb'));
  });

  it('starts both instances and they answer on DNS and the API', async (t) => {
    for (const inst of instances) {
      const r = await scriptOk(['start', inst.dir, String(inst.n)], 45_000);
      t.diagnostic(r.stdout.trim());
      assert.match(r.stdout, /started in [0-9.]+s/);
      inst.pid = Number(readFileSync(join(inst.dir, 'pdns.pid'), 'utf8').trim());
      assert.ok(inst.pid > 0 && processAlive(inst.pid), `pdns ${inst.n} (pid ${inst.pid}) is not running`);
      assert.ok(existsSync(join(inst.conf, 'pdns.conf')));
      const status = await scriptOk(['status', inst.dir], 10_000);
      assert.equal(Number(status.stdout.trim()), inst.pid);
    }
    for (const inst of instances) {
      const res = await fetch(`http://127.0.0.1:${inst.apiPort}/api/v1/servers/localhost`, {
        headers: { 'X-API-Key': inst.apiKey },
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { daemon_type?: string; version?: string };
      assert.equal(body.daemon_type, 'authoritative');
      t.diagnostic(`instance ${inst.n}: pdns ${body.version}`);
      const r = await dig(inst, 'example.com', 'SOA');
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(rcodeOf(r.stdout), 'REFUSED', `no zone yet, expected REFUSED: ${r.stdout}`);
    }
    // the note: pdns.lmdb exists from the start, the shard appears with the first zone
    for (const inst of instances) assert.ok(existsSync(inst.lmdb), `${inst.lmdb} missing after start`);
  });

  it('refuses to start an instance twice', async () => {
    const [i1] = instances as [Instance];
    const r = await script(['start', i1.dir, '1'], 20_000);
    assert.notEqual(r.code, 0, describeRun(r));
    assert.match(r.stderr, /already running/);
  });

  it('serves a zone created with pdnsutil on instance 1 only', async (t) => {
    const [i1, i2] = instances as [Instance, Instance];
    const pdnsutil = async (...args: string[]): Promise<void> => {
      const r = await run('pdnsutil', [`--config-dir=${i1.conf}`, ...args], 20_000);
      assert.equal(r.code, 0, `pdnsutil ${args.join(' ')}: ${describeRun(r)}`);
    };
    await pdnsutil('create-zone', 'example.com', 'ns1.example.com');
    await pdnsutil('add-record', 'example.com', 'www', 'A', '3600', '192.0.2.10');

    const t0 = Date.now();
    // all caches are off: the next query should see it; poll briefly anyway rather than assume
    const answer = await pollUntil('www.example.com A from instance 1', 5_000, async () => {
      const r = await dig(i1, '+short', 'www.example.com', 'A');
      return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    });
    t.diagnostic(`served by instance 1 after ${Date.now() - t0} ms`);
    assert.equal(answer, '192.0.2.10');

    const r2 = await dig(i2, 'www.example.com', 'A');
    assert.equal(r2.code, 0, describeRun(r2));
    assert.equal(rcodeOf(r2.stdout), 'REFUSED', `instance 2 must not have the zone: ${r2.stdout}`);

    for (const inst of instances) {
      const res = await fetch(`http://127.0.0.1:${inst.apiPort}/api/v1/servers/localhost/zones`, {
        headers: { 'X-API-Key': inst.apiKey },
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(res.status, 200);
      const zones = ((await res.json()) as Array<{ name: string }>).map((z) => z.name);
      assert.deepEqual(zones, inst.n === 1 ? ['example.com.'] : []);
    }
  });

  it('pdns wrote the LMDB layout of the notes', async () => {
    const [i1, i2] = instances as [Instance, Instance];
    for (const f of ['pdns.lmdb', 'pdns.lmdb-lock', 'pdns.lmdb-0', 'pdns.lmdb-0-lock']) {
      assert.ok(existsSync(join(i1.dir, 'db', f)), `${f} missing in instance 1`);
    }
    const main = await mdbStat(i1.lmdb);
    assert.deepEqual(
      [...main.keys()].sort(),
      ['domains', 'domains_0', 'keydata', 'keydata_0', 'metadata', 'metadata_0', 'pdns', 'tsig', 'tsig_0'],
    );
    assert.equal(main.get('domains'), 1, 'one zone in domains');
    assert.equal(main.get('domains_0'), 1, 'one zone in the domains name index');
    assert.equal(main.get('pdns'), 3, 'pdns DBI: schemaversion, shards, uuid');
    const shard = await mdbStat(`${i1.lmdb}-0`);
    assert.deepEqual([...shard.keys()], ['records']);
    // SOA + NS from create-zone, A from add-record: one packed value per RRset
    assert.equal(shard.get('records'), 3);

    // instance 2: main file only, no zone in it
    assert.ok(existsSync(i2.lmdb));
    const main2 = await mdbStat(i2.lmdb);
    assert.equal(main2.get('domains') ?? 0, 0);
  });

  it('stops both instances: processes gone, ports free, stop is idempotent', async (t) => {
    for (const inst of instances) {
      const r = await scriptOk(['stop', inst.dir], 20_000);
      t.diagnostic(r.stdout.trim());
      assert.match(r.stdout, /stopped in [0-9.]+s/);
      assert.ok(inst.pid !== undefined);
      assert.equal(processAlive(inst.pid), false, `pid ${inst.pid} still alive after stop`);
      assert.equal(existsSync(join(inst.dir, 'pdns.pid')), false);
      for (const port of [inst.dnsPort, inst.apiPort]) {
        assert.ok(await tcpPortFree(port), `TCP 127.0.0.1:${port} still bound`);
      }
      assert.ok(await udpPortFree(inst.dnsPort), `UDP 127.0.0.1:${inst.dnsPort} still bound`);
      const again = await scriptOk(['stop', inst.dir], 10_000);
      assert.match(again.stdout, /not running/);
      const status = await script(['status', inst.dir], 10_000);
      assert.equal(status.code, 1);
    }
  });
});
