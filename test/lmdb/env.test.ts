import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Env, KVBatchWriter, LmdbError, MDB_DUPSORT, MDB_INTEGERKEY, MDB_NOOVERWRITE, MDB_NODUPDATA, MDB_REVERSEKEY, intKey, readIntKey,
} from '../../src/lmdb/index.js';
import { B, tempDir } from './util.js';

function withEnv(fn: (env: Env, dir: string) => void, opts: Parameters<typeof Env.open>[1] = {}): void {
  const { dir, cleanup } = tempDir();
  const env = Env.open(join(dir, 'db'), { create: true, mapSize: 64 << 20, ...opts });
  try {
    fn(env, dir);
  } finally {
    env.close();
    cleanup();
  }
}

test('open: missing LMDB without create is a clear error naming the path; create makes dir or file', () => {
  const { dir, cleanup } = tempDir();
  try {
    const missing = join(dir, 'nope');
    assert.throws(() => Env.open(missing), (e: unknown) => e instanceof LmdbError && e.message.includes(missing) && /create is not set/.test(e.message));
    assert.equal(existsSync(missing), false, 'nothing created');
    assert.throws(() => Env.open(join(dir, 'f.mdb'), { noSubdir: true, readOnly: true }), /does not exist/);

    const env = Env.open(join(dir, 'sub', 'db'), { create: true, dirMask: 0o750, fileMask: 0o640 });
    assert.equal(statSync(join(dir, 'sub', 'db')).mode & 0o777, 0o750);
    assert.equal(statSync(join(dir, 'sub', 'db', 'data.mdb')).mode & 0o777, 0o640);
    assert.throws(() => Env.open(join(dir, 'sub', 'db')), /already open in this process/);
    env.close();

    const fenv = Env.open(join(dir, 'single.mdb'), { noSubdir: true, create: true });
    assert.ok(existsSync(join(dir, 'single.mdb')) && existsSync(join(dir, 'single.mdb-lock')));
    fenv.close();
    const again = Env.open(join(dir, 'single.mdb'), { noSubdir: true });
    assert.equal(again.info().lastTxnId, 0);
    again.close();

    writeFileSync(join(dir, 'garbage.mdb'), Buffer.alloc(8192, 7));
    assert.throws(() => Env.open(join(dir, 'garbage.mdb'), { noSubdir: true }), (e: unknown) => e instanceof LmdbError && e.codeName === 'MDB_INVALID');
  } finally {
    cleanup();
  }
});

test('env info/stat, txn ids, DBI listing, flags, create, drop', () => {
  withEnv((env) => {
    const info0 = env.info();
    assert.equal(info0.lastTxnId, 0);
    assert.equal(info0.mapSize, 64 << 20);
    assert.ok(info0.maxReaders >= 126);
    const plain = env.openDbi('plain', { create: true })!;
    const dup = env.openDbi('dup', { create: true, flags: MDB_DUPSORT })!;
    const ik = env.openDbi('ints', { create: true, flags: MDB_INTEGERKEY })!;
    assert.equal(env.openDbi('absent'), null);
    assert.equal(plain.flags, 0);
    assert.equal(dup.flags, MDB_DUPSORT);
    assert.equal(ik.flags, MDB_INTEGERKEY);
    assert.equal(env.openDbi('dup'), dup, 'cached handle');
    assert.ok(env.info().lastTxnId >= 1);

    const before = env.info().lastTxnId;
    const id = env.write((txn) => {
      txn.put(plain, B('k'), B('v'));
      return txn.id;
    });
    assert.equal(id, before + 1);
    assert.equal(env.info().lastTxnId, id);
    env.read((txn) => assert.equal(txn.id, id));

    // The main DB holds the names; a plain key there is not listed as a DBI.
    const main = env.openDbi(null)!;
    env.write((txn) => txn.put(main, B('zz-not-a-dbi'), B('x')));
    assert.deepEqual(env.listDbis(), ['dup', 'ints', 'plain']);
    assert.equal(env.stat().entries, 4);

    env.write((txn) => {
      txn.put(plain, B('a'), B('1'));
      assert.equal(txn.stat(plain).entries, 2);
      txn.drop(plain, false);
      assert.equal(txn.stat(plain).entries, 0);
      txn.drop(ik, true);
    });
    assert.ok(ik.closed);
    assert.deepEqual(env.listDbis(), ['dup', 'plain']);
    env.read((txn) => assert.throws(() => txn.get(ik, intKey(1)), /handle is closed/));

    // Reopen after close: flags are read from the file, not supplied.
    const path = env.path;
    env.close();
    const env2 = Env.open(path);
    try {
      assert.equal(env2.openDbi('dup')!.flags, MDB_DUPSORT);
      assert.equal(env2.openDbi('plain')!.flags, 0);
      assert.equal(env2.openDbi('ints'), null);
    } finally {
      env2.close();
    }
  });
});

test('get/put/del, NOOVERWRITE, duplicates, a single duplicate deleted', () => {
  withEnv((env) => {
    const db = env.openDbi('d', { create: true })!;
    const dup = env.openDbi('dd', { create: true, flags: MDB_DUPSORT })!;
    env.write((txn) => {
      assert.equal(txn.put(db, B('a'), B('1')), true);
      assert.equal(txn.put(db, B('a'), B('2'), MDB_NOOVERWRITE), false);
      assert.equal(txn.get(db, B('a'))!.toString(), '1');
      assert.equal(txn.put(db, B('empty'), Buffer.alloc(0)), true);
      for (const v of ['x', 'y', 'z']) txn.put(dup, B('k'), B(v));
      assert.equal(txn.put(dup, B('k'), B('y'), MDB_NODUPDATA), false);
    });
    env.read((txn) => {
      assert.equal(txn.get(db, B('empty'))!.length, 0);
      assert.equal(txn.get(db, B('missing')), undefined);
      const out = Buffer.alloc(1);
      assert.equal(txn.getInto(db, B('a'), out), 1);
      assert.equal(out.toString(), '1');
      assert.equal(txn.getInto(db, B('missing'), out), -1);
      assert.deepEqual([...txn.entries(dup)].map((e) => e.value.toString()), ['x', 'y', 'z']);
    });
    env.write((txn) => {
      assert.equal(txn.del(dup, B('k'), B('y')), true);
      assert.equal(txn.del(dup, B('k'), B('nope')), false);
      assert.equal(txn.del(db, B('missing')), false);
    });
    env.read((txn) => assert.deepEqual([...txn.entries(dup)].map((e) => e.value.toString()), ['x', 'z']));
    env.write((txn) => assert.equal(txn.del(dup, B('k')), true));
    env.read((txn) => assert.equal(txn.stat(dup).entries, 0));
  });
});

test('cursors: every duplicate in order, seekRange/seekKey/getBoth, prev/last, del, INTEGERKEY order', () => {
  withEnv((env) => {
    const dup = env.openDbi('dup', { create: true, flags: MDB_DUPSORT })!;
    const ik = env.openDbi('ik', { create: true, flags: MDB_INTEGERKEY })!;
    const rev = env.openDbi('rev', { create: true, flags: MDB_REVERSEKEY })!;
    env.write((txn) => {
      for (const [k, v] of [['b', '2'], ['a', '9'], ['b', '1'], ['c', '0'], ['b', '3']] as const) txn.put(dup, B(k), B(v));
      for (const n of [256, 1, 2, 3, 70000, 2 ** 40]) txn.put(ik, intKey(n), B(String(n)));
      for (const k of ['ab', 'ba', 'ca']) txn.put(rev, B(k), B(k));
    });
    env.read((txn) => {
      const all = [...txn.entries(dup)].map((e) => `${e.key.toString()}=${e.value.toString()}`);
      assert.deepEqual(all, ['a=9', 'b=1', 'b=2', 'b=3', 'c=0']);
      const c = txn.cursor(dup);
      assert.equal(c.seekRange(B('b'))!.value.toString(), '1');
      assert.equal(c.count(), 3);
      assert.equal(c.next()!.value.toString(), '2');
      assert.equal(c.nextNoDup()!.key.toString(), 'c');
      assert.equal(c.getBoth(B('b'), B('3'))!.value.toString(), '3');
      assert.equal(c.getBoth(B('b'), B('4')), undefined);
      assert.equal(c.seekKey(B('bb')), undefined);
      assert.equal(c.seekRange(B('bb'))!.key.toString(), 'c');
      assert.equal(c.seekRange(B('d')), undefined);
      assert.equal(c.last()!.key.toString(), 'c');
      assert.equal(c.prev()!.value.toString(), '3');
      assert.equal(c.current()!.value.toString(), '3');
      c.close();
      assert.throws(() => c.next(), /cursor closed/);
      // INTEGERKEY: native integer order, small keys 1 and 2 included.
      const ints = [...txn.entries(ik)].map((e) => Number(readIntKey(e.key)));
      assert.deepEqual(ints, [1, 2, 3, 256, 70000, 2 ** 40]);
      assert.deepEqual([...txn.entries(ik, { start: intKey(3) })].map((e) => e.value.toString()), ['3', '256', '70000', String(2 ** 40)]);
      assert.deepEqual([...txn.entries(rev)].map((e) => e.key.toString()), ['ba', 'ca', 'ab']);
    });
    env.write((txn) => {
      const c = txn.cursor(dup);
      c.seekKey(B('b'));
      c.del(); // one duplicate: b=1
      assert.equal(c.seekKey(B('b'))!.value.toString(), '2');
      c.del(MDB_NODUPDATA); // all of b
      assert.equal(c.put(B('e'), B('5')), true);
    });
    env.read((txn) => assert.deepEqual([...txn.entries(dup)].map((e) => `${e.key.toString()}=${e.value.toString()}`), ['a=9', 'c=0', 'e=5']));
  });
});

test('failures: keys over 511 bytes, throwing aborts, use after end, nested txns', () => {
  withEnv((env) => {
    const db = env.openDbi('records', { create: true })!;
    assert.equal(env.maxKeySize, 511);
    env.write((txn) => {
      txn.put(db, Buffer.alloc(511, 1), B('ok'));
      assert.throws(
        () => txn.put(db, Buffer.alloc(512, 1), B('v')),
        (e: unknown) => e instanceof LmdbError && e.codeName === 'MDB_BAD_VALSIZE' &&
          e.message === 'lmdb: mdb_put(dbi "records"): MDB_BAD_VALSIZE: key longer than 511 bytes (512)',
      );
      assert.throws(() => txn.put(db, Buffer.alloc(0), B('v')), /empty key/);
      const w = new KVBatchWriter();
      w.add(B('fine'), B('1'));
      w.add(Buffer.alloc(600), B('2'));
      assert.throws(() => txn.putBatch(db, w.batch), /batch entry 1.*key longer than 511 bytes \(600\)/);
      assert.equal(txn.get(db, Buffer.alloc(600)), undefined, 'no such key can exist');
    });

    assert.throws(() => env.write((txn) => {
      txn.put(db, B('gone'), B('1'));
      throw new Error('boom');
    }), /boom/);
    env.read((txn) => assert.equal(txn.get(db, B('gone')), undefined, 'a throw aborted the txn'));
    assert.equal(env.activeWrite, null);
    assert.throws(() => env.write(() => Promise.resolve(1)), /must be synchronous/);

    // use after end: errors, not crashes
    const t = env.beginWrite();
    const cur = t.cursor(db);
    assert.throws(() => env.beginWrite(), /already open/);
    t.abort();
    assert.throws(() => t.put(db, B('x'), B('y')), /transaction already aborted/);
    assert.throws(() => t.commit(), /transaction already aborted/);
    assert.throws(() => cur.first(), /transaction already aborted/);
    t.abort(); // idempotent
    const r = env.beginRead();
    r.commit();
    assert.throws(() => r.get(db, B('x')), /already committed/);

    // reset / renew keep the handle and take a fresh snapshot
    const rd = env.beginRead();
    assert.equal(rd.get(db, B('late')), undefined);
    env.write((w) => w.put(db, B('late'), B('1')));
    assert.equal(rd.get(db, B('late')), undefined, 'snapshot kept');
    const rc = rd.cursor(db);
    rd.reset();
    assert.throws(() => rd.get(db, B('late')), /reset/);
    assert.throws(() => rc.first(), /reset/);
    rd.renew();
    assert.equal(rd.get(db, B('late'))!.toString(), '1');
    rd.abort();

    // nested
    env.write((txn) => {
      txn.put(db, B('outer'), B('1'));
      assert.throws(() => txn.nested((c) => {
        c.put(db, B('inner-aborted'), B('1'));
        assert.throws(() => txn.get(db, B('outer')), /active child/);
        throw new Error('inner');
      }), /inner/);
      txn.nested((c) => {
        assert.equal(c.get(db, B('outer'))!.toString(), '1');
        c.put(db, B('inner-ok'), B('1'));
      });
      const child = txn.child();
      child.put(db, B('child-of-aborted-parent'), B('1'));
      txn.abort();
      assert.throws(() => child.get(db, B('x')), /transaction already aborted/);
    });
    env.read((txn) => {
      assert.equal(txn.get(db, B('outer')), undefined, 'the parent was aborted');
    });
    env.write((txn) => {
      txn.put(db, B('outer'), B('2'));
      txn.nested((c) => c.put(db, B('inner-ok'), B('1')));
    });
    env.read((txn) => {
      assert.equal(txn.get(db, B('inner-ok'))!.toString(), '1');
      assert.equal(txn.get(db, B('inner-aborted')), undefined);
    });

    // closing the env with open txns aborts them safely
    const open1 = env.beginRead();
    const open2 = env.beginWrite();
    open2.put(db, B('never'), B('1'));
    const c2 = open2.cursor(db);
    const path = env.path;
    env.close();
    assert.throws(() => open1.get(db, B('a')), /env closed/);
    assert.throws(() => open2.put(db, B('a'), B('b')), /env closed/);
    assert.throws(() => c2.first(), /env closed/);
    assert.throws(() => env.info(), /already closed/);
    assert.throws(() => env.beginRead(), /already closed/);
    const env2 = Env.open(path);
    try {
      const d2 = env2.openDbi('records')!;
      env2.read((txn) => assert.equal(txn.get(d2, B('never')), undefined));
    } finally {
      env2.close();
    }
    env.close(); // idempotent
  }, { mapSize: 16 << 20 });
});

test('a DBI opened after a txn began gives a clear error; txn.openDbi creates inside the txn', () => {
  withEnv((env) => {
    const early = env.beginRead();
    const late = env.openDbi('late', { create: true })!;
    assert.throws(() => early.get(late, B('k')), /first opened after this transaction began/);
    early.abort();
    env.write((txn) => {
      const made = txn.openDbi('inside', { create: true, flags: MDB_DUPSORT })!;
      txn.put(made, B('k'), B('v'));
      assert.throws(() => env.openDbi('other', { create: true }), /write transaction is open/);
    });
    assert.equal(env.cachedDbi('inside')!.flags, MDB_DUPSORT);
    const t = env.beginWrite();
    const lost = t.openDbi('lost', { create: true })!;
    assert.throws(() => env.openDbi('inside-2'), /must commit or abort before DBIs are opened elsewhere/);
    assert.throws(() => env.listDbis(), /must commit or abort/);
    assert.equal(env.openDbi('inside'), env.cachedDbi('inside'), 'cached handles need no mdb_dbi_open');
    t.abort();
    assert.ok(lost.closed);
    assert.equal(env.openDbi('lost'), null);
  });
});

test('read-only env refuses writes', () => {
  const { dir, cleanup } = tempDir();
  try {
    const p = join(dir, 'db');
    const w = Env.open(p, { create: true });
    const db = w.openDbi('x', { create: true })!;
    w.write((txn) => txn.put(db, B('k'), B('v')));
    w.close();
    const r = Env.open(p, { readOnly: true });
    try {
      const d = r.openDbi('x')!;
      r.read((txn) => assert.equal(txn.get(d, B('k'))!.toString(), 'v'));
      assert.throws(() => r.beginWrite(), /read-only/);
      assert.throws(() => r.openDbi('y', { create: true }), /read-only/);
    } finally {
      r.close();
    }
  } finally {
    cleanup();
  }
});
