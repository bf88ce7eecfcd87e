/**
 * A few real `lightningstream sync` processes on one machine, each with its own LMDB and config,
 * all sharing one storage: what the demo and bench/latency run. Child output goes to a log file
 * per instance, shown when something fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { AppDb } from './store.js';
import { LoggedProcess } from './logged-process.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root (this file is dist/src/demo/cluster.js once built). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'lightningstream.js');

export type StorageSpec =
  | { type: 'fs'; rootPath: string }
  | { type: 's3'; endpoint: string; accessKey: string; secretKey: string; bucket: string };

export interface ClusterOptions {
  /** Work directory: one sub-directory per instance. */
  dir: string;
  names: readonly string[];
  storage: StorageSpec;
  /** Config durations such as "1s"; unset = the defaults (1 s). */
  lmdbPollInterval?: string;
  storagePollInterval?: string;
}

export class Instance extends LoggedProcess {
  readonly lmdbPath: string;
  readonly configPath: string;
  /** The application's handle on this instance's LMDB (opened before the sync process starts). */
  db!: AppDb;

  constructor(name: string, dir: string) {
    super(name, join(dir, `${name}.log`), 'demo');
    this.lmdbPath = join(dir, name, 'lmdb');
    this.configPath = join(dir, `${name}.yaml`);
  }

  /** @internal */
  startSync(): void {
    this.start(process.execPath, [BIN, '-c', this.configPath, 'sync'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  }

  /** True when the exit was the clean one asked for (status 0), or it never started. */
  get stoppedCleanly(): boolean {
    return this.exit === undefined || this.exit.code === 0;
  }

  /** The sync process logged that it loaded every snapshot present at its start. */
  get ready(): boolean {
    return this.log().includes('initial sync complete');
  }
}

export class Cluster {
  readonly instances: Instance[];

  constructor(readonly opts: ClusterOptions) {
    this.instances = opts.names.map((n) => new Instance(n, opts.dir));
  }

  get(name: string): Instance {
    const i = this.instances.find((x) => x.name === name);
    if (!i) throw new Error(`no instance ${name}`);
    return i;
  }

  /** Writes the configs, creates the LMDBs (with the data DBI) and starts every sync process. */
  start(): void {
    if (this.opts.storage.type === 'fs') mkdirSync(this.opts.storage.rootPath, { recursive: true });
    for (const inst of this.instances) {
      writeFileSync(inst.configPath, configYaml(inst, this.opts));
      inst.db = new AppDb(inst.lmdbPath);
    }
    for (const inst of this.instances) inst.startSync();
  }

  /** Throws when a sync process exited while it should be running. */
  checkAlive(): void {
    for (const inst of this.instances) {
      if (inst.child && inst.exit) throw new ClusterError(`instance ${inst.name}: lightningstream sync stopped unexpectedly (${inst.describeExit()})`, inst);
    }
  }

  /** Waits until every instance logged its initial sync; returns the time it took in ms. */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      this.checkAlive();
      if (this.instances.every((i) => i.ready)) return performance.now() - t0;
      if (performance.now() - t0 > timeoutMs) {
        const late = this.instances.filter((i) => !i.ready);
        throw new ClusterError(`not ready after ${Math.round(timeoutMs / 1000)} s: ${late.map((i) => i.name).join(', ')}`, late[0]);
      }
      await sleep(50, undefined, { signal });
    }
  }

  /** Last resort when this process exits without stop(): SIGTERM to every child still running. */
  killRunning(): void {
    for (const inst of this.instances) if (inst.running) inst.child!.kill('SIGTERM');
  }

  /** Stops every sync process (in parallel) and closes the application's LMDB handles. */
  async stop(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop()));
    for (const inst of this.instances) {
      const db = inst.db as AppDb | undefined; // unset when start() did not get to this instance
      if (db && !db.env.closed) db.close();
    }
  }
}

export class ClusterError extends Error {
  constructor(message: string, readonly instance?: Instance) {
    super(message);
    this.name = 'ClusterError';
  }
}

function configYaml(inst: Instance, opts: ClusterOptions): string {
  const s = opts.storage;
  const storage = s.type === 'fs'
    ? { type: 'fs', options: { root_path: s.rootPath } }
    : {
        type: 's3',
        options: {
          access_key: s.accessKey, secret_key: s.secretKey, bucket: s.bucket, endpoint_url: s.endpoint, create_bucket: true,
        },
      };
  const config: Record<string, unknown> = {
    instance: inst.name,
    lmdbs: { main: { path: inst.lmdbPath, schema_tracks_changes: true, options: { create: true } } },
    storage,
    log: { level: 'info', format: 'human', timestamp: 'full' },
  };
  if (opts.lmdbPollInterval) config.lmdb_poll_interval = opts.lmdbPollInterval;
  if (opts.storagePollInterval) config.storage_poll_interval = opts.storagePollInterval;
  return `# written by the lightningstream demo for instance ${inst.name}\n${stringify(config)}`;
}
