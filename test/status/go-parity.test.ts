// Metric parity with Go v1.0.0 (README "Metrics"): the same scenario for both implementations (two `sync`
// instances with the HTTP server, the sweeper and the cleaner on, three commits on one of them, Ceph S3 with a
// bucket of their own; then the bucket is deleted under them and one more commit fails to store). Every family
// Go shows must be in ours with the same type and the same label names (ours may show more families, never more
// labels on Go's). With LS_REFERENCE_BIN the reference is a run of the Go binary, which must also match the list
// of Go's families kept below; without it ours is checked against that list alone (a skip line says so).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NativeApp, startLightningstream, startProcess, waitFor, type RunningProcess } from '../sync/helpers.js';
import { requireS3TestEnv, uniqueBucket, type S3TestEnv } from '../storage/s3env.js';
import { get } from './helpers.js';
import { parsePrometheusText } from './prom.js';

type Family = [type: string, labels: string[]];

/** Go v1.0.0's families in this scenario (scraped from the binary; go_*, process_* and promhttp_* left out). */
export const GO_FAMILIES: Record<string, Family> = {
  lightningstream_cleaner_delete_failed_total: ['counter', []],
  lightningstream_cleaner_delete_total: ['counter', ['lmdb', 'reason']],
  lightningstream_cleaner_list_calls_total: ['counter', []],
  lightningstream_cleaner_list_failed_total: ['counter', []],
  lightningstream_climit_acquired_total: ['counter', ['limit_name', 'lmdb']],
  lightningstream_climit_active: ['gauge', ['limit_name', 'lmdb']],
  lightningstream_climit_active_seconds: ['histogram', ['limit_name', 'lmdb']],
  lightningstream_climit_limit: ['gauge', ['limit_name', 'lmdb']],
  lightningstream_climit_waiting: ['gauge', ['limit_name', 'lmdb']],
  lightningstream_climit_waiting_seconds: ['histogram', ['limit_name', 'lmdb']],
  lightningstream_receiver_snapshots_in_storage_bytes: ['gauge', ['lmdb']],
  lightningstream_receiver_snapshots_in_storage_count: ['gauge', ['lmdb']],
  lightningstream_receiver_snapshots_last_received_age_seconds: ['histogram', ['lmdb', 'syncer_instance']],
  lightningstream_receiver_snapshots_last_received_seconds: ['gauge', ['lmdb', 'syncer_instance']],
  lightningstream_sweeper_cleaned_total: ['counter', ['lmdb']],
  lightningstream_sweeper_duration_seconds: ['summary', ['lmdb']],
  lightningstream_sweeper_stats_available: ['gauge', ['lmdb']],
  lightningstream_sweeper_stats_deleted_entries: ['gauge', ['lmdb']],
  lightningstream_sweeper_stats_total_entries: ['gauge', ['lmdb']],
  lightningstream_syncer_snapshots_generated_last_size_bytes: ['gauge', ['lmdb']],
  lightningstream_syncer_snapshots_generated_last_unix_seconds: ['gauge', ['lmdb']],
  lightningstream_syncer_snapshots_generated_total: ['counter', ['lmdb']],
  lightningstream_syncer_snapshots_list_calls_total: ['counter', []],
  lightningstream_syncer_snapshots_list_failed_total: ['counter', ['lmdb']],
  lightningstream_syncer_snapshots_load_bytes_total: ['counter', []],
  lightningstream_syncer_snapshots_load_calls_total: ['counter', []],
  lightningstream_syncer_snapshots_store_bytes_total: ['counter', []],
  lightningstream_syncer_snapshots_store_calls_total: ['counter', []],
  lightningstream_syncer_snapshots_store_failed_attempts_total: ['counter', ['lmdb']],
  lmdb_db_usage_bytes: ['gauge', ['db', 'lmdb']],
  lmdb_env_last_tnx_id: ['gauge', ['lmdb']],
  lmdb_env_readers_current: ['gauge', ['lmdb']],
  lmdb_env_readers_max: ['gauge', ['lmdb']],
  lmdb_filesize_bytes: ['gauge', ['lmdb']],
  lmdb_mapsize_bytes: ['gauge', ['lmdb']],
  lmdb_smaps_bytes: ['gauge', ['database_path', 'lmdb', 'smap']],
  lmdb_stat_depth: ['gauge', ['db', 'lmdb']],
  lmdb_stat_entries: ['gauge', ['db', 'lmdb']],
  lmdb_stat_pages: ['gauge', ['db', 'lmdb', 'pagetype']],
  lmdb_total_usage_bytes: ['gauge', ['lmdb']],
  lmdb_total_usage_fraction: ['gauge', ['lmdb']],
  storage_s3_call_duration_seconds: ['histogram', ['method']],
  storage_s3_call_error_by_type_total: ['counter', ['error', 'method']],
  storage_s3_call_error_total: ['counter', ['method']],
  storage_s3_call_timestamp_seconds: ['gauge', ['method']],
  storage_s3_call_total: ['counter', ['method']],
};

/** Families of the list that a Go run may not show, depending on timing (whether its cleaner deleted anything yet). */
const TIMING_DEPENDENT = new Set(['lightningstream_cleaner_delete_total']);

const GO_BIN = process.env.LS_REFERENCE_BIN;
if (!GO_BIN) console.log('# metric parity: the run of the Go binary is skipped (LS_REFERENCE_BIN is not set); ours is checked against the list of Go\'s families kept in the test');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Families with samples, by name: type and the label names of their samples (le, quantile left out). */
async function families(base: string): Promise<Map<string, Family>> {
  const out = new Map<string, Family>();
  const r = await get(`${base}/metrics`);
  for (const f of parsePrometheusText(r.text).values()) {
    if (f.samples.length === 0 || /^(go|process|promhttp|nodejs)_/.test(f.name)) continue;
    const labels = new Set(f.samples.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== 'le' && l !== 'quantile'));
    out.set(f.name, [f.type, [...labels].sort()]);
  }
  return out;
}

function union(maps: Array<Map<string, Family>>): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const m of maps) {
    for (const [name, [type, labels]] of m) {
      const prev = out.get(name);
      out.set(name, [type, [...new Set([...(prev?.[1] ?? []), ...labels])].sort()]);
    }
  }
  return out;
}

async function deleteBucket(env: S3TestEnv, bucket: string): Promise<void> {
  const client = new S3Client({ endpoint: env.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: env.accessKey, secretAccessKey: env.secretKey } });
  try {
    // Stores may land between the listing and the bucket's deletion: until it is gone.
    await waitFor(`bucket ${bucket} deleted`, 20_000, async () => {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
      try {
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        return true;
      } catch {
        return false;
      }
    });
  } finally {
    client.destroy();
  }
}

/** The scenario for `go` or ours; returns the union of both instances' families once `expected` are all there (or after the time limit). */
async function scenario(dir: string, env: S3TestEnv, impl: 'go' | 'ours', expected: string[]): Promise<Map<string, Family>> {
  mkdirSync(dir, { recursive: true });
  const bucket = uniqueBucket(`parity-${impl}`);
  const procs: RunningProcess[] = [];
  const apps: Record<string, NativeApp> = {};
  const bases: string[] = [];
  try {
    for (const instance of ['a', 'b']) {
      const port = await freePort();
      const lmdb = join(dir, `lmdb-${instance}`);
      apps[instance] = new NativeApp(lmdb);
      apps[instance].put('data', 'seed', instance, BigInt(Date.now()) * 1_000_000n);
      const config = join(dir, `${instance}.yaml`);
      writeFileSync(config, [
        `instance: ${instance}`,
        `lmdbs: { main: { path: ${JSON.stringify(lmdb)}, schema_tracks_changes: true, options: { create: true } } }`,
        'storage:',
        '  type: s3',
        `  options: { access_key: ${env.accessKey}, secret_key: ${env.secretKey}, endpoint_url: "${env.endpoint}", bucket: ${bucket}, create_bucket: true }`,
        '  cleanup: { enabled: true, interval: 1s, must_keep_interval: 1s, remove_old_instances_interval: 1h }',
        'sweeper: { enabled: true, first_interval: 1s, interval: 1s, retention_days: 1 }',
        `http: { address: "127.0.0.1:${port}" }`,
        'lmdb_poll_interval: 200ms',
        'storage_poll_interval: 200ms',
        'storage_retry_interval: 200ms',
        'storage_retry_forever: true',
      ].join('\n'));
      procs.push(impl === 'go'
        ? startProcess(dir, instance, GO_BIN!, ['--log-format', 'logfmt', '-c', config, 'sync'])
        : startLightningstream(dir, instance, ['-c', config, 'sync']));
      bases.push(`http://127.0.0.1:${port}`);
    }
    const logs = (): string => procs.map((p) => p.log().split('\n').slice(-15).join('\n')).join('\n---\n');
    for (let i = 1; i <= 3; i++) {
      apps.a!.put('data', `k${i}`, `v${i}`, BigInt(Date.now()) * 1_000_000n);
      await waitFor(`${impl}: b merges commit ${i} of a`, 30_000, () => apps.b!.contents().get(`data/k${i}`)?.value === `v${i}`, logs);
    }
    // The cleaner may remove a's older snapshots (lightningstream_cleaner_delete_total) while the bucket is there.
    await waitFor(`${impl}: the cleaner deletes a snapshot`, 15_000, async () => (await families(bases[0]!)).has('lightningstream_cleaner_delete_total'))
      .catch(() => undefined);
    await deleteBucket(env, bucket);
    apps.a!.put('data', 'k4', 'v4', BigInt(Date.now()) * 1_000_000n);
    let seen = new Map<string, Family>();
    try {
      await waitFor(`${impl}: every expected family`, 45_000, async () => {
        seen = union(await Promise.all(bases.map((b) => families(b).catch(() => new Map<string, Family>()))));
        return expected.every((n) => seen.has(n));
      });
    } catch {
      // Compared below: the missing families are named there.
    }
    return seen;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    for (const app of Object.values(apps)) app.close();
  }
}

function compare(reference: Map<string, Family>, ours: Map<string, Family>): string[] {
  const problems: string[] = [];
  for (const [name, [type, labels]] of reference) {
    const mine = ours.get(name);
    if (!mine) problems.push(`${name}: missing (Go: ${type} {${labels.join(',')}})`);
    else if (mine[0] !== type || mine[1].join(',') !== labels.join(',')) {
      problems.push(`${name}: ours ${mine[0]} {${mine[1].join(',')}}, Go ${type} {${labels.join(',')}}`);
    }
  }
  return problems;
}

const env = requireS3TestEnv('metric parity with Go');
if (env) {
  describe('metric parity with Go v1.0.0 (same scenario, Ceph S3)', { timeout: 300_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ls-parity-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const kept = new Map(Object.entries(GO_FAMILIES));
    let reference = kept;

    it('the Go binary shows the families kept in the test', { skip: GO_BIN ? false : 'LS_REFERENCE_BIN is not set' }, async () => {
      reference = await scenario(join(dir, 'go'), env, 'go', [...kept.keys()]);
      const shown = new Map([...kept].filter(([name]) => reference.has(name) || !TIMING_DEPENDENT.has(name)));
      const problems = [...compare(shown, reference).map((p) => `kept list vs Go: ${p}`),
        ...[...reference.keys()].filter((n) => !kept.has(n)).map((n) => `Go shows ${n}, not in the kept list`)];
      assert.deepEqual(problems, []);
    });

    it('ours shows every Go family with Go\'s type and label names', async () => {
      const ours = await scenario(join(dir, 'ours'), env, 'ours', [...reference.keys()]);
      assert.deepEqual(compare(reference, ours), []);
    });
  });
}
