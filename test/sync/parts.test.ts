// The named parts of the syncer, each alone, on a time the test moves (they take "now" from their caller):
// the send scheduler's rate, backoff and delta-chain policy, the start-up gate, the load-error policy and the
// progress. The whole engine over them is tested in engine.test.ts, deltas.test.ts and the chaos suite.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotFormatError } from '../../src/snapshot/errors.js';
import { NotFoundError } from '../../src/storage/storage.js';
import { parseListedObject } from '../../src/storage/snapshot-store.js';
import type { RemoteSnapshot } from '../../src/sync/receive/chain-plan.js';
import { defaultFullOnlyPeerTimeoutMs, presentFullOnlyPeers } from '../../src/sync/receive/full-only-peers.js';
import { LoadErrorPolicy } from '../../src/sync/merge/load-errors.js';
import { IncompatibleSnapshotError } from '../../src/sync/mode.js';
import { SyncProgress } from '../../src/sync/progress.js';
import { MAX_BACKOFF_MS } from '../../src/sync/retry.js';
import { MIN_DELTA_BUDGET_BYTES, SendScheduler } from '../../src/sync/send/send-scheduler.js';
import type { StoredSnapshot } from '../../src/sync/send/sender.js';
import { RESUME_CHECK_MAX_MS, StartupGate } from '../../src/sync/startup-gate.js';
import { buildSnapshotName } from '../../src/snapshot/name.js';
import { testLogger } from '../ops/helpers.js';

const T0 = Date.UTC(2026, 11, 3, 12);
const DELTAS = { enabled: true, fullInterval: 600_000, maxChainRatio: 0.25, maxChainLength: 3, fullListInterval: 60_000, fullOnlyPeerTimeout: 0, assumeFullOnlyPeers: false };

let storedSeq = 0;
function stored(kind: 'full' | 'delta', bytes: number, txnId: number): StoredSnapshot {
  storedSeq++;
  return { name: `s${storedSeq}`, kind, timestampNano: BigInt(T0 + storedSeq) * 1_000_000n, txnId, entries: 1, bytes, ms: 1 };
}

describe('send scheduler', () => {
  it('stores only when something is unstored or overdue, at most one per interval on average (a burst of two)', () => {
    const s = new SendScheduler({ lmdbPollMs: 1000, forceSnapshotMs: 0, retryIntervalMs: 5000 }, T0);
    assert.equal(s.due(T0, false), false, 'nothing to store');
    assert.equal(s.due(T0, true), true);
    s.begin(T0);
    s.begin(T0);
    assert.equal(s.due(T0 + 10, true), false, 'two stores used the burst');
    assert.equal(s.due(T0 + 10, true, { skipRate: true }), true, '--only-once at the end of its start-up skips the rate');
    assert.equal(s.due(T0 + 1000, true), true, 'refilled after one interval');
  });

  it('a forced interval makes a store overdue with nothing unstored', () => {
    const s = new SendScheduler({ lmdbPollMs: 1000, forceSnapshotMs: 60_000, retryIntervalMs: 5000 }, T0);
    assert.equal(s.due(T0 + 60_000, false), false);
    assert.equal(s.due(T0 + 60_001, false), true);
    s.stored(stored('full', 10_000, 1), T0 + 60_001);
    assert.equal(s.due(T0 + 61_000, false), false, 'the interval counts from the last store');
  });

  it('pauses after failures, doubling up to the maximum, and resumes at once after a success', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 5000 }, T0);
    const delays: number[] = [];
    let now = T0;
    for (let i = 0; i < 10; i++) {
      const { delayMs, failures } = s.failed(now);
      assert.equal(failures, i + 1);
      delays.push(delayMs);
      assert.equal(s.due(now + delayMs - 1, true), false, `no attempt during pause ${i + 1}`);
      now += delayMs;
      assert.equal(s.due(now, true), true);
    }
    assert.deepEqual(delays.slice(0, 4), [5000, 10_000, 20_000, 40_000]);
    assert.equal(Math.max(...delays), MAX_BACKOFF_MS);
    s.stored(stored('full', 1, 1), now);
    assert.equal(s.failed(now).failures, 1, 'a success resets the count');
  });

  it('delta chain: a full snapshot first, then deltas after the last stored object, until the length, size or time limit', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    assert.deepEqual(s.begin(T0), { kind: 'full' }, 'the first snapshot of a process is full');
    const full = stored('full', 100_000, 10);
    s.stored(full, T0);
    let prev = full;
    for (let i = 0; i < DELTAS.maxChainLength; i++) {
      const plan = s.begin(T0 + i + 1);
      assert.ok(plan.kind === 'delta', `store ${i + 1} after the full one is a delta`);
      assert.equal(plan.start.previousNano, prev.timestampNano, 'a delta follows the object stored last');
      assert.equal(plan.start.sinceTxnId, prev.txnId);
      assert.equal(plan.start.maxBytes, DELTAS.maxChainRatio * 100_000 - i * 1000, 'the budget shrinks by what the chain holds');
      prev = stored('delta', 1000, 11 + i);
      assert.equal(s.stored(prev, T0 + i + 1), (i + 1) * 1000, 'the chain bytes are reported');
    }
    assert.deepEqual(s.begin(T0 + 10), { kind: 'full' }, 'max_chain_length reached');

    const t = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    t.stored(stored('full', 100_000, 1), T0);
    assert.equal(t.begin(T0 + DELTAS.fullInterval - 1).kind, 'delta');
    assert.deepEqual(t.begin(T0 + DELTAS.fullInterval), { kind: 'full' }, 'full_interval reached');

    const u = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    u.stored(stored('full', (MIN_DELTA_BUDGET_BYTES - 1) / DELTAS.maxChainRatio, 1), T0);
    assert.deepEqual(u.begin(T0 + 1), { kind: 'full' }, 'a budget below the minimum is not worth a chain');
  });

  it('with deltas, the forced interval stores a full snapshot (an idle instance stays visibly alive)', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 4 * 3600_000, retryIntervalMs: 1, deltas: DELTAS }, T0);
    s.stored(stored('full', 100_000, 1), T0);
    assert.equal(s.due(T0 + 4 * 3600_000, false), false);
    assert.equal(s.due(T0 + 4 * 3600_000 + 1, false), true, 'nothing changed, the forced interval passed');
    assert.deepEqual(s.begin(T0 + 4 * 3600_000 + 1), { kind: 'full' }, 'a full snapshot, not an empty delta');
  });

  it('a chain with deltas is overdue at full_interval even with nothing unstored; one without deltas is not', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    s.stored(stored('full', 100_000, 1), T0);
    assert.equal(s.due(T0 + DELTAS.fullInterval, false), false, 'only a full snapshot: nothing to heal');
    s.stored(stored('delta', 100, 2), T0 + 1);
    assert.equal(s.due(T0 + DELTAS.fullInterval - 1, false), false);
    assert.equal(s.due(T0 + DELTAS.fullInterval, false), true);
  });

  it('untrusted txn ids switch to full snapshots for good (reported once); deltas off never plans one', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    s.stored(stored('full', 100_000, 1), T0);
    assert.equal(s.refuseDeltas(), true);
    assert.equal(s.refuseDeltas(), false);
    assert.deepEqual(s.begin(T0 + 1), { kind: 'full' });
    const off = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: { ...DELTAS, enabled: false } }, T0);
    off.stored(stored('full', 100_000, 1), T0);
    assert.deepEqual(off.begin(T0 + 1), { kind: 'full' });
  });
});

describe('peers that take only full snapshots', () => {
  it('with such peers present, every store writes a full snapshot beside its delta, even an empty one to catch them up', () => {
    const s = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    assert.deepEqual(s.begin(T0, true), { kind: 'full' }, 'the first snapshot is full anyway');
    const full = stored('full', 100_000, 1);
    s.stored(full, T0);
    const plan = s.begin(T0 + 1, true);
    assert.ok(plan.kind === 'delta' && plan.alsoFull && !plan.owed, 'a delta for the peers that take deltas, a full snapshot beside it');
    assert.equal(plan.start.previousNano, full.timestampNano);
    const d = stored('delta', 500, 2);
    s.stored(d, T0 + 1);
    s.stored({ ...stored('full', 100_000, 2), timestampNano: d.timestampNano }, T0 + 1);
    const next = s.begin(T0 + 2, true);
    assert.ok(next.kind === 'delta' && next.alsoFull);
    assert.equal(next.start.previousNano, d.timestampNano, 'the next delta follows the pair (one timestamp)');
    assert.equal(next.start.maxBytes, DELTAS.maxChainRatio * 100_000, 'the full snapshot beside the delta starts the chain anew');

    const caughtUp = new SendScheduler({ lmdbPollMs: 1, forceSnapshotMs: 0, retryIntervalMs: 1, deltas: DELTAS }, T0);
    caughtUp.stored(stored('full', 100_000, 1), T0);
    caughtUp.stored(stored('delta', 500, 2), T0 + 1);
    assert.equal(caughtUp.due(T0 + 2, false), false, 'without such peers: nothing to store');
    assert.equal(caughtUp.due(T0 + 2, false, { fullReaders: true }), true, 'a peer just seen is owed the deltas since the full snapshot');
    const pair = caughtUp.begin(T0 + 2, true);
    assert.ok(pair.kind === 'delta' && pair.alsoFull && pair.owed, 'the pair is stored even with nothing new: the full snapshot is owed');
    caughtUp.stored(stored('full', 100_000, 2), T0 + 2);
    assert.equal(caughtUp.due(T0 + 3, false, { fullReaders: true }), false, 'caught up');
  });

  it('a peer counts as present while its newest full snapshot is younger than the timeout (1.5 x the forced interval)', () => {
    assert.equal(defaultFullOnlyPeerTimeoutMs(4 * 3600_000), 6 * 3600_000);
    assert.equal(defaultFullOnlyPeerTimeoutMs(0), 6 * 3600_000, 'forced snapshots off: 6 h');
    const now = BigInt(T0) * 1_000_000n;
    const peers = new Map([['go', now - 10_000_000_000n], ['gone', now - 7n * 3600n * 1_000_000_000n], ['b', now]]);
    assert.deepEqual(presentFullOnlyPeers(peers, now, 6 * 3600_000), ['b', 'go']);
    assert.deepEqual(presentFullOnlyPeers(peers, now, 5_000), ['b']);
    assert.deepEqual(presentFullOnlyPeers(new Map(), now, 5_000), []);
  });
});

describe('start-up gate', () => {
  it('own snapshot first: stores and peers wait until it is merged; a proven restart stores nothing', () => {
    const progress = new SyncProgress();
    const gate = new StartupGate('me', false, progress, testLogger());
    assert.equal(gate.begin(['me', 'peer'], true, T0), true, 'own-first');
    assert.equal(gate.onlyInstance, 'me');
    assert.match(gate.holdsStores() ?? '', /own older snapshot/);
    const own = gate.roleOf('me', true, 'full');
    assert.equal(own.ownStartup, true);
    assert.equal(own.coverage?.role, 'collect');
    assert.equal(gate.roleOf('me', false, 'delta').coverage?.role, 'cover', 'own deltas after the full one cover keys');
    gate.merged(own, 5, 6);
    assert.equal(gate.finished('me', true, () => 6), true, 'the own instance ends the own-first phase');
    assert.equal(gate.onlyInstance, undefined);
    assert.match(gate.holdsStores() ?? '', /deciding afterwards/, 'the proof is still being built');
    const peer = gate.roleOf('peer', true, 'full');
    assert.equal(peer.coverage?.role, 'cover');
    gate.merged(peer, 6, 7);
    assert.equal(gate.finished('peer', true, () => 7), false);
    assert.equal(gate.done, true);
    assert.equal(gate.holdsStores(), undefined);
    assert.equal(progress.syncedTxnId, 7, 'every local entry was held by a loaded snapshot: nothing to store');
    assert.equal(gate.finished('peer', true, () => 7), false, 'finishing twice changes nothing');
  });

  it('an application commit during start-up, a corrupt own snapshot or a slow start-up means: store', () => {
    const wrote = new StartupGate('me', false, new SyncProgress(), testLogger());
    wrote.begin(['me', 'peer'], true, T0);
    wrote.merged(wrote.roleOf('me', true, 'full'), 5, 6);
    wrote.finished('me', true, () => 6);
    wrote.merged(wrote.roleOf('peer', true, 'full'), 8, 9); // base 8, expected 6: the application committed
    assert.equal(wrote.holdsStores(), undefined, 'the proof was abandoned');

    const progress = new SyncProgress();
    const corrupt = new StartupGate('me', false, progress, testLogger());
    corrupt.begin(['me'], true, T0);
    corrupt.ownCorrupt();
    corrupt.finished('me', false, () => 3);
    assert.equal(progress.syncedTxnId, 0);

    const slow = new StartupGate('me', false, new SyncProgress(), testLogger());
    slow.begin(['me', 'peer'], true, T0);
    slow.finished('me', true, () => 0);
    slow.tick(T0 + RESUME_CHECK_MAX_MS);
    assert.ok(slow.holdsStores());
    slow.tick(T0 + RESUME_CHECK_MAX_MS + 1);
    assert.equal(slow.holdsStores(), undefined, 'the proof takes too long: a snapshot is stored instead');
  });

  it('no own snapshot, an empty LMDB or receive: no proof, peers at once', () => {
    const gate = new StartupGate('me', false, new SyncProgress(), testLogger());
    assert.equal(gate.begin(['peer'], true, T0), false);
    assert.equal(gate.holdsStores(), undefined);
    assert.equal(gate.roleOf('peer', true, 'full').coverage, undefined);
    assert.equal(gate.done, false);
    const receive = new StartupGate('me', true, new SyncProgress(), testLogger());
    assert.equal(receive.begin(['me'], true, T0), true);
    assert.equal(receive.roleOf('me', true, 'full').coverage, undefined, 'receive never stores: nothing to prove');
  });
});

describe('load-error policy', () => {
  const snap = (instance: string): RemoteSnapshot =>
    parseListedObject({ name: buildSnapshotName({ db: 'main', instance, timestamp: 1n }), size: 1, lastModified: new Date() }, 'main') as RemoteSnapshot;

  it('gone, corrupt and incompatible snapshots; local failures back off per instance and reset on success', () => {
    const p = new LoadErrorPolicy(1000, false, testLogger());
    assert.deepEqual(p.classify(new NotFoundError('x'), snap('a')), { failure: { kind: 'gone' } });
    assert.deepEqual(p.classify(new SnapshotFormatError('x', 'bad'), snap('a')), { failure: { kind: 'corrupt' } });
    assert.deepEqual(p.classify(new IncompatibleSnapshotError('newer format'), snap('a')), { failure: { kind: 'corrupt' } });
    const delays = [1, 2, 3].map(() => p.classify(new Error('MDB_MAP_FULL'), snap('a')).failure);
    assert.deepEqual(delays, [1000, 2000, 4000].map((delayMs) => ({ kind: 'retry', delayMs })));
    assert.deepEqual(p.classify(new Error('disk'), snap('b')).failure, { kind: 'retry', delayMs: 1000 }, 'per instance');
    p.succeeded('a');
    assert.deepEqual(p.classify(new Error('again'), snap('a')).failure, { kind: 'retry', delayMs: 1000 });
  });

  it('--only-once: a local failure ends the run', () => {
    const p = new LoadErrorPolicy(1000, true, testLogger());
    const { fatal } = p.classify(new Error('disk full'), snap('a'));
    assert.match(fatal?.message ?? '', /^loading snapshot main__a__.* failed: disk full$/);
    assert.equal(p.classify(new NotFoundError('x'), snap('a')).fatal, undefined, 'a gone snapshot is not fatal');
  });
});

describe('sync progress', () => {
  it('a merge on top of unstored local changes does not mark them stored; one on a stored state does', () => {
    const p = new SyncProgress();
    p.stored(10);
    assert.equal(p.unstored(10), false);
    assert.equal(p.unstored(11), true);
    assert.equal(p.merged(12, 13), true, 'txn 11-12 were the application\'s');
    assert.equal(p.syncedTxnId, 10);
    p.stored(13);
    assert.equal(p.merged(13, 14), false);
    assert.equal(p.syncedTxnId, 14, 'peers hold what the merge wrote');
    p.nothingChanged(20);
    assert.equal(p.unstored(20), false);
  });
});
