import { ConfigError } from '../config/errors.js';
import type { StorageContext } from './common.js';
import { FsStorage, parseFsOptions, type FsOptions } from './fs.js';
import { MemoryStorage, parseMemoryOptions, type MemoryOptions } from './memory.js';
import { parseAzureOptions, type AzureOptions } from './azure/options.js';
import { parseS3Options, type S3Options } from './s3/options.js';
import type { Storage } from './storage.js';

import { STORAGE_TYPES, type StorageType } from '../config/config.js';

export { STORAGE_TYPES, type StorageType };

export type StorageOptions =
  | { type: 'fs'; options: FsOptions }
  | { type: 'memory'; options: MemoryOptions }
  | { type: 's3'; options: S3Options }
  | { type: 'azure'; options: AzureOptions };

/**
 * Validates a storage type and its options mapping without connecting anywhere, so the config
 * module can refuse a bad file at load time. Errors are ConfigErrors naming `<path>.type` or
 * `<path>.options.<key>` (path defaults to `storage`).
 */
export function parseStorageOptions(type: unknown, options: unknown, path = 'storage'): StorageOptions {
  const optPath = `${path}.options`;
  switch (type) {
    case 'fs':
      return { type, options: parseFsOptions(options, optPath) };
    case 'memory':
      return { type, options: parseMemoryOptions(options, optPath) };
    case 's3':
      return { type, options: parseS3Options(options, optPath) };
    case 'azure':
      return { type, options: parseAzureOptions(options, optPath) };
    default:
      throw new ConfigError(`${path}.type`, `unknown storage type ${JSON.stringify(type)} (expected one of: ${STORAGE_TYPES.join(', ')})`);
  }
}

/** Opens a backend from already parsed options. */
export async function openStorage(parsed: StorageOptions, ctx?: StorageContext): Promise<Storage> {
  switch (parsed.type) {
    case 'fs':
      return FsStorage.open(parsed.options, ctx);
    case 'memory':
      return new MemoryStorage(); // parsed.options is always {}
    case 's3':
      // Loaded on demand: the AWS SDK costs a third of a second at start-up, which fs users need not pay.
      return (await import('./s3/backend.js')).S3Storage.open(parsed.options, ctx);
    case 'azure':
      // Loaded on demand too: only azure users load the Azure SDK.
      return (await import('./azure/backend.js')).AzureStorage.open(parsed.options, ctx);
  }
}

/** Validates the options (ConfigError on a problem) and opens the backend. */
export async function createStorage(type: StorageType, options: unknown, ctx?: StorageContext): Promise<Storage> {
  return openStorage(parseStorageOptions(type, options), ctx);
}

export { NotFoundError, type ObjectInfo, type Storage } from './storage.js';
export {
  checkObjectName,
  compareNames,
  InvalidNameError,
  loadAll,
  StorageClosedError,
  type StorageContext,
  type StorageLogger,
} from './common.js';
export { parseDuration, formatDuration } from '../config/units.js';
export { FsStorage, parseFsOptions, type FsOptions } from './fs.js';
export { MemoryStorage, parseMemoryOptions, type MemoryOptions } from './memory.js';
export {
  parseS3Options,
  redactedS3Options,
  Secret,
  UPDATE_MARKER_NAME,
  type S3Options,
  type S3TlsOptions,
} from './s3/options.js';
export type { S3Storage, S3StorageError } from './s3/backend.js';
export {
  AZURE_UPDATE_MARKER_NAME,
  parseAzureOptions,
  redactedAzureOptions,
  type AzureOptions,
} from './azure/options.js';
export type { AzureStorage, AzureStorageError } from './azure/backend.js';
