import type { KVBatch } from '../../lmdb/batch.js';
import { MDB_APPEND, type Dbi, type Txn } from '../../lmdb/index.js';
import type { EntryBatch } from '../../snapshot/batch.js';
import { FLAG_DELETED } from '../../snapshot/batch.js';
import { readHeaderFields } from '../header-fields.js';
import { mergeOrder } from './merge-rule.js';
import { PutBuffer } from './put-buffer.js';
import type { WinnerSource } from './winners.js';

export interface ApplyOptions {
  /** The id of the write txn: written into every header. */
  txnId: number;
  /** Add one empty 8-byte extension block to every header (header_extra_padding_block). */
  paddingBlock: boolean;
  /**
   * The LMDB changed since the plan was read: each winner is compared again with the current local value.
   * Only winners need it: local timestamps only grow, so an entry that lost when planned still loses.
   */
  recheck: boolean;
  /** Names the DBI in header errors. */
  dbiName: string;
  /** Sees every batch of entries (key → header + value) just written, in the same txn (shadow mode). */
  onFlush?: (written: KVBatch) => void;
}

/** Writes a plan's winners into the DBI inside the caller's write txn; returns how many were written. */
export function applyWinners(txn: Txn, dbi: Dbi, winners: WinnerSource, opts: ApplyOptions): number {
  if (winners.count === 0) return 0;
  const writer = new WinnerWriter(txn, dbi, opts);
  let index = 0;
  for (const batch of winners.batches()) {
    for (let i = 0; i < batch.count; i++, index++) {
      if (opts.recheck) {
        if (!writer.stillWins(batch, i)) continue;
      } else if (index === winners.appendFrom) {
        writer.startAppending();
      }
      writer.put(batch, i);
    }
  }
  writer.flush();
  return writer.written;
}

class WinnerWriter {
  written = 0;
  private appending = false;
  private readonly out = new PutBuffer();
  private readonly fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
  private current = Buffer.allocUnsafe(4096);

  constructor(private readonly txn: Txn, private readonly dbi: Dbi, private readonly opts: ApplyOptions) {}

  /** Whether entry i still wins against the DBI's current value (absent: it does). */
  stillWins(batch: EntryBatch, i: number): boolean {
    const key = batch.buf.subarray(batch.keyOff[i], batch.keyOff[i]! + batch.keyLen[i]!);
    let len = this.txn.getInto(this.dbi, key, this.current);
    if (len > this.current.length) {
      this.current = Buffer.allocUnsafe(len);
      len = this.txn.getInto(this.dbi, key, this.current);
    }
    if (len < 0) return true;
    const f = readHeaderFields(this.current, 0, len, this.fields, this.opts.dbiName);
    return mergeOrder(batch.tsHi[i]!, batch.tsLo[i]!, (batch.flags[i]! & FLAG_DELETED) !== 0, batch.buf, batch.valOff[i]!, batch.valLen[i]!,
      f.tsHi, f.tsLo, (f.flags & FLAG_DELETED) !== 0, this.current, f.valOff, f.valLen) > 0;
  }

  /** From here on every key sorts after the DBI's last key: LMDB appends instead of searching. */
  startAppending(): void {
    this.flush();
    this.appending = true;
  }

  put(batch: EntryBatch, i: number): void {
    this.out.addWithHeader(batch.buf, batch.keyOff[i]!, batch.keyLen[i]!, batch.buf, batch.valOff[i]!, batch.valLen[i]!,
      batch.tsHi[i]!, batch.tsLo[i]!, this.opts.txnId, batch.flags[i]! & FLAG_DELETED, this.opts.paddingBlock ? 1 : 0);
    this.written++;
    if (this.out.full) this.flush();
  }

  flush(): void {
    if (this.out.count === 0) return;
    this.txn.putBatch(this.dbi, this.out.batch, this.appending ? MDB_APPEND : 0);
    this.opts.onFlush?.(this.out.batch);
    this.out.reset();
  }
}
