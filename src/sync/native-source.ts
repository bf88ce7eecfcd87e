import type { KVBatch } from '../lmdb/batch.js';
import type { Dbi, Txn } from '../lmdb/index.js';
import type { EntryBatch } from '../snapshot/batch.js';
import type { DbiSource } from '../snapshot/types.js';
import { HEADER_SIZE } from '../lmdb/header.js';
import { readHeaderFields } from './header-fields.js';

/**
 * Turns the bulk scan of a DBI whose values carry native headers into snapshot entry batches:
 * the header is parsed in place (timestamp, deleted flag) and the value offsets moved past it.
 * No per-entry allocation: the typed arrays are reused from batch to batch.
 */
export function* headerScan(
  txn: Txn, dbi: Dbi, dbiName: string, onRaw?: (kv: KVBatch) => void, opts: { headersOnly?: boolean } = {},
): Generator<EntryBatch> {
  let out: EntryBatch | undefined;
  const fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
  // Headers only: the scan copies each value's 24-byte header (the fixed part, which tells the whole header's
  // size) and no more; lengths stay right, value bytes are not in the batch.
  for (const kv of txn.scan(dbi, opts.headersOnly ? { valuePrefix: HEADER_SIZE } : {})) {
    onRaw?.(kv);
    out = reuse(out, kv);
    for (let i = 0; i < kv.count; i++) {
      readHeaderFields(kv.buf, kv.valOff[i]!, kv.valLen[i]!, fields, dbiName);
      out.tsHi[i] = fields.tsHi;
      out.tsLo[i] = fields.tsLo;
      out.flags[i] = fields.flags & 0x01;
      out.valOff[i] = fields.valOff;
      out.valLen[i] = fields.flags & 0x01 ? 0 : fields.valLen;
    }
    yield out;
  }
}

function reuse(prev: EntryBatch | undefined, kv: KVBatch): EntryBatch {
  const cap = prev?.tsHi.length ?? 0;
  const size = Math.max(kv.count, cap);
  const batch: EntryBatch = prev && cap >= kv.count ? prev : {
    count: 0, buf: kv.buf, keyOff: kv.keyOff, keyLen: kv.keyLen,
    valOff: new Uint32Array(size), valLen: new Uint32Array(size),
    tsHi: new Uint32Array(size), tsLo: new Uint32Array(size), flags: new Uint8Array(size),
  };
  batch.count = kv.count;
  batch.buf = kv.buf;
  batch.keyOff = kv.keyOff;
  batch.keyLen = kv.keyLen;
  return batch;
}

/**
 * Selects the entries of a delta: those whose header txn id is above `sinceTxnId`, the txn the previous
 * snapshot covered. That holds when every writer records the id of the write txn it writes in (LMDB's
 * mdb_txn_id of that txn), as PowerDNS, Go Lightning Stream and this engine do.
 * A header txn id of 0 or beyond the read txn cannot be right, so nothing can be selected by it: such
 * headers end the delta (UntrustedTxnIdError), and the caller stores a full snapshot instead.
 */
export interface DeltaFilter {
  sinceTxnId: number;
  readTxnId: number;
  /** Entries selected per DBI, as of the last pass over it (the encoder may read a DBI twice). */
  matchedByDbi: Map<string, number>;
}

/** How many entries a delta holds (after it was encoded). */
export function deltaEntryCount(filter: DeltaFilter): number {
  let n = 0;
  for (const c of filter.matchedByDbi.values()) n += c;
  return n;
}

/** Thrown into a delta's encoder when a header's txn id cannot be trusted: the delta is abandoned, a full snapshot follows. */
export class UntrustedTxnIdError extends Error {
  constructor(dbiName: string) {
    super(`DBI ${dbiName}: a header carries txn id 0 or one beyond the LMDB's: changes cannot be selected by txn id`);
    this.name = 'UntrustedTxnIdError';
  }
}

/** The entries of scan batches that a delta holds (see DeltaFilter), compacted into batches of their own. */
export function* deltaScan(batches: Iterable<EntryBatch>, txnIdOf: (i: number) => number, filter: DeltaFilter, dbiName: string): Generator<EntryBatch> {
  let out: EntryBatch | undefined;
  filter.matchedByDbi.set(dbiName, 0);
  for (const b of batches) {
    if (!out || out.tsHi.length < b.count) out = emptyBatch(b.count);
    let n = 0;
    for (let i = 0; i < b.count; i++) {
      const txnId = txnIdOf(i);
      if (txnId === 0 || txnId > filter.readTxnId) throw new UntrustedTxnIdError(dbiName);
      if (txnId <= filter.sinceTxnId) continue;
      out.keyOff[n] = b.keyOff[i]!;
      out.keyLen[n] = b.keyLen[i]!;
      out.valOff[n] = b.valOff[i]!;
      out.valLen[n] = b.valLen[i]!;
      out.tsHi[n] = b.tsHi[i]!;
      out.tsLo[n] = b.tsLo[i]!;
      out.flags[n] = b.flags[i]!;
      n++;
    }
    if (n === 0) continue;
    filter.matchedByDbi.set(dbiName, (filter.matchedByDbi.get(dbiName) ?? 0) + n);
    out.count = n;
    out.buf = b.buf;
    yield out;
  }
}

function emptyBatch(size: number): EntryBatch {
  return {
    count: 0, buf: Buffer.alloc(0), keyOff: new Uint32Array(size), keyLen: new Uint32Array(size),
    valOff: new Uint32Array(size), valLen: new Uint32Array(size), tsHi: new Uint32Array(size), tsLo: new Uint32Array(size),
    flags: new Uint8Array(size),
  };
}

/** A snapshot DBI backed by a native-mode DBI of a read txn; batches() can be replayed. With a filter: a delta's entries only. */
export function nativeDbiSource(txn: Txn, dbi: Dbi, name: string, filter?: DeltaFilter): DbiSource {
  if (!filter) {
    return {
      name, flags: dbi.flags, transform: '',
      batches: () => headerScan(txn, dbi, name), measureBatches: () => headerScan(txn, dbi, name, undefined, { headersOnly: true }),
    };
  }
  const filtered = (headersOnly: boolean) => {
    let current: KVBatch | undefined;
    const scan = headerScan(txn, dbi, name, (kv) => { current = kv; }, { headersOnly });
    return deltaScan(scan, (i) => headerTxnId(current!.buf, current!.valOff[i]!), filter, name);
  };
  return { name, flags: dbi.flags, transform: '', batches: () => filtered(false), measureBatches: () => filtered(true) };
}

/** The txn id of the native header at buf[off] (bytes 8-15, big-endian); past 2^53 it is reported as Infinity. */
function headerTxnId(buf: Buffer, off: number): number {
  const hi = buf.readUInt32BE(off + 8);
  if (hi >= 0x200000) return Infinity;
  return hi * 0x1_0000_0000 + buf.readUInt32BE(off + 12);
}
