/**
 * `experimental migrate-timestamps`: copies timestamps from one DBI to another by key, with the
 * semantics of the Go command (cmd/lightningstream/commands/experimental.go), e.g. to carry the shadow
 * timestamps of PowerDNS `records` over to the `records_v5` DBI of a schema upgrade:
 *
 * - for every entry of dst (native header required: a value shorter than 24 bytes is an error) whose
 *   key exists in src: when src's timestamp (its first 8 bytes, so both the native header and the old
 *   8-byte v0.2.0 timestamp header work) is newer, dst gets src's timestamp and the current txn id; the
 *   rest of dst's value is kept as is (the values are not compared);
 * - with addDeleteEntries, every deletion marker of src (an 8-byte old header counts as one) whose key
 *   is absent from dst becomes a 24-byte deletion marker in dst with src's timestamp;
 * - a missing src DBI is an error, or with ignoreSrcMissing a warning and no change; a missing dst DBI
 *   is an error.
 *
 * Everything happens in one write txn: any error aborts it and nothing changes. DUPSORT DBIs are refused
 * (a put would add a duplicate instead of replacing the value); Go leaves that to the user.
 */
import type { Dbi, Env, Txn } from '../lmdb/index.js';
import { buildValue, headerValueOffset, HEADER_FLAG_DELETED, HEADER_SIZE, MDB_DUPSORT } from '../lmdb/index.js';
import { KVBatchWriter } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';

export interface MigrateTimestampsOptions {
  srcDbi: string;
  dstDbi: string;
  addDeleteEntries: boolean;
  ignoreSrcMissing: boolean;
}

export interface MigrateTimestampsResult {
  /** dst entries that got src's newer timestamp. */
  updated: number;
  /** Deletion markers added to dst. */
  addedDeletes: number;
  /** The src DBI did not exist (only with ignoreSrcMissing). */
  srcMissing: boolean;
}

const OLD_HEADER_SIZE = 8;

function showKey(key: Buffer): string {
  return /^[\x20-\x7e]*$/.test(key.toString('latin1')) ? JSON.stringify(key.toString('latin1')) : `0x${key.toString('hex')}`;
}

function refuseDupsort(dbi: Dbi): void {
  if (dbi.flags & MDB_DUPSORT) throw new Error(`DBI ${dbi.name} is a DUPSORT DBI: timestamps cannot be migrated by key`);
}

export function migrateTimestamps(env: Env, opts: MigrateTimestampsOptions, log: Logger): MigrateTimestampsResult {
  if (opts.srcDbi === opts.dstDbi) throw new Error('source and destination DBI cannot be the same');
  const result: MigrateTimestampsResult = { updated: 0, addedDeletes: 0, srcMissing: false };
  env.write((txn) => {
    const src = txn.openDbi(opts.srcDbi);
    if (!src) {
      if (!opts.ignoreSrcMissing) throw new Error(`source DBI ${opts.srcDbi} does not exist`);
      log.warn('Source DBI not found, no migration performed', { dbi: opts.srcDbi });
      result.srcMissing = true;
      return;
    }
    const dst = txn.openDbi(opts.dstDbi);
    if (!dst) throw new Error(`destination DBI ${opts.dstDbi} does not exist`);
    refuseDupsort(src);
    refuseDupsort(dst);
    result.updated = copyNewerTimestamps(txn, src, dst);
    if (opts.addDeleteEntries) result.addedDeletes = addDeletionMarkers(txn, src, dst);
  });
  log.info('Done', { n_updated: result.updated, n_added_deletes: result.addedDeletes });
  return result;
}

function copyNewerTimestamps(txn: Txn, src: Dbi, dst: Dbi): number {
  const txnId = Buffer.alloc(8);
  txnId.writeBigUInt64BE(BigInt(txn.id));
  const updates = new KVBatchWriter(1 << 16, 1024);
  let updated = 0;
  for (const b of txn.scan(dst)) {
    for (let i = 0; i < b.count; i++) {
      const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
      const dstVal = b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!);
      if (dstVal.length < HEADER_SIZE) throw new Error(`dst: value too short for a header for key ${showKey(key)}`);
      const srcVal = txn.get(src, key);
      if (srcVal === undefined) continue;
      if (srcVal.length < OLD_HEADER_SIZE) throw new Error(`src: value too short for key ${showKey(key)}`);
      // Big-endian u64 timestamps: byte order is numeric order. Not touched when dst is as new or newer.
      if (dstVal.compare(srcVal, 0, 8, 0, 8) >= 0) continue;
      const at = updates.reserve(key.length, dstVal.length);
      const out = updates.batch.buf;
      out.set(key, at);
      const v = at + key.length;
      out.set(dstVal, v);
      out.set(srcVal.subarray(0, 8), v);
      out.set(txnId, v + 8);
      updated++;
    }
    // Same-size overwrites of entries the scan already passed: the scan cursor stays valid.
    if (updates.count > 0) txn.putBatch(dst, updates.batch);
    updates.reset();
  }
  return updated;
}

function addDeletionMarkers(txn: Txn, src: Dbi, dst: Dbi): number {
  const txnId = txn.id;
  let added = 0;
  for (const b of txn.scan(src)) {
    for (let i = 0; i < b.count; i++) {
      const key = b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!);
      const off = b.valOff[i]!;
      const len = b.valLen[i]!;
      if (len < OLD_HEADER_SIZE) throw new Error(`src: value too short for key ${showKey(key)}`);
      let deleted: boolean;
      if (len === OLD_HEADER_SIZE) {
        deleted = true; // old style (v0.2.0): a bare timestamp means deleted
      } else {
        let appOff: number;
        try {
          appOff = headerValueOffset(b.buf, off, len);
        } catch (err) {
          throw new Error(`src: invalid header for key ${showKey(key)}: ${(err as Error).message}`, { cause: err });
        }
        deleted = (b.buf[off + 17]! & HEADER_FLAG_DELETED) !== 0;
        if (deleted && appOff < off + len) throw new Error(`src: deleted but non-empty app value: key ${showKey(key)}`);
      }
      if (!deleted || txn.get(dst, key) !== undefined) continue;
      const ts = b.buf.readBigUInt64BE(off);
      txn.put(dst, key, buildValue(ts, txnId, Buffer.alloc(0), { deleted: true }));
      added++;
    }
  }
  return added;
}
