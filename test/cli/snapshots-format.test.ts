// The Go formatting the `snapshots dump` output depends on, and the terminal progress line.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { createProgress } from '../../src/cli/progress.js';
import { formatBytes } from '../../src/util/format.js';
import { compatVersionFromPrefix, headerJson } from '../../src/cli/snapshots-dump.js';
import { displayAscii, EntryTimeFormatter, goDbiFlags, goDuration, goQuote, roundToSecond } from '../../src/snapshot/go-display.js';
import { emptyMeta } from '../../src/snapshot/index.js';

const S = 1_000_000_000n;
const NOW = 1_795_683_066_000_000_000n; // 2026-11-26T08:51:06Z

describe('Go formatting for snapshots dump', () => {
  it('DisplayASCII: text, dots for unprintable bytes, hex when unsafe or at most 8 bytes, recent timestamps', () => {
    const show = (b: Buffer): string => displayAscii(Buffer.concat([Buffer.from('xx'), b]), 2, b.length, NOW);
    // Go's own test cases (utils_test.go), with the later rule that short values also get their hex.
    assert.equal(show(Buffer.from('')), ' []');
    assert.equal(show(Buffer.from('abc')), 'abc [61 62 63]');
    assert.equal(show(Buffer.from('abc def ghi')), 'abc def ghi');
    assert.equal(show(Buffer.from('abc\ndef')), 'abc.def [61 62 63 0a 64 65 66]');
    assert.equal(show(Buffer.from('\x00abc', 'latin1')), '.abc [00 61 62 63]');
    assert.equal(show(Buffer.from('\xf0abc', 'latin1')), '.abc [f0 61 62 63]');
    assert.equal(show(Buffer.from('v3-updated')), 'v3-updated');
    // A native header's timestamp (big-endian ns) between 2022 and now + 30 days is shown in RFC 3339.
    const header = Buffer.alloc(24);
    header.writeBigUInt64BE(1_795_683_061_169_218_489n);
    const hex = header.toString('hex').replace(/(..)(?!$)/g, '$1 ');
    const text = header.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    assert.equal(show(header), `${text} [${hex}] (2026-11-26T08:51:01.169218489Z)`);
    header.writeBigUInt64BE(NOW + 31n * 24n * 3600n * S); // too far in the future
    assert.doesNotMatch(show(header), /\(/);
    assert.equal(show(Buffer.from('three-updated')), 'three-updated'); // "three-up" would be year 2236
  });

  it('times and ages: Go Time.String in UTC, Duration rounded to the second', () => {
    const t = new EntryTimeFormatter(NOW);
    assert.equal(t.format(1_795_683_061_169_218_489n), '2026-11-26 08:51:01.169218489 +0000 UTC, 5s ago');
    assert.equal(t.format(1n), '1970-01-01 00:00:00.000000001 +0000 UTC, 498800h51m6s ago');
    assert.equal(t.format(NOW - 60n * S), '2026-11-26 08:50:06 +0000 UTC, 1m0s ago');
    assert.equal(t.format(NOW - 3600n * S + 500_000_000n), '2026-11-26 07:51:06.5 +0000 UTC, 1h0m0s ago');
    assert.equal(t.format(NOW + 2n * S), '2026-11-26 08:51:08 +0000 UTC, -2s ago');
    assert.equal(t.format(-1n), '1969-12-31 23:59:59.999999999 +0000 UTC, 498800h51m6s ago');

    assert.equal(goDuration(0n), '0s');
    assert.equal(goDuration(1500n), '1.5µs');
    assert.equal(goDuration(1_500_000n), '1.5ms');
    assert.equal(goDuration(61n * S), '1m1s');
    assert.equal(goDuration(-(3n * S)), '-3s');
    assert.equal(goDuration((1n << 63n) - 1n), '2562047h47m16.854775807s');
    assert.equal(roundToSecond(1_499_999_999n), S);
    assert.equal(roundToSecond(1_500_000_000n), 2n * S);
    assert.equal(roundToSecond(-1_500_000_000n), -2n * S);
    assert.equal(roundToSecond((1n << 63n) - 1n), (1n << 63n) - 1n); // saturates like Go
  });

  it('DBI headers: %q strings and Go flag names', () => {
    assert.equal(goQuote('dupsort_hack_v1'), '"dupsort_hack_v1"');
    assert.equal(goQuote('a"b\\c\n\x01é'), '"a\\"b\\\\c\\n\\x01é"');
    assert.equal(goDbiFlags(0), '');
    assert.equal(goDbiFlags(0x04), 'MDB_DUPSORT');
    assert.equal(goDbiFlags(0x04 | 0x08 | 0x10), 'MDB_DUPSORT|MDB_INTEGERKEY|MDB_DUPFIXED');
    assert.equal(goDbiFlags(0x04 | 0x100), 'MDB_DUPSORT|UNKNOWN:0x100');
  });

  it('header JSON as Go encodes it (HTML-safe strings; FromLmdbTxnID only when set)', () => {
    const meta = { ...emptyMeta(), instanceId: 'a<b>&c', lmdbTxnId: 5n, timestampNano: 18_446_744_073_709_551_615n };
    assert.equal(headerJson(3, 1, meta), [
      '{', '  "FormatVersion": 3,', '  "CompatVersion": 1,', '  "Meta": {', '    "GenerationID": "",',
      '    "InstanceID": "a\\u003cb\\u003e\\u0026c",', '    "Hostname": "",', '    "LmdbTxnID": 5,',
      '    "TimestampNano": 18446744073709551615,', '    "DatabaseName": ""', '  }', '}', '',
    ].join('\n'));
    assert.match(headerJson(3, 1, { ...meta, fromLmdbTxnId: 4n }), /"DatabaseName": "",\n {4}"FromLmdbTxnID": 4\n/);
  });

  it('compatVersion is read from the start of the gzip stream, even a truncated one', () => {
    const meta = Buffer.from([0x0a, 0x02, 0x47, 0x58]);
    const pb = Buffer.concat([Buffer.from([0x08, 0x03, 0x20, 0x01, 0x12, meta.length]), meta, Buffer.from([0x1a, 0x7f, 0x0a])]);
    assert.equal(compatVersionFromPrefix(gzipSync(pb)), 1);
    assert.equal(compatVersionFromPrefix(gzipSync(pb).subarray(0, 10)), 0); // too short to get there: the default
    assert.equal(compatVersionFromPrefix(Buffer.from('not gzip')), 0);
    const late = Buffer.concat([Buffer.from([0x08, 0x03, 0x1a, 0x00, 0x20, 0x01])]); // after a DBI: unknown here
    assert.equal(compatVersionFromPrefix(gzipSync(late)), 0);
  });
});

describe('progress line', () => {
  const fake = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } };
  };

  it('shows on a TTY once the transfer has lasted, redraws in place, ends with a newline', () => {
    let t = 0;
    const { writes, stream } = fake(true);
    const p = createProgress({ label: 'x.pb.gz', total: 4 << 20, stream, now: () => t });
    p.add(1 << 20);
    assert.deepEqual(writes, [], 'nothing before the delay');
    t = 1000;
    p.add(1 << 20);
    assert.deepEqual(writes, ['\rx.pb.gz: 2.0 MiB / 4.0 MiB (50%), 2.0 MiB/s\x1b[K']);
    t = 1100;
    p.add(1);
    assert.equal(writes.length, 1, 'not redrawn more than every 200 ms');
    t = 2000;
    p.add((2 << 20) - 1);
    p.done();
    assert.deepEqual(writes.slice(1), ['\rx.pb.gz: 4.0 MiB / 4.0 MiB (100%), 2.0 MiB/s\x1b[K', '\rx.pb.gz: 4.0 MiB / 4.0 MiB (100%), 2.0 MiB/s\x1b[K', '\n']);
    assert.equal(p.bytes, 4 << 20);
  });

  it('prints nothing when not a TTY, nor for a quick transfer', () => {
    let t = 0;
    const pipe = fake(false);
    const p = createProgress({ label: 'x', stream: pipe.stream, now: () => (t += 1000) });
    p.add(10);
    p.done();
    assert.deepEqual(pipe.writes, []);
    const tty = fake(true);
    const q = createProgress({ label: 'x', stream: tty.stream, now: () => 0 });
    q.add(10);
    q.done();
    assert.deepEqual(tty.writes, []);
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
  });
});
