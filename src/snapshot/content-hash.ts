/**
 * The content hash of synced data (README, "Content hashes"): a SHA-256 digest of every non-`_sync` DBI's
 * entries (key, timestamp, deleted flag, value), independent of txn ids, page layout, snapshot chunking,
 * DBI order and the protobuf encoding, so two LMDBs (or an LMDB and a snapshot, ours or Go's) holding the
 * same data have the same hash.
 *
 * Canonical form: per DBI, SHA-256 over its entries in key order, each as
 *   u32 key length | key | u32 ts high | u32 ts low | u8 deleted (0/1) | u32 value length | value
 * (big-endian; a deleted entry's value counts as empty); then SHA-256 over the algorithm name and a
 * newline, followed by, for each DBI with entries, in bytewise name order:
 *   u32 name length | name (UTF-8) | u32 count high | u32 count low | the DBI's 32-byte digest.
 * DBIs without entries do not count (a receiver creates empty DBIs on its own schedule).
 *
 * Entries are copied into a staging buffer and hashed in large pieces: one hash call per entry would
 * cost more than the copying.
 */
import { createHash, type Hash } from 'node:crypto';
import type { EntryBatch } from './batch.js';
import { FLAG_DELETED } from './batch.js';
import { SnapshotFormatError } from './errors.js';
import type { SnapshotEvent } from './types.js';

export const CONTENT_HASH_ALGORITHM = 'ls-content-sha256-v1';

/**
 * The top-level Snapshot field carrying the hash: a number far above Go's (1-4) so a future Go field will
 * not collide; Go 0.4 (gogo-generated) and 1.0 (csproto) readers both skip unknown fields.
 */
export const CONTENT_HASH_FIELD = 100;
/** Its tag (field number, wire type 2). */
export const CONTENT_HASH_TAG = (CONTENT_HASH_FIELD << 3) | 2;

export interface ContentHash {
  algorithm: string;
  digest: Buffer;
  /** Entries hashed (deletion markers included). */
  entries: number;
}

const STAGE_BYTES = 256 << 10;
const ENTRY_OVERHEAD = 17;
const SMALL_COPY = 32;
const SYNC_PREFIX = '_sync';

interface DbiState {
  hash: Hash;
  count: number;
}

export class ContentHasher {
  private readonly dbis = new Map<string, DbiState>();
  private readonly stage = Buffer.allocUnsafe(STAGE_BYTES);
  private pos = 0;
  private current: DbiState | undefined;
  private currentName: string | undefined;
  private result: ContentHash | undefined;

  /** Adds a batch of DBI `dbi`'s entries (in key order, continuing that DBI's previous batches). */
  add(dbi: string, batch: EntryBatch): void {
    if (this.result) throw new Error('ContentHasher: add() after digest()');
    if (dbi.startsWith(SYNC_PREFIX)) return;
    const state = this.select(dbi);
    const { count, buf, keyOff, keyLen, valOff, valLen, tsHi, tsLo, flags } = batch;
    const stage = this.stage;
    for (let i = 0; i < count; i++) {
      const kl = keyLen[i]!;
      const deleted = (flags[i]! & FLAG_DELETED) !== 0;
      const vl = deleted ? 0 : valLen[i]!;
      if (this.pos + ENTRY_OVERHEAD + kl + vl > STAGE_BYTES) this.flush();
      if (ENTRY_OVERHEAD + kl + vl > STAGE_BYTES) {
        this.hashLargeEntry(state.hash, buf, keyOff[i]!, kl, tsHi[i]!, tsLo[i]!, deleted, valOff[i]!, vl);
        state.count++;
        continue;
      }
      let p = this.pos;
      stage[p] = kl >>> 24;
      stage[p + 1] = kl >>> 16;
      stage[p + 2] = kl >>> 8;
      stage[p + 3] = kl;
      p = copyInto(stage, p + 4, buf, keyOff[i]!, kl);
      const hi = tsHi[i]!;
      const lo = tsLo[i]!;
      stage[p] = hi >>> 24;
      stage[p + 1] = hi >>> 16;
      stage[p + 2] = hi >>> 8;
      stage[p + 3] = hi;
      stage[p + 4] = lo >>> 24;
      stage[p + 5] = lo >>> 16;
      stage[p + 6] = lo >>> 8;
      stage[p + 7] = lo;
      stage[p + 8] = deleted ? 1 : 0;
      stage[p + 9] = vl >>> 24;
      stage[p + 10] = vl >>> 16;
      stage[p + 11] = vl >>> 8;
      stage[p + 12] = vl;
      this.pos = copyInto(stage, p + 13, buf, valOff[i]!, vl);
      state.count++;
    }
  }

  /** The hash of everything added (later calls return the same result; nothing can be added afterwards). */
  digest(): ContentHash {
    this.result ??= this.compute();
    return this.result;
  }

  private compute(): ContentHash {
    this.flush();
    const top = createHash('sha256').update(`${CONTENT_HASH_ALGORITHM}\n`);
    let entries = 0;
    const names = [...this.dbis.keys()].filter((n) => this.dbis.get(n)!.count > 0)
      .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    for (const name of names) {
      const { hash, count } = this.dbis.get(name)!;
      const nameBytes = Buffer.from(name, 'utf8');
      const head = Buffer.allocUnsafe(12);
      head.writeUInt32BE(nameBytes.length, 0);
      head.writeUInt32BE(Math.floor(count / 2 ** 32), 4);
      head.writeUInt32BE(count >>> 0, 8);
      top.update(head.subarray(0, 4)).update(nameBytes).update(head.subarray(4)).update(hash.digest());
      entries += count;
    }
    return { algorithm: CONTENT_HASH_ALGORITHM, digest: top.digest(), entries };
  }

  private select(dbi: string): DbiState {
    if (this.currentName === dbi && this.current) return this.current;
    this.flush();
    let state = this.dbis.get(dbi);
    if (!state) {
      state = { hash: createHash('sha256'), count: 0 };
      this.dbis.set(dbi, state);
    }
    this.current = state;
    this.currentName = dbi;
    return state;
  }

  private flush(): void {
    if (this.pos > 0 && this.current) this.current.hash.update(this.stage.subarray(0, this.pos));
    this.pos = 0;
  }

  private hashLargeEntry(
    hash: Hash, buf: Buffer, keyOff: number, kl: number, hi: number, lo: number, deleted: boolean, valOff: number, vl: number,
  ): void {
    const head = Buffer.allocUnsafe(13);
    head.writeUInt32BE(kl, 0);
    hash.update(head.subarray(0, 4)).update(buf.subarray(keyOff, keyOff + kl));
    head.writeUInt32BE(hi, 0);
    head.writeUInt32BE(lo, 4);
    head[8] = deleted ? 1 : 0;
    head.writeUInt32BE(vl, 9);
    hash.update(head).update(buf.subarray(valOff, valOff + vl));
  }
}

/** Short copies in JS, long ones natively (Buffer#copy: no subarray object per entry, unlike set()). */
function copyInto(dst: Buffer, p: number, src: Buffer, off: number, len: number): number {
  if (len <= SMALL_COPY) for (let j = 0; j < len; j++) dst[p + j] = src[off + j]!;
  else src.copy(dst, p, off, off + len);
  return p + len;
}

/** Short form for logs and the status page (the first 16 hex digits). */
export function shortHash(hash: ContentHash | Buffer): string {
  return (Buffer.isBuffer(hash) ? hash : hash.digest).toString('hex').slice(0, 16);
}

/** Whether two hashes are of the same algorithm and equal. */
export function sameContent(a: ContentHash | undefined, b: ContentHash | undefined): boolean {
  return a !== undefined && b !== undefined && a.algorithm === b.algorithm && a.digest.equals(b.digest);
}

/**
 * Passes decoded events through while hashing their entries. A snapshot that carries a hash of a known
 * algorithm must match what its entries hash to: a mismatch is a corrupt snapshot (refused before the
 * consumer sees its `end`, so nothing of it is committed).
 */
export async function* hashingEvents(
  events: AsyncIterable<SnapshotEvent>, hasher: ContentHasher, snapshotName: string,
): AsyncGenerator<SnapshotEvent> {
  for await (const ev of events) {
    if (ev.type === 'entries') hasher.add(ev.dbi, ev.batch);
    else if (ev.type === 'end' && ev.contentHash?.algorithm === CONTENT_HASH_ALGORITHM) {
      const computed = hasher.digest();
      if (!computed.digest.equals(ev.contentHash.digest)) {
        throw new SnapshotFormatError(snapshotName,
          `content hash mismatch: the snapshot says ${shortHash(ev.contentHash)}, its entries hash to ${shortHash(computed)}`);
      }
    }
    yield ev;
  }
}
