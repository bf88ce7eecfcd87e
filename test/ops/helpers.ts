// Shared by the ops tests: temporary LMDBs, native values, sync configs and in-process sync runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config/index.js';
import { parseStorageOptions, type StorageOptions } from '../../src/storage/index.js';
import { buildValue, Env, type Dbi } from '../../src/lmdb/index.js';
import { createLogger, silentLogger, type Logger } from '../../src/log/logger.js';
import { runSync, type RunOptions, type SyncRun } from '../../src/sync/runner.js';
import type { CleanerRun } from '../../src/ops/cleaner.js';
import { startMaintenance } from '../../src/ops/maintenance.js';

export const NS_PER_MS = 1_000_000n;
export const DAY_MS = 86_400_000;

export function tempDir(tag: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `ls-ops-${tag}-`));
  return { dir, remove: () => { if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true }); } };
}

/** A logger for tests: silent unless LS_TEST_DEBUG is set. */
export function testLogger(): Logger {
  return process.env.LS_TEST_DEBUG ? createLogger({ level: 'debug', format: 'logfmt' }) : silentLogger;
}

export function nsAgo(ms: number, nowMs = Date.now()): bigint {
  return BigInt(Math.round(nowMs - ms)) * NS_PER_MS;
}

export interface Entry {
  key: string;
  value?: string;
  ts: bigint;
  deleted?: boolean;
}

/** Writes native-header entries into a DBI (created when missing) in one txn. */
export function putEntries(env: Env, dbiName: string, entries: Entry[]): Dbi {
  const dbi = env.openDbi(dbiName, { create: true })!;
  env.write((txn) => {
    for (const e of entries) {
      txn.put(dbi, Buffer.from(e.key), buildValue(e.ts, txn.id, Buffer.from(e.value ?? ''), { deleted: e.deleted }));
    }
  });
  return dbi;
}

/** key → `value@ts` or `<deleted>@ts` of a native-header DBI. */
export function readEntries(env: Env, dbiName: string): Map<string, string> {
  const out = new Map<string, string>();
  const dbi = env.openDbi(dbiName);
  if (!dbi) return out;
  env.read((txn) => {
    for (const e of txn.entries(dbi)) {
      const ts = e.value.readBigUInt64BE(0);
      const deleted = (e.value[17]! & 1) !== 0;
      out.set(e.key.toString(), `${deleted ? '<deleted>' : e.value.subarray(24).toString()}@${ts}`);
    }
  });
  return out;
}

/** putEntries on the LMDB at path (created when missing), opened and closed around it. */
export function putEntriesAt(path: string, dbiName: string, entries: Entry[]): void {
  const env = Env.open(path, { create: true });
  try {
    putEntries(env, dbiName, entries);
  } finally {
    env.close();
  }
}

/** readEntries of the LMDB at path, opened and closed around it. */
export function readEntriesAt(path: string, dbiName: string): Map<string, string> {
  const env = Env.open(path);
  try {
    return readEntries(env, dbiName);
  } finally {
    env.close();
  }
}

export interface SyncConfigInput {
  instance: string;
  lmdbPath: string;
  storage: Record<string, unknown>;
  extra?: string;
}

/** A sync config as YAML text (JSON is YAML), parsed like the CLI does. */
export function syncConfig(c: SyncConfigInput): Config<StorageOptions> {
  const text = [
    `instance: ${c.instance}`,
    'lmdbs:',
    '  main:',
    `    path: ${c.lmdbPath}`,
    '    schema_tracks_changes: true',
    '    options: { create: true }',
    `storage: ${JSON.stringify(c.storage)}`,
    'lmdb_poll_interval: 100ms',
    'storage_poll_interval: 100ms',
    'storage_retry_interval: 200ms',
    'storage_retry_count: 3',
    c.extra ?? '',
  ].join('\n');
  return parseConfig(text, {}, { parseStorage: parseStorageOptions });
}

export interface BackgroundSync {
  run: SyncRun;
  stop(): Promise<void>;
  done: Promise<void>;
}

/** runSync in this process until stop(); resolves once started (onStarted ran). */
export async function startSync(config: Config<StorageOptions>, opts: Partial<RunOptions> = {}, onStarted?: (run: SyncRun, signal: AbortSignal) => void):
  Promise<BackgroundSync> {
  const ac = new AbortController();
  let started!: (run: SyncRun) => void;
  const startedP = new Promise<SyncRun>((r) => (started = r));
  const log = testLogger();
  const done = runSync(config, config.instance, log, {
    receiveOnly: false, onlyOnce: false, onlyDbs: [], maintenance: (run, signal) => startMaintenance(run, log, signal), ...opts,
  }, ac.signal, (run) => {
    onStarted?.(run, ac.signal);
    started(run);
  });
  const run = await Promise.race([startedP, done.then(() => { throw new Error('sync ended before it started'); })]);
  return {
    run,
    done,
    // An aborted run ends normally: a rejection is a crash of the sync, and fails the test here.
    async stop() {
      ac.abort(new Error('test done'));
      await done;
    },
  };
}

/** One `sync --only-once` pass in this process. */
export async function syncOnce(config: Config<StorageOptions>, onStarted?: (run: SyncRun) => void): Promise<void> {
  await runSync(config, config.instance, testLogger(), { receiveOnly: false, onlyOnce: true, onlyDbs: [] },
    new AbortController().signal, onStarted);
}

export { waitFor } from '../sync/helpers.js';

/** The cleaner's view of a running sync. */
export function cleanerRun(run: SyncRun): CleanerRun {
  return { instance: run.instance, storage: run.storage, cleanup: run.config.storage.cleanup, lmdbs: run.lmdbs.map((l) => ({ name: l.name, status: l.syncer.status })) };
}
