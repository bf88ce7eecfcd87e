import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadAll } from '../../src/storage/common.js';
import { createStorage, FsStorage, InvalidNameError, type Storage } from '../../src/storage/index.js';
import { expectAbort, slowStream, storageContract } from './contract.js';

let base: string;
let counter = 0;
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ls-storage-fs-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});
const freshDir = (): string => join(base, `t${++counter}`, 'nested', 'root');

storageContract('fs', { ownListAfter: true, open: async () => createStorage('fs', { root_path: freshDir() }) });

describe('fs storage', () => {
  it('needs root_path, refuses unknown options', async () => {
    for (const [opts, key] of [
      [{}, 'storage.options.root_path'],
      [{ root_path: '' }, 'storage.options.root_path'],
      [{ root_path: 5 }, 'storage.options.root_path'],
      [{ root_path: '/tmp/x', foo: 1 }, 'storage.options.foo'],
    ] as const) {
      await assert.rejects(createStorage('fs', opts), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.key, key);
        return true;
      });
    }
  });

  it('creates root_path when missing', async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    assert.ok((await stat(dir)).isDirectory());
    await s.close();
  });

  it("refuses names of temporary files ('.x', 'x.tmp'), and lists no such files", async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    for (const bad of ['.hidden', '.tmp-123', 'snap.tmp']) {
      await assert.rejects(s.store(bad, Buffer.from('x')), InvalidNameError);
      await assert.rejects(loadAll(s, bad), InvalidNameError);
    }
    await writeFile(join(dir, '.tmp-999-abc'), 'partial');
    await writeFile(join(dir, 'go-writer.pb.gz.tmp'), 'partial');
    await writeFile(join(dir, 'real'), 'ok');
    assert.deepEqual((await s.list('')).map((o) => o.name), ['real']);
    await s.close();
  });

  it('never shows a partial object while a slow streamed store runs', async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    await s.store('obj', Buffer.from('old content'));
    const chunks = Array.from({ length: 30 }, () => randomBytes(4096));
    const whole = Buffer.concat(chunks);
    const state = { done: false }; // set by the callback below (a plain `let` would look constant to TypeScript)
    const storing = s.store('obj', slowStream(chunks, 10)).finally(() => {
      state.done = true;
    });
    let observations = 0;
    let sawTemp = false;
    while (!state.done) {
      const list = await s.list('');
      assert.deepEqual(list.map((o) => o.name), ['obj']);
      assert.ok(list[0]!.size === 11 || list[0]!.size === whole.length, `partial size ${list[0]!.size}`);
      const content = await loadAll(s, 'obj');
      assert.ok(content.equals(whole) || content.toString() === 'old content', 'partial content');
      if ((await readdir(dir)).some((n) => n.startsWith('.tmp-'))) sawTemp = true;
      observations++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await storing;
    assert.ok(observations > 10, `only ${observations} observations`);
    assert.ok(sawTemp, 'the store should go through a temporary file');
    assert.deepEqual(await loadAll(s, 'obj'), whole);
    assert.deepEqual(await readdir(dir), ['obj']);
    await s.close();
  });

  it('a new object appears only complete', async () => {
    const s = await createStorage('fs', { root_path: freshDir() });
    const chunks = Array.from({ length: 20 }, () => randomBytes(1000));
    const state = { done: false }; // set by the callback below (a plain `let` would look constant to TypeScript)
    const storing = s.store('fresh', slowStream(chunks, 10)).finally(() => {
      state.done = true;
    });
    while (!state.done) {
      const list = await s.list('');
      assert.ok(list.length === 0 || list[0]!.size === 20_000, 'partial object listed');
      await new Promise((r) => setTimeout(r, 5));
    }
    await storing;
    assert.equal((await s.list(''))[0]!.size, 20_000);
    await s.close();
  });

  it('removes the temporary file when a store fails', async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    const ac = new AbortController();
    const p = s.store('x', slowStream([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], 30), ac.signal);
    setTimeout(() => ac.abort(), 45);
    await expectAbort(p);
    assert.deepEqual(await readdir(dir), []);
    await s.close();
  });

  it('removes stale temporary files at start-up, keeps recent ones', async () => {
    const dir = freshDir();
    let s: Storage = await createStorage('fs', { root_path: dir });
    await s.close();
    await writeFile(join(dir, '.tmp-1-stale'), 'x');
    await writeFile(join(dir, '.tmp-1-recent'), 'x');
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(dir, '.tmp-1-stale'), old, old);
    s = await createStorage('fs', { root_path: dir });
    assert.deepEqual((await readdir(dir)).sort(), ['.tmp-1-recent']);
    await s.close();
  });

  it('a reader that opened the old object keeps reading it across an overwrite', async () => {
    const s = await createStorage('fs', { root_path: freshDir() });
    assert.ok(s instanceof FsStorage);
    const old = randomBytes(1 << 20);
    await s.store('snap', old);
    const stream = await s.loadStream('snap');
    await s.store('snap', randomBytes(1 << 20));
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), old);
    await s.close();
  });
});
