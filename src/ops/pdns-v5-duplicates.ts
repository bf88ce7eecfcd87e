/**
 * `experimental pdns-v5-fix-duplicate-domains`: the repair of PowerDNS Auth 4.8 schema version 5 LMDBs, with the
 * semantics of the Go command (cmd/lightningstream/commands/experimental-pdns.go).
 *
 * In schema 5 every instance gives a new zone its own random id, so two instances that create the same zone
 * each add an entry to the `domains_v5_0` index, and after a sync both are present: one name, two ids. Early
 * 4.8 releases fail on that. The index key is u16 BE length + the name (labels reversed, each followed by \0)
 * + the u32 BE domain id; the value is only a native header.
 *
 * The scan (in key order, so duplicates are neighbours; deleted entries skipped) reports every duplicate; the
 * oldest entry (header timestamp) is kept. With rename, the newer entry gets a deletion marker and the same id
 * is indexed under `<name>.dup-<id>.invalid` instead, which the operator then removes with
 * `pdnsutil delete-zone`. Those `.dup-<id>.invalid` names (found or made) are returned for that message.
 * Requires the `pdns` DBI with `schemaversion` 5. Renaming happens in one write txn (any error: no change);
 * without rename only a read txn is used.
 */
import type { Env, Txn } from '../lmdb/index.js';
import { buildValue, parseValue, type Header } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import { nowNano } from '../util/clock.js';

export interface DuplicateDomain {
  domain: string;
  keptId: number;
  renamedId: number;
}

export interface FixDuplicatesResult {
  duplicates: DuplicateDomain[];
  /** Zones named `*.dup-<id>.invalid` left to delete with pdnsutil (found in the index or made now). */
  toDelete: string[];
}

const INDEX_DBI = 'domains_v5_0';
const SCHEMA_DBI = 'pdns';

/** `com\0example\0` -> `example.com`. */
export function displayDomain(name: Buffer): string {
  return name.toString('latin1').split('\0').filter((l) => l.length > 0).reverse().join('.');
}

function showKey(key: Buffer): string {
  return `0x${key.toString('hex')}`;
}

function indexKey(name: Buffer, id: number): Buffer {
  const key = Buffer.alloc(2 + name.length + 4);
  key.writeUInt16BE(name.length, 0);
  name.copy(key, 2);
  key.writeUInt32BE(id, 2 + name.length);
  return key;
}

function checkSchemaVersion(txn: Txn): void {
  const dbi = txn.openDbi(SCHEMA_DBI);
  if (!dbi) throw new Error(`'${SCHEMA_DBI}' DBI not found, this does not look like a main DBI`);
  const raw = txn.get(dbi, Buffer.from('schemaversion'));
  if (raw === undefined) throw new Error('cannot check schemaversion: not found');
  let v: Buffer;
  try {
    v = parseValue(raw).value;
  } catch (err) {
    throw new Error(`schemaversion: ${(err as Error).message}`, { cause: err });
  }
  if (v.length !== 4) throw new Error(`schemaversion wrong length: ${v.length} bytes`);
  const version = v.readUInt32BE(0);
  if (version !== 5) throw new Error(`schemaversion incorrect: expected 5, got ${version}`);
}

interface IndexEntry {
  key: Buffer;
  name: Buffer;
  id: number;
  header: Header;
}

/** The live (not deleted) entries of the index, in key order, each checked. */
function readIndex(txn: Txn): IndexEntry[] {
  const dbi = txn.openDbi(INDEX_DBI);
  if (!dbi) throw new Error(`'${INDEX_DBI}' DBI not found, this does not look like a main DBI`);
  const out: IndexEntry[] = [];
  for (const b of txn.scan(dbi)) {
    for (let i = 0; i < b.count; i++) {
      const key = Buffer.from(b.buf.subarray(b.keyOff[i], b.keyOff[i]! + b.keyLen[i]!));
      let header: Header;
      try {
        header = parseValue(b.buf.subarray(b.valOff[i], b.valOff[i]! + b.valLen[i]!));
      } catch (err) {
        throw new Error(`key: ${showKey(key)}: invalid header: ${(err as Error).message}`, { cause: err });
      }
      if (header.deleted) continue;
      if (key.length < 6) throw new Error(`too short key: ${showKey(key)}`);
      const n = key.readUInt16BE(0);
      if (key.length !== 2 + n + 4) {
        throw new Error(`unexpected key length (expected ${2 + n + 4}, got ${key.length}) for key: ${showKey(key)}`);
      }
      out.push({ key, name: key.subarray(2, 2 + n), id: key.readUInt32BE(2 + n), header: { ...header } });
    }
  }
  return out;
}

const tsText = (ts: bigint): string => new Date(Number(ts / 1_000_000n)).toISOString();

function isDupName(display: string): boolean {
  return display.endsWith('.invalid') && display.includes('.dup-');
}

export function fixDuplicateDomains(env: Env, rename: boolean, log: Logger): FixDuplicatesResult {
  const scan = (txn: Txn): FixDuplicatesResult => {
    checkSchemaVersion(txn);
    const result: FixDuplicatesResult = { duplicates: [], toDelete: [] };
    const patches: Array<{ key: Buffer; deleted: boolean; domain: string; id: number }> = [];
    let prev: IndexEntry | undefined;
    for (const e of readIndex(txn)) {
      const domain = displayDomain(e.name);
      log.debug('Scan', { domain, domain_id: e.id });
      if (isDupName(domain)) result.toDelete.push(domain);
      if (prev?.name.equals(e.name)) {
        // The oldest entry stays; on equal timestamps the one seen first (Go's rule).
        const currentIsNewer = e.header.timestamp >= prev.header.timestamp;
        const [kept, renamed] = currentIsNewer ? [prev, e] : [e, prev];
        log.error('Duplicate domain entry!', {
          domain, domain_id: e.id, header_ts: tsText(e.header.timestamp), prev_domain_id: prev.id,
          prev_header_ts: tsText(prev.header.timestamp), keeping_oldest_id: kept.id, renaming_newest_id: renamed.id,
        });
        result.duplicates.push({ domain, keptId: kept.id, renamedId: renamed.id });
        if (rename) {
          const dupName = Buffer.concat([Buffer.from(`invalid\0dup-${renamed.id}\0`, 'latin1'), e.name]);
          patches.push({ key: indexKey(e.name, renamed.id), deleted: true, domain, id: renamed.id });
          patches.push({ key: indexKey(dupName, renamed.id), deleted: false, domain: displayDomain(dupName), id: renamed.id });
          result.toDelete.push(displayDomain(dupName));
        } else {
          log.info('Not patching, because --dangerous-do-rename not set');
        }
        prev = kept;
        continue;
      }
      prev = e;
    }
    if (patches.length > 0) {
      const dbi = txn.openDbi(INDEX_DBI)!;
      for (const p of patches) {
        const value = buildValue(nowNano(), txn.id, Buffer.alloc(0), { deleted: p.deleted });
        log.warn('PATCHING', { domain: p.domain, domain_id: p.id, flags: p.deleted ? 1 : 0, key: showKey(p.key), val: showKey(value) });
        txn.put(dbi, p.key, value);
      }
    }
    result.toDelete = [...new Set(result.toDelete)];
    return result;
  };
  const result = rename ? env.write(scan) : env.read(scan);
  log.info('Done', { duplicates: result.duplicates.length, renamed: rename ? result.duplicates.length : 0 });
  return result;
}
