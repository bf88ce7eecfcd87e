export * from './batch.js';
export { SnapshotFormatError } from './errors.js';
export * from './name.js';
export * from './types.js';
export { encodeSnapshot, snapshotProtobufChunks, type EncodeOptions } from './encode.js';
export {
  decodeSnapshot, decodeSnapshotToMemory, readSnapshotInfo,
  type DecodeLimits, type DecodeOptions, type MemoryDbi, type MemoryEntry, type MemorySnapshot,
  type SnapshotDbiInfo, type SnapshotInfo,
} from './decode.js';
