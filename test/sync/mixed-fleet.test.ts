// Mixed fleets (README "Delta snapshots", "Mixed fleets"): two instances of ours with deltas on (the default)
// and a peer that takes only full snapshots, once one of ours with deltas off and once the Go implementation
// (v1.0.0, through LS_REFERENCE_BIN; skipped with a printed line without it). The peer joins late (after a's
// chain holds deltas it never saw), sees each later change as fast as without deltas, and leaves; then a goes
// back to deltas alone. b, which takes deltas, never downloads a full snapshot of a meanwhile.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../ops/helpers.js';
import { NativeApp, startLightningstream, startProcess, waitFor, writeConfig, type RunningProcess } from './helpers.js';

const GO_BIN = process.env.LS_REFERENCE_BIN;
if (!GO_BIN) console.log('# mixed fleet with Go skipped: LS_REFERENCE_BIN is not set (scripts/test.sh sets it when ../shared/reference/ exists)');

const sec = (s: number) => BigInt(s) * 1_000_000_000n;
const NAME_TS = /__(\d{8}-\d{6}-\d{9})__/;

/** Starts the Go binary like startLightningstream starts ours. */
function startGo(dir: string, name: string, args: string[]): RunningProcess {
  return startProcess(dir, name, GO_BIN!, ['--log-format', 'logfmt', ...args]);
}

describe('mixed fleet: a peer that takes only full snapshots', { timeout: 240_000 }, () => {
  const tmp = tempDir('mixed');
  const procs: RunningProcess[] = [];
  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    tmp.remove();
  });

  it('assume_full_only_peers: a full snapshot beside every delta with no such peer in sight', async () => {
    const dir = join(tmp.dir, 'assume');
    mkdirSync(dir, { recursive: true });
    const bucket = join(dir, 'bucket');
    const app = new NativeApp(join(dir, 'a'));
    for (let i = 0; i < 3000; i++) app.put('data', `key-${i}`, `value-${i}`, sec(100));
    const cfg = writeConfig(dir, {
      instance: 'a', lmdbPath: join(dir, 'a'), storage: { type: 'fs', options: { root_path: bucket } },
      extra: 'deltas: { max_chain_ratio: 5, assume_full_only_peers: true }',
    });
    const a = startLightningstream(dir, 'a', ['-c', cfg, 'sync']);
    procs.push(a);
    const deltas = () => readdirSync(bucket).filter((n) => n.endsWith('.dpb.gz'));
    await waitFor('a stores its first snapshot', 20_000, () => a.log().includes('msg="snapshot stored"'), () => a.log());
    for (let round = 1; round <= 2; round++) {
      app.put('data', `key-${round}`, `changed-${round}`, sec(200 + round));
      await waitFor(`delta ${round}`, 20_000, () => deltas().length === round, () => a.log());
      const ts = deltas().sort().at(-1)!.match(NAME_TS)![1]!;
      await waitFor(`the full snapshot beside delta ${round}`, 20_000, () => readdirSync(bucket).some((n) => n === `main__a__${ts}__G-0000000000000000.pb.gz`), () => a.log());
    }
    app.close();
  });

  for (const peer of ['ours with deltas off', 'Go v1.0.0'] as const) {
    const skip = peer === 'Go v1.0.0' && !GO_BIN ? 'LS_REFERENCE_BIN is not set' : false;
    it(`${peer}: joins late, gets every change as a full snapshot, leaves; b takes only deltas`, { skip }, async () => {
      const dir = join(tmp.dir, peer.startsWith('Go') ? 'go' : 'ours');
      mkdirSync(dir, { recursive: true });
      const bucket = join(dir, 'bucket');
      const storage = { type: 'fs', options: { root_path: bucket } };
      const ours = 'deltas: { full_interval: 10m, max_chain_ratio: 5, full_list_interval: 2s, full_only_peer_timeout: 8s }';
      const start = (instance: string, extra: string, go = false): RunningProcess => {
        const cfg = writeConfig(dir, { instance, lmdbPath: join(dir, instance), storage, extra });
        const p = go ? startGo(dir, instance, ['-c', cfg, 'sync']) : startLightningstream(dir, instance, ['-c', cfg, 'sync']);
        procs.push(p);
        return p;
      };
      const objects = () => readdirSync(bucket);
      const fullsOf = (i: string) => objects().filter((n) => n.startsWith(`main__${i}__`) && n.endsWith('.pb.gz'));
      const deltasOf = (i: string) => objects().filter((n) => n.includes(`__${i}__`) && n.endsWith('.dpb.gz'));
      const value = (app: NativeApp, key: string) => app.contents().get(`data/${key}`)?.value;

      const appA = new NativeApp(join(dir, 'a'));
      for (let i = 0; i < 3000; i++) appA.put('data', `key-${i}`, `value-${i}`, sec(100));
      const a = start('a', ours);
      const b = start('b', ours);
      const appB = new NativeApp(join(dir, 'b'));
      const logs = (...ps: RunningProcess[]) => () => ps.map((p) => p.log().split('\n').slice(-25).join('\n')).join('\n---\n');
      await waitFor('b has a\'s data', 30_000, () => value(appB, 'key-2999') === 'value-2999', logs(a, b));

      // a's chain holds a delta the peer never sees in a full snapshot of a: it must be caught up when it shows up.
      appA.put('data', 'before-peer', 'delta-only', sec(200));
      await waitFor('a stores a delta', 10_000, () => deltasOf('a').length > 0, logs(a));
      await waitFor('b takes it', 10_000, () => value(appB, 'before-peer') === 'delta-only', logs(a, b));

      const go = peer.startsWith('Go');
      const c = start('c', go ? '' : 'deltas: { enabled: false }', go);
      const appC = new NativeApp(join(dir, 'c'));
      await waitFor('c has a\'s newest full snapshot', 30_000, () => value(appC, 'key-2999') === 'value-2999', logs(a, c));
      // A peer is seen through its own full snapshots: c writes one after its application does.
      appC.put('data', 'from-c', 'c-value', sec(300));
      await waitFor('a sees a peer that takes only full snapshots', 20_000,
        () => /msg="peers that take only full snapshots are present.*" .*instances=c/.test(a.log()), logs(a, c));
      await waitFor('c is caught up on the delta it never saw', 20_000, () => value(appC, 'before-peer') === 'delta-only', logs(a, c));

      // Steady state: a change on a goes to b as a delta and to c as a full snapshot of the same time.
      const bLoadedBefore = b.log().split('\n').length;
      const startedAt = Date.now();
      appA.put('data', 'key-7', 'changed-with-peer', sec(400));
      await waitFor('the change reaches c', 20_000, () => value(appC, 'key-7') === 'changed-with-peer', logs(a, c));
      const peerMs = Date.now() - startedAt;
      await waitFor('the change reaches b', 20_000, () => value(appB, 'key-7') === 'changed-with-peer', logs(a, b));
      const newestDelta = deltasOf('a').sort((x, y) => (x.match(NAME_TS)![1]! < y.match(NAME_TS)![1]! ? -1 : 1)).at(-1)!;
      const pairTs = newestDelta.match(NAME_TS)![1]!;
      assert.ok(fullsOf('a').some((n) => n.includes(`__${pairTs}__`)), `no full snapshot of a beside delta ${newestDelta}: ${fullsOf('a').join(' ')}`);
      // (b may have had the change first through a snapshot of c; it still follows a's chain.)
      await waitFor('b merges a\'s delta', 20_000, () => b.log().includes(`snapshot=${newestDelta}`), logs(a, b));
      const bLoads = b.log().split('\n').slice(bLoadedBefore).filter((l) => l.includes('msg="snapshot loaded"') && l.includes('snapshot_instance=a'));
      assert.ok(bLoads.every((l) => /snapshot=\S+\.dpb\.gz/.test(l)), `b loaded a full snapshot of a:\n${bLoads.join('\n')}`);
      console.log(`# ${peer}: a change on a reached c in ${peerMs} ms`);

      // The peer leaves: after full_only_peer_timeout a stores deltas alone again.
      await c.stop('SIGTERM');
      await waitFor('a notices the peer is gone', 30_000, () => a.log().includes('msg="no peer takes only full snapshots any more'), logs(a));
      const fullsBefore = fullsOf('a').length;
      const deltasBefore = deltasOf('a').length;
      appA.put('data', 'key-8', 'after-peer-left', sec(500));
      await waitFor('b gets the change', 20_000, () => value(appB, 'key-8') === 'after-peer-left', logs(a, b));
      assert.ok(deltasOf('a').length > deltasBefore, 'a stored no delta');
      assert.equal(fullsOf('a').length, fullsBefore, 'a stored a full snapshot with no peer that needs one');
      for (const x of [appA, appB, appC]) x.close();
    });
  }
});
