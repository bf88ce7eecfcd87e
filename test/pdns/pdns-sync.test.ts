// PowerDNS Authoritative 4.7.3 (Debian packages, started by scripts/pdns.sh on loopback) kept in sync by real
// `lightningstream` processes in shadow mode through the Ceph radosgw of scripts/test.sh:
//
// - instances 1 and 2: each pdns with its own LMDB and its own `lightningstream sync`; zones, records, DNSSEC keys,
//   metadata and a TSIG key created on one are served by both, a deleted RRset disappears on both, a change made
//   on 2 to a zone of 1 comes back to 1, while a UDP query loop against instance 2 (every 50 ms) counts answers;
//   it must never see a SERVFAIL;
// - instance 3, started later with `lightningstream receive` on its fresh LMDB, catches up with everything;
// - `drop-shadow --force` on instance 3 while its pdns keeps answering removes the shadow DBIs only.
//
// The shard file (pdns.lmdb-0) only appears with pdns's first zone, and Lightning Stream must not create pdns's
// files (powerdns.md). So every instance gets its shard from pdns itself before its lightningstream starts: a
// throw-away zone is created and deleted with pdnsutil (0.3 s; it leaves an empty `records` DBI and nothing to
// sync, as no shadow exists yet). Waiting for the shard instead (a marker file) would leave an instance that has
// no zone of its own deaf to the others.
//
// Ports: DNS 127.0.0.1:(LS_PDNS_SYNC_DNS_PORT_BASE:-5400 + N), API (LS_PDNS_SYNC_API_PORT_BASE:-8200 + N), so
// this test and test/pdns/pdns-script.test.ts (5300/8100) can run at the same time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createStorage } from '../../src/storage/index.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from '../storage/s3env.js';
import { dig, problems, QueryLoop, type Probe } from './dns.js';
import {
  checkApiState, lightningstreamLogs, PdnsScript, pdnsApi, servedWithin, startLightningstreamOn, writeLsConfig, type PdnsInstance,
} from './harness.js';
import { ROOT, runLightningstream, waitFor } from '../sync/helpers.js';

const pdns = new PdnsScript(join(ROOT, 'scripts', 'pdns.sh'), {
  LS_PDNS_DNS_PORT_BASE: process.env.LS_PDNS_SYNC_DNS_PORT_BASE ?? '5400',
  LS_PDNS_API_PORT_BASE: process.env.LS_PDNS_SYNC_API_PORT_BASE ?? '8200',
});
const { execOk, pdnsutil } = pdns;
const SCRIPT = pdns.script;
/** How long a change may take to be served by the other instances. */
const SYNC_TIMEOUT_MS = 20_000;
/** The README's configuration for PowerDNS 4.7 (shadow mode). */
const SHADOW_SETTINGS = {
  main: ['schema_tracks_changes: false', 'dupsort_hack: true', 'options: { no_subdir: true, create: false, map_size: 1000MB }'],
  shard: ['schema_tracks_changes: false', 'options: { no_subdir: true, create: false, map_size: 16000MB }'],
};

/** Waits until every instance serves the probes; returns the time it took. */
const served = (what: string, insts: PdnsInstance[], probes: Probe[], logs: () => string): Promise<number> =>
  servedWithin(what, SYNC_TIMEOUT_MS, insts, probes, logs, 200);

// ---------- the test ----------

const s3 = requireS3TestEnv('PowerDNS sync e2e');

describe('PowerDNS 4.7 instances kept in sync by lightningstream (shadow mode, Ceph)', { skip: !s3, timeout: 240_000 }, () => {
  let work = '';
  const bucket = uniqueBucket('pdns');
  const insts: PdnsInstance[] = [];
  let loop: QueryLoop | undefined;
  let tsigSecret = '';
  const t0 = Date.now();

  const logs = () => lightningstreamLogs(insts);
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

  /** pdns N up, with its shard file made by pdns itself (see the top of this file). */
  const startPdns = (t: TestContext, inst: PdnsInstance) => pdns.startWithShard(t, inst);

  function startLs(inst: PdnsInstance, command: 'sync' | 'receive'): Promise<number> {
    writeLsConfig(inst, s3!, bucket, SHADOW_SETTINGS);
    return startLightningstreamOn(work, inst, command, logs);
  }

  before(async () => {
    await execOk('bash', [SCRIPT, 'install'], 600_000);
    work = mkdtempSync(join(tmpdir(), 'ls-pdns-sync-'));
    for (const n of [1, 2, 3]) insts.push(await pdns.instance(work, n));
  });

  after(async () => {
    await loop?.stop();
    await pdns.stopAll(insts);
    if (work && process.env.LS_KEEP_TEST_DIR !== '1') rmSync(work, { recursive: true, force: true });
  });

  const [ZONE1, ZONE2] = ['example.com', 'example.net'];
  const zone1Probes = (www: string, mailGone: boolean, signed = true): Probe[] => [
    { name: ZONE1, type: 'SOA', want: 'any', signed },
    ...(signed ? [{ name: ZONE1, type: 'DNSKEY', want: 'any', signed } as const] : []),
    { name: ZONE1, type: 'MX', want: [`10 mail.${ZONE1}.`], signed },
    { name: `www.${ZONE1}`, type: 'A', want: [www], signed },
    { name: `mail.${ZONE1}`, type: 'A', want: mailGone ? null : ['192.0.2.20'], signed },
    { name: `v6.${ZONE1}`, type: 'AAAA', want: ['2001:db8::10'], signed },
    { name: `txt.${ZONE1}`, type: 'TXT', want: ['"synced by lightningstream"'], signed },
  ];
  const zone2Probes: Probe[] = [
    { name: ZONE2, type: 'SOA', want: 'any' },
    { name: `api.${ZONE2}`, type: 'A', want: ['198.51.100.7'] },
  ];
  const finalProbes = [...zone1Probes('192.0.2.11', true), ...zone2Probes];

  it('starts pdns 1 and 2, then a lightningstream sync for each', async (t) => {
    const [i1, i2] = insts as [PdnsInstance, PdnsInstance];
    for (const i of [i1, i2]) await startPdns(t, i);
    // From before the syncs start until the end of the test, both zones are asked for (REFUSED until they exist),
    // signed and unsigned, names that exist, one that will be deleted and one that never exists.
    loop = new QueryLoop(i2.dnsPort, [
      [`www.${ZONE1}`, 'A', true], [ZONE1, 'DNSKEY', true], [`mail.${ZONE1}`, 'A', true], [`nx.${ZONE1}`, 'A', true],
      [ZONE1, 'SOA', false], [`api.${ZONE2}`, 'A', false], [`txt.${ZONE1}`, 'TXT', true],
    ]);
    const ms = await Promise.all([startLs(i1, 'sync'), startLs(i2, 'sync')]);
    t.diagnostic(`both syncs ready in ${Math.max(...ms)} ms (at ${elapsed()})`);
  });

  it('a zone with records made on 1, a zone and a TSIG key made on 2: both serve both zones', async (t) => {
    const [i1, i2] = insts as [PdnsInstance, PdnsInstance];
    const started = Date.now();
    await pdnsutil(i1, 'create-zone', ZONE1, `ns1.${ZONE1}`);
    for (const [name, type, content] of [
      ['www', 'A', '192.0.2.10'], ['mail', 'A', '192.0.2.20'], ['v6', 'AAAA', '2001:db8::10'],
      ['txt', 'TXT', '"synced by lightningstream"'], ['@', 'MX', `10 mail.${ZONE1}.`],
    ] as const) await pdnsutil(i1, 'add-record', ZONE1, name, type, '3600', content);
    const tsig = await pdnsutil(i2, 'generate-tsig-key', 'xfr-key', 'hmac-sha256');
    tsigSecret = /Create new TSIG key xfr-key hmac-sha256 (\S+)/.exec(tsig)?.[1] ?? assert.fail(tsig);
    await pdnsutil(i2, 'create-zone', ZONE2, `ns1.${ZONE2}`);
    await pdnsutil(i2, 'add-record', ZONE2, 'api', 'A', '300', '198.51.100.7');
    const written = Date.now();
    const ms = await served('both zones on both', [i1, i2], [...zone1Probes('192.0.2.10', false, false), ...zone2Probes], logs);
    t.diagnostic(`pdnsutil changes took ${written - started} ms; served by both ${ms} ms after the last one (at ${elapsed()})`);
  });

  it('securing the zone (DNSSEC keys, NSEC ordering) and metadata on 1 reach 2 while it serves the zone', async (t) => {
    const [i1, i2] = insts as [PdnsInstance, PdnsInstance];
    await pdnsutil(i1, 'secure-zone', ZONE1);
    await pdnsutil(i1, 'set-meta', ZONE1, 'ALLOW-AXFR-FROM', '192.0.2.0/24');
    const ms = await served('the signed zone on both', [i1, i2], [...zone1Probes('192.0.2.10', false), ...zone2Probes], logs);
    t.diagnostic(`served signed by both ${ms} ms after the change (at ${elapsed()})`);
    const keys = await Promise.all([i1, i2].map((i) => dig(i, ZONE1, 'DNSKEY')));
    assert.deepEqual(keys[1]!.rrs, keys[0]!.rrs, 'the same DNSKEY on both');
  });

  it('a deleted RRset disappears on both; a change made on 2 to a zone of 1 reaches 1', async (t) => {
    const [i1, i2] = insts as [PdnsInstance, PdnsInstance];
    await pdnsutil(i1, 'delete-rrset', ZONE1, 'mail', 'A');
    await pdnsutil(i2, 'replace-rrset', ZONE1, 'www', 'A', '3600', '192.0.2.11');
    const ms = await served('the delete and the change on both', [i1, i2], finalProbes, logs);
    t.diagnostic(`served by both ${ms} ms after the change (at ${elapsed()})`);
  });

  /** TSIG key, metadata, zones and DNSSEC keys as the API shows them. */
  async function checkApi(inst: PdnsInstance): Promise<void> {
    await checkApiState(inst, tsigSecret, ZONE1, ZONE2);
  }

  it('the TSIG key and the metadata are visible through both APIs', async () => {
    let last: unknown;
    await waitFor('TSIG key and metadata through the APIs', SYNC_TIMEOUT_MS, () => Promise.all(insts.slice(0, 2).map(checkApi))
      .then(() => true, (err: unknown) => { last = err; return false; }), () => String(last));
    const dnskeys = await Promise.all(insts.slice(0, 2).map((i) => pdnsApi<Array<{ dnskey: string }>>(i, `/zones/${ZONE1}./cryptokeys`)));
    assert.deepEqual(dnskeys[1]!.map((k) => k.dnskey), dnskeys[0]!.map((k) => k.dnskey));
  });

  it('a third pdns started later catches up with `lightningstream receive`', async (t) => {
    const i3 = insts[2]!;
    const started = Date.now();
    await startPdns(t, i3);
    const lsMs = await startLs(i3, 'receive');
    const ms = await served('everything on instance 3', [i3], finalProbes, logs);
    await checkApi(i3);
    t.diagnostic(`pdns 3 + receive ready in ${lsMs} ms, served everything ${ms} ms later, ${Date.now() - started} ms in all (at ${elapsed()})`);
    const storage = await createStorage('s3', s3Options(s3!, bucket));
    try {
      const names = (await storage.list('')).map((o) => o.name);
      assert.ok(names.some((n) => n.includes('__pdns1__')) && names.some((n) => n.includes('__pdns2__')), names.join('\n'));
      assert.deepEqual(names.filter((n) => n.includes('__pdns3__')), [], 'receive writes no snapshot');
    } finally {
      await storage.close();
    }
  });

  it('drop-shadow on instance 3 while its pdns answers: shadow DBIs gone, DNS data intact', async (t) => {
    const i3 = insts[2]!;
    assert.equal(await i3.ls!.stop(), 0, i3.ls!.log());
    i3.ls = undefined;
    const r = await runLightningstream(work, 'drop-shadow3', ['-c', i3.config, 'drop-shadow', '--force'], 30_000);
    assert.equal(r.code, 0, r.log);
    for (const line of r.log.split('\n').filter((l) => l.includes('Sync DBIs dropped'))) t.diagnostic(line);
    for (const file of [i3.lmdb, `${i3.lmdb}-0`]) {
      const stat = await execOk('mdb_stat', ['-a', '-n', file]);
      const dbis = [...stat.matchAll(/^Status of (.+)$/gm)].map((m) => m[1]!);
      assert.deepEqual(dbis.filter((n) => n.startsWith('_sync')), [], `${file}: ${dbis.join(', ')}`);
      assert.ok(dbis.includes(file.endsWith('-0') ? 'records' : 'domains'), dbis.join(', '));
    }
    assert.deepEqual(await problems(i3, finalProbes), []);
    await checkApi(i3);
  });

  it('the query loop against instance 2 never saw a SERVFAIL; the syncs of 1 and 2 logged no error', async (t) => {
    // On a slow machine the loop may not have reached its count yet: let it ask on (instance 2 still syncs).
    await waitFor('100 answers from the query loop', 30_000, () => loop!.answered >= 100, () => loop!.summary());
    await loop!.stop();
    t.diagnostic(`instance 2 query loop: ${loop!.summary()}`);
    for (const change of loop!.transitions) t.diagnostic(change);
    assert.deepEqual(loop!.servfails, [], `SERVFAILs: ${loop!.summary()}\n${logs()}`);
    assert.deepEqual(loop!.regressions, [], 'a name that was answered stays answered');
    assert.ok(loop!.timeouts <= Math.max(2, loop!.answered / 50), `pdns 2 stopped answering: ${loop!.summary()}`);
    for (const i of insts.slice(0, 2)) {
      assert.equal(i.ls!.child.exitCode, null, `lightningstream ${i.n} still runs`);
      assert.doesNotMatch(i.ls!.log(), /level=(error|fatal)/, `no error in lightningstream ${i.n}'s log`);
    }
  });
});
