/** The LMDB layer: import from here. */
export { Env, type EnvOptions, type EnvInfo, type Stat, type OpenDbiOptions } from './env.js';
export { Txn } from './txn.js';
export { Cursor, type Entry, type ScanOptions } from './cursor.js';
export { Dbi } from './dbi.js';
export type { KVBatch } from './batch.js';
export { KVBatchWriter } from './batch-writer.js';
export * from './flags.js';
export { LmdbError, codeName, MDB_CODES, MDB_NOTFOUND, MDB_KEYEXIST, MDB_MAP_FULL, MDB_MAP_RESIZED, MDB_BAD_VALSIZE } from './errors.js';
export * from './header.js';
export { native } from './native.js';
