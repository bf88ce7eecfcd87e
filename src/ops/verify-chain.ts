/**
 * An instance's newest state as one entry stream: its newest full snapshot with the deltas chained after
 * it, decoded side by side and merged per key (the entry the merge rule ranks highest wins, as merging
 * the chain object by object would leave it). Memory: one decoder per object of the chain and one
 * output batch, whatever the sizes; a chain of one object is passed through without copying.
 *
 * The merge walks the DBIs of all objects in ascending name order, which is the order every writer uses
 * (LMDB lists DBIs sorted); an object of a longer chain whose DBIs are not in that order is refused.
 */
import type { KeyComparator } from '../lmdb/key-order.js';
import type { EntryBatch } from '../snapshot/batch.js';
import { FLAG_DELETED } from '../snapshot/batch.js';
import { SnapshotFormatError } from '../snapshot/errors.js';
import type { SnapshotEvent } from '../snapshot/types.js';
import { mergeOrder } from '../sync/merge/merge-rule.js';

/** What a comparison needs from a snapshot (or chain) stream; the decoder's events of these kinds fit. */
export type ChainEvent =
  | { type: 'dbi-start'; name: string; flags?: number }
  | { type: 'entries'; dbi: string; batch: EntryBatch }
  | { type: 'dbi-end'; name: string; flags: number };

/** Picks the key order of a DBI: the local DBI's when it exists, else the snapshot's flags (when known). */
export type ComparatorFor = (dbiName: string, snapshotFlags: number | undefined) => KeyComparator;

/** A decoded snapshot (events of decodeSnapshot) and its name, in chain order: the full snapshot first. */
export interface ChainObject {
  name: string;
  events: AsyncIterable<SnapshotEvent>;
}

/** The entry stream of a chain (see the module comment). Reads every object to its end, so each is validated. */
export function chainEvents(objects: ChainObject[], comparatorFor: ComparatorFor): AsyncIterable<ChainEvent> {
  if (objects.length === 1) return passThrough(objects[0]!.events);
  return mergeChain(objects.map((o) => new ChainInput(o)), comparatorFor);
}

async function* passThrough(events: AsyncIterable<SnapshotEvent>): AsyncGenerator<ChainEvent> {
  for await (const ev of events) {
    if (ev.type === 'dbi-start' || ev.type === 'entries' || ev.type === 'dbi-end') yield ev;
  }
}

/** One object of the chain, read DBI by DBI and entry by entry. */
class ChainInput {
  dbi: string | undefined;
  flags: number | undefined;
  finalFlags = 0;
  batch: EntryBatch | undefined;
  index = 0;
  private dbiEnded = false;
  private previousDbi: Buffer | undefined;
  private readonly it: AsyncIterator<SnapshotEvent>;

  constructor(private readonly object: ChainObject) {
    this.it = object.events[Symbol.asyncIterator]();
  }

  /** Moves to the start of the next DBI; dbi is undefined once the object ended. */
  async nextDbi(): Promise<void> {
    this.batch = undefined;
    this.dbiEnded = false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.dbi = undefined;
        return;
      }
      if (r.value.type !== 'dbi-start') continue;
      const name = Buffer.from(r.value.name);
      if (this.previousDbi && Buffer.compare(this.previousDbi, name) >= 0) {
        throw new SnapshotFormatError(this.object.name, `DBI ${JSON.stringify(r.value.name)} is out of name order: ` +
          'the objects of a delta chain cannot be compared side by side');
      }
      this.previousDbi = name;
      this.dbi = r.value.name;
      this.flags = r.value.flags;
      return;
    }
  }

  /** Makes an entry of the current DBI current; false at the DBI's end. */
  async entry(): Promise<boolean> {
    while (!this.batch || this.index >= this.batch.count) {
      if (this.dbiEnded) return false;
      const r = await this.it.next();
      if (r.done) throw new SnapshotFormatError(this.object.name, 'stream ended inside a DBI');
      const ev = r.value;
      if (ev.type === 'entries') {
        this.batch = ev.batch;
        this.index = 0;
      } else if (ev.type === 'dbi-end') {
        this.dbiEnded = true;
        this.finalFlags = ev.flags;
        this.batch = undefined;
      }
    }
    return true;
  }
}

async function* mergeChain(inputs: ChainInput[], comparatorFor: ComparatorFor): AsyncGenerator<ChainEvent> {
  for (const input of inputs) await input.nextDbi();
  const out = new BatchBuilder();
  for (;;) {
    const active = inputs.filter((i) => i.dbi !== undefined);
    if (active.length === 0) return;
    const name = active.map((i) => i.dbi!).reduce((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b)) <= 0 ? a : b));
    const group = active.filter((i) => i.dbi === name);
    const flags = group.find((i) => i.flags !== undefined)?.flags;
    const compare = comparatorFor(name, flags);
    yield { type: 'dbi-start', name, flags };
    const live: ChainInput[] = [];
    for (const input of group) if (await input.entry()) live.push(input);
    while (live.length > 0) {
      const same = inputsAtSmallestKey(live, compare);
      const winner = same.reduce((best, i) => (outranks(i, best) ? i : best));
      if (!out.add(winner.batch!, winner.index)) {
        yield { type: 'entries', dbi: name, batch: out.batch };
        out.reset();
        out.add(winner.batch!, winner.index);
      }
      for (const input of same) {
        input.index++;
        if (!(await input.entry())) live.splice(live.indexOf(input), 1);
      }
    }
    if (out.batch.count > 0) {
      yield { type: 'entries', dbi: name, batch: out.batch };
      out.reset();
    }
    yield { type: 'dbi-end', name, flags: group[0]!.finalFlags };
    for (const input of group) await input.nextDbi();
  }
}

function inputsAtSmallestKey(live: ChainInput[], compare: KeyComparator): ChainInput[] {
  let same = [live[0]!];
  for (const input of live.slice(1)) {
    const min = same[0]!;
    const c = compare(input.batch!.buf, input.batch!.keyOff[input.index]!, input.batch!.keyLen[input.index]!,
      min.batch!.buf, min.batch!.keyOff[min.index]!, min.batch!.keyLen[min.index]!);
    if (c < 0) same = [input];
    else if (c === 0) same.push(input);
  }
  return same;
}

/** Whether a's current entry wins the merge rule over b's (same key). */
function outranks(a: ChainInput, b: ChainInput): boolean {
  const x = a.batch!;
  const y = b.batch!;
  const i = a.index;
  const j = b.index;
  return mergeOrder(x.tsHi[i]!, x.tsLo[i]!, (x.flags[i]! & FLAG_DELETED) !== 0, x.buf, x.valOff[i]!, x.valLen[i]!,
    y.tsHi[j]!, y.tsLo[j]!, (y.flags[j]! & FLAG_DELETED) !== 0, y.buf, y.valOff[j]!, y.valLen[j]!) > 0;
}

const OUT_ENTRIES = 1024;
const OUT_BYTES = 256 << 10;

/** Copies of entries from batches whose buffers do not outlive the next event, collected into one batch. */
class BatchBuilder {
  readonly batch: EntryBatch = {
    count: 0, buf: Buffer.allocUnsafe(OUT_BYTES),
    keyOff: new Uint32Array(OUT_ENTRIES), keyLen: new Uint32Array(OUT_ENTRIES),
    valOff: new Uint32Array(OUT_ENTRIES), valLen: new Uint32Array(OUT_ENTRIES),
    tsHi: new Uint32Array(OUT_ENTRIES), tsLo: new Uint32Array(OUT_ENTRIES), flags: new Uint8Array(OUT_ENTRIES),
  };
  private used = 0;

  /** Adds entry i of src; false when the batch must be handed on (and reset) first. */
  add(src: EntryBatch, i: number): boolean {
    const b = this.batch;
    const keyLen = src.keyLen[i]!;
    const valLen = src.valLen[i]!;
    if (b.count === OUT_ENTRIES || this.used + keyLen + valLen > b.buf.length) {
      if (b.count > 0) return false;
      b.buf = Buffer.allocUnsafe(keyLen + valLen); // one entry larger than the buffer: a buffer of its own
    }
    const n = b.count++;
    b.keyOff[n] = this.used;
    b.keyLen[n] = keyLen;
    this.used += src.buf.copy(b.buf, this.used, src.keyOff[i], src.keyOff[i]! + keyLen);
    b.valOff[n] = this.used;
    b.valLen[n] = valLen;
    this.used += src.buf.copy(b.buf, this.used, src.valOff[i], src.valOff[i]! + valLen);
    b.tsHi[n] = src.tsHi[i]!;
    b.tsLo[n] = src.tsLo[i]!;
    b.flags[n] = src.flags[i]!;
    return true;
  }

  reset(): void {
    this.batch.count = 0;
    this.used = 0;
    if (this.batch.buf.length > OUT_BYTES) this.batch.buf = Buffer.allocUnsafe(OUT_BYTES);
  }
}
