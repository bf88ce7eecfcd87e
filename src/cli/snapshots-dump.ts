/**
 * `lightningstream snapshots dump NAME [-d DBI] [-f debug|text]`, or `dump --local FILE`: prints a
 * snapshot for humans in the Go tool's format:
 *
 *     {                                   <- Go's json.MarshalIndent of the snapshot without its DBIs
 *       "FormatVersion": 3,
 *       ...
 *     }
 *
 *     ### data (transform="", flags="")
 *
 *     k1 [6b 31]  =  v1-fromB [76 31 2d 66 72 6f 6d 42]  (2026-11-26 08:51:01.169218489 +0000 UTC, 4s ago; flags=00)
 *
 * Keys and values: the bytes as ASCII with unprintable bytes as '.', followed by the hex bytes when some
 * were unprintable or there are at most 8 bytes, and by the time when the first 8 bytes read as a recent
 * big-endian nanosecond timestamp (Go's utils.DisplayASCII). Entry times are printed in UTC (Go prints
 * the local zone, which is UTC on the usual server).
 *
 * Unlike Go, which loads the whole snapshot first, entries are printed as they are decoded: memory stays
 * small whatever the snapshot size, and a corrupt snapshot ends the output with one error line on stderr
 * (exit 1) after what could be decoded.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Option, type Command } from 'commander';
import { decodeSnapshot, type EntryBatch, type SnapshotMeta } from '../snapshot/index.js';
import type { CommandContext, ContextFactory } from './context.js';
import { loadSnapshotStream, withOutput, withStorage, type Output } from './snapshots-common.js';
import { EntryTimeFormatter, displayAscii, goDbiFlags, goJsonString, goQuote } from '../snapshot/go-display.js';

interface DumpFlags {
  dbi?: string;
  local?: boolean;
  format?: string;
}

// --- Go formatting ---------------------------------------------------------------------------------

/** One entry line, as Go prints it. */
function entryLine(b: EntryBatch, i: number, times: EntryTimeFormatter, nowNs: bigint): string {
  const ts = BigInt.asIntN(64, (BigInt(b.tsHi[i]!) << 32n) | BigInt(b.tsLo[i]!)); // Go: time.Unix(0, int64(ts))
  return `${displayAscii(b.buf, b.keyOff[i]!, b.keyLen[i]!, nowNs)}  =  ${displayAscii(b.buf, b.valOff[i]!, b.valLen[i]!, nowNs)}` +
    `  (${times.format(ts)}; flags=${b.flags[i]!.toString(16).padStart(2, '0')})\n`;
}

/** Go's json.MarshalIndent of the snapshot without its DBIs. FromLmdbTxnID only when set (Go 0.4.4 had no such field). */
export function headerJson(formatVersion: number, compatVersion: number, meta: SnapshotMeta): string {
  const fields: string[] = [
    `"GenerationID": ${goJsonString(meta.generationId)}`,
    `"InstanceID": ${goJsonString(meta.instanceId)}`,
    `"Hostname": ${goJsonString(meta.hostname)}`,
    `"LmdbTxnID": ${meta.lmdbTxnId}`,
    `"TimestampNano": ${meta.timestampNano}`,
    `"DatabaseName": ${goJsonString(meta.databaseName)}`,
  ];
  if (BigInt(meta.fromLmdbTxnId) !== 0n) fields.push(`"FromLmdbTxnID": ${meta.fromLmdbTxnId}`);
  return `{\n  "FormatVersion": ${formatVersion},\n  "CompatVersion": ${compatVersion},\n  "Meta": {\n    ${fields.join(',\n    ')}\n  }\n}\n`;
}

function dbiHeader(name: string, transform: string, flags: number): string {
  return `\n### ${name} (transform=${goQuote(transform)}, flags=${goQuote(goDbiFlags(flags))})\n\n`;
}

// --- compatVersion before the stream reaches it ------------------------------------------------------

const PEEK_BYTES = 16 << 10;

/**
 * The decoder reports compatVersion only at the end, but the header comes first. Go and this project write
 * it before the meta and the DBIs, so it is read from the start of the stream: the first PEEK_BYTES
 * compressed bytes are inflated on the side (a partial gzip stream inflates as far as it goes) and the
 * top-level fields before the first DBI are scanned. Returns 0 when it is not there (proto3 default).
 */
export function compatVersionFromPrefix(compressed: Buffer): number {
  let raw: Buffer;
  try {
    raw = zlib.gunzipSync(compressed, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: 64 << 20 });
  } catch {
    return 0; // not gzip: the decoder reports the problem
  }
  let p = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; p < raw.length && shift < 35; shift += 7) {
      const b = raw[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return undefined;
  };
  let compat = 0;
  while (p < raw.length) {
    const tag = varint();
    if (tag === 0x20) compat = varint() ?? compat;
    else if (tag === 0x08) varint();
    else if (tag === 0x12) p += varint() ?? raw.length;
    else break; // the first DBI, or something the decoder will judge
  }
  return compat;
}

/** Reads the first `bytes` of a stream and returns them with a stream that replays them, then the rest. */
async function peek(input: Readable, bytes: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < bytes) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    chunks.push(r.value);
    size += r.value.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      yield* chunks;
      if (ended) return;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      await it.return?.();
    }
  }
  return { head: Buffer.concat(chunks).subarray(0, bytes), stream: Readable.from(replay(), { objectMode: false }) };
}

// --- the command -----------------------------------------------------------------------------------

async function printSnapshot(out: Output, input: Readable, name: string, flags: DumpFlags, signal: AbortSignal): Promise<void> {
  const { head, stream } = await peek(input, PEEK_BYTES);
  const compatGuess = compatVersionFromPrefix(head);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const times = new EntryTimeFormatter(nowNs);
  let header: string | undefined;
  let formatVersion = 0;
  let meta: SnapshotMeta | undefined;
  let printing = false;
  let shownFlags = 0;
  let shownTransform = '';

  for await (const ev of decodeSnapshot(stream, { name, signal })) {
    switch (ev.type) {
      case 'meta':
        formatVersion = ev.formatVersion;
        meta = ev.meta;
        break;
      case 'dbi-start':
        if (header === undefined) await out.print((header = headerJson(formatVersion, compatGuess, meta!)));
        printing = flags.dbi === undefined || ev.name === flags.dbi;
        if (printing) {
          shownFlags = ev.flags ?? 0;
          shownTransform = ev.transform ?? '';
          await out.print(dbiHeader(ev.name, shownTransform, shownFlags));
        }
        break;
      case 'entries':
        if (!printing) break;
        for (let i = 0; i < ev.batch.count; i++) {
          const flushing = out.print(entryLine(ev.batch, i, times, nowNs));
          if (flushing) await flushing; // (no await per line: a microtask each would cost more than the line)
        }
        break;
      case 'dbi-end':
        // Another writer may store a DBI's flags/transform after its entries: say so instead of leaving them wrong.
        if (printing && (ev.flags !== shownFlags || ev.transform !== shownTransform)) {
          await out.print(`# ${ev.name}: stored after its entries: transform=${goQuote(ev.transform)}, flags=${goQuote(goDbiFlags(ev.flags))}\n`);
        }
        break;
      case 'end': {
        const final = headerJson(ev.formatVersion, ev.compatVersion, ev.meta);
        if (header === undefined) await out.print(final);
        else if (final !== header) await out.print(`\n# Snapshot fields stored after the DBIs; the complete header:\n${final}`);
        break;
      }
    }
  }
}

async function dump(ctx: CommandContext, target: string, flags: DumpFlags): Promise<number> {
  if (flags.local) {
    return withOutput((out) => printSnapshot(out, createReadStream(target), target, flags, ctx.signal));
  }
  return withStorage(ctx, async (storage) => {
    const input = await loadSnapshotStream(storage, target, ctx.signal);
    return withOutput((out) => printSnapshot(out, input, target, flags, ctx.signal));
  });
}

export function register(parent: Command, contexts: ContextFactory): void {
  parent
    .command('dump')
    .description('Dump snapshot contents for debugging')
    .argument('<name>', 'Snapshot name in the storage (with --local: a local file)')
    .option('-d, --dbi <dbi>', 'Only output the DBI with this exact name')
    .option('-l, --local', 'Dump a local file instead of a remote snapshot')
    .addOption(new Option('-f, --format <format>', "Output format: 'debug' (default) or 'text' (the same)").choices(['debug', 'text']).default('debug'))
    .action(contexts.action((ctx, target: string, flags: DumpFlags) => dump(ctx, target, flags)));
}
