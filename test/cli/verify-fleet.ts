// Shared by the verify tests: a fleet of instances on one fs bucket, each with a native-mode LMDB `main`
// (and optionally a shadow-mode LMDB `shd`), driven through the real binary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../sync/helpers.js';

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function cli(config: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, '-c', config, '--log-format', 'logfmt', ...args], {
    encoding: 'utf8', timeout: 90_000, env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface FleetInstance {
  name: string;
  config: string;
  mainPath: string;
  shdPath: string;
}

/** Writes the config of one instance; `extra` is appended (sweeper, deltas...). */
export function fleetInstance(dir: string, name: string, opts: { shadow?: boolean; extra?: string } = {}): FleetInstance {
  mkdirSync(dir, { recursive: true });
  const mainPath = join(dir, `${name}-main`);
  const shdPath = join(dir, `${name}-shd`);
  const lines = [
    `instance: ${name}`,
    'lmdbs:',
    '  main:',
    `    path: ${mainPath}`,
    '    schema_tracks_changes: true',
    '    options: { create: true }',
    ...(opts.shadow ? ['  shd:', `    path: ${shdPath}`, '    schema_tracks_changes: false', '    options: { create: true }'] : []),
    `storage: { type: fs, options: { root_path: ${join(dir, 'bucket')} } }`,
    'lmdb_poll_interval: 200ms',
    'storage_poll_interval: 200ms',
    opts.extra ?? '',
  ];
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, lines.join('\n'));
  return { name, config, mainPath, shdPath };
}

/** `sync --only-once`; throws with its output when it fails. */
export function syncOnce(i: FleetInstance): void {
  const r = cli(i.config, 'sync', '--only-once');
  if (r.code !== 0) throw new Error(`sync --only-once of ${i.name} exited ${r.code}:\n${r.stderr}${r.stdout}`);
}

export interface VerifyJsonKey {
  dbi: string;
  key: string;
  keyHex: string;
  here: { timestamp: string; timestampNano: string; deleted: boolean; valueBytes: number } | null;
  snapshot: { timestamp: string; timestampNano: string; deleted: boolean; valueBytes: number } | null;
  mergeTakes?: 'here' | 'snapshot';
}

export interface VerifyJsonInstance {
  instance: string;
  own: boolean;
  verdict: 'equal' | 'covered' | 'differs';
  objects: string[];
  counts: Record<string, number>;
  differingKeys: number;
  keys: VerifyJsonKey[];
  onlyHereKeys: VerifyJsonKey[];
}

export interface VerifyJson {
  ok: boolean;
  lmdbs: Array<{ lmdb: string; mode: string; instances: VerifyJsonInstance[] }>;
}

export function verifyJson(i: FleetInstance, ...args: string[]): { code: number | null; doc: VerifyJson; stderr: string } {
  const r = cli(i.config, 'verify', '--json', ...args);
  if (r.code !== 0 && r.code !== 1) throw new Error(`verify exited ${r.code}: ${r.stderr}`);
  return { code: r.code, doc: JSON.parse(r.stdout) as VerifyJson, stderr: r.stderr };
}
