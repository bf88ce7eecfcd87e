import { ConfigError } from '../../config/errors.js';
import { maskUrlUserinfo, partialKeyId } from '../../util/secrets.js';
import { CONNECTION_DEFAULTS, CONNECTION_KEYS, OptionReader } from '../options.js';
import { endpointUrl, readRemoteOptions, readSecret, redactedRemoteOptions, Secret, type RemoteOptions } from '../remote/options.js';

export { parseTls, Secret, type S3TlsOptions } from '../remote/options.js';

// ---------------------------------------------------------------------------------------------
// Options: the names and defaults of the Go implementation's S3 backend (PowerDNS/simpleblob
// backends/s3 Options, and PowerDNS/go-tlsconfig Config for `tls`).

/** Name of the update marker object (under global_prefix); never reported by list(). */
export const UPDATE_MARKER_NAME = 'update-marker';

export const S3_DEFAULTS = {
  region: 'us-east-1',
  ...CONNECTION_DEFAULTS,
  num_minio_threads: 4,
} as const;

/** Parsed S3 options; every duration is in milliseconds. Safe to log: secrets are Secret objects. */
export interface S3Options extends RemoteOptions {
  access_key?: string;
  secret_key?: Secret;
  access_key_file?: string;
  secret_key_file?: string;
  region: string;
  bucket: string;
  storage_class?: string;
  create_bucket: boolean;
  prefix_folders: boolean;
  hide_folders: boolean;
  disable_send_content_md5: boolean;
  num_minio_threads: number;
}

const S3_KEYS = [
  'access_key',
  'secret_key',
  'access_key_file',
  'secret_key_file',
  'secrets_refresh_interval',
  'region',
  'bucket',
  'storage_class',
  'create_bucket',
  'global_prefix',
  'prefix_folders',
  'hide_folders',
  'endpoint_url',
  'disable_send_content_md5',
  'num_minio_threads',
  'tls',
  ...CONNECTION_KEYS,
] as const;

/** Validates the `storage.options` mapping of an s3 storage (path names the mapping in errors). */
export function parseS3Options(raw: unknown, path = 'storage.options'): S3Options {
  const r = new OptionReader(raw, path);
  r.allowOnly(S3_KEYS);
  const o: S3Options = {
    access_key: r.string('access_key'),
    secret_key: readSecret(r, 'secret_key'),
    access_key_file: r.string('access_key_file'),
    secret_key_file: r.string('secret_key_file'),
    region: r.string('region') ?? S3_DEFAULTS.region,
    bucket: r.string('bucket') ?? '',
    storage_class: r.string('storage_class'),
    create_bucket: r.bool('create_bucket', false),
    prefix_folders: r.bool('prefix_folders', false),
    hide_folders: r.bool('hide_folders', false),
    disable_send_content_md5: r.bool('disable_send_content_md5', false),
    num_minio_threads: r.int('num_minio_threads', 0, 0) || S3_DEFAULTS.num_minio_threads,
    ...readRemoteOptions(r),
  };

  if (!o.bucket) throw new ConfigError(r.key('bucket'), 'is required for the s3 storage');
  const hasFiles = o.access_key_file !== undefined || o.secret_key_file !== undefined;
  const hasStatic = o.access_key !== undefined || o.secret_key !== undefined;
  if (hasFiles && hasStatic) {
    throw new ConfigError(
      r.key(o.access_key_file !== undefined ? 'access_key_file' : 'secret_key_file'),
      'use either access_key and secret_key, or access_key_file and secret_key_file, not both',
    );
  }
  if (hasFiles) {
    if (o.access_key_file === undefined) throw new ConfigError(r.key('access_key_file'), 'is required with secret_key_file');
    if (o.secret_key_file === undefined) throw new ConfigError(r.key('secret_key_file'), 'is required with access_key_file');
    if (o.secrets_refresh_interval < 1000) throw new ConfigError(r.key('secrets_refresh_interval'), 'must be at least 1s');
  } else {
    if (o.access_key === undefined) {
      throw new ConfigError(r.key('access_key'), 'credentials are required: set access_key and secret_key, or access_key_file and secret_key_file');
    }
    if (o.secret_key === undefined) throw new ConfigError(r.key('secret_key'), 'is required with access_key');
  }
  if (o.endpoint_url !== undefined) endpointUrl(r, o.endpoint_url);
  if (o.prefix_folders && o.hide_folders) {
    throw new ConfigError(r.key('hide_folders'), 'cannot be combined with prefix_folders');
  }
  return o;
}

/** A plain, loggable view of the options (secrets masked, durations as Go prints them). */
export function redactedS3Options(o: S3Options): Record<string, unknown> {
  return redactedRemoteOptions(o, (k, v) => (k === 'access_key' ? partialKeyId(v) : maskUrlUserinfo(v)));
}

// ---------------------------------------------------------------------------------------------
// Credentials
