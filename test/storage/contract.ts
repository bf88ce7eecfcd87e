// The behaviour every Storage backend must have, run against each backend by its own test file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, beforeEach, afterEach } from 'node:test';
import { InvalidNameError, NotFoundError, type Storage } from '../../src/storage/index.js';
import { listAfter, loadAll, readAll } from '../../src/storage/common.js';

export interface ContractOptions {
  /** A fresh, empty storage for each test. */
  open: () => Promise<Storage>;
  /** Per-test timeout in ms (a real S3 server's first calls can take seconds). */
  timeout?: number;
  /** The backend has a listAfter of its own (the remote ones): it is called directly, not through list(). */
  ownListAfter?: boolean;
}

/**
 * A stream whose chunks come only when the test releases them: `release(n)` lets n more through. A store of it
 * cannot finish before every chunk is released, whatever the machine's speed, so a test can look at the storage
 * while the store is known to be in progress.
 */
export function gatedStream(chunks: Buffer[]): { stream: Readable; release(n?: number): void } {
  let allowed = 0;
  let wake: (() => void) | undefined;
  const stream = Readable.from(
    (async function* () {
      for (let i = 0; i < chunks.length; i++) {
        while (i >= allowed) await new Promise<void>((r) => { wake = r; });
        yield chunks[i]!;
      }
    })(),
  );
  return {
    stream,
    release(n = 1) {
      allowed += n;
      wake?.();
      wake = undefined;
    },
  };
}

export async function expectAbort(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.equal(err.name, 'AbortError', `expected an AbortError, got ${err.name}: ${err.message}`);
    return true;
  });
}

export function storageContract(label: string, opts: ContractOptions): void {
  describe(`${label}: Storage contract`, { timeout: opts.timeout ?? 30_000 }, () => {
    let s: Storage;
    beforeEach(async () => {
      s = await opts.open();
    });
    afterEach(async () => {
      await s.close();
    });

    it('lists nothing when empty', async () => {
      assert.deepEqual(await s.list(''), []);
      assert.deepEqual(await s.list('main__'), []);
    });

    it('stores a Buffer and loads it back, as a Buffer and as a stream', async () => {
      const data = randomBytes(70_000);
      await s.store('main__a__20260101-000000-000000000__G-0.pb.gz', data);
      assert.deepEqual(await loadAll(s, 'main__a__20260101-000000-000000000__G-0.pb.gz'), data);
      const stream = await s.loadStream('main__a__20260101-000000-000000000__G-0.pb.gz');
      assert.deepEqual(await readAll(stream), data);
    });

    it('lists by prefix, sorted by name, with size and lastModified', async () => {
      const before = Date.now() - 5 * 60_000; // tolerate a server clock slightly behind ours
      for (const name of ['shard__b__2', 'main__b__1', 'shard__a__9', 'main__a__1', 'mainx__z', 'shard__a__10']) {
        await s.store(name, Buffer.from(name));
      }
      const all = await s.list('');
      assert.deepEqual(
        all.map((o) => o.name),
        ['main__a__1', 'main__b__1', 'mainx__z', 'shard__a__10', 'shard__a__9', 'shard__b__2'],
      );
      const shard = await s.list('shard__');
      assert.deepEqual(shard.map((o) => o.name), ['shard__a__10', 'shard__a__9', 'shard__b__2']);
      assert.deepEqual(shard.map((o) => o.size), [12, 11, 11]);
      for (const o of all) {
        assert.ok(o.lastModified instanceof Date);
        assert.ok(o.lastModified.getTime() > before && o.lastModified.getTime() < Date.now() + 5 * 60_000);
      }
      assert.deepEqual((await s.list('main__')).map((o) => o.name), ['main__a__1', 'main__b__1']);
      assert.deepEqual(await s.list('nothing'), []);
    });

    it(`lists after a name (${opts.ownListAfter ? "the backend's own listAfter" : 'list() filtered'})`, async () => {
      const names = ['_journal__main__20260101-000000-000000001__a__x', '_journal__main__20260101-000000-000000002__b__x',
        '_journal__main__20260101-000000-000000003__a__x', '_journal__mainx__20260101-000000-000000009__a__x', 'main__a__1'];
      for (const name of names) await s.store(name, Buffer.from(name));
      if (opts.ownListAfter) assert.equal(typeof s.listAfter, 'function', 'the backend has no listAfter of its own');
      const list = (prefix: string, startAfter: string) => opts.ownListAfter ? s.listAfter!(prefix, startAfter) : listAfter(s, prefix, startAfter);
      const after = async (startAfter: string) => (await list('_journal__main__', startAfter)).map((o) => o.name);
      assert.deepEqual(await after('_journal__main__'), names.slice(0, 3));
      assert.deepEqual(await after('_journal__main__20260101-000000-000000002'), names.slice(1, 3), 'a name longer than startAfter sorts after it');
      assert.deepEqual(await after(names[1]!), names.slice(2, 3), 'startAfter itself is not listed');
      assert.deepEqual(await after('_journal__main__20260101-000000-000000004'), []);
      assert.deepEqual(await after(''), names.slice(0, 3), 'an empty startAfter lists the whole prefix');
      const sizes = (await list('_journal__main__', '_journal__main__')).map((o) => o.size);
      assert.deepEqual(sizes, names.slice(0, 3).map((n) => n.length));
    });

    it('stores a stream of unknown length', async () => {
      const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000 + i, i));
      await s.store('streamed', Readable.from(chunks));
      assert.deepEqual(await loadAll(s, 'streamed'), Buffer.concat(chunks));
      assert.equal((await s.list('streamed'))[0]?.size, Buffer.concat(chunks).length);
    });

    it('stores and loads an empty object', async () => {
      await s.store('empty', Buffer.alloc(0));
      assert.equal((await loadAll(s, 'empty')).length, 0);
      assert.deepEqual(await s.list('empty'), [{ ...(await s.list('empty'))[0]!, name: 'empty', size: 0 }]);
    });

    it('overwrites an object', async () => {
      await s.store('obj', Buffer.from('first version'));
      await s.store('obj', Readable.from([Buffer.from('second')]));
      assert.equal((await loadAll(s, 'obj')).toString(), 'second');
      const list = await s.list('');
      assert.equal(list.length, 1);
      assert.equal(list[0]!.size, 6);
    });

    it('does not keep a reference to the stored Buffer', async () => {
      const data = Buffer.from('original');
      await s.store('copy', data);
      data.fill(0);
      assert.equal((await loadAll(s, 'copy')).toString(), 'original');
    });

    it('deletes objects; deleting an absent object is fine', async () => {
      await s.store('gone', Buffer.from('x'));
      await s.store('kept', Buffer.from('y'));
      await s.delete('gone');
      await s.delete('gone');
      await s.delete('never-existed');
      assert.deepEqual((await s.list('')).map((o) => o.name), ['kept']);
      await assert.rejects(loadAll(s, 'gone'), NotFoundError);
    });

    it('rejects loads of absent objects with NotFoundError', async () => {
      await assert.rejects(loadAll(s, 'missing'), (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.equal(err.objectName, 'missing');
        return true;
      });
      await assert.rejects(s.loadStream('missing'), NotFoundError);
    });

    it('refuses names that could escape the namespace', async () => {
      for (const bad of ['', 'a/b', '/abs', '..', 'a..b', '../x', 'a\\b', 'nul\0byte']) {
        await assert.rejects(s.store(bad, Buffer.from('x')), InvalidNameError, `store ${JSON.stringify(bad)}`);
        await assert.rejects(loadAll(s, bad), InvalidNameError, `load ${JSON.stringify(bad)}`);
        await assert.rejects(s.loadStream(bad), InvalidNameError, `loadStream ${JSON.stringify(bad)}`);
        await assert.rejects(s.delete(bad), InvalidNameError, `delete ${JSON.stringify(bad)}`);
      }
      assert.deepEqual(await s.list(''), []);
    });

    it('honours an already aborted signal on every call', async () => {
      await s.store('x', Buffer.from('x'));
      const signal = AbortSignal.abort();
      await expectAbort(s.list('', signal));
      await expectAbort(loadAll(s, 'x', signal));
      await expectAbort(s.loadStream('x', signal));
      await expectAbort(s.store('y', Buffer.from('y'), signal));
      await expectAbort(s.delete('x', signal));
      assert.deepEqual((await s.list('')).map((o) => o.name), ['x']);
    });

    it('aborts a streamed store midway without leaving an object', async () => {
      const ac = new AbortController();
      const chunks = Array.from({ length: 50 }, () => randomBytes(1024));
      const gate = gatedStream(chunks);
      const p = s.store('aborted', gate.stream, ac.signal);
      gate.release(5);
      await new Promise((r) => setTimeout(r, 20)); // a moment to take them in (or not: the store is unfinished either way)
      ac.abort();
      gate.release(chunks.length); // a backend may notice the abort only at its next chunk
      await expectAbort(p);
      assert.deepEqual(await s.list(''), []);
      await assert.rejects(loadAll(s, 'aborted'), NotFoundError);
    });

    it('aborts a stream being read', async () => {
      const data = randomBytes(4 << 20);
      await s.store('big', data);
      const ac = new AbortController();
      const stream = await s.loadStream('big', ac.signal);
      ac.abort();
      await expectAbort(readAll(stream));
    });

    it('refuses calls after close', async () => {
      await s.close();
      await assert.rejects(s.list(''), /closed/);
      await assert.rejects(s.store('x', Buffer.from('x')), /closed/);
    });
  });
}
