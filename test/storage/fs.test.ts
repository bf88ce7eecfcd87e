import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadAll } from '../../src/storage/common.js';
import { createStorage, FsStorage, InvalidNameError, type Storage } from '../../src/storage/index.js';
import { waitFor } from '../sync/helpers.js';
import { expectAbort, gatedStream, storageContract } from './contract.js';

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

  const tempFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('.tmp-'));

  it('never shows a partial object while a slow streamed store runs', async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    await s.store('obj', Buffer.from('old content'));
    const chunks = Array.from({ length: 30 }, () => randomBytes(4096));
    const whole = Buffer.concat(chunks);
    const gate = gatedStream(chunks);
    const storing = s.store('obj', gate.stream);
    gate.release();
    await waitFor('the store to write into a temporary file', 10_000, async () => (await tempFiles(dir)).length === 1);
    // Until the last chunk is released the store cannot finish: the old object must show, whole.
    for (let i = 1; i < chunks.length; i++) {
      const list = await s.list('');
      assert.deepEqual(list.map((o) => [o.name, o.size]), [['obj', 11]], `after ${i} chunks`);
      assert.equal((await loadAll(s, 'obj')).toString(), 'old content', `after ${i} chunks`);
      gate.release();
    }
    await storing;
    assert.deepEqual(await loadAll(s, 'obj'), whole);
    assert.deepEqual(await readdir(dir), ['obj']);
    await s.close();
  });

  it('a new object appears only complete', async () => {
    const s = await createStorage('fs', { root_path: freshDir() });
    const chunks = Array.from({ length: 20 }, () => randomBytes(1000));
    const gate = gatedStream(chunks);
    const storing = s.store('fresh', gate.stream);
    for (let i = 0; i < chunks.length; i++) {
      assert.deepEqual(await s.list(''), [], `partial object listed after ${i} chunks`);
      gate.release();
      await new Promise((r) => setImmediate(r));
    }
    await storing;
    assert.equal((await s.list(''))[0]!.size, 20_000);
    await s.close();
  });

  it('removes the temporary file when a store fails', async () => {
    const dir = freshDir();
    const s = await createStorage('fs', { root_path: dir });
    const ac = new AbortController();
    const gate = gatedStream([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    const p = s.store('x', gate.stream, ac.signal);
    gate.release();
    await waitFor('the store to write into a temporary file', 10_000, async () => (await tempFiles(dir)).length === 1);
    ac.abort();
    gate.release(2); // the backend may notice the abort only at its next chunk
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
