import { inspect } from 'node:util';
import { ConfigError } from '../../config/errors.js';
import { formatDuration } from '../../config/units.js';
import { maskUrlUserinfo, partialKeyId } from '../../util/secrets.js';
import { CONNECTION_DEFAULTS, CONNECTION_KEYS, OptionReader, readConnectionOptions, type ConnectionOptions } from '../options.js';

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

/** A secret value: prints, logs and serialises as "<redacted>"; reveal() gives the value. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '<redacted>';
  }
  toJSON(): string {
    return '<redacted>';
  }
  [inspect.custom](): string {
    return '<redacted>';
  }
}

export interface S3TlsOptions {
  ca?: string;
  ca_file?: string;
  cert?: string;
  cert_file?: string;
  key?: Secret;
  key_file?: string;
  insecure_skip_verify: boolean;
  /** Accepted for compatibility; certificate files are read once at start-up. */
  watch_certs: boolean;
  watch_certs_poll_interval?: number;
  /** A server-side option in go-tlsconfig: accepted and ignored. */
  require_client_cert: boolean;
  insecure_key_log_file?: string;
}

/** Parsed S3 options; every duration is in milliseconds. Safe to log: secrets are Secret objects. */
export interface S3Options extends ConnectionOptions {
  access_key?: string;
  secret_key?: Secret;
  access_key_file?: string;
  secret_key_file?: string;
  secrets_refresh_interval: number;
  region: string;
  bucket: string;
  storage_class?: string;
  create_bucket: boolean;
  global_prefix: string;
  prefix_folders: boolean;
  hide_folders: boolean;
  /** undefined: AWS (the SDK's regional endpoint). */
  endpoint_url?: string;
  disable_send_content_md5: boolean;
  num_minio_threads: number;
  tls: S3TlsOptions;
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

const TLS_KEYS = [
  'ca',
  'ca_file',
  'cert',
  'cert_file',
  'key',
  'key_file',
  'insecure_skip_verify',
  'watch_certs',
  'watch_certs_poll_interval',
  'require_client_cert',
  'insecure_key_log_file',
] as const;

/** The `tls` mapping (PowerDNS/go-tlsconfig Config names); the azure backend shares it. */
export function parseTls(r: OptionReader): S3TlsOptions {
  r.allowOnly(TLS_KEYS);
  const key = r.string('key');
  const tls: S3TlsOptions = {
    ca: r.string('ca'),
    ca_file: r.string('ca_file'),
    cert: r.string('cert'),
    cert_file: r.string('cert_file'),
    key: key === undefined ? undefined : new Secret(key),
    key_file: r.string('key_file'),
    insecure_skip_verify: r.bool('insecure_skip_verify', false),
    watch_certs: r.bool('watch_certs', false),
    watch_certs_poll_interval: r.has('watch_certs_poll_interval') ? r.duration('watch_certs_poll_interval', 5000) : undefined,
    require_client_cert: r.bool('require_client_cert', false),
    insecure_key_log_file: r.string('insecure_key_log_file'),
  };
  const hasCert = tls.cert !== undefined || tls.cert_file !== undefined;
  const hasKey = tls.key !== undefined || tls.key_file !== undefined;
  if (hasCert !== hasKey) {
    throw new ConfigError(r.key(hasCert ? 'key' : 'cert'), 'a client certificate needs both cert (or cert_file) and key (or key_file)');
  }
  return tls;
}

/** Validates the `storage.options` mapping of an s3 storage (path names the mapping in errors). */
export function parseS3Options(raw: unknown, path = 'storage.options'): S3Options {
  const r = new OptionReader(raw, path);
  r.allowOnly(S3_KEYS);
  const secret = r.string('secret_key');
  const o: S3Options = {
    access_key: r.string('access_key'),
    secret_key: secret === undefined ? undefined : new Secret(secret),
    access_key_file: r.string('access_key_file'),
    secret_key_file: r.string('secret_key_file'),
    secrets_refresh_interval: r.duration('secrets_refresh_interval', S3_DEFAULTS.secrets_refresh_interval),
    region: r.string('region') ?? S3_DEFAULTS.region,
    bucket: r.string('bucket') ?? '',
    storage_class: r.string('storage_class'),
    create_bucket: r.bool('create_bucket', false),
    global_prefix: r.string('global_prefix') ?? '',
    prefix_folders: r.bool('prefix_folders', false),
    hide_folders: r.bool('hide_folders', false),
    endpoint_url: r.string('endpoint_url'),
    disable_send_content_md5: r.bool('disable_send_content_md5', false),
    num_minio_threads: r.int('num_minio_threads', 0, 0) || S3_DEFAULTS.num_minio_threads,
    tls: parseTls(r.nested('tls')),
    ...readConnectionOptions(r),
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
  if (o.endpoint_url !== undefined) {
    let u: URL;
    try {
      u = new URL(o.endpoint_url);
    } catch {
      throw new ConfigError(r.key('endpoint_url'), `not a URL: ${JSON.stringify(o.endpoint_url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new ConfigError(r.key('endpoint_url'), `unsupported scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))}, use http or https`);
    }
  }
  if (o.prefix_folders && o.hide_folders) {
    throw new ConfigError(r.key('hide_folders'), 'cannot be combined with prefix_folders');
  }
  return o;
}

/** A plain, loggable view of the options (secrets masked, durations as Go prints them). */
export function redactedS3Options(o: S3Options): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  for (const k of Object.keys(out)) {
    const v = (o as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number' && (k.endsWith('_timeout') || k.endsWith('_interval') || k === 'dial_keep_alive')) {
      out[k] = formatDuration(v);
    } else if (typeof v === 'string') {
      out[k] = k === 'access_key' ? partialKeyId(v) : maskUrlUserinfo(v);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Credentials
