import type { Env } from './env.js';
import { dbiFlagNames } from './flags.js';

/**
 * An open DBI handle. Handles are opened once per env and cached for its lifetime (the LMDB
 * rule); get them from env.openDbi() / txn.openDbi(), never construct one.
 */
export class Dbi {
  /** Set when the handle was closed by LMDB (txn.drop(dbi, true), or its creating txn aborted). */
  closed = false;
  /** @internal sequence number of the txn that opened it (txns begun earlier cannot use it) */
  openedAt = 0;

  constructor(
    readonly env: Env,
    /** DBI name; null for the unnamed main DB. */
    readonly name: string | null,
    /** LMDB's MDB_dbi number. */
    readonly handle: number,
    /** Persistent flags (mdb_dbi_flags): MDB_DUPSORT, MDB_INTEGERKEY, ... */
    readonly flags: number,
  ) {}

  /** For messages: `dbi "records"` or `main dbi`. */
  get label(): string {
    return this.name === null ? 'main dbi' : `dbi ${JSON.stringify(this.name)}`;
  }

  toString(): string {
    return `Dbi(${this.name === null ? '<main>' : this.name}, flags=${dbiFlagNames(this.flags)})`;
  }
}
