/**
 * Two processes on one env at once: this one (the addon) and a C program using the system liblmdb
 * (test/lmdb/peer.c, compiled here). Includes a map grown by the other process (MDB_MAP_RESIZED).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { Env, LmdbError } from '../../src/lmdb/index.js';
import { waitFor } from '../sync/helpers.js';
import { B, compileC, run, tempDir } from './util.js';

interface Peer {
  lines: string[];
  ready: Promise<void>;
  exit: Promise<number>;
}

function startPeer(bin: string, args: string[]): Peer {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((res) => (onReady = res));
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      if (l === 'ready') onReady();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<number>((res) => child.on('exit', (code) => {
    if (code !== 0) console.error(`peer stderr: ${stderr}`);
    onReady();
    res(code ?? -1);
  }));
  return { lines, ready, exit };
}

function counter(v: Buffer | undefined): number {
  return v ? Number(v.readBigUInt64LE()) : 0;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

test('concurrent writers: each sees the other, exact counts, held snapshots, no corruption', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const peerBin = compileC('peer', dir);
    const path = join(dir, 'db');
    const env = Env.open(path, { create: true, mapSize: 64 << 20, noSync: true });
    try {
      const db = env.openDbi('shared', { create: true })!;
      env.write((txn) => txn.put(db, B('counter'), u64(0)));
      const snap = env.beginRead();
      assert.equal(counter(snap.get(db, B('counter'))), 0);

      const N = 1000;
      const peer = startPeer(peerBin, ['count', path, String(N)]);
      await peer.ready;
      let sawOther = 0;
      for (let i = 0; i < N; i++) {
        // Halfway, each side waits until it sees a commit of the other (the peer does the same), so the
        // writers interleave however the machine schedules them; a commit never seen times out here.
        if (i === N / 2) {
          await waitFor('a commit of the peer', 60_000, () => env.read((txn) => counter(txn.get(db, B('counter')))) > i);
        }
        const c = env.write((txn) => {
          const next = counter(txn.get(db, B('counter'))) + 1;
          txn.put(db, B('counter'), u64(next));
          txn.put(db, B(`node-${String(i).padStart(6, '0')}`), B('n'));
          return next;
        });
        sawOther = Math.max(sawOther, c - 1 - i);
        if (i % 5 === 0) await yieldLoop();
      }
      assert.equal(await peer.exit, 0, 'peer exited cleanly');
      const done = peer.lines.find((l) => l.startsWith('done'))!;
      const m = /saw_other=(\d+) snapshot_ok=(\d)/.exec(done)!;
      assert.ok(Number(m[1]) > 0, `the peer saw our commits (${done})`);
      assert.equal(m[2], '1', 'the peer\'s held read txn kept its snapshot');
      assert.ok(sawOther > 0, 'we saw the peer\'s commits');

      // our held read txn still sees the state of before
      assert.equal(counter(snap.get(db, B('counter'))), 0);
      assert.equal(snap.stat(db).entries, 1);
      snap.abort();

      env.read((txn) => {
        assert.equal(counter(txn.get(db, B('counter'))), 2 * N, 'no lost increment');
        let node = 0;
        let peerKeys = 0;
        for (const b of txn.scan(db, { batchBytes: 4096 })) {
          for (let i = 0; i < b.count; i++) {
            const k = b.buf.toString('latin1', b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
            if (k.startsWith('node-')) node++;
            else if (k.startsWith('peer-')) peerKeys++;
          }
        }
        assert.equal(node, N);
        assert.equal(peerKeys, N);
        assert.equal(txn.stat(db).entries, 2 * N + 1);
      });
      // Our held snapshot and the peer's were open at once: two slots of the shared reader table.
      assert.ok(env.info().numReaders >= 2, `reader slots used: ${env.info().numReaders}`);
    } finally {
      env.close();
    }
    const stat = run('mdb_stat', ['-a', '-e', '-f', path]);
    assert.match(stat, /Status of shared[\s\S]*Entries: 2001/);
    assert.ok(run('mdb_dump', ['-s', 'shared', path]).includes('DATA=END'));
  } finally {
    cleanup();
  }
});

test('a map grown by another process is adopted (MDB_MAP_RESIZED), not while a txn is held', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const peerBin = compileC('peer', dir);
    const path = join(dir, 'db');
    const small = 1 << 20;
    const env = Env.open(path, { create: true, mapSize: small });
    try {
      const db = env.openDbi('shared', { create: true })!;
      env.write((txn) => txn.put(db, B('mine'), B('1')));
      const held = env.beginRead();

      const big = 64 << 20;
      const peer = startPeer(peerBin, ['grow', path, String(big), '1000', '4000']); // ~4 MB > our 1 MiB map
      assert.equal(await peer.exit, 0);
      assert.equal(env.info().mapSize, small, 'not adopted yet');

      // A held read txn prevents remapping: clear error, and the held snapshot stays readable.
      assert.throws(() => env.beginRead(), (e: unknown) => e instanceof LmdbError && e.codeName === 'MDB_MAP_RESIZED' && /transaction\(s\) of this env are open/.test(e.message));
      assert.equal(held.get(db, B('mine'))!.toString(), '1');
      assert.equal(held.get(db, B('big-000000')), undefined);
      held.abort();

      // Now a read adopts the new size and sees the peer's data.
      env.read((txn) => {
        assert.equal(txn.stat(db).entries, 1001);
        const v = txn.get(db, B('big-000999'))!;
        assert.equal(v.length, 4000);
        assert.ok(v.every((x) => x === (999 & 0xff)));
      });
      assert.equal(env.info().mapSize, big, 'adopted the grown map size');

      // And we can write beyond our original map size.
      env.write((txn) => {
        for (let i = 0; i < 500; i++) txn.put(db, B(`node-big-${i}`), Buffer.alloc(4000, 7));
      });
      env.read((txn) => assert.equal(txn.stat(db).entries, 1501));
    } finally {
      env.close();
    }
    const stat = run('mdb_stat', ['-a', '-e', path]);
    assert.match(stat, /Entries: 1501/);
  } finally {
    cleanup();
  }
});
