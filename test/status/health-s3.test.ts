// /healthz across a real S3 outage: a `lightningstream sync` against a Ceph radosgw that the test
// stops and starts again. The cluster is the test's own (started here on non-default ports, stopped
// in after()), never the shared one of LS_S3_ENDPOINT, whose presence only says Ceph is usable here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { requireS3TestEnv, s3Options, uniqueBucket, type S3TestEnv } from '../storage/s3env.js';
import { NativeApp, ROOT, startLightningstream, waitFor, writeConfig, type RunningProcess } from '../sync/helpers.js';
import { get, getJson, statusBase, statusConfigLines } from './helpers.js';

const run = promisify(execFile);
const CEPH_PORTS = { LS_CEPH_RGW_PORT: '7580', LS_CEPH_MON_PORT: '3400', LS_CEPH_OSD_PORTS: '6900-7000' };

async function ceph(command: 'start' | 'stop' | 'stop-rgw' | 'start-rgw', dir: string): Promise<void> {
  await run('bash', [join(ROOT, 'scripts/ceph.sh'), command, dir], { env: { ...process.env, ...CEPH_PORTS }, timeout: 300_000 });
}

function readCephEnv(dir: string): S3TestEnv {
  const text = readFileSync(join(dir, 'env.sh'), 'utf8');
  const value = (name: string) => {
    const m = new RegExp(`^export ${name}='([^']*)'$`, 'm').exec(text);
    if (!m) throw new Error(`${name} missing from ${dir}/env.sh`);
    return m[1]!;
  };
  return { endpoint: value('LS_S3_ENDPOINT'), accessKey: value('LS_S3_ACCESS_KEY'), secretKey: value('LS_S3_SECRET_KEY') };
}

const available = requireS3TestEnv('status health against Ceph');

// Generous bounds (each is a wait for a condition): starting a Ceph cluster on a loaded 2-core machine takes minutes.
describe('/healthz follows a real S3 outage (own Ceph cluster)', { skip: !available, timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-status-ceph-'));
  const cephDir = join(dir, 'ceph');
  let cephStarted = false;
  let s3: S3TestEnv;
  let app: NativeApp;
  let proc: RunningProcess | undefined;
  let base = '';

  before(async () => {
    cephStarted = true; // a failed start stops what it started; stop is a no-op then
    await ceph('start', cephDir);
    s3 = readCephEnv(cephDir);
    const lmdbPath = join(dir, 'lmdb');
    app = new NativeApp(lmdbPath);
    const config = writeConfig(dir, {
      instance: 'solo', lmdbPath, extra: statusConfigLines(),
      storage: { type: 's3', options: s3Options(s3, uniqueBucket('status'), { create_bucket: true }) },
    });
    proc = startLightningstream(dir, 'solo', ['-c', config, 'sync']);
    base = await statusBase(proc);
    await waitFor('ready', 60_000, async () => (await get(`${base}/readyz`)).code === 200, () => proc!.log());
  });

  after(async () => {
    await proc?.stop();
    (app as NativeApp | undefined)?.close(); // unset when before() failed early
    if (cephStarted) await ceph('stop', cephDir).catch(() => undefined);
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('503 while radosgw is down, 200 once it is back; no secret in the answer', async () => {
    app.put('data', 'k', 'v', BigInt(Date.now()) * 1_000_000n);
    await waitFor('a snapshot stored', 60_000, async () => (await getJson(base, '/status.json')).body.lmdbs[0]!.counters.stored >= 1);
    assert.equal((await get(`${base}/healthz`)).code, 200);

    await ceph('stop-rgw', cephDir);
    app.put('data', 'k2', 'v2', BigInt(Date.now()) * 1_000_000n); // a store that fails too
    // The failed stores may turn /healthz to 503 before the failed listings do: wait for the listing's failure.
    let down = await get(`${base}/healthz`);
    const listFailure = () => (JSON.parse(down.text) as { failures?: Record<string, string> }).failures?.main_storage_list_failed_duration;
    await waitFor('/healthz 503 for the failing listings', 60_000, async () => {
      down = await get(`${base}/healthz`);
      return down.code === 503 && listFailure() !== undefined;
    }, () => `${down.code} ${down.text}\n${proc!.log()}`);
    assert.match(listFailure() ?? '', /^failed to list snapshots on storage backend for \d+s - last error: '.+'$/);
    for (const path of ['/healthz', '/status.json', '/storage', '/metrics']) {
      const text = path === '/healthz' ? down.text : (await get(base + path)).text;
      assert.ok(!text.includes(s3.secretKey), `${path} shows the secret key`);
    }

    await ceph('start-rgw', cephDir);
    await waitFor('/healthz 200 again', 120_000, async () => (await get(`${base}/healthz`)).code === 200, () => proc!.log());
    await waitFor('the pending snapshot stored', 120_000, async () => (await getJson(base, '/status.json')).body.lmdbs[0]!.counters.stored >= 2);
  });
});
