/**
 * A private Ceph radosgw for `demo --s3`, started and stopped with scripts/ceph.sh in the demo's
 * work directory, on free ports so it never collides with a developer's cluster (7480/3300).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './cluster.js';

export interface S3Endpoint {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

const SCRIPT = join(ROOT, 'scripts', 'ceph.sh');
/** OSD port range when LS_CEPH_OSD_PORTS is unset (the default 6800-7300 is the dev cluster's). */
const DEMO_OSD_PORTS = '7700-7899';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Runs scripts/ceph.sh in its own process group (a Ctrl-C must not cut a stop short), passing each
 * output line to onLine; rejects on a non-zero exit. An abort signal kills the script's group.
 */
function cephScript(args: string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onAbort = (): void => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    let rest = '';
    const feed = (chunk: Buffer): void => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const l of lines) onLine(l);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.once('error', reject);
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (rest) onLine(rest);
      if (code === 0) resolve();
      else reject(new Error(`scripts/ceph.sh ${args.join(' ')} failed (${sig ? `signal ${sig}` : `exit status ${code}`})`));
    });
  });
}

/** Starts a fresh cluster in dir; the ports come from LS_CEPH_* when set, else free ones. */
export async function startCeph(dir: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<S3Endpoint> {
  const env = {
    ...process.env,
    LS_CEPH_RGW_PORT: process.env.LS_CEPH_RGW_PORT || String(await freePort()),
    LS_CEPH_MON_PORT: process.env.LS_CEPH_MON_PORT || String(await freePort()),
    LS_CEPH_OSD_PORTS: process.env.LS_CEPH_OSD_PORTS || DEMO_OSD_PORTS,
  };
  await cephScript(['start', dir], env, onLine, signal);
  const vars = parseEnvSh(readFileSync(join(dir, 'env.sh'), 'utf8'));
  const endpoint = vars.LS_S3_ENDPOINT;
  const accessKey = vars.LS_S3_ACCESS_KEY;
  const secretKey = vars.LS_S3_SECRET_KEY;
  if (!endpoint || !accessKey || !secretKey) throw new Error(`${join(dir, 'env.sh')}: missing LS_S3_* settings`);
  return { endpoint, accessKey, secretKey };
}

export function stopCeph(dir: string, onLine: (line: string) => void): Promise<void> {
  return cephScript(['stop', dir], process.env, onLine);
}

/** The `export NAME='value'` lines of ceph.sh's env.sh. */
export function parseEnvSh(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)='([^']*)'$/gm)) out[m[1]!] = m[2]!;
  return out;
}
