/**
 * The output of `lightningstream verify`: text for people (one line per LMDB and instance, then the
 * listed keys indented), or one JSON document. Values are never printed, only their sizes: they can be
 * secrets (TSIG keys, DNSSEC private keys).
 */
import type { InstanceResult, LmdbResult } from '../ops/verify.js';
import type { EntrySide, KeyReport, Tally } from '../ops/verify-join.js';
import { isoNanos } from '../snapshot/go-display.js';

/** Printable ASCII keys as a JSON string, others as 0x-prefixed hex. */
export function displayKey(key: Buffer): string {
  return key.length > 0 && key.every((b) => b >= 0x20 && b <= 0x7e) ? JSON.stringify(key.toString('latin1')) : `0x${key.toString('hex')}`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function sideText(s: EntrySide | undefined): string {
  if (!s) return 'absent';
  return `${isoNanos(s.timestampNano)} ${s.deleted ? 'deleted' : `live ${plural(s.valueBytes, 'byte')}`}`;
}

function keyLine(k: KeyReport): string {
  const sameStamp = k.here && k.snapshot && k.here.timestampNano === k.snapshot.timestampNano && k.here.deleted === k.snapshot.deleted;
  const note = sameStamp ? ' (same timestamp, values differ)' : '';
  return `  ${k.dbi} ${displayKey(k.key)}: here ${sideText(k.here)}, snapshot ${sideText(k.snapshot)}${note}; merge takes ${k.mergeTakes}\n`;
}

function objectsText(objects: string[]): string {
  return objects.length === 1 ? objects[0]! : `${objects[0]} + ${plural(objects.length - 1, 'delta')}`;
}

/** What made a verdict `covered` or `differs`, in words. */
function detailText(t: Tally, differing: number): string {
  const parts: string[] = [];
  if (t.snapshotWins + t.missingHere > 0) {
    parts.push(`${plural(differing, 'differing key')}, ${t.snapshotWins + t.missingHere} of them the merge would take from the snapshot` +
      (t.missingHere > 0 ? ` (${t.missingHere} absent here)` : ''));
  } else if (t.newerHere > 0) {
    parts.push(`${plural(t.newerHere, 'key')} newer here`);
  }
  if (t.sweptHere > 0) parts.push(`${plural(t.sweptHere, 'old deletion')} swept here`);
  if (t.onlyHere > 0) parts.push(`${plural(t.onlyHere, 'key')} only here`);
  return parts.length > 0 ? `: ${parts.join(', ')}` : '';
}

function instanceText(db: string, r: InstanceResult): string {
  const who = r.own ? `${r.instance} (this instance)` : r.instance;
  let text = `${db}: ${who}: ${r.verdict} (${objectsText(r.objects)}, ${plural(r.tally.snapshotEntries, 'entry', 'entries')})` +
    `${detailText(r.tally, r.differingKeys)}\n`;
  if (r.verdict === 'differs') {
    text += r.differing.map(keyLine).join('');
    if (r.differingKeys > r.differing.length) text += `  ... and ${r.differingKeys - r.differing.length} more differing\n`;
  }
  for (const k of r.onlyHere) text += `  only here: ${k.dbi} ${displayKey(k.key)}: ${sideText(k.here)}\n`;
  if (r.tally.onlyHere > r.onlyHere.length) text += `  ... and ${r.tally.onlyHere - r.onlyHere.length} more only here\n`;
  return text;
}

export function textReport(results: LmdbResult[]): string {
  let text = '';
  const verdicts = { equal: 0, covered: 0, differs: 0 };
  for (const lmdb of results) {
    text += `${lmdb.db}: local content hash ${lmdb.contentHash.digest.toString('hex')} (${lmdb.contentHash.entries} entries)\n`;
    if (lmdb.instances.length === 0) text += `${lmdb.db}: no snapshots in the storage\n`;
    for (const r of lmdb.instances) {
      text += instanceText(lmdb.db, r);
      verdicts[r.verdict]++;
    }
  }
  const total = verdicts.equal + verdicts.covered + verdicts.differs;
  return `${text}verify: ${plural(results.length, 'LMDB')}, ${plural(total, 'instance snapshot')}: ` +
    `${verdicts.equal} equal, ${verdicts.covered} covered, ${verdicts.differs} differs\n`;
}

function sideJson(s: EntrySide | undefined): object | null {
  return s ? { timestamp: isoNanos(s.timestampNano), timestampNano: s.timestampNano.toString(), deleted: s.deleted, valueBytes: s.valueBytes } : null;
}

function keyJson(k: KeyReport): object {
  return {
    dbi: k.dbi, key: displayKey(k.key), keyHex: k.key.toString('hex'), here: sideJson(k.here), snapshot: sideJson(k.snapshot),
    ...(k.mergeTakes ? { mergeTakes: k.mergeTakes } : {}),
  };
}

export function jsonReport(results: LmdbResult[]): string {
  const doc = {
    ok: results.every((l) => l.instances.every((i) => i.verdict !== 'differs')),
    lmdbs: results.map((l) => ({
      lmdb: l.db, mode: l.mode, contentHash: l.contentHash.digest.toString('hex'), entries: l.contentHash.entries,
      instances: l.instances.map((r) => ({
        instance: r.instance, own: r.own, verdict: r.verdict, objects: r.objects, counts: r.tally, differingKeys: r.differingKeys,
        keys: r.differing.map(keyJson), onlyHereKeys: r.onlyHere.map(keyJson),
      })),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
