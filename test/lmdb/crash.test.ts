/**
 * kill -9 of a real child node process in the middle of a large write txn leaves the env valid,
 * with none of that txn's data. This file is also the child (argv[2] === '--crash-child').
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { Env, KVBatchWriter } from '../../src/lmdb/index.js';
import { B, run, tempDir } from './util.js';

const MAP_SIZE = 2 ** 31;
// ~2 entries per page: by 300k entries the txn has dirtied more pages than LMDB keeps in memory
// (MDB_IDL_UM_MAX, 128Ki pages), so it has spilled pages into the data file before the kill.
const VALUE = 1500;

function crashChild(path: string): void {
  const env = Env.open(path, { mapSize: MAP_SIZE });
  const db = env.openDbi('data')!;
  const txn = env.beginWrite();
  const w = new KVBatchWriter(1 << 20, 1024);
  const value = Buffer.alloc(VALUE, 0x5a);
  let n = 0;
  for (;;) {
    w.reset();
    for (let i = 0; i < 500; i++, n++) w.add(B(`tx-${String(n).padStart(8, '0')}`), value);
    txn.putBatch(db, w.batch);
    if (n === 300_000) process.stdout.write(`writing ${n}\n`); // the parent kills us from here on
    if (n >= 700_000) break;
  }
  process.stdout.write('never committed\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); // hold the txn open
}

if (process.argv[2] === '--crash-child') {
  crashChild(process.argv[3]!);
} else {
  test('kill -9 in the middle of a large write txn: env valid, none of its data', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'db');
      const env = Env.open(path, { create: true, mapSize: MAP_SIZE });
      try {
        const db = env.openDbi('data', { create: true })!;
        env.write((txn) => {
          for (let i = 0; i < 1000; i++) txn.put(db, B(`base-${i}`), Buffer.alloc(100, i & 0xff));
        });
        const before = env.info().lastTxnId;

        const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--crash-child', path], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        const killed = new Promise<string | null>((res) => child.on('exit', (_code, signal) => res(signal)));
        await new Promise<void>((res, rej) => {
          child.stdout.setEncoding('utf8').on('data', (d: string) => {
            out += d;
            if (out.includes('writing')) {
              setTimeout(() => child.kill('SIGKILL'), 150); // mid-txn: it keeps putting until 600k
              res();
            }
          });
          child.on('exit', () => rej(new Error(`child exited early: ${out}`)));
        });
        assert.equal(await killed, 'SIGKILL');
        const fileSize = statSync(join(path, 'data.mdb')).size;
        assert.ok(fileSize > 256 << 20, `the killed txn had spilled pages into the file (${fileSize} bytes)`);
        assert.ok(!out.includes('never committed'), 'killed before it finished writing');

        // The env is unchanged: same txn id, only the base data; and writable again
        // (LMDB's robust write mutex recovers from the dead owner).
        assert.equal(env.info().lastTxnId, before);
        env.read((txn) => {
          assert.equal(txn.stat(db).entries, 1000);
          assert.equal(txn.get(db, B('tx-00000000')), undefined);
          assert.equal(txn.get(db, B('base-999'))!.length, 100);
        });
        env.readerCheck();
        env.write((txn) => txn.put(db, B('after'), B('1')));
        assert.equal(env.info().lastTxnId, before + 1);
      } finally {
        env.close();
      }
      const again = Env.open(path);
      try {
        const db = again.openDbi('data')!;
        again.read((txn) => {
          let n = 0;
          for (const b of txn.scan(db)) n += b.count;
          assert.equal(n, 1001);
        });
      } finally {
        again.close();
      }
      const stat = run('mdb_stat', ['-a', '-e', '-f', path]);
      assert.match(stat, /Status of data[\s\S]*Entries: 1001/);
      assert.ok(run('mdb_dump', ['-s', 'data', path]).endsWith('DATA=END\n'));
    } finally {
      cleanup();
    }
  });
}
