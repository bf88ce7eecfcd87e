import type { LmdbConfig } from '../config/config.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import type { KVBatch } from '../lmdb/batch.js';
import { headerIsDeleted, headerValueOffset, splitTimestamp } from '../lmdb/header.js';
import { MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERKEY, MDB_NODUPDATA, MDB_PERSISTENT_FLAGS, type Dbi, type Env, type Txn } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import type { DbiSource } from '../snapshot/types.js';
import type { AsyncMutex } from './async-mutex.js';
import { systemClock, type Clock } from './clock.js';
import { SnapshotFormatError } from '../snapshot/errors.js';
import { DUPSORT_HACK_TRANSFORM, DupsortHackKeyError, dupsortHackEncode, dupsortHackKeyLength, LMDB_MAX_KEY_SIZE } from './dupsort-hack.js';
import { readHeaderFields } from './header-fields.js';
import { comparatorForFlags } from '../lmdb/key-order.js';

import { DbiMerger } from './merger.js';
import { IncompatibleSnapshotError, listDataDbis, SYNC_DBI_PREFIX, type MergeContext, type SyncMode } from './mode.js';
import { nativeDbiSource } from './native-source.js';
import { PutBuffer } from './put-buffer.js';
import { ScanCursor } from './scan-cursor.js';
import { KVBatchWriter } from '../lmdb/batch-writer.js';

export const SHADOW_DBI_PREFIX = `${SYNC_DBI_PREFIX}_shadow_`;
/** Application DBI flags shadow mode can sync (DUPSORT only with dupsort_hack). */
const SUPPORTED_FLAGS = MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED;
/** "Existed before Lightning Stream first ran": 1 ns after the epoch, so any real change wins. */
const BEFORE_FIRST_RUN = 1n;

export interface ShadowModeOptions {
  dbName: string;
  lmdb: LmdbConfig;
  writeLock: AsyncMutex;
  log: Logger;
  tombstoneCutoffNano: () => bigint | undefined;
  clock?: Clock;
}

interface ShadowPair {
  name: string;
  app: Dbi;
  shadow: Dbi;
  dupsort: boolean;
}

/**
 * schema_tracks_changes: false — the application writes plain values; Lightning Stream keeps a
 * `_sync_shadow_<dbi>` DBI per application DBI with the same keys and native headers. Local changes are
 * found by comparing each application DBI with its shadow; remote snapshots are merged into the shadows
 * and the entries that changed are applied to the application DBIs in the same write txn.
 */
export class ShadowMode implements SyncMode {
  readonly kind = 'shadow' as const;
  /** The application DBIs equal their shadows' live entries as of this txn id. */
  private shadowSyncedTxnId = -1;

  constructor(private readonly env: Env, private readonly opts: ShadowModeOptions) {}

  validate(env: Env): void {
    for (const name of listDataDbis(env)) {
      const dbi = env.openDbi(name);
      if (dbi) this.checkAppFlags(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
    }
  }

  // ---------- local changes → shadows ----------

  async prepareSnapshot(signal: AbortSignal, opts: { initial: boolean }): Promise<void> {
    await this.opts.writeLock.run(async () => {
      if (signal.aborted) throw signal.reason;
      const txn = this.env.beginWrite();
      try {
        const base = txn.id - 1;
        if (base === this.shadowSyncedTxnId && !opts.initial) {
          txn.abort();
          return;
        }
        const started = Date.now();
        const changes = this.mainToShadow(txn, opts.initial);
        txn.commit();
        this.shadowSyncedTxnId = changes > 0 ? base + 1 : base;
        if (changes > 0) this.opts.log.info('local changes recorded in shadow DBIs', { changes, ms: Date.now() - started });
      } catch (err) {
        txn.abort();
        throw err;
      }
    });
  }

  /**
   * Brings every shadow DBI in line with its application DBI inside `txn`: new or changed keys get
   * the current time (timestamp 1 in the start-up pass for DBIs without a shadow yet), keys gone from
   * the application become deletion markers. Returns the number of shadow entries written.
   */
  private mainToShadow(txn: Txn, initial: boolean): number {
    let written = 0;
    const now = (this.opts.clock ?? systemClock).nowNano();
    for (const name of listDataDbis(txn)) {
      const app = txn.openDbi(name);
      if (!app) continue;
      this.checkAppFlags(name, app.flags, `local LMDB ${this.opts.dbName}`);
      const existing = txn.openDbi(SHADOW_DBI_PREFIX + name);
      const shadow = existing ?? txn.openDbi(SHADOW_DBI_PREFIX + name, { create: true, flags: app.flags & MDB_INTEGERKEY })!;
      const newKeyTs = initial && !existing ? BEFORE_FIRST_RUN : now;
      const pair: ShadowPair = { name, app, shadow, dupsort: (app.flags & MDB_DUPSORT) !== 0 };
      written += this.diffIntoShadow(txn, pair, newKeyTs, now);
    }
    return written;
  }

  private diffIntoShadow(txn: Txn, pair: ShadowPair, newKeyTs: bigint, now: bigint): number {
    const compare = comparatorForFlags(pair.shadow.flags);
    const out = new PutBuffer();
    const [nowHi, nowLo] = splitTimestamp(now);
    const [newHi, newLo] = splitTimestamp(newKeyTs);
    const txnId = txn.id;
    const pad = this.opts.lmdb.headerExtraPaddingBlock ? 1 : 0;
    const fields = { tsHi: 0, tsLo: 0, flags: 0, valOff: 0, valLen: 0 };
    let written = 0;
    const flush = () => {
      if (out.count === 0) return;
      txn.putBatch(pair.shadow, out.batch);
      written += out.count;
      out.reset();
    };
    const shadow = new ScanCursor(txn.scan(pair.shadow)[Symbol.iterator]());
    const markDeletedIfLive = (b: KVBatch, i: number) => {
      readHeaderFields(b.buf, b.valOff[i]!, b.valLen[i]!, fields, SHADOW_DBI_PREFIX + pair.name);
      if ((fields.flags & 0x01) === 0) {
        const [hi, lo] = stampAfter(nowHi, nowLo, fields.tsHi, fields.tsLo);
        out.addWithHeader(b.buf, b.keyOff[i]!, b.keyLen[i]!, b.buf, 0, 0, hi, lo, txnId, 0x01, pad);
        if (out.full) flush();
      }
    };
    for (const ab of this.appEntries(txn, pair)) {
      for (let i = 0; i < ab.count; i++) {
        const aKeyOff = ab.keyOff[i]!;
        const aKeyLen = ab.keyLen[i]!;
        let cmp = 1;
        for (let b = shadow.batch(); b; b = shadow.batch()) {
          cmp = compare(b.buf, b.keyOff[shadow.index]!, b.keyLen[shadow.index]!, ab.buf, aKeyOff, aKeyLen);
          if (cmp >= 0) break;
          markDeletedIfLive(b, shadow.index++);
        }
        const aValOff = ab.valOff[i]!;
        const aValLen = ab.valLen[i]!;
        if (cmp === 0) {
          const b = shadow.batch()!;
          const si = shadow.index++;
          const f = readHeaderFields(b.buf, b.valOff[si]!, b.valLen[si]!, fields, SHADOW_DBI_PREFIX + pair.name);
          const same = (f.flags & 0x01) === 0 && f.valLen === aValLen &&
            b.buf.compare(ab.buf, aValOff, aValOff + aValLen, f.valOff, f.valOff + f.valLen) === 0;
          if (same) continue;
          const [hi, lo] = stampAfter(nowHi, nowLo, f.tsHi, f.tsLo);
          out.addWithHeader(ab.buf, aKeyOff, aKeyLen, ab.buf, aValOff, aValLen, hi, lo, txnId, 0, pad);
        } else {
          out.addWithHeader(ab.buf, aKeyOff, aKeyLen, ab.buf, aValOff, aValLen, newHi, newLo, txnId, 0, pad);
        }
        if (out.full) flush();
      }
    }
    for (let b = shadow.batch(); b; b = shadow.batch()) markDeletedIfLive(b, shadow.index++);
    flush();
    return written;
  }

  /** The application entries in shadow-key order (dupsort_hack keys are built and sorted). */
  private *appEntries(txn: Txn, pair: ShadowPair): Generator<KVBatch> {
    if (!pair.dupsort) {
      yield* txn.scan(pair.app);
      return;
    }
    const hacked: Array<{ key: Buffer; value: Buffer }> = [];
    for (const b of txn.scan(pair.app)) {
      for (let i = 0; i < b.count; i++) {
        const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
        const value = Buffer.from(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!));
        hacked.push({ key: dupsortHackEncode(key, value, pair.name), value });
      }
    }
    hacked.sort((a, b) => Buffer.compare(a.key, b.key));
    const packed = new KVBatchWriter(1 << 16, Math.max(1, hacked.length));
    for (let i = 0; i < hacked.length; i++) {
      const e = hacked[i]!;
      if (i > 0 && e.key.equals(hacked[i - 1]!.key)) {
        throw new Error(`DBI ${pair.name}: dupsort_hack does not give unique keys (values of one key share their first bytes)`);
      }
      packed.add(e.key, e.value);
    }
    yield packed.batch;
  }

  // ---------- snapshots ----------

  snapshotCoversTxnId(readTxnId: number): number {
    return Math.min(readTxnId, this.shadowSyncedTxnId);
  }

  openSnapshotDbis(): string[] {
    const names = listDataDbis(this.env);
    for (const name of names) {
      this.env.openDbi(name);
      this.env.openDbi(SHADOW_DBI_PREFIX + name);
    }
    return names;
  }

  snapshotSources(txn: Txn, dbiNames: string[]): { sources: DbiSource[]; entries: number } {
    const sources: DbiSource[] = [];
    let entries = 0;
    for (const name of dbiNames) {
      const app = this.env.cachedDbi(name);
      const shadow = this.env.cachedDbi(SHADOW_DBI_PREFIX + name);
      if (!app || !shadow) continue; // not yet shadowed: in the next snapshot
      entries += txn.stat(shadow).entries;
      const source = nativeDbiSource(txn, shadow, name);
      sources.push({
        ...source, flags: app.flags, transform: (app.flags & MDB_DUPSORT) !== 0 ? DUPSORT_HACK_TRANSFORM : '',
      });
    }
    return { sources, entries };
  }

  // ---------- remote snapshots → shadows → application ----------

  beginLoad(txn: Txn): number {
    if (txn.id - 1 === this.shadowSyncedTxnId) return 0;
    const changes = this.mainToShadow(txn, false);
    if (changes > 0) this.opts.log.info('local changes recorded in shadow DBIs before merging', { changes });
    return changes;
  }

  loadCommitted(txnId: number): void {
    this.shadowSyncedTxnId = txnId;
  }

  mergeTarget(txn: Txn, dbiName: string, flags: number, transform: string, merge: MergeContext): DbiMerger {
    const where = `snapshot ${merge.snapshotName}`;
    this.checkAppFlags(dbiName, flags, where);
    if (transform !== this.expectedTransform(flags)) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has transform "${transform}", ` +
        `expected "${this.expectedTransform(flags)}" for flags ${formatDbiFlags(flags)}`);
    }
    let app = txn.openDbi(dbiName);
    if (!app) {
      const createFlags = this.opts.lmdb.dbiOptions[dbiName]?.overrideCreateFlags ?? flags;
      this.checkAppFlags(dbiName, createFlags, `lmdbs.${this.opts.dbName}.dbi_options.${dbiName}.override_create_flags`);
      this.opts.log.warn('creating DBI from snapshot', { dbi: dbiName, flags: formatDbiFlags(createFlags), snapshot: merge.snapshotName });
      app = txn.openDbi(dbiName, { create: true, flags: createFlags })!;
    }
    if ((app.flags & MDB_PERSISTENT_FLAGS) !== (flags & MDB_PERSISTENT_FLAGS)) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has flags ${formatDbiFlags(flags)}, ` +
        `but the local DBI has ${formatDbiFlags(app.flags)}`);
    }
    let shadow = txn.openDbi(SHADOW_DBI_PREFIX + dbiName);
    shadow ??= txn.openDbi(SHADOW_DBI_PREFIX + dbiName, { create: true, flags: app.flags & MDB_INTEGERKEY })!;
    const pair: ShadowPair = { name: dbiName, app, shadow, dupsort: (app.flags & MDB_DUPSORT) !== 0 };
    return new DbiMerger(txn, shadow, {
      ...merge, compare: comparatorForFlags(shadow.flags), paddingBlock: this.opts.lmdb.headerExtraPaddingBlock,
      tombstoneCutoffNano: this.opts.tombstoneCutoffNano(), dbiName,
      onFlush: (written) => {
        try {
          this.applyToApp(txn, pair, written);
        } catch (err) {
          if (err instanceof DupsortHackKeyError) throw new SnapshotFormatError(merge.snapshotName, err.message);
          throw err;
        }
      },
    });
  }

  /** Applies shadow entries just written by a merge to the application DBI: only what changed. */
  private applyToApp(txn: Txn, pair: ShadowPair, written: KVBatch): void {
    const { buf } = written;
    for (let i = 0; i < written.count; i++) {
      const kOff = written.keyOff[i]!;
      let kLen = written.keyLen[i]!;
      const vOff = written.valOff[i]!;
      const vLen = written.valLen[i]!;
      const deleted = headerIsDeleted(buf, vOff);
      const appValOff = headerValueOffset(buf, vOff, vLen);
      const value = buf.subarray(appValOff, vOff + vLen);
      if (pair.dupsort) kLen = dupsortHackKeyLength(buf, kOff, kLen, pair.name);
      const key = buf.subarray(kOff, kOff + kLen);
      if (pair.dupsort) {
        if (deleted) this.deleteDuplicate(txn, pair, key, buf.subarray(kOff + kLen + 4, kOff + written.keyLen[i]! - 1));
        else txn.put(pair.app, key, value, MDB_NODUPDATA);
      } else if (deleted) {
        txn.del(pair.app, key);
      } else {
        txn.put(pair.app, key, value);
      }
    }
  }

  /**
   * A deletion marker carries no value: the duplicate is named by the value bytes inside the hacked key,
   * which are the whole value unless it was cut to fit 511 bytes; then the first duplicate starting with
   * them is removed.
   */
  private deleteDuplicate(txn: Txn, pair: ShadowPair, key: Buffer, valueInKey: Buffer): void {
    const cut = key.length + 4 + valueInKey.length + 1 >= LMDB_MAX_KEY_SIZE;
    if (!cut) {
      txn.del(pair.app, key, valueInKey);
      return;
    }
    const cursor = txn.cursor(pair.app);
    try {
      const found = cursor.getBothRange(key, valueInKey);
      if (found && found.value.subarray(0, valueInKey.length).equals(valueInKey)) cursor.del();
    } finally {
      cursor.close();
    }
  }

  private expectedTransform(flags: number): string {
    return (flags & MDB_DUPSORT) !== 0 ? DUPSORT_HACK_TRANSFORM : '';
  }

  syncedDbis(txn: Txn): Array<{ name: string; headers: Dbi }> {
    const out: Array<{ name: string; headers: Dbi }> = [];
    for (const name of listDataDbis(txn)) {
      const shadow = txn.openDbi(SHADOW_DBI_PREFIX + name);
      if (shadow) out.push({ name, headers: shadow });
    }
    return out;
  }

  private checkAppFlags(name: string, flags: number, where: string): void {
    const unsupported = flags & ~SUPPORTED_FLAGS;
    if (unsupported !== 0) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${name} has flags ${formatDbiFlags(flags)}, which Lightning Stream cannot sync`);
    }
    if ((flags & MDB_DUPSORT) !== 0) {
      if (!this.opts.lmdb.dupsortHack) {
        throw new IncompatibleSnapshotError(`${where}: DBI ${name} is MDB_DUPSORT: set lmdbs.${this.opts.dbName}.dupsort_hack: true to sync it`);
      }
      if ((flags & MDB_INTEGERKEY) !== 0) {
        throw new IncompatibleSnapshotError(`${where}: DBI ${name} combines MDB_DUPSORT and MDB_INTEGERKEY, which dupsort_hack cannot sync`);
      }
    }
  }
}

/**
 * The timestamp of a local change to an entry stamped (tsHi, tsLo): now, or just after the entry's
 * current timestamp when that is not older (a clock behind, or a remote entry from a clock ahead).
 * A change must always win over what it changed, or the next merge would revert it.
 */
export function stampAfter(nowHi: number, nowLo: number, tsHi: number, tsLo: number): [number, number] {
  if (tsHi < nowHi || (tsHi === nowHi && tsLo < nowLo)) return [nowHi, nowLo];
  return tsLo === 0xffffffff ? [tsHi + 1, 0] : [tsHi, tsLo + 1];
}
