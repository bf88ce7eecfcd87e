// The receiver's listing (src/sync/receive/listing.ts; README "Delta snapshots", "Listing"): while every peer
// announces its full snapshots in the journal, polls list only the journal entries newer than those seen;
// what a poll knows must still be, for every instance, what a full listing of the storage at that moment
// gives. Checked by a seeded simulation (writers with and without the journal, uploads that take time,
// a cleaner deleting behind them) against a chain resolver written here, independently of src/.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDeltaName, buildJournalRefName, buildSnapshotName } from '../../src/snapshot/name.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { ObjectInfo } from '../../src/storage/storage.js';
import { SnapshotStore } from '../../src/storage/snapshot-store.js';
import { DbListing, JOURNAL_LIST_LAG_MS } from '../../src/sync/receive/listing.js';
import type { Clock } from '../../src/util/clock.js';
import { rng } from '../snapshot/helpers.js';

const DB = 'main';
const T0_MS = 1_764_000_000_000; // 2025-11-24
const ns = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;

/** A storage that counts listings and the objects their answers hold. */
class CountingStorage extends MemoryStorage {
  lists = 0;
  listsAfter = 0;
  listedObjects = 0;
  override async list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    const out = await super.list(prefix, signal);
    this.lists++;
    this.listedObjects += out.length;
    return out;
  }
  async listAfter(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    const out = (await super.list(prefix, signal)).filter((o) => o.name > startAfter);
    this.listsAfter++;
    this.listedObjects += out.length;
    return out;
  }
}

// ---------- the oracle: which objects make up each instance's newest state, from names alone ----------

interface Parsed { instance: string; ts: string; kind: 'full' | 'delta'; prev?: string }

/** Reads our names with a regular expression of its own (not src/snapshot/name.ts). */
function parse(name: string): Parsed | undefined {
  let m = /^main__([a-z0-9]+)__(\d{8}-\d{6}-\d{9})__G-0{16}\.pb\.gz$/.exec(name);
  if (m) return { instance: m[1]!, ts: m[2]!, kind: 'full' };
  m = /^_journal__main__(\d{8}-\d{6}-\d{9})__([a-z0-9]+)__G-0{16}__P(\d{8}-\d{6}-\d{9})\.dpb\.gz$/.exec(name);
  if (m) return { instance: m[2]!, ts: m[1]!, kind: 'delta', prev: m[3]! };
  return undefined;
}

/** Per instance: its newest full snapshot, then the deltas chained after it (of two after one object, the newer). */
function oracleChains(names: Iterable<string>): Map<string, string[]> {
  const byInstance = new Map<string, Parsed[]>();
  const nameOf = new Map<Parsed, string>();
  for (const n of names) {
    const p = parse(n);
    if (!p) continue;
    nameOf.set(p, n);
    byInstance.set(p.instance, [...(byInstance.get(p.instance) ?? []), p]);
  }
  const out = new Map<string, string[]>();
  for (const [instance, list] of byInstance) {
    const fulls = list.filter((p) => p.kind === 'full').sort((a, b) => (a.ts < b.ts ? -1 : 1));
    const start = fulls.at(-1);
    if (!start) continue;
    const chain = [nameOf.get(start)!];
    for (let cur = start; ;) {
      const next = list.filter((p) => p.kind === 'delta' && p.prev === cur.ts).sort((a, b) => (a.ts < b.ts ? -1 : 1)).at(-1);
      if (!next) break;
      chain.push(nameOf.get(next)!);
      cur = next;
    }
    out.set(instance, chain);
  }
  return out;
}

// ---------- the simulation ----------

interface Pending { at: number; name: string; body: Buffer }

interface Writer {
  instance: string;
  journals: boolean;
  /** Timestamp text of the object its next delta follows (undefined before its first full snapshot). */
  last?: string;
  lastNs?: bigint;
  /** A writer stores one object at a time: not before its last upload finished. */
  busyUntil: number;
}

function tsText(name: string): string {
  return parse(name)!.ts;
}

interface SimOptions {
  seed: number;
  writers: Array<{ instance: string; journals: boolean; joinsAtMs?: number }>;
  steps: number;
  /** Upload time of an object (ms): from its name's timestamp until it is visible. */
  maxDelayMs: number;
  /** Chance that an upload takes 1-3 s instead (past the listing lag). */
  slowChance?: number;
  fullListIntervalMs?: number;
  /** Check at every poll (default), or poll without checking and check only the end states. */
  checkEveryPoll?: boolean;
  /** Writers announce a delta again when its upload took past the lag, as src/sync/send/sender.ts does. */
  announceLate?: boolean;
  /** Before the end checks each journaling writer writes once more (default), so a missed entry shows as a gap. */
  finalWrites?: boolean;
}

async function simulate(o: SimOptions) {
  const r = rng(o.seed);
  let now = T0_MS;
  const clock: Clock = { now: () => now, nowNano: () => ns(now), setTimer: () => () => undefined };
  const storage = new CountingStorage();
  const listing = new DbListing({
    store: new SnapshotStore(storage), db: DB, ownInstance: 'me', ownJournals: true, fullListIntervalMs: o.fullListIntervalMs ?? 60_000, clock,
  });
  const writers: Writer[] = o.writers.map((w) => ({ instance: w.instance, journals: w.journals, busyUntil: 0 }));
  const joinsAt = new Map(o.writers.map((w) => [w.instance, w.joinsAtMs ?? 0]));
  const pending: Pending[] = [];
  const delay = () => (o.slowChance && r() < o.slowChance ? 1000 + r() * 2000 : r() * o.maxDelayMs);
  const publish = async () => {
    pending.sort((a, b) => a.at - b.at);
    while (pending.length > 0 && pending[0]!.at <= now) {
      const p = pending.shift()!;
      await storage.store(p.name, p.body);
    }
  };
  const write = (w: Writer, full: boolean) => {
    const at = now + 0.001 * Math.floor(r() * 1000); // sub-ms spread: distinct timestamps
    const timestamp = ns(at);
    const up = delay();
    if (full || w.last === undefined || !w.journals) {
      const name = buildSnapshotName({ db: DB, instance: w.instance, timestamp });
      pending.push({ at: at + up, name, body: Buffer.from('full') });
      w.busyUntil = at + up;
      if (w.journals) {
        const refUp = r() * o.maxDelayMs;
        pending.push({ at: at + up + refUp, name: buildJournalRefName(name, 4, ns(at + up)), body: Buffer.alloc(0) });
        w.busyUntil += refUp;
      }
      w.last = tsText(name);
    } else {
      const name = buildDeltaName({ db: DB, instance: w.instance, timestamp, previous: w.lastNs! });
      pending.push({ at: at + up, name, body: Buffer.from('delta') });
      w.busyUntil = at + up;
      if (o.announceLate && up > JOURNAL_LIST_LAG_MS * 0.8) {
        const refUp = r() * o.maxDelayMs;
        pending.push({ at: at + up + refUp, name: buildJournalRefName(name, 5, ns(at + up)), body: Buffer.alloc(0) });
        w.busyUntil += refUp;
      }
      w.last = tsText(name);
    }
    w.lastNs = timestamp;
  };
  /** As the cleaner does: what is older than an instance's newest full snapshot goes, once that one is 10 s old. */
  const clean = async () => {
    const settled = tsText(buildSnapshotName({ db: DB, instance: 'x', timestamp: ns(now - 10_000) }));
    const all = await storage.list('');
    storage.lists--; // not the listing's
    storage.listedObjects -= all.length;
    const chains = oracleChains(all.map((x) => x.name));
    for (const x of all) {
      const p = parse(x.name) ?? parseRef(x.name);
      const start = p && chains.get(p.instance)?.[0];
      if (p && start && p.ts < tsText(start) && tsText(start) < settled && r() < 0.5) await storage.delete(x.name);
    }
  };
  /** The names a listing may know: visible objects, a journaling writer's full snapshot once its reference is visible too. */
  const truth = async (withUnreferenced: boolean): Promise<string[]> => {
    const names = (await storage.list('')).map((x) => x.name);
    storage.lists--;
    storage.listedObjects -= names.length;
    const refs = new Set(names.map(parseRef).filter((p) => p !== undefined).map((p) => `${p.instance}/${p.full}`));
    const journaling = new Set(writers.filter((w) => w.journals).map((w) => w.instance));
    return names.filter((n) => {
      const p = parse(n);
      return p && (withUnreferenced || p.kind !== 'full' || !journaling.has(p.instance) || refs.has(`${p.instance}/${p.ts}`));
    });
  };
  const check = async (context: string, legacyToo: boolean) => {
    const view = oracleChains((await listing.refresh()).snapshots.map((x) => x.name));
    const expected = [oracleChains(await truth(false)), oracleChains(await truth(true))];
    for (const w of writers) {
      if (!w.journals && !legacyToo) continue;
      const got = view.get(w.instance);
      const ok = expected.some((e) => JSON.stringify(e.get(w.instance)) === JSON.stringify(got));
      assert.ok(ok, `seed ${o.seed} (LS_TEST_SEED): ${context}: instance ${w.instance} at +${now - T0_MS} ms\n` +
        `  listing: ${JSON.stringify(got)}\n  storage: ${JSON.stringify(expected[1]!.get(w.instance))}`);
    }
  };

  for (let step = 0; step < o.steps; step++) {
    now += 20 + Math.floor(r() * 400);
    for (const w of writers) {
      if (now < T0_MS + joinsAt.get(w.instance)! || now <= w.busyUntil || r() > 0.3) continue;
      write(w, r() < 0.1);
    }
    await publish();
    if (r() < 0.05) await clean();
    // Journaling writers' objects must be known at every poll; legacy writers' only after a full listing.
    if (r() < 0.6) {
      if (o.checkEveryPoll ?? true) await check(`step ${step}`, false);
      else await listing.refresh();
    }
  }
  // Quiet: everything becomes visible; each journaling writer writes once more (a missed entry shows as a gap).
  now += 5000;
  await publish();
  if (o.finalWrites ?? true) for (const w of writers) if (w.journals && w.last !== undefined) write(w, false);
  now += 5000;
  await publish();
  await check('after the last writes', false);
  now += (o.fullListIntervalMs ?? 60_000) + 1;
  await check('after a full listing', true);
  await check('and the poll after it', true);
  return { listing, storage };
}

function parseRef(name: string): { instance: string; ts: string; full: string } | undefined {
  const m = /^_journal__main__(\d{8}-\d{6}-\d{9})__([a-z0-9]+)__G-0{16}__F(\d{8}-\d{6}-\d{9})__S\d+\.ref$/.exec(name);
  return m ? { instance: m[2]!, ts: m[1]!, full: m[3]! } : undefined;
}

/** A listing on a clock the test moves (`now`), and a storage holding one full snapshot of instance a. */
async function oneFullSnapshot(ownJournals: boolean, fullListIntervalMs: number) {
  const t = { now: T0_MS };
  const clock: Clock = { now: () => t.now, nowNano: () => ns(t.now), setTimer: () => () => undefined };
  const storage = new CountingStorage();
  const listing = new DbListing({ store: new SnapshotStore(storage), db: DB, ownInstance: 'me', ownJournals, fullListIntervalMs, clock });
  const full = buildSnapshotName({ db: DB, instance: 'a', timestamp: ns(t.now) });
  await storage.store(full, Buffer.from('x'));
  return Object.assign(t, { storage, listing, full });
}

const seedOf = () => (process.env.LS_TEST_SEED ? Number(process.env.LS_TEST_SEED) : Math.floor(Math.random() * 2 ** 31));

describe('receiver listing: journal-only polls', () => {
  it('every poll knows what a full listing would give, with uploads up to the lag (seeded)', async () => {
    const seed = seedOf();
    for (let round = 0; round < 8; round++) {
      const { listing, storage } = await simulate({
        seed: seed + round, steps: 150, maxDelayMs: JOURNAL_LIST_LAG_MS * 0.8,
        writers: [{ instance: 'a', journals: true }, { instance: 'b', journals: true }, { instance: 'c', journals: true, joinsAtMs: 20_000 }],
      });
      // Nothing went wrong, so nothing was listed twice: a few full listings, the rest after the newest entry seen.
      assert.equal(listing.counts.resyncs, 0, `seed ${seed + round}: resyncs`);
      assert.ok(listing.counts.journalAfter > 10 * listing.counts.fulls, `seed ${seed + round}: ${JSON.stringify(listing.counts)}`);
      assert.ok(storage.listedObjects < 3 * (storage.lists + storage.listsAfter) + 200, `seed ${seed + round}: ${storage.listedObjects} objects listed`);
    }
  });

  it('a writer without the journal (Go, deltas off) makes every poll list the full snapshots (seeded)', async () => {
    const seed = seedOf();
    for (let round = 0; round < 5; round++) {
      const { listing } = await simulate({
        seed: seed + round, steps: 120, maxDelayMs: 100, fullListIntervalMs: 5000,
        writers: [{ instance: 'a', journals: true }, { instance: 'go', journals: false, joinsAtMs: 10_000 }],
      });
      assert.equal(listing.journalOnly, false, `seed ${seed + round}`);
    }
  });

  it('uploads slower than the lag are found through the next entry of their writer (seeded)', async () => {
    const seed = seedOf();
    let resyncs = 0;
    for (let round = 0; round < 8; round++) {
      // Between a slow upload and its writer's next entry a poll may lag behind: only the end states are promised.
      const { listing } = await simulate({
        seed: seed + round, steps: 150, maxDelayMs: 50, slowChance: 0.05, checkEveryPoll: false,
        writers: [{ instance: 'a', journals: true }, { instance: 'b', journals: true }, { instance: 'c', journals: true }],
      });
      resyncs += listing.counts.resyncs;
    }
    assert.ok(resyncs > 0, `seed ${seed}: no slow upload was ever missed, the test did not test anything`);
  });

  it('a delta announced again after a slow upload is found without listing everything (seeded)', async () => {
    const seed = seedOf();
    for (let round = 0; round < 8; round++) {
      const { listing } = await simulate({
        seed: seed + round, steps: 150, maxDelayMs: 50, slowChance: 0.05, checkEveryPoll: false, announceLate: true, finalWrites: false,
        writers: [{ instance: 'a', journals: true }, { instance: 'b', journals: true }, { instance: 'c', journals: true }],
      });
      assert.equal(listing.counts.resyncs, 0, `seed ${seed + round} (LS_TEST_SEED): resyncs`);
    }
  });

  it('lists only the journal after the first poll, and the full snapshots once per interval', async () => {
    const t = await oneFullSnapshot(false, 10_000);
    const { storage, listing, full } = t;
    await listing.refresh();
    assert.deepEqual([storage.lists, storage.listsAfter], [2, 0], 'the first poll lists everything');
    assert.equal(listing.journalOnly, false, 'no journal: a full listing every poll');
    t.now += 1000;
    await listing.refresh();
    assert.deepEqual([storage.lists, storage.listsAfter], [3, 0], 'nobody journals: one LIST per poll, as without deltas');
    await storage.store(buildJournalRefName(full, 1, ns(t.now)), Buffer.alloc(0));
    t.now += 10_000;
    await listing.refresh(); // the periodic full listing (journal too, as it was empty) finds the reference
    assert.equal(listing.journalOnly, true);
    const before = [storage.lists, storage.listsAfter];
    for (let i = 0; i < 5; i++) {
      t.now += 1000;
      await listing.refresh();
    }
    assert.deepEqual([storage.lists, storage.listsAfter], [before[0]!, before[1]! + 5], 'journal-only polls');
    t.now += 10_000;
    await listing.refresh();
    assert.deepEqual([storage.lists, storage.listsAfter], [before[0]! + 1, before[1]! + 6], 'the full snapshots once per interval');
  });

  it('an object that turned out absent makes the next poll list everything', async () => {
    const t = await oneFullSnapshot(true, 60_000);
    const { storage, listing, full } = t;
    const now = T0_MS;
    await storage.store(buildJournalRefName(full, 1, ns(now)), Buffer.alloc(0));
    const d = buildDeltaName({ db: DB, instance: 'a', timestamp: ns(now + 1), previous: ns(now) });
    await storage.store(d, Buffer.from('d'));
    assert.ok((await listing.refresh()).snapshots.some((x) => x.name === d));
    await storage.delete(d);
    t.now += 1000;
    assert.ok((await listing.refresh()).snapshots.some((x) => x.name === d), 'a journal-only poll cannot see a deletion');
    listing.forget(d);
    t.now += 1000;
    const after = await listing.refresh();
    assert.ok(!after.snapshots.some((x) => x.name === d));
    assert.equal(listing.counts.resyncs, 1);
  });

  it('a reference whose full snapshot is gone is not followed again: the instance\'s older full snapshot is its newest', async () => {
    const t = await oneFullSnapshot(true, 60_000);
    const { storage, listing, full } = t;
    const newer = buildSnapshotName({ db: DB, instance: 'a', timestamp: ns(t.now + 5000) });
    await storage.store(buildJournalRefName(newer, 1, ns(t.now + 5000)), Buffer.alloc(0)); // its object deleted, its reference left
    const first = await listing.refresh();
    assert.ok(first.snapshots.some((x) => x.name === newer), 'the reference stands for the newer full snapshot');
    listing.forget(newer); // its download found nothing
    for (let i = 0; i < 3; i++) {
      t.now += 1000;
      const again = await listing.refresh();
      assert.deepEqual(again.snapshots.map((x) => x.name), [full], `poll ${i + 1}: only the full snapshot that exists`);
    }
    assert.equal(listing.counts.resyncs, 1, 'one resync, not one per poll');
    await storage.store(newer, Buffer.from('x')); // listed itself again: followed again
    t.now += 61_000;
    assert.ok((await listing.refresh()).snapshots.some((x) => x.name === newer));
  });
});
