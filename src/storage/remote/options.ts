import { inspect } from 'node:util';
import { ConfigError } from '../../config/errors.js';
import { formatDuration } from '../../config/units.js';
import { maskUrlUserinfo } from '../../util/secrets.js';
import { CONNECTION_DEFAULTS, readConnectionOptions, type ConnectionOptions, type OptionReader } from '../options.js';

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

/** The `tls` mapping of the s3 and azure backends (PowerDNS/go-tlsconfig Config names). */
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

export function parseTls(r: OptionReader): S3TlsOptions {
  r.allowOnly(TLS_KEYS);
  const tls: S3TlsOptions = {
    ca: r.string('ca'),
    ca_file: r.string('ca_file'),
    cert: r.string('cert'),
    cert_file: r.string('cert_file'),
    key: readSecret(r, 'key'),
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

/** A string option held as a Secret. */
export function readSecret(r: OptionReader, name: string): Secret | undefined {
  const value = r.string(name);
  return value === undefined ? undefined : new Secret(value);
}

/** The options every remote backend has besides its own (Go's simpleblob s3 and azure share these names). */
export interface RemoteOptions extends ConnectionOptions {
  secrets_refresh_interval: number;
  global_prefix: string;
  /** undefined: the service's public endpoint. */
  endpoint_url?: string;
  tls: S3TlsOptions;
}

/** Reads the RemoteOptions keys of r, with their defaults (endpoint_url is checked by endpointUrl, in each backend's order). */
export function readRemoteOptions(r: OptionReader): RemoteOptions {
  return {
    secrets_refresh_interval: r.duration('secrets_refresh_interval', CONNECTION_DEFAULTS.secrets_refresh_interval),
    global_prefix: r.string('global_prefix') ?? '',
    endpoint_url: r.string('endpoint_url'),
    tls: parseTls(r.nested('tls')),
    ...readConnectionOptions(r),
  };
}

/** endpoint_url as a URL: ConfigError unless it parses and is http or https. */
export function endpointUrl(r: OptionReader, text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(r.key('endpoint_url'), `not a URL: ${JSON.stringify(maskUrlUserinfo(text))}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(r.key('endpoint_url'), `unsupported scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))}, use http or https`);
  }
  return u;
}

/** A plain, loggable view of the options: secrets masked, durations as Go prints them, strings through maskString. */
export function redactedRemoteOptions(o: RemoteOptions, maskString: (key: string, value: string) => string = (_k, v) => maskUrlUserinfo(v)): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  for (const k of Object.keys(out)) {
    const v = (o as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number' && (k.endsWith('_timeout') || k.endsWith('_interval') || k === 'dial_keep_alive')) {
      out[k] = formatDuration(v);
    } else if (typeof v === 'string') {
      out[k] = maskString(k, v);
    }
  }
  return out;
}
