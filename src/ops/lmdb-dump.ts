/**
 * The text of `lightningstream dump` for one LMDB. The layout is the Go command's
 * (cmd/lightningstream/commands/dump.go): per DBI a `### <lmdb> :: <dbi>` title between blank lines,
 * then one `key  =  value` line per entry, keys and values shown by Go's DisplayASCII (printable text,
 * or text with '.' for other bytes followed by the hex bytes).
 *
 * In DBIs whose values carry the native header (every application DBI in native mode, the
 * `_sync_shadow_*` DBIs in shadow mode) the header is decoded instead of shown as bytes:
 *
 *     key  =  value  (2026-11-26 08:51:01.169218489 UTC, txn 12)
 *     gone  =  <deleted>  (2026-11-26 08:52:00.000000000 UTC, txn 14, deleted)
 *
 * (`, deleted` tells a marker from a value that reads "<deleted>"; other flag bits and extension blocks
 * are shown when present.) `hide` leaves out the private `_sync*` DBIs, as Go's --hide does.
 *
 * The LMDB is read in chunks, each in its own short read txn, so a slow reader of the output (a pager)
 * never pins old pages of a live LMDB: each chunk is consistent, the whole dump of a changing LMDB is not.
 */
import type { Env, KVBatch } from '../lmdb/index.js';
import { headerTxnId, headerValueOffset, HEADER_FLAG_DELETED, HEADER_SIZE, HEADER_BLOCK_SIZE, headerTsHi, headerTsLo, joinTimestamp } from '../lmdb/index.js';
import { displayAscii, utcParts } from '../snapshot/go-display.js';
import { canResume, scanChunk, type ScanPosition } from './chunk-scan.js';
import { SHADOW_DBI_PREFIX } from '../sync/mode.js';

const SYNC_PREFIX = '_sync';

export interface DumpOptions {
  /** Leave out the `_sync*` DBIs. */
  hide: boolean;
  /** The LMDB's schema_tracks_changes: application DBIs carry native headers. */
  nativeHeaders: boolean;
  /** Entries per read txn (default 10000). */
  chunkEntries?: number;
  /** For DisplayASCII's "looks like a recent timestamp" test (ns since the epoch). */
  nowNs?: bigint;
}

/** Where the text goes; print may return a promise to wait for (backpressure). */
export interface DumpSink {
  print(text: string): Promise<void> | undefined;
}

/** Whether the values of a DBI start with the native header. */
export function hasNativeHeaders(dbiName: string, nativeMode: boolean): boolean {
  return dbiName.startsWith(SHADOW_DBI_PREFIX) || (nativeMode && !dbiName.startsWith(SYNC_PREFIX));
}

function headerNote(buf: Buffer, off: number, appOff: number): string {
  const p = utcParts(joinTimestamp(headerTsHi(buf, off), headerTsLo(buf, off)));
  let note = `${p.date} ${p.time}.${p.nanos} UTC, txn ${headerTxnId(buf, off)}`;
  const flags = buf[off + 17]!;
  if (flags & HEADER_FLAG_DELETED) note += ', deleted';
  if (flags & ~HEADER_FLAG_DELETED) note += `, flags 0x${flags.toString(16).padStart(2, '0')}`;
  const blocks = (appOff - off - HEADER_SIZE) / HEADER_BLOCK_SIZE;
  if (blocks > 0) note += `, ${blocks} extension block${blocks === 1 ? '' : 's'}`;
  return note;
}

/** One `key  =  value` line. */
export function entryLine(b: KVBatch, i: number, headers: boolean, nowNs: bigint): string {
  const key = displayAscii(b.buf, b.keyOff[i]!, b.keyLen[i]!, nowNs);
  const off = b.valOff[i]!;
  const len = b.valLen[i]!;
  if (!headers) return `${key}  =  ${displayAscii(b.buf, off, len, nowNs)}`;
  let appOff: number;
  try {
    appOff = headerValueOffset(b.buf, off, len);
  } catch (err) {
    return `${key}  =  ${displayAscii(b.buf, off, len, nowNs)}  (${(err as Error).message})`;
  }
  const deleted = (b.buf[off + 17]! & HEADER_FLAG_DELETED) !== 0 && appOff === off + len;
  const value = deleted ? '<deleted>' : displayAscii(b.buf, appOff, off + len - appOff, nowNs);
  return `${key}  =  ${value}  (${headerNote(b.buf, off, appOff)})`;
}

/** Prints every DBI of the env (see the module comment). */
export async function dumpEnv(env: Env, lmdbName: string, opts: DumpOptions, out: DumpSink): Promise<void> {
  const nowNs = opts.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const chunk = opts.chunkEntries ?? 10_000;
  for (const dbiName of env.listDbis()) {
    if (opts.hide && dbiName.startsWith(SYNC_PREFIX)) continue;
    await out.print(`\n### ${lmdbName} :: ${dbiName}\n\n`);
    const dbi = env.openDbi(dbiName);
    if (!dbi) continue; // dropped by another process since the listing
    const headers = hasNativeHeaders(dbiName, opts.nativeHeaders);
    const limit = canResume(dbi) ? chunk : Infinity;
    let pos: ScanPosition | undefined;
    for (;;) {
      let text = '';
      const r = env.read((txn) => scanChunk(txn, dbi, pos, limit, (b, i) => {
        text += `${entryLine(b, i, headers, nowNs)}\n`;
      }));
      pos = r.last;
      if (text) await out.print(text);
      if (r.done) break;
    }
  }
}
