/**
 * The field numbers of snapshot.proto, and the tags (field number << 3 | wire type) the encoder writes
 * and the decoder matches: one definition for both. Every tag here fits in one byte. The contentHash
 * field (100) is defined with its message, in content-hash.ts.
 */
import { WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './wire.js';

// message Snapshot
export const FIELD_FORMAT_VERSION = 1;
export const FIELD_META = 2;
export const FIELD_DATABASES = 3;
/** The highest field number of Go's schema (fields up to it are known; above, ours or unknown). */
export const FIELD_COMPAT_VERSION = 4;

// message Snapshot.Meta
export const FIELD_META_GENERATION_ID = 1;
export const FIELD_META_INSTANCE_ID = 2;
export const FIELD_META_HOSTNAME = 3;
export const FIELD_META_LMDB_TXN_ID = 4;
export const FIELD_META_TIMESTAMP_NANO = 5;
/** `reserved 6`: skipped like an unknown field. */
export const FIELD_META_RESERVED = 6;
export const FIELD_META_DATABASE_NAME = 7;
/** The highest Meta field number. */
export const FIELD_META_FROM_LMDB_TXN_ID = 8;

// message DBI
export const FIELD_DBI_NAME = 1;
export const FIELD_DBI_ENTRIES = 2;
export const FIELD_DBI_FLAGS = 3;
export const FIELD_DBI_TRANSFORM = 4;

// message KV
export const FIELD_KV_KEY = 1;
export const FIELD_KV_VALUE = 2;
export const FIELD_KV_TIMESTAMP_NANO = 3;
/** The highest KV field number. */
export const FIELD_KV_FLAGS = 4;

// message ContentHash
export const FIELD_CONTENT_HASH_ALGORITHM = 1;
export const FIELD_CONTENT_HASH_DIGEST = 2;
export const FIELD_CONTENT_HASH_ENTRIES = 3;

export const TAG_FORMAT_VERSION = (FIELD_FORMAT_VERSION << 3) | WIRE_VARINT; // 0x08
export const TAG_META = (FIELD_META << 3) | WIRE_LEN; // 0x12
export const TAG_DATABASES = (FIELD_DATABASES << 3) | WIRE_LEN; // 0x1a
export const TAG_COMPAT_VERSION = (FIELD_COMPAT_VERSION << 3) | WIRE_VARINT; // 0x20

export const TAG_META_GENERATION_ID = (FIELD_META_GENERATION_ID << 3) | WIRE_LEN; // 0x0a
export const TAG_META_INSTANCE_ID = (FIELD_META_INSTANCE_ID << 3) | WIRE_LEN; // 0x12
export const TAG_META_HOSTNAME = (FIELD_META_HOSTNAME << 3) | WIRE_LEN; // 0x1a
export const TAG_META_LMDB_TXN_ID = (FIELD_META_LMDB_TXN_ID << 3) | WIRE_VARINT; // 0x20
export const TAG_META_TIMESTAMP_NANO = (FIELD_META_TIMESTAMP_NANO << 3) | WIRE_FIXED64; // 0x29
export const TAG_META_DATABASE_NAME = (FIELD_META_DATABASE_NAME << 3) | WIRE_LEN; // 0x3a
export const TAG_META_FROM_LMDB_TXN_ID = (FIELD_META_FROM_LMDB_TXN_ID << 3) | WIRE_VARINT; // 0x40

export const TAG_DBI_NAME = (FIELD_DBI_NAME << 3) | WIRE_LEN; // 0x0a
export const TAG_DBI_ENTRY = (FIELD_DBI_ENTRIES << 3) | WIRE_LEN; // 0x12
export const TAG_DBI_FLAGS = (FIELD_DBI_FLAGS << 3) | WIRE_VARINT; // 0x18
export const TAG_DBI_TRANSFORM = (FIELD_DBI_TRANSFORM << 3) | WIRE_LEN; // 0x22

export const TAG_KV_KEY = (FIELD_KV_KEY << 3) | WIRE_LEN; // 0x0a
export const TAG_KV_VALUE = (FIELD_KV_VALUE << 3) | WIRE_LEN; // 0x12
export const TAG_KV_TIMESTAMP = (FIELD_KV_TIMESTAMP_NANO << 3) | WIRE_FIXED64; // 0x19
export const TAG_KV_FLAGS = (FIELD_KV_FLAGS << 3) | WIRE_VARINT; // 0x20

export const TAG_CONTENT_HASH_ALGORITHM = (FIELD_CONTENT_HASH_ALGORITHM << 3) | WIRE_LEN; // 0x0a
export const TAG_CONTENT_HASH_DIGEST = (FIELD_CONTENT_HASH_DIGEST << 3) | WIRE_LEN; // 0x12
export const TAG_CONTENT_HASH_ENTRIES = (FIELD_CONTENT_HASH_ENTRIES << 3) | WIRE_VARINT; // 0x18
