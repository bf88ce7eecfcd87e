// Azure backend behaviour against a real Azurite server (see azureenv.ts): what the shared contract
// does not cover.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { Agent } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import {
  AZURE_UPDATE_MARKER_NAME,
  createStorage,
  InvalidNameError,
  NotFoundError,
  type Storage,
} from '../../src/storage/index.js';
import { AzureStorageError } from '../../src/storage/azure/errors.js';
import { loadAll } from '../../src/storage/common.js';
import { FaultProxy, type FaultRates } from '../chaos/fault-proxy.js';
import { waitFor } from '../sync/helpers.js';
import { gatedStream } from './contract.js';
import { azureOptions, requireAzureTestEnv, uniqueContainer, type AzureTestEnv } from './azureenv.js';

const env = requireAzureTestEnv('azure');
if (env) azureSuite(env);

interface LoggedLine { msg: string; fields?: Record<string, unknown> }

function recordingLogger(lines: LoggedLine[]) {
  const rec = (msg: string, fields?: Record<string, unknown>) => { lines.push({ msg, fields }); };
  return { debug: rec, info: rec, warn: rec, error: rec };
}

const NO_FAULTS: FaultRates = { slowdown: 0, internal: 0, resetBefore: 0, resetAfter: 0, truncate: 0, delay: 0 };

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
  return port;
}

function azureSuite(env: AzureTestEnv): void {
  const container = uniqueContainer('az');
  const opened: Storage[] = [];
  const open = async (extra: Record<string, unknown> = {}, c = container, lines?: LoggedLine[]): Promise<Storage> => {
    const s = await createStorage('azure', azureOptions(env, c, { create_container: true, ...extra }), lines ? { logger: recordingLogger(lines) } : undefined);
    opened.push(s);
    return s;
  };
  const proxies: FaultProxy[] = [];
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await Promise.all(proxies.map((p) => p.stop()));
  });

  describe('azure storage (Azurite)', { timeout: 60_000 }, () => {
    it('global_prefix: names are stored under it, listed without it, and prefixes do not see each other', async () => {
      const a = await open({ global_prefix: 'ga/' });
      const b = await open({ global_prefix: 'gb/' });
      const raw = await open();
      await a.store('main__x__1', Buffer.from('a'));
      await b.store('main__x__1', Buffer.from('bb'));
      assert.deepEqual((await a.list('main__')).map((o) => [o.name, o.size]), [['main__x__1', 1]]);
      assert.equal((await loadAll(b, 'main__x__1')).toString(), 'bb');
      const rawNames = (await raw.list('g')).map((o) => o.name);
      assert.ok(rawNames.includes('ga/main__x__1') && rawNames.includes('gb/main__x__1'), rawNames.join());
      await a.delete('main__x__1');
      assert.deepEqual(await a.list(''), []);
      assert.equal((await b.list('')).length, 1);
    });

    it('create_container creates a missing container and accepts an existing one', async () => {
      const c = uniqueContainer('create');
      const lines: LoggedLine[] = [];
      const first = await open({}, c, lines);
      assert.ok(lines.some((l) => l.msg === 'azure: created container'), 'the container was not created');
      await first.store('probe', Buffer.from('x'));
      const again = await open({}, c); // ContainerAlreadyExists is fine
      assert.deepEqual((await again.list('')).map((o) => o.name), ['probe']);
    });

    it('without create_container a missing container is an error naming it (and a missing blob in it is NotFound)', async () => {
      const c = uniqueContainer('missing');
      const s = await open({ create_container: false }, c);
      await assert.rejects(s.list(''), (err: unknown) => {
        assert.ok(err instanceof AzureStorageError);
        assert.match(err.message, new RegExp(`^azure: ListBlobs ${c}: ContainerNotFound \\(HTTP 404\\)`));
        return true;
      });
      await assert.rejects(loadAll(s, 'x'), NotFoundError);
      await s.delete('x'); // nothing to delete: fine
    });

    it('a missing blob: NotFoundError naming it, for load and loadStream; delete is fine', async () => {
      const s = await open({ global_prefix: 'nf/' });
      // One at a time: a second call started up front could fail before anything awaits it (an unhandled rejection).
      for (const load of [() => loadAll(s, 'main__gone'), () => s.loadStream('main__gone')]) {
        await assert.rejects(load(), (err: unknown) => err instanceof NotFoundError && err.objectName === 'main__gone');
      }
      await s.delete('main__gone');
    });

    it('a wrong key: one clear line naming the operation, without the key', async () => {
      const wrong = randomBytes(64).toString('base64');
      const s = await open({ create_container: false, account_key: wrong });
      await assert.rejects(s.store('main__a__1', Buffer.from('x')), (err: unknown) => {
        assert.ok(err instanceof AzureStorageError);
        assert.match(err.message, /^azure: PutBlob main__a__1: (AuthenticationFailed|AuthorizationFailure) \(HTTP 403\) .*\(check account_name and account_key\)$/);
        assert.doesNotMatch(err.message, /\n/);
        assert.ok(!err.message.includes(wrong) && !err.message.includes(env.key));
        return true;
      });
      await assert.rejects(createStorage('azure', azureOptions(env, uniqueContainer('wk'), { create_container: true, account_key: wrong })),
        /azure: CreateContainer ls-wk-\S+: (AuthenticationFailed|AuthorizationFailure) \(HTTP 403\)/);
    });

    it('secrets appear in no error, inspection, JSON or log line', async () => {
      const lines: LoggedLine[] = [];
      const s = await open({ global_prefix: 'sec/' }, container, lines);
      await s.store('x', Buffer.from('x'));
      await assert.rejects(loadAll(s, 'absent'), NotFoundError);
      const views = [inspect(s, { depth: 10, showHidden: true }), JSON.stringify(s), JSON.stringify(lines)];
      for (const v of views) assert.ok(!v.includes(env.key), `the key shows in: ${v.slice(0, 200)}`);
      assert.match(inspect(s), /^AzureStorage \{ endpoint: http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1, container: /);
      assert.ok(lines.some((l) => l.msg === 'azure storage options'), 'options were not logged at debug');
      assert.match(JSON.stringify(s), /"account_key":"<redacted>"/);
    });

    it('account_key_file: read at open, re-read every secrets_refresh_interval', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ls-azure-key-'));
      try {
        const file = join(dir, 'key');
        await writeFile(file, `${env.key}\n`);
        const lines: LoggedLine[] = [];
        const opts = { account_key: undefined, account_key_file: file, secrets_refresh_interval: '1s', global_prefix: 'kf/' };
        const s = await open(opts, container, lines);
        await s.store('a', Buffer.from('a'));
        const updates = () => lines.filter((l) => l.msg.includes('updated the account key')).length;
        // Replaced whole (rename), so a re-read never sees a half-written file.
        const rotate = async (key: string) => {
          await writeFile(`${file}.new`, key);
          await rename(`${file}.new`, file);
        };
        assert.equal(updates(), 0);
        await rotate(`${randomBytes(64).toString('base64')}\n`); // a key the server refuses
        await waitFor('the rotated key to be picked up', 10_000, () => updates() === 1);
        await assert.rejects(loadAll(s, 'a'), /AuthenticationFailed|AuthorizationFailure/);
        await rotate(env.key);
        await waitFor('the restored key to be picked up', 10_000, () => updates() === 2);
        assert.equal((await loadAll(s, 'a')).toString(), 'a');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('use_update_marker: the marker is written on store/delete, never listed, and its name is reserved', async () => {
      const s = await open({ global_prefix: 'um/', use_update_marker: true });
      const raw = await open({ global_prefix: 'um/' });
      await s.store('main__a__1', Buffer.from('1'));
      assert.deepEqual((await s.list('')).map((o) => o.name), ['main__a__1']);
      assert.match((await loadAll(raw, AZURE_UPDATE_MARKER_NAME)).toString(), /^um\/main__a__1:.+:\d+:false$/);
      // Another instance's change moves the marker, so the cached listing is not used.
      const other = await open({ global_prefix: 'um/', use_update_marker: true });
      await other.store('main__b__1', Buffer.from('2'));
      assert.deepEqual((await s.list('main__')).map((o) => o.name), ['main__a__1', 'main__b__1']);
      await other.delete('main__a__1');
      assert.match((await loadAll(raw, AZURE_UPDATE_MARKER_NAME)).toString(), /^um\/main__a__1::\d+:true$/);
      assert.deepEqual((await s.list('')).map((o) => o.name), ['main__b__1']);
      await assert.rejects(s.store(AZURE_UPDATE_MARKER_NAME, Buffer.from('x')), InvalidNameError);
    });

    it('use_update_marker: listAfter sees other instances\' changes and never lists startAfter or the marker', async () => {
      const a = await open({ global_prefix: 'uma/', use_update_marker: true });
      const b = await open({ global_prefix: 'uma/', use_update_marker: true });
      await b.store('_journal__main__2__b', Buffer.from('2'));
      await b.store('_journal__main__3__b', Buffer.from('3'));
      const after = async (startAfter: string) => (await a.listAfter!('_journal__main__', startAfter)).map((o) => o.name);
      assert.deepEqual(await after('_journal__main__1'), ['_journal__main__2__b', '_journal__main__3__b']);
      assert.deepEqual(await after('_journal__main__2__b'), ['_journal__main__3__b']);
      await b.store('_journal__main__4__b', Buffer.from('4'));
      assert.deepEqual(await after('_journal__main__3'), ['_journal__main__3__b', '_journal__main__4__b']);
      assert.deepEqual((await a.listAfter!('', 'u')).map((o) => o.name), [], 'the marker is not listed');
    });

    it('abort: a slow streamed store, a listing and a load stop with AbortError and leave nothing', async () => {
      const s = await open({ global_prefix: 'ab/' });
      const ac = new AbortController();
      const big = Array.from({ length: 40 }, () => randomBytes(256 << 10)); // 10 MiB, several blocks
      const gate = gatedStream(big);
      const p = s.store('slow', gate.stream, ac.signal);
      gate.release(8); // 2 MiB: at least one staged block; the store cannot finish before the rest is released
      await new Promise((r) => setTimeout(r, 200));
      ac.abort();
      gate.release(big.length); // the backend may notice the abort only at its next chunk
      await assert.rejects(p, { name: 'AbortError' });
      await assert.rejects(loadAll(s, 'slow'), NotFoundError);
      const ac2 = new AbortController();
      const l = s.list('', ac2.signal);
      ac2.abort();
      await assert.rejects(l, { name: 'AbortError' });
      await s.store('data', Buffer.alloc(1 << 20, 7));
      const ac3 = new AbortController();
      const ld = loadAll(s, 'data', ac3.signal);
      ac3.abort();
      await assert.rejects(ld, { name: 'AbortError' });
    });

    it('a streamed store of several blocks is one blob with every byte', async () => {
      const s = await open({ global_prefix: 'big/', concurrency: 2 });
      const chunks = Array.from({ length: 10 }, () => randomBytes(1 << 20)); // 10 MiB: three 4 MiB blocks
      await s.store('big', Readable.from(chunks));
      assert.deepEqual(await loadAll(s, 'big'), Buffer.concat(chunks));
    });

    it('requests go through the backend\'s keep-alive agent', async () => {
      const s = await open({ global_prefix: 'ka/' });
      await s.list('');
      const agent = (s as unknown as { agent: Agent }).agent;
      const free = Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
      const busy = Object.values(agent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
      assert.ok(free + busy >= 1, 'no socket of our agent was used');
    });

    it('create_container retries 503s until the server recovers', async () => {
      const proxy = new FaultProxy({ upstream: new URL(env.endpoint).origin, seed: 5, rates: { ...NO_FAULTS, internal: 1 } });
      proxies.push(proxy);
      const url = await proxy.start();
      setTimeout(() => { proxy.enabled = false; }, 1500);
      const lines: LoggedLine[] = [];
      const started = Date.now();
      const s = await open({ endpoint_url: `${url}${new URL(env.endpoint).pathname}`, init_timeout: '15s' }, uniqueContainer('retry'), lines);
      assert.ok(Date.now() - started >= 1400, 'open returned while every request still failed');
      assert.ok(lines.some((l) => l.msg.includes('retrying within init_timeout')), 'no retry was logged');
      await s.store('probe', Buffer.from('x'));
      assert.deepEqual((await s.list('')).map((o) => o.name), ['probe']);
    });

    it('create_container gives up at init_timeout when nothing answers, naming init_timeout', async () => {
      const port = await closedPort();
      const started = Date.now();
      await assert.rejects(
        createStorage('azure', azureOptions(env, uniqueContainer('down'), {
          create_container: true, init_timeout: '2s', endpoint_url: `http://127.0.0.1:${port}/devstoreaccount1`,
        })),
        (err: unknown) => {
          assert.ok(err instanceof AzureStorageError);
          assert.match(err.message, /^azure: CreateContainer ls-down-\S+: no success within init_timeout \(2s\); last error: .*ECONNREFUSED/);
          return true;
        },
      );
      const took = Date.now() - started;
      assert.ok(took >= 1900 && took < 8000, `gave up after ${took} ms`);
    });
  });
}
