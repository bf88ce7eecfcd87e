/** The Go 0.4.4 fixtures decode to exactly the entries and meta of their `.dump.txt`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSnapshotToMemory, readSnapshotInfo } from '../../src/snapshot/decode.js';
import { parseSnapshotName } from '../../src/snapshot/name.js';
import { MDB_DUPSORT, MDB_INTEGERKEY } from '../../src/snapshot/types.js';
import { FIXTURES, entriesOf, type Dbi, type Entry } from './helpers.js';

const FLAG_NAMES: Record<string, number> = { MDB_DUPSORT, MDB_INTEGERKEY, MDB_REVERSEKEY: 0x02, MDB_DUPFIXED: 0x10 };

function parseTime(text: string): bigint {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,9}))? \+0000 UTC$/.exec(text);
  assert.ok(m, text);
  const seconds = BigInt(Date.parse(`${m[1]}T${m[2]}Z`) / 1000);
  return seconds * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
}

const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');

/** Parses `snapshots dump` output: a JSON header, then `### <dbi> (transform="..", flags="..")` sections. */
function parseDump(text: string): { header: Record<string, unknown>; dbis: Dbi[] } {
  const headerEnd = text.indexOf('\n### ');
  const header = JSON.parse(text.slice(0, headerEnd)) as Record<string, unknown>;
  const dbis: Dbi[] = [];
  for (const line of text.slice(headerEnd + 1).split('\n')) {
    if (line.trim() === '') continue;
    const sec = /^### (\S+) \(transform="([^"]*)", flags="([^"]*)"\)$/.exec(line);
    if (sec) {
      const flags = sec[3]!.split('|').filter(Boolean).reduce((f, n) => f | FLAG_NAMES[n.trim()]!, 0);
      dbis.push({ name: sec[1]!, transform: sec[2]!, flags, entries: [] });
      continue;
    }
    const m = /^(.*?) \[([0-9a-f ]*)\] {2}= {2}(.*) {2}\(([^,]+), [^;]*; flags=([0-9a-f]{2})\)$/.exec(line);
    assert.ok(m, `unparsed dump line: ${line}`);
    const valueText = m[3]!.trim();
    const vm = /^(?:(.*) )?\[([0-9a-f ]*)\]$/.exec(valueText);
    const entry: Entry = {
      key: hex(m[2]!),
      value: vm ? hex(vm[2]!) : Buffer.from(valueText, 'utf8'),
      ts: parseTime(m[4]!),
      flags: parseInt(m[5]!, 16),
    };
    dbis.at(-1)!.entries.push(entry);
  }
  return { header, dbis };
}

const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pb.gz'));

test('there are Go fixtures', () => assert.equal(files.length, 2));

for (const file of files) {
  test(`fixture ${file} decodes to its dump`, async () => {
    assert.ok(parseSnapshotName(file).ok);
    const dumpText = readFileSync(join(FIXTURES, file.replace(/\.pb\.gz$/, '.dump.txt')), 'utf8');
    const dump = parseDump(dumpText);
    const snap = await decodeSnapshotToMemory(createReadStream(join(FIXTURES, file)), { name: file });
    const h = dump.header as { FormatVersion: number; CompatVersion: number; Meta: Record<string, string | number> };
    assert.equal(snap.formatVersion, h.FormatVersion);
    assert.equal(snap.compatVersion, h.CompatVersion);
    assert.deepEqual(snap.meta, {
      generationId: h.Meta.GenerationID,
      instanceId: h.Meta.InstanceID,
      hostname: h.Meta.Hostname,
      lmdbTxnId: BigInt(h.Meta.LmdbTxnID!),
      // JSON numbers lose precision above 2^53: compare the text of the dump instead
      timestampNano: BigInt(/"TimestampNano": (\d+)/.exec(dumpText)![1]!),
      databaseName: h.Meta.DatabaseName,
      fromLmdbTxnId: 0n,
    });
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    const got = snap.dbis.map((d) => ({ name: d.name, flags: d.flags, transform: d.transform, entries: entriesOf(d) })).sort(byName);
    assert.deepEqual(got, dump.dbis.sort(byName));
    for (const d of snap.dbis) assert.equal(d.count, d.entries.length);

    const info = await readSnapshotInfo(createReadStream(join(FIXTURES, file)), { name: file });
    assert.deepEqual(info.dbis.map((d) => [d.name, d.flags, d.transform, d.count]), snap.dbis.map((d) => [d.name, d.flags, d.transform, d.count]));
    assert.deepEqual(info.meta, snap.meta);
  });
}
