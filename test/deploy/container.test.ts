// The container image, for real with podman: the base image the Dockerfile names is assembled locally (no registry
// is reachable here: scripts/container-base.sh, cached), the real Dockerfile is built, and two containers sync two
// LMDBs through a bucket on a shared volume. Instance a's LMDB is shared with a process outside the container (this
// test, writing as the application would), so it runs with --minimum-pid. Skipped with a printed line where podman
// cannot run containers; under CI (CI=true) that is a failure unless LS_SKIP_CONTAINER_TEST=1 says otherwise.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { NativeApp, ROOT, waitFor } from '../sync/helpers.js';

const exec = promisify(execFile);
const UID = 953; // the image's lightningstream user
const IMAGE = `localhost/lightningstream-test:${process.pid}`;

const podman = (args: string[], timeout = 120_000) =>
  exec('bash', [join(ROOT, 'scripts/podman.sh'), ...args], { timeout, maxBuffer: 64 << 20 });

async function podmanProblem(): Promise<string | undefined> {
  if (process.env.LS_SKIP_CONTAINER_TEST === '1') return 'LS_SKIP_CONTAINER_TEST=1';
  if (process.getuid?.() !== 0) return 'not root (the test builds a base image with debootstrap and runs rootful podman)';
  try {
    await exec('podman', ['--version']);
    await exec('debootstrap', ['--version']).catch(async () => { await exec('test', ['-x', '/usr/sbin/debootstrap']); });
  } catch {
    return 'podman or debootstrap is not installed (scripts/install-deps.sh installs them)';
  }
  return undefined;
}
const problem = await podmanProblem();
if (problem) {
  if (process.env.CI === 'true' && process.env.LS_SKIP_CONTAINER_TEST !== '1') throw new Error(`container test: ${problem}`);
  console.log(`# skipping the container image test: ${problem}`);
}

describe('container image (Dockerfile, podman)', { skip: problem !== undefined, timeout: 2_400_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-container-'));
  const containers: string[] = [];
  after(async () => {
    for (const c of containers) await podman(['rm', '-f', '-t', '0', c]).catch(() => undefined);
    await podman(['rmi', '-f', IMAGE]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  before(async () => {
    const t0 = Date.now();
    const base = await exec('bash', [join(ROOT, 'scripts/container-base.sh')], { timeout: 1_800_000 });
    process.stdout.write(base.stdout.replace(/^/gm, '# '));
    // --network=host: the build's RUN steps reach the apt mirror and the npm registry.
    // The machine's CA bundle as a build secret: npm ci reaches the registry through a TLS-inspecting proxy here.
    const ca = '/etc/ssl/certs/ca-certificates.crt';
    const secret = existsSync(ca) ? ['--secret', `id=ca-certificates,src=${ca}`] : [];
    await podman(['build', '--format', 'docker', '--pull=never', '--network=host', ...secret, '-q', '-t', IMAGE, ROOT], 1_800_000);
    console.log(`# base image and build: ${Math.round((Date.now() - t0) / 1000)} s`);
  });

  it('is a non-root image with lightningstream as entrypoint and a /healthz health check', async () => {
    const [info] = JSON.parse((await podman(['image', 'inspect', IMAGE])).stdout) as Array<{
      Config: { User?: string; Entrypoint?: string[]; Cmd?: string[] };
    }>;
    const health = JSON.parse((await podman(['image', 'inspect', '--format', '{{json .HealthCheck}}', IMAGE])).stdout) as { Test?: string[] } | null;
    assert.equal(info!.Config.User, 'lightningstream');
    assert.deepEqual(info!.Config.Entrypoint, ['lightningstream']);
    assert.deepEqual(info!.Config.Cmd, ['--config', '/etc/lightningstream/config.yaml', 'sync']);
    assert.match((health?.Test ?? []).join(' '), /^CMD node -e fetch\(process\.env\.LIGHTNINGSTREAM_HEALTHZ_URL\)/);
    assert.match((await podman(['image', 'inspect', '--format', '{{json .Config.Env}}', IMAGE])).stdout, /LIGHTNINGSTREAM_HEALTHZ_URL=http:\/\/127\.0\.0\.1:8500\/healthz/);
    const id = (await podman(['run', '--rm', '--network=none', '--entrypoint', 'id', IMAGE])).stdout.trim();
    assert.match(id, new RegExp(`^uid=${UID}\\(lightningstream\\)`));
    const help = await podman(['run', '--rm', '--network=none', IMAGE, '--help']);
    assert.match(help.stdout, /^Usage: lightningstream /);
    // The slim runtime has the addons' runtime libraries, not the build tools.
    const tools = await podman(['run', '--rm', '--network=none', '--entrypoint', 'sh', IMAGE, '-c', 'command -v gcc make python3 || true']);
    assert.equal(tools.stdout.trim(), '');
  });

  it('two containers sync through a bucket on a shared volume, one of them beside an application outside', async () => {
    const bucket = join(dir, 'bucket');
    const lmdb = { a: join(dir, 'lmdb-a'), b: join(dir, 'lmdb-b') };
    for (const d of [bucket, lmdb.a, lmdb.b]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, UID, UID);
    }
    // The application (this process) creates and writes instance a's LMDB before its Lightning Stream starts.
    const app = new NativeApp(lmdb.a);
    app.put('data', 'from-app', 'written outside the container', BigInt(Date.now()) * 1_000_000n);
    for (const f of readdirSync(lmdb.a)) chownSync(join(lmdb.a, f), UID, UID);
    try {
      for (const name of ['a', 'b'] as const) {
        const cfg = join(dir, `${name}.yaml`);
        writeFileSync(cfg, [
          `instance: ${name}`,
          'lmdbs: { main: { path: /lmdb, schema_tracks_changes: true, options: { create: true } } }',
          'storage: { type: fs, options: { root_path: /bucket } }',
          'http: { address: 127.0.0.1:8500 }',
          'lmdb_poll_interval: 200ms',
          'storage_poll_interval: 200ms',
        ].join('\n'));
        const container = `ls-test-${process.pid}-${name}`;
        containers.push(container);
        await podman(['run', '-d', '--name', container, '--network=none',
          '-v', `${lmdb[name]}:/lmdb`, '-v', `${bucket}:/bucket`, '-v', `${cfg}:/etc/lightningstream/config.yaml:ro`,
          IMAGE, '--config', '/etc/lightningstream/config.yaml', ...(name === 'a' ? ['--minimum-pid', '200'] : []), 'sync']);
      }
      // Opened from here only once container b created it (a file created by root here would lock it out).
      const readB = () => {
        if (!existsSync(join(lmdb.b, 'data.mdb'))) return new Map<string, { value: string }>();
        const b = new NativeApp(lmdb.b);
        try { return b.contents(); } finally { b.close(); }
      };
      await waitFor('the application\'s entry to reach instance b', 120_000, () => {
        try { return readB().get('data/from-app')?.value === 'written outside the container'; } catch { return false; }
      });
      // And the other way, into the LMDB the application shares with container a.
      const b = new NativeApp(lmdb.b);
      b.put('data', 'from-b', 'written beside container b', BigInt(Date.now()) * 1_000_000n);
      b.close();
      await waitFor('instance b\'s entry to reach the application', 120_000, () => app.contents().get('data/from-b')?.value === 'written beside container b');
      assert.ok(readdirSync(bucket).some((f) => f.startsWith('main__a__')), 'a stored into the shared bucket');
      assert.equal(statSync(join(lmdb.b, 'data.mdb')).uid, UID, 'instance b\'s LMDB was created by the non-root user');
      // The image's health check, as the container runtime runs it.
      await waitFor('the health check to pass', 60_000, async () => (await podman(['healthcheck', 'run', containers[0]!]).then(() => true, () => false)));
      // SIGTERM ends the sync cleanly (exit 0), node being PID 1 in the container.
      for (const c of containers) {
        await podman(['stop', '-t', '20', c]);
        const state = JSON.parse((await podman(['inspect', c])).stdout) as Array<{ State: { ExitCode: number } }>;
        assert.equal(state[0]!.State.ExitCode, 0, `${c} exit code`);
      }
    } catch (err) {
      console.log((await logsOf(containers)).replace(/^/gm, '# '));
      throw err;
    } finally {
      app.close();
    }
  });
});

async function logsOf(names: string[]): Promise<string> {
  return (await Promise.all(names.map(async (c) => {
    const l = await podman(['logs', c]).catch((e: unknown) => ({ stdout: '', stderr: String(e) }));
    return `--- ${c}\n${l.stdout}${l.stderr}`;
  }))).join('\n');
}
