// What the PowerDNS end-to-end tests share: running a pdns script (scripts/pdns.sh for 4.7, scripts/pdns49.sh
// for 4.9) with the test's own port bases, one instance's paths and ports as that script reports them, the
// pdns HTTP API, and the lightningstream config that points an instance's LMDB files at the test bucket.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { s3Options, type S3TestEnv } from '../storage/s3env.js';
import { startLightningstream, waitFor, type RunningProcess } from '../sync/helpers.js';
import { problems, run, type Probe, type RunResult } from './dns.js';

export interface PdnsInstance {
  n: number;
  dir: string;
  conf: string;
  lmdb: string;
  dnsPort: number;
  apiUrl: string;
  apiKey: string;
  /** The pdnsutil that matches the instance's pdns_server. */
  pdnsutil: string;
  /** This instance's lightningstream config file. */
  config: string;
  pid?: number;
  ls?: RunningProcess;
}

export class PdnsScript {
  /**
   * @param script scripts/pdns.sh or scripts/pdns49.sh
   * @param portEnv the script's port-base variables, so that tests running at the same time never collide
   */
  constructor(readonly script: string, private readonly portEnv: Record<string, string>) {}

  /** Runs a command with the port settings; never throws on a non-zero exit. */
  readonly exec = (cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> =>
    run(cmd, args, timeoutMs, { ...process.env, ...this.portEnv });

  /** Runs a command with the port settings and returns its output; fails the test on a non-zero exit. */
  readonly execOk = async (cmd: string, args: string[], timeoutMs?: number): Promise<string> => {
    const r = await this.exec(cmd, args, timeoutMs);
    assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}:\n${r.out}`);
    return r.out;
  };

  /** Runs the script itself (install, start DIR N, stop DIR, ...). */
  readonly runScript = (args: string[], timeoutMs?: number): Promise<string> => this.execOk('bash', [this.script, ...args], timeoutMs);

  /** Instance n under work, with the paths and ports `SCRIPT env` reports. */
  async instance(work: string, n: number): Promise<PdnsInstance> {
    const dir = join(work, `pdns${n}`);
    const vars = new Map<string, string>();
    for (const m of (await this.runScript(['env', dir, String(n)])).matchAll(/^export (\w+)=(.*)$/gm)) vars.set(m[1]!, m[2]!);
    const v = (k: string) => vars.get(k) ?? assert.fail(`${this.script} env does not export ${k}`);
    return {
      n, dir, conf: v('LS_PDNS_CONF'), lmdb: v('LS_PDNS_LMDB'), dnsPort: Number(v('LS_PDNS_DNS_PORT')),
      apiUrl: v('LS_PDNS_API_URL'), apiKey: v('LS_PDNS_API_KEY'), pdnsutil: vars.get('LS_PDNS_PDNSUTIL') ?? 'pdnsutil',
      config: join(work, `lightningstream${n}.yaml`),
    };
  }

  readonly pdnsutil = (inst: PdnsInstance, ...args: string[]): Promise<string> =>
    this.execOk(inst.pdnsutil, [`--config-dir=${inst.conf}`, ...args]);

  /**
   * pdns N up, with its shard file made by pdns itself: the shard only appears with pdns's first zone and
   * lightningstream must not create pdns's files, so a throw-away zone is created and deleted at once.
   */
  async startWithShard(t: TestContext, inst: PdnsInstance): Promise<void> {
    t.diagnostic((await this.runScript(['start', inst.dir, String(inst.n)], 60_000)).trim());
    inst.pid = Number(readFileSync(join(inst.dir, 'pdns.pid'), 'utf8').trim());
    assert.ok(existsSync(inst.lmdb) && !existsSync(`${inst.lmdb}-0`), 'a fresh pdns has its main LMDB and no shard yet');
    await this.pdnsutil(inst, 'create-zone', 'shard-bootstrap.invalid');
    await this.pdnsutil(inst, 'delete-zone', 'shard-bootstrap.invalid');
    assert.ok(existsSync(`${inst.lmdb}-0`), 'the shard exists after the first zone');
  }

  /** Stops every instance's lightningstream, then its pdns (a pdns that outlives the script is SIGKILLed); reports, never throws. */
  async stopAll(insts: PdnsInstance[]): Promise<void> {
    await Promise.all(insts.map(async (i) => {
      const code = await i.ls?.stop();
      if (code !== undefined && code !== 0) console.error(`lightningstream ${i.n} exited with ${code}:\n${i.ls!.log()}`);
    }));
    for (const i of insts) {
      const r = await this.exec('bash', [this.script, 'stop', i.dir]).catch((e: unknown) => ({ code: -1, out: String(e) }));
      if (r.code !== 0) console.error(`${this.script} stop ${i.dir}: ${r.out}`);
      if (i.pid && processAlive(i.pid)) {
        console.error(`pdns ${i.n} (pid ${i.pid}) still alive after stop: SIGKILL`);
        process.kill(i.pid, 'SIGKILL');
      }
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The last lines of every running lightningstream's log, for failure messages. */
export function lightningstreamLogs(insts: PdnsInstance[]): string {
  return insts.filter((i) => i.ls).map((i) => `--- lightningstream ${i.n}\n${i.ls!.log().split('\n').slice(-15).join('\n')}`).join('\n');
}

/** Starts `lightningstream COMMAND` on inst.config and waits until both LMDBs had their initial sync; returns the ms it took. */
export async function startLightningstreamOn(work: string, inst: PdnsInstance, command: 'sync' | 'receive', logs: () => string): Promise<number> {
  const started = Date.now();
  inst.ls = startLightningstream(work, `lightningstream${inst.n}`, ['-c', inst.config, command]);
  await waitFor(`lightningstream ${inst.n} initial sync`, 30_000, () => {
    const log = inst.ls!.log();
    assert.equal(inst.ls!.child.exitCode, null, `lightningstream ${inst.n} exited:\n${log}`);
    return ['main', 'shard'].every((db) => log.includes(`msg="initial sync complete" db=${db}`));
  }, logs);
  return Date.now() - started;
}

/** Waits until every instance serves the probes (a round is a few dig processes, pauseMs apart); returns the ms it took. */
export async function servedWithin(
  what: string, timeoutMs: number, insts: PdnsInstance[], probes: Probe[], logs: () => string, pauseMs: number,
): Promise<number> {
  let last: string[] = [];
  return waitFor(what, timeoutMs, async () => {
    last = (await Promise.all(insts.map((i) => problems(i, probes)))).flat();
    if (last.length > 0) await new Promise((r) => setTimeout(r, pauseMs));
    return last.length === 0;
  }, () => `${last.join('\n')}\n${logs()}`);
}

/** A GET on the instance's pdns API; fails the test unless it answers 200. */
export async function pdnsApi<T>(inst: PdnsInstance, path: string): Promise<T> {
  const res = await fetch(`${inst.apiUrl}/servers/localhost${path}`, { headers: { 'X-API-Key': inst.apiKey }, signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  assert.equal(res.status, 200, `GET ${path} on instance ${inst.n}: ${res.status} ${body}`);
  return JSON.parse(body) as T;
}

/**
 * What both PowerDNS tests make through pdnsutil, as the API shows it: the TSIG key xfr-key, ALLOW-AXFR-FROM
 * metadata on signedZone, and exactly the zones signedZone (DNSSEC) and plainZone.
 */
export async function checkApiState(inst: PdnsInstance, tsigSecret: string, signedZone: string, plainZone: string): Promise<void> {
  const tsigKeys = await pdnsApi<Array<{ name: string }>>(inst, '/tsigkeys');
  assert.deepEqual(tsigKeys.map((k) => k.name), ['xfr-key'], `TSIG keys on instance ${inst.n}`);
  const key = await pdnsApi<{ key: string; algorithm: string }>(inst, '/tsigkeys/xfr-key.');
  assert.deepEqual([key.algorithm, key.key], ['hmac-sha256', tsigSecret], `TSIG key on instance ${inst.n}`);
  const meta = await pdnsApi<{ metadata: string[] }>(inst, `/zones/${signedZone}./metadata/ALLOW-AXFR-FROM`);
  assert.deepEqual(meta.metadata, ['192.0.2.0/24'], `metadata on instance ${inst.n}`);
  const zones = await pdnsApi<Array<{ name: string; dnssec: boolean }>>(inst, '/zones');
  assert.deepEqual(zones.map((z) => `${z.name} dnssec=${z.dnssec}`).sort(), [`${signedZone}. dnssec=true`, `${plainZone}. dnssec=false`]);
}

/**
 * Writes inst.config: instance pdnsN, the LMDBs `main` (pdns.lmdb) and `shard` (pdns.lmdb-0) with the given
 * per-LMDB settings lines, and S3 storage on the test bucket.
 */
export function writeLsConfig(inst: PdnsInstance, s3: S3TestEnv, bucket: string, settings: { main: string[]; shard: string[] }): void {
  const o = s3Options(s3, bucket, { create_bucket: true });
  writeFileSync(inst.config, [
    `instance: pdns${inst.n}`,
    'lmdbs:',
    '  main:',
    `    path: ${inst.lmdb}`,
    ...settings.main.map((l) => `    ${l}`),
    '  shard:',
    `    path: ${inst.lmdb}-0`,
    ...settings.shard.map((l) => `    ${l}`),
    'storage:',
    '  type: s3',
    `  options: ${JSON.stringify(o)}`,
    '',
  ].join('\n'));
}
