/**
 * The application side of the demo: writes native-mode values (24-byte header) into one DBI of an
 * instance's LMDB, and reads the LMDB back, as an application sharing the LMDB with its
 * `lightningstream sync` process would.
 */
import { Env, buildValue, parseValue, type Dbi } from '../lmdb/index.js';

export const DATA_DBI = 'data';

/** One key as the application sees it (the header's txn id is local, so it is left out). */
export interface Item {
  timestamp: bigint;
  deleted: boolean;
  value: string;
}

export type Contents = Map<string, Item>;

export class AppDb {
  readonly env: Env;
  private readonly dbi: Dbi;

  /** Opens (creating when missing) the LMDB and its data DBI; do it before starting the sync process. */
  constructor(readonly path: string) {
    this.env = Env.open(path, { create: true, maxDbs: 64 });
    try {
      this.dbi = this.env.openDbi(DATA_DBI, { create: true })!;
    } catch (err) {
      this.env.close();
      throw err;
    }
  }

  /** Writes several keys in one commit; a value of null writes a deletion marker. */
  write(changes: ReadonlyArray<{ key: string; value: string | null; timestamp: bigint }>): void {
    this.env.write((txn) => {
      for (const c of changes) {
        const value = c.value === null
          ? buildValue(c.timestamp, txn.id, Buffer.alloc(0), { deleted: true })
          : buildValue(c.timestamp, txn.id, Buffer.from(c.value, 'utf8'));
        txn.put(this.dbi, Buffer.from(c.key, 'utf8'), value);
      }
    });
  }

  /** One key, or undefined when absent. */
  get(key: string): Item | undefined {
    const raw = this.env.read((txn) => txn.get(this.dbi, Buffer.from(key, 'utf8')));
    return raw && toItem(raw);
  }

  /** The whole data DBI. */
  contents(): Contents {
    return this.env.read((txn) => {
      const out: Contents = new Map();
      for (const e of txn.entries(this.dbi)) out.set(e.key.toString('utf8'), toItem(e.value));
      return out;
    });
  }

  /**
   * A canonical text of every application DBI (names not starting with `_sync`): name, key,
   * timestamp, deleted flag and value of every entry; equal texts mean identical data.
   */
  fingerprint(): string {
    const names = this.env.listDbis().filter((n) => !n.startsWith('_sync'));
    const dbis = names.map((n) => [n, this.env.openDbi(n)!] as const);
    return this.env.read((txn) => {
      const lines: string[] = [];
      for (const [name, dbi] of dbis) {
        lines.push(`dbi ${JSON.stringify(name)}`);
        for (const e of txn.entries(dbi)) {
          const h = parseValue(e.value);
          lines.push(`${e.key.toString('hex')} ${h.timestamp} ${h.deleted ? 'D' : '-'} ${h.value.toString('hex')}`);
        }
      }
      return lines.join('\n');
    });
  }

  close(): void {
    this.env.close();
  }
}

function toItem(raw: Buffer): Item {
  const p = parseValue(raw);
  return { timestamp: p.timestamp, deleted: p.deleted, value: p.value.toString('utf8') };
}
