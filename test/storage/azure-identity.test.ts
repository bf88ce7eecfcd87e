// Azure without a shared key (`use_shared_key: false`, Go's default): the default Azure credential chain, for
// real. This test starts its own Azurite in OAuth mode (`--oauth basic`, which needs HTTPS: a CA and a server
// certificate made here with openssl) and its own token service on loopback HTTPS (OpenID discovery and a token
// endpoint that issues a JWT with the claims Azurite checks: iss https://sts.windows.net/<tenant>/, aud
// https://storage.azure.com, iat/nbf/exp). Real `lightningstream` processes get an environment service principal
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) with AZURE_AUTHORITY_HOST pointing at that service, and
// trust the CA through NODE_EXTRA_CA_CERTS. One instance stores an LMDB with `sync --only-once`, another receives
// it with `receive --only-once`; the blobs are checked independently with the emulator's shared key. A wrong
// client secret (the token service refuses it) and a token for another audience (Azurite refuses it) must fail
// with an error, and the token service must have been asked for a storage token.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet, type Server } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { BIN, PlainApp, ROOT, waitFor } from '../sync/helpers.js';

const TENANT = '72f988bf-0000-4000-8000-00000000c0de';
const CLIENT_ID = 'lightningstream-test-client';
const CLIENT_SECRET = 'the-right-secret';
/** Azurite's well-known emulator account (public, documented). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A throw-away CA and a server certificate for 127.0.0.1 and localhost signed by it. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=ls-test-ca',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'server.ext', '-out', 'server.pem']);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT with the claims Azurite's basic OAuth checks (it does not check the signature). */
function accessToken(audience: string): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: audience, iss: `https://sts.windows.net/${TENANT}/`, iat: now - 60, nbf: now - 60, exp: now + 3600,
    appid: CLIENT_ID, tid: TENANT, oid: '00000000-0000-4000-8000-000000000001', sub: CLIENT_ID, ver: '1.0',
  };
  return `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'test' })}.${b64url(claims)}.${Buffer.from('not-checked').toString('base64url')}`;
}

/** The loopback authority: OpenID discovery, instance discovery and the client-credentials token endpoint. */
class TokenService {
  server!: Server;
  url = '';
  audience = 'https://storage.azure.com';
  readonly requests: string[] = [];
  readonly tokensIssued: string[] = [];
  /** Token requests refused for a wrong client secret. */
  refusedSecrets = 0;

  async start(cert: string, key: string): Promise<void> {
    this.server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.url);
        this.requests.push(`${req.method} ${url.pathname}`);
        const json = (status: number, body: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        };
        const base = `${this.url}/${TENANT}`;
        if (req.method === 'GET' && url.pathname === `/${TENANT}/v2.0/.well-known/openid-configuration`) {
          json(200, {
            issuer: `${this.url}/${TENANT}/v2.0`, token_endpoint: `${base}/oauth2/v2.0/token`,
            authorization_endpoint: `${base}/oauth2/v2.0/authorize`, jwks_uri: `${base}/discovery/v2.0/keys`,
            end_session_endpoint: `${base}/oauth2/v2.0/logout`, response_types_supported: ['code', 'token'],
            subject_types_supported: ['pairwise'], id_token_signing_alg_values_supported: ['RS256'],
            token_endpoint_auth_methods_supported: ['client_secret_post'], scopes_supported: ['openid'],
          });
        } else if (req.method === 'GET' && url.pathname === '/common/discovery/instance') {
          const host = new URL(this.url).host;
          json(200, {
            tenant_discovery_endpoint: `${base}/v2.0/.well-known/openid-configuration`, 'api-version': '1.1',
            metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
          });
        } else if (req.method === 'POST' && url.pathname === `/${TENANT}/oauth2/v2.0/token`) {
          const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
          this.requests.push(`form: ${[...form.keys()].map((k) => `${k}=${k === 'client_secret' ? '***' : form.get(k) ?? ''}`).join('&')}`);
          if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== CLIENT_ID) {
            json(400, { error: 'invalid_request', error_description: 'unexpected grant or client' });
          } else if (form.get('client_secret') !== CLIENT_SECRET) {
            this.refusedSecrets++;
            json(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
          } else if (!(form.get('scope') ?? '').split(' ').includes('https://storage.azure.com/.default')) {
            json(400, { error: 'invalid_scope', error_description: `unexpected scope ${form.get('scope') ?? ''}` });
          } else {
            const token = accessToken(this.audience);
            this.tokensIssued.push(token);
            json(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
          }
        } else {
          json(404, { error: 'not_found', error_description: `${req.method} ${url.pathname}` });
        }
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const a = this.server.address();
    this.url = `https://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Run {
  code: number | null;
  log: string;
}

describe('azure with the default credential chain (use_shared_key: false) against Azurite in OAuth mode', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-azure-identity-'));
  const container = `ls-identity-${Date.now().toString(36)}`;
  const tokens = new TokenService();
  let certs: { ca: string; cert: string; key: string };
  let azurite: ChildProcess | undefined;
  let endpoint = '';
  let azuriteLog = '';

  before(async () => {
    certs = makeCertificates(dir);
    await tokens.start(certs.cert, certs.key);
    const port = await freePort();
    endpoint = `https://127.0.0.1:${port}/${ACCOUNT}`;
    mkdirSync(join(dir, 'azurite'));
    azurite = spawn(join(ROOT, 'node_modules', '.bin', 'azurite-blob'), [
      '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--location', join(dir, 'azurite'),
      '--blobHost', '127.0.0.1', '--blobPort', String(port), '--oauth', 'basic', '--cert', certs.cert, '--key', certs.key,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    azurite.stdout!.on('data', (d: Buffer) => { azuriteLog += d.toString(); });
    azurite.stderr!.on('data', (d: Buffer) => { azuriteLog += d.toString(); });
    const ca = readFileSync(certs.ca);
    await waitFor('Azurite to answer over HTTPS', 60_000, () => new Promise<boolean>((resolve) => {
      httpsGet(`${endpoint}?comp=list`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode !== undefined);
      }).on('error', () => resolve(false));
    }), () => azuriteLog);
  });

  after(async () => {
    azurite?.kill('SIGTERM');
    await tokens.stop();
    if (process.env.LS_KEEP_TEST_DIR !== '1') rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(name: string, lmdbPath: string): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, [
      `instance: ${name}`,
      `lmdbs: { main: { path: ${lmdbPath}, schema_tracks_changes: false } }`,
      'storage:',
      '  type: azure',
      '  options:',
      `    endpoint_url: ${endpoint}`,
      `    container: ${container}`,
      '    create_container: true',
      '    init_timeout: 20s',
    ].join('\n'));
    return file;
  }

  function cli(config: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '-c', config, '--log-format', 'logfmt', ...args], {
        env: {
          ...process.env, NODE_NO_WARNINGS: '1', NODE_EXTRA_CA_CERTS: certs.ca,
          AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: CLIENT_SECRET,
          AZURE_AUTHORITY_HOST: tokens.url, ...env,
        },
        timeout: 90_000,
      });
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => out.push(d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, log: Buffer.concat(out).toString('utf8') }));
    });
  }

  /** The container's blob names, read with the emulator's shared key (not through lightningstream). */
  async function blobNames(): Promise<string[]> {
    const { Agent } = await import('node:https');
    const agent = new Agent({ ca: readFileSync(certs.ca) });
    const client = new ContainerClient(`${endpoint}/${container}`, new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY), {
      agent,
    } as never);
    const names: string[] = [];
    for await (const b of client.listBlobsFlat()) names.push(b.name);
    agent.destroy();
    return names;
  }

  it('config: use_shared_key false needs no key (checkconfig)', async () => {
    const r = await cli(writeConfig('check', join(dir, 'unused')), ['checkconfig']);
    assert.equal(r.code, 0, r.log);
  });

  it('stores with a service principal token and another instance receives it', async () => {
    const appA = join(dir, 'a');
    const appB = join(dir, 'b');
    const a = new PlainApp(appA);
    for (let i = 0; i < 100; i++) a.put('plain', `key-${i}`, `value-${i}`);
    const contentsA = a.contents();
    a.close();
    const stored = await cli(writeConfig('a', appA), ['sync', '--only-once']);
    assert.equal(stored.code, 0, `${stored.log}\n${tokens.requests.join('\n')}\n${azuriteLog}`);
    assert.ok(tokens.tokensIssued.length > 0, `a storage token was requested (requests: ${tokens.requests.join(', ')})`);
    const names = await blobNames();
    assert.ok(names.some((n) => n.startsWith('main__a__') && n.endsWith('.pb.gz')), `A's snapshot is in the container: ${names.join(', ')}`);

    const b = new PlainApp(appB);
    b.dbi('plain');
    b.close();
    const received = await cli(writeConfig('b', appB), ['receive', '--only-once']);
    assert.equal(received.code, 0, received.log);
    const bAfter = new PlainApp(appB);
    try {
      assert.equal(bAfter.contents(), contentsA);
    } finally {
      bAfter.close();
    }
  });

  it('a wrong client secret fails with an authentication error, and nothing is stored', async () => {
    const before = await blobNames();
    const app = join(dir, 'c');
    const c = new PlainApp(app);
    c.put('plain', 'k', 'v');
    c.close();
    const refusedBefore = tokens.refusedSecrets;
    const r = await cli(writeConfig('c', app), ['sync', '--only-once'], { AZURE_CLIENT_SECRET: 'wrong-secret-4f3a9c' });
    assert.notEqual(r.code, 0, r.log);
    assert.ok(tokens.refusedSecrets > refusedBefore, `the token service refused the secret\n${tokens.requests.join('\n')}`);
    assert.match(r.log, /^lightningstream: azure: CreateContainer \S+: AuthenticationError .*EnvironmentCredential authentication failed.*\(check the AZURE_\* environment of the Azure identity\)$/m, r.log);
    assert.ok(!r.log.includes('wrong-secret-4f3a9c'), 'the secret is not printed');
    assert.deepEqual(await blobNames(), before);
  });

  it('a token for another audience is refused by Azurite', async () => {
    tokens.audience = 'https://vault.azure.net';
    try {
      const app = join(dir, 'd');
      const d = new PlainApp(app);
      d.put('plain', 'k', 'v');
      d.close();
      const r = await cli(writeConfig('d', app), ['sync', '--only-once']);
      assert.notEqual(r.code, 0, r.log);
      assert.match(r.log, /^lightningstream: azure: CreateContainer \S+: AuthenticationFailed \(HTTP 403\) .*\(check the Azure identity and its role on the container\)$/m, r.log);
    } finally {
      tokens.audience = 'https://storage.azure.com';
    }
  });
});
