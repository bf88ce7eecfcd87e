/**
 * Published content states (README, "Content hashes"): `_hash__<db>__<instance>__<timestamp>__<sha256 hex>`,
 * an empty object per instance telling the hash of its LMDB's synced data at that time. The hash is in the
 * name so one LIST reads every instance's state. The prefix differs from `<db>__`, so neither Go nor our
 * receivers and cleaner ever list these objects with the snapshots.
 */
import { formatTimestamp, NAME_SEPARATOR, parseTimestamp } from '../../snapshot/name.js';

export const STATE_PREFIX = '_hash';

export interface PublishedState {
  name: string;
  instance: string;
  timestamp: bigint;
  digestHex: string;
}

export function statePrefix(db: string): string {
  return `${STATE_PREFIX}${NAME_SEPARATOR}${db}${NAME_SEPARATOR}`;
}

export function buildStateName(db: string, instance: string, timestamp: bigint, digest: Buffer): string {
  return `${statePrefix(db)}${instance}${NAME_SEPARATOR}${formatTimestamp(timestamp)}${NAME_SEPARATOR}${digest.toString('hex')}`;
}

/** The state an object name tells, or undefined for a name that is not one (skipped). */
export function parseStateName(db: string, name: string): PublishedState | undefined {
  const prefix = statePrefix(db);
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split(NAME_SEPARATOR);
  if (parts.length !== 3) return undefined;
  const [instance, ts, hex] = parts as [string, string, string];
  const timestamp = parseTimestamp(ts);
  if (instance === '' || timestamp === undefined || !/^[0-9a-f]{64}$/.test(hex)) return undefined;
  return { name, instance, timestamp, digestHex: hex };
}
