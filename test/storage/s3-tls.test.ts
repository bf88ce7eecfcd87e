// The tls options (custom CA, insecure_skip_verify) against the real Ceph radosgw, reached through
// a TLS-terminating proxy whose certificate is signed by a throw-away CA.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStorage } from '../../src/storage/index.js';
import { loadAll } from '../../src/storage/common.js';
import { S3StorageError } from '../../src/storage/s3/errors.js';
import { requireS3TestEnv, s3Options, uniqueBucket, type S3TestEnv } from './s3env.js';

const env = requireS3TestEnv('s3 tls');
if (env) tlsSuite(env);

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function tlsSuite(env: S3TestEnv): void {
  const bucket = uniqueBucket('tls');
  let dir: string;
  let proxy: Server;
  let endpoint: string;
  let caFile: string;

  describe('s3 storage over https (tls options)', { timeout: 60_000 }, () => {
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ls-s3-tls-'));
      openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
        '-days', '2', '-subj', '/CN=lightningstream test CA');
      openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
        '-subj', '/CN=127.0.0.1');
      await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
      openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
      caFile = join(dir, 'ca.pem');
      const target = new URL(env.endpoint);
      proxy = createServer(
        { key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.pem')) },
        (req, res) => {
          // Forwarded as is, Host header included: the signature stays valid.
          const up = httpRequest(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
            (upRes) => {
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              upRes.pipe(res);
            },
          );
          up.on('error', () => res.destroy());
          req.pipe(up);
        },
      );
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      endpoint = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    });
    after(async () => {
      const server = proxy as Server | undefined; // unset when before() failed early
      server?.closeAllConnections();
      server?.close();
      await rm(dir, { recursive: true, force: true });
    });

    const roundTrip = async (tls: Record<string, unknown>): Promise<void> => {
      const s = await createStorage('s3', s3Options(env, bucket, { endpoint_url: endpoint, create_bucket: true, tls }));
      try {
        const data = Buffer.from(`over tls ${JSON.stringify(tls).length}`);
        await s.store('x', data);
        assert.deepEqual(await loadAll(s, 'x'), data);
      } finally {
        await s.close();
      }
    };

    it('trusts a server certificate signed by tls.ca_file', async () => {
      await roundTrip({ ca_file: caFile });
    });

    it('trusts a server certificate signed by an inline tls.ca', async () => {
      await roundTrip({ ca: await readFile(caFile, 'utf8') });
    });

    it('accepts any certificate with tls.insecure_skip_verify', async () => {
      await roundTrip({ insecure_skip_verify: true });
    });

    it('refuses an unknown CA with a clear error', async () => {
      const s = await createStorage('s3', s3Options(env, bucket, { endpoint_url: endpoint }));
      try {
        await assert.rejects(s.list(''), (err: unknown) => {
          assert.ok(err instanceof S3StorageError, String(err));
          assert.match(err.message, /^s3: ListObjectsV2 \S+: \S*(CERT|SIGNATURE|ISSUER)\S*/);
          return true;
        });
      } finally {
        await s.close();
      }
    });

    it('reports an unreadable tls.ca_file', async () => {
      await assert.rejects(
        createStorage('s3', s3Options(env, bucket, { endpoint_url: endpoint, tls: { ca_file: join(dir, 'nope.pem') } })),
        /tls\.ca_file .*nope\.pem: ENOENT/,
      );
    });
  });
}
