/** Shared helpers of the LMDB tests (not a test file; running it does nothing). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { KVBatch } from '../../src/lmdb/batch.js';

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'ls-lmdb-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The project root (this file runs as dist/test/lmdb/util.js). */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Compiles test/lmdb/<name>.c against the system liblmdb into dir; returns the binary path. */
export function compileC(name: string, dir: string): string {
  const out = join(dir, name);
  execFileSync('cc', ['-O2', '-Wall', '-o', out, join(projectRoot, 'test/lmdb', `${name}.c`), '-llmdb'], { stdio: 'pipe' });
  return out;
}

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Copies the entries of a KVBatch out as hex pairs (for comparisons). */
export function batchPairs(b: KVBatch): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < b.count; i++) {
    out.push([
      b.buf.toString('hex', b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!),
      b.buf.toString('hex', b.valOff[i], b.valOff[i]! + b.valLen[i]!),
    ]);
  }
  return out;
}

export const B = (s: string): Buffer => Buffer.from(s);
