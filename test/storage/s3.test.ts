// S3 backend behaviour against the real Ceph radosgw (see s3env.ts).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  createStorage,
  InvalidNameError,
  NotFoundError,
  UPDATE_MARKER_NAME,
  type Storage,
} from '../../src/storage/index.js';
import { loadAll } from '../../src/storage/common.js';
import { S3Storage } from '../../src/storage/s3/backend.js';
import { S3StorageError } from '../../src/storage/s3/errors.js';
import { requireS3TestEnv, s3Options, uniqueBucket, type S3TestEnv } from './s3env.js';

const env = requireS3TestEnv('s3');
if (env) s3Suite(env);

/** Runs fn over items with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Counts the ListObjectsV2 requests a backend sends (test-only access to its SDK client). */
function countLists(s: Storage): { readonly count: number } {
  const counter = { count: 0 };
  const client = (s as unknown as { client: S3Client }).client;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ListObjectsV2Command') counter.count++;
      return next(args);
    },
    { step: 'initialize' },
  );
  return counter;
}

function s3Suite(env: S3TestEnv): void {
  const bucket = uniqueBucket('s3');
  const open = (extra: Record<string, unknown> = {}): Promise<Storage> =>
    createStorage('s3', s3Options(env, bucket, extra));
  const opened: Storage[] = [];
  const track = async (p: Promise<Storage>): Promise<Storage> => {
    const s = await p;
    opened.push(s);
    return s;
  };
  let dir: string;

  describe('s3 storage (Ceph radosgw)', { timeout: 60_000 }, () => {
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ls-s3-test-'));
      await track(open({ create_bucket: true }));
    });
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
    });

    it('create_bucket creates a missing bucket, and is fine when it exists', async () => {
      const fresh = uniqueBucket('create');
      const missing = await track(createStorage('s3', s3Options(env, fresh)));
      await assert.rejects(missing.list(''), (err: unknown) => {
        assert.ok(err instanceof S3StorageError, String(err));
        assert.equal(err.code, 'NoSuchBucket');
        assert.match(err.message, /^s3: ListObjectsV2 .*NoSuchBucket/);
        return true;
      });
      const s = await track(createStorage('s3', s3Options(env, fresh, { create_bucket: true })));
      await s.store('x', Buffer.from('1'));
      const again = await track(createStorage('s3', s3Options(env, fresh, { create_bucket: true })));
      assert.deepEqual((await again.list('')).map((o) => o.name), ['x']);
      assert.deepEqual((await missing.list('')).map((o) => o.name), ['x']);
    });

    it('lists past 1,000 objects (ListObjectsV2 pagination)', async () => {
      const s = await track(open({ global_prefix: 'many/' }));
      const names = Array.from({ length: 1010 }, (_, i) => `main__i${String(i).padStart(4, '0')}__x`);
      const t0 = Date.now();
      await pool(names, 16, (n) => s.store(n, Buffer.from(n)));
      const stored = Date.now() - t0;
      await s.store('other__x', Buffer.from('x'));
      const all = await s.list('');
      assert.equal(all.length, 1011);
      const main = await s.list('main__');
      assert.deepEqual(main.map((o) => o.name), names);
      assert.ok(main.every((o) => o.size === o.name.length));
      assert.deepEqual((await s.list('main__i100')).map((o) => o.name), names.slice(1000));
      console.log(`# stored 1,010 objects in ${stored} ms`);
    });

    it('global_prefix isolates instances and is stripped from names', async () => {
      const a = await track(open({ global_prefix: 'iso-a/' }));
      const b = await track(open({ global_prefix: 'iso-b/' }));
      const root = await track(open());
      await a.store('main__a__1', Buffer.from('from a'));
      await b.store('main__b__1', Buffer.from('from b'));
      assert.deepEqual((await a.list('')).map((o) => o.name), ['main__a__1']);
      assert.deepEqual((await b.list('main__')).map((o) => o.name), ['main__b__1']);
      await assert.rejects(loadAll(b, 'main__a__1'), NotFoundError);
      assert.equal((await loadAll(a, 'main__a__1')).toString(), 'from a');
      const rootNames = (await root.list('iso-')).map((o) => o.name);
      assert.deepEqual(rootNames, ['iso-a/main__a__1', 'iso-b/main__b__1']);
      await a.delete('main__a__1');
      assert.equal((await loadAll(b, 'main__b__1')).toString(), 'from b');
    });

    it('reads credentials from files, trims them, and picks up a rotated secret', async () => {
      const akFile = join(dir, 'access-key');
      const skFile = join(dir, 'secret-key');
      await writeFile(akFile, `${env.accessKey}\n`);
      await writeFile(skFile, 'WRONG-secret-before-rotation\n');
      const s = await track(
        open({
          global_prefix: 'files/',
          access_key_file: akFile,
          secret_key_file: skFile,
          secrets_refresh_interval: '1s',
          access_key: undefined,
          secret_key: undefined,
        }),
      );
      await assert.rejects(s.store('x', Buffer.from('1')), (err: unknown) => {
        assert.ok(err instanceof S3StorageError);
        assert.equal(err.code, 'SignatureDoesNotMatch');
        assert.doesNotMatch(`${err.message}${err.stack}`, /WRONG-secret-before-rotation/);
        return true;
      });
      // The secret is rotated in place (as a Kubernetes secret volume would): picked up without restart.
      await writeFile(skFile, `${env.secretKey}\n`);
      await new Promise((r) => setTimeout(r, 1100));
      await s.store('x', Buffer.from('1'));
      assert.equal((await loadAll(s, 'x')).toString(), '1');
    });

    it('refuses a wrong secret with a clear error that does not contain it', async () => {
      const wrong = `${env.secretKey.slice(0, 10)}WRONGWRONGWRONG`;
      const s = await track(open({ secret_key: wrong }));
      for (const op of [() => s.list(''), () => s.store('x', Buffer.from('1')), () => loadAll(s, 'x')]) {
        await assert.rejects(op(), (err: unknown) => {
          assert.ok(err instanceof S3StorageError, String(err));
          assert.equal(err.code, 'SignatureDoesNotMatch');
          assert.equal(err.statusCode, 403);
          assert.match(err.message, /^s3: (ListObjectsV2|PutObject|GetObject) \S+: SignatureDoesNotMatch .*secret key/);
          const shown = [err.message, err.stack, String(err), inspect(err, { depth: 10 }), JSON.stringify(err)].join('\n');
          assert.ok(!shown.includes(wrong), 'the wrong secret leaked into the error');
          assert.ok(!shown.includes(env.secretKey), 'the real secret leaked into the error');
          return true;
        });
      }
      assert.ok(!inspect(s, { depth: 10 }).includes(wrong), 'the secret leaked into inspect(storage)');
      assert.ok(s instanceof S3Storage);
      assert.ok(!JSON.stringify(s.options).includes(wrong));
    });

    it('an unknown access key is refused clearly', async () => {
      const s = await track(open({ access_key: 'NOSUCHACCESSKEY00000' }));
      await assert.rejects(s.list(''), (err: unknown) => {
        assert.ok(err instanceof S3StorageError);
        assert.equal(err.code, 'InvalidAccessKeyId');
        assert.doesNotMatch(err.message, new RegExp(env.secretKey));
        return true;
      });
    });

    it('use_update_marker: lists from cache until the marker changes, never reports the marker', async () => {
      const prefix = 'marker/';
      const a = await track(open({ global_prefix: prefix, use_update_marker: true }));
      const b = await track(open({ global_prefix: prefix, use_update_marker: true }));
      const plain = await track(open({ global_prefix: prefix })); // writes without touching the marker
      const lists = countLists(a);

      await b.store('main__b__1', Buffer.from('1'));
      assert.deepEqual((await a.list('main__')).map((o) => o.name), ['main__b__1']);
      assert.equal(lists.count, 1);
      assert.deepEqual((await a.list('main__')).map((o) => o.name), ['main__b__1']);
      assert.deepEqual((await a.list('main__b')).map((o) => o.name), ['main__b__1']);
      assert.equal(lists.count, 1, 'unchanged marker: served from cache (a listed prefix answers for longer ones)');
      assert.deepEqual((await a.list('')).map((o) => o.name), ['main__b__1']);
      assert.equal(lists.count, 2, 'a shorter prefix is listed (each prefix is cached on its own, not the whole bucket)');

      // A write that bypasses the marker stays invisible to a's cache...
      await plain.store('main__plain__1', Buffer.from('p'));
      assert.deepEqual((await a.list('main__')).map((o) => o.name), ['main__b__1']);
      assert.equal(lists.count, 2);
      // ...until an instance using the marker changes something.
      await b.delete('main__b__1');
      assert.deepEqual((await a.list('main__')).map((o) => o.name), ['main__plain__1']);
      assert.equal(lists.count, 3);

      // The marker object exists, holds the last change, and is never listed.
      const raw = new S3Client({
        endpoint: env.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: env.accessKey, secretAccessKey: env.secretKey },
      });
      const res = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}${UPDATE_MARKER_NAME}` }));
      assert.match(await res.Body!.transformToString(), /^marker\/main__b__1::\d+:true$/);
      raw.destroy();
      for (const s of [a, b, plain]) {
        assert.ok(!(await s.list('')).some((o) => o.name.includes(UPDATE_MARKER_NAME)));
      }
      await assert.rejects(a.store(UPDATE_MARKER_NAME, Buffer.from('x')), InvalidNameError);

      // a's own writes invalidate its cache at once.
      await a.store('main__a__1', Buffer.from('a'));
      assert.deepEqual((await a.list('main__')).map((o) => o.name), ['main__a__1', 'main__plain__1']);
    });

    it('use_update_marker: listAfter answers from its last answer while the marker is unchanged', async () => {
      const prefix = 'marker-after/';
      const a = await track(open({ global_prefix: prefix, use_update_marker: true }));
      const b = await track(open({ global_prefix: prefix, use_update_marker: true }));
      const lists = countLists(a);
      await b.store('_journal__main__2__b', Buffer.from('2'));
      await b.store('_journal__main__3__b', Buffer.from('3'));
      assert.deepEqual((await a.listAfter!('_journal__main__', '_journal__main__1')).map((o) => o.name), ['_journal__main__2__b', '_journal__main__3__b']);
      assert.equal(lists.count, 1);
      assert.deepEqual((await a.listAfter!('_journal__main__', '_journal__main__2__b')).map((o) => o.name), ['_journal__main__3__b']);
      assert.equal(lists.count, 1, 'unchanged marker, startAfter not earlier: from the last answer');
      assert.deepEqual((await a.listAfter!('_journal__main__', '_journal__main__0')).map((o) => o.name), ['_journal__main__2__b', '_journal__main__3__b']);
      assert.equal(lists.count, 2, 'an earlier startAfter than the cached answer lists');
      await b.store('_journal__main__4__b', Buffer.from('4'));
      assert.deepEqual((await a.listAfter!('_journal__main__', '_journal__main__3')).map((o) => o.name), ['_journal__main__3__b', '_journal__main__4__b']);
      assert.equal(lists.count, 3, 'a changed marker lists');
    });

    it('use_update_marker: a real list is forced every update_marker_force_list_interval', async () => {
      const prefix = 'marker-force/';
      const a = await track(open({ global_prefix: prefix, use_update_marker: true, update_marker_force_list_interval: '1s' }));
      const b = await track(open({ global_prefix: prefix, use_update_marker: true }));
      const plain = await track(open({ global_prefix: prefix }));
      await b.store('one', Buffer.from('1'));
      assert.deepEqual((await a.list('')).map((o) => o.name), ['one']);
      await plain.store('two', Buffer.from('2'));
      assert.deepEqual((await a.list('')).map((o) => o.name), ['one']);
      await new Promise((r) => setTimeout(r, 1100));
      assert.deepEqual((await a.list('')).map((o) => o.name), ['one', 'two']);
    });

    it('use_update_marker: no marker yet means a real list every time', async () => {
      const a = await track(open({ global_prefix: 'marker-none/', use_update_marker: true }));
      const plain = await track(open({ global_prefix: 'marker-none/' }));
      const lists = countLists(a);
      assert.deepEqual(await a.list(''), []);
      await plain.store('x', Buffer.from('x'));
      assert.deepEqual((await a.list('')).map((o) => o.name), ['x']);
      assert.equal(lists.count, 2);
    });

    it('stores and loads 100 MB by streaming, without buffering it in memory', { timeout: 120_000 }, async () => {
      const s = await track(open({ global_prefix: 'big/' }));
      const size = 100 * 1024 * 1024;
      const chunk = 1024 * 1024;
      // Chunks come from a small pool of random buffers, in a varying order: the test itself
      // allocates nothing while streaming, so RSS growth measures the backend.
      const palette = Array.from({ length: 7 }, () => randomBytes(chunk));
      const upHash = createHash('sha256');
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < size / chunk; i++) {
            const b = palette[(i * 5 + (i >> 3)) % palette.length]!;
            upHash.update(b);
            yield b;
          }
        })(),
        { highWaterMark: 1 },
      );
      // Live memory (sampled right after a full GC) shows what the backend holds; RSS also counts
      // garbage awaiting collection, so it gets a looser bound.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      gc();
      const live = (): number => process.memoryUsage().arrayBuffers;
      const base = { rss: process.memoryUsage().rss, live: live() };
      const peak = { rss: base.rss, live: base.live };
      const sampler = setInterval(() => {
        gc();
        peak.rss = Math.max(peak.rss, process.memoryUsage().rss);
        peak.live = Math.max(peak.live, live());
      }, 20);
      const mb = (n: number): string => (n / 1024 / 1024).toFixed(1);
      try {
        const t0 = Date.now();
        await s.store('main__big__1', source);
        const t1 = Date.now();
        const storeLive = peak.live - base.live;
        const list = await s.list('main__big');
        assert.equal(list[0]?.size, size);
        const downHash = createHash('sha256');
        let got = 0;
        for await (const c of await s.loadStream('main__big__1')) {
          downHash.update(c as Buffer);
          got += (c as Buffer).length;
        }
        const t2 = Date.now();
        assert.equal(got, size);
        assert.equal(downHash.digest('hex'), upHash.digest('hex'));
        const rssGrowth = peak.rss - base.rss;
        console.log(
          `# 100 MB: store ${t1 - t0} ms (live +${mb(storeLive)} MB), load ${t2 - t1} ms, ` +
            `live +${mb(peak.live - base.live)} MB, RSS +${mb(rssGrowth)} MB`,
        );
        assert.ok(peak.live - base.live < 40 * 1024 * 1024, `live buffers grew by ${mb(peak.live - base.live)} MB`);
        assert.ok(rssGrowth < 60 * 1024 * 1024, `RSS grew by ${mb(rssGrowth)} MB while streaming 100 MB`);
      } finally {
        clearInterval(sampler);
      }
    });

    it('a multipart streamed store aborted midway leaves no object', async () => {
      const s = await track(open({ global_prefix: 'abort-big/' }));
      const ac = new AbortController();
      const source = Readable.from(
        (async function* () {
          for (let i = 0; i < 100; i++) {
            yield randomBytes(1024 * 1024);
            if (i === 12) ac.abort();
            await new Promise((r) => setTimeout(r, 5));
          }
        })(),
      );
      await assert.rejects(s.store('big', source, ac.signal), (err: Error) => err.name === 'AbortError');
      assert.deepEqual(await s.list(''), []);
    });

    it('sends Content-MD5 unless disable_send_content_md5, both accepted', async () => {
      for (const disable of [false, true]) {
        const s = await track(open({ global_prefix: `md5-${disable}/`, disable_send_content_md5: disable }));
        const data = randomBytes(100_000);
        await s.store('x', data);
        assert.deepEqual(await loadAll(s, 'x'), data);
      }
    });

    it('fails fast with a clear error when the endpoint is down', async () => {
      const s = await track(createStorage('s3', s3Options(env, bucket, { endpoint_url: 'http://127.0.0.1:9' })));
      await assert.rejects(s.list(''), (err: unknown) => {
        assert.ok(err instanceof S3StorageError, String(err));
        assert.match(err.message, /^s3: ListObjectsV2 \S+: .*ECONNREFUSED/);
        return true;
      });
    });

    it('create_bucket honours init_timeout', async () => {
      // A server that accepts connections and never answers.
      const sockets: Socket[] = [];
      const silent = createServer((sock) => sockets.push(sock));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as AddressInfo).port;
      try {
        const t0 = Date.now();
        await assert.rejects(
          createStorage('s3', s3Options(env, uniqueBucket('never'), {
            endpoint_url: `http://127.0.0.1:${port}`,
            create_bucket: true,
            init_timeout: '300ms',
          })),
          /^S3StorageError: s3: CreateBucket \S+: no answer within init_timeout \(300ms\)$/,
        );
        assert.ok(Date.now() - t0 < 3000);
      } finally {
        for (const sock of sockets) sock.destroy();
        silent.close();
      }
    });
  });
}
