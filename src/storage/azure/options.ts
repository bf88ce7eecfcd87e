import { ConfigError } from '../../config/errors.js';
import { CONNECTION_DEFAULTS, CONNECTION_KEYS, OptionReader } from '../options.js';
import { endpointUrl, readRemoteOptions, readSecret, redactedRemoteOptions, type RemoteOptions, type Secret } from '../remote/options.js';

// ---------------------------------------------------------------------------------------------
// Options: the names and defaults of the Go implementation's Azure backend (PowerDNS/simpleblob
// backends/azure Options; `tls` is PowerDNS/go-tlsconfig Config, as for s3).

/** Name of the update marker blob (under global_prefix); never reported by list(). Same as Go's. */
export const AZURE_UPDATE_MARKER_NAME = 'update-marker';

export const AZURE_DEFAULTS = {
  ...CONNECTION_DEFAULTS,
  /** Blocks uploaded in parallel by a streamed store (Go: azblob's UploadStreamOptions default, 1). */
  concurrency: 1,
} as const;

/** Parsed azure options; every duration is in milliseconds. Safe to log: the key is a Secret. */
export interface AzureOptions extends RemoteOptions {
  account_name?: string;
  account_key?: Secret;
  account_key_file?: string;
  use_shared_key: boolean;
  container: string;
  create_container: boolean;
  concurrency: number;
}

/** Every key of Go's azure Options (simpleblob backends/azure/azure.go), nothing else. */
export const AZURE_KEYS = [
  'account_name',
  'account_key',
  'account_key_file',
  'secrets_refresh_interval',
  'use_shared_key',
  'container',
  'create_container',
  'global_prefix',
  'endpoint_url',
  'tls',
  ...CONNECTION_KEYS,
  'concurrency',
] as const;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** True when text is a non-empty base64 string (how Azure account keys are written). */
export function isBase64Key(text: string): boolean {
  return text.length % 4 === 0 && BASE64.test(text);
}

/** Validates the `storage.options` mapping of an azure storage (path names the mapping in errors). */
export function parseAzureOptions(raw: unknown, path = 'storage.options'): AzureOptions {
  const r = new OptionReader(raw, path);
  r.allowOnly(AZURE_KEYS);
  const o: AzureOptions = {
    account_name: r.string('account_name'),
    account_key: readSecret(r, 'account_key'),
    account_key_file: r.string('account_key_file'),
    use_shared_key: r.bool('use_shared_key', false),
    container: r.string('container') ?? '',
    create_container: r.bool('create_container', false),
    ...readRemoteOptions(r),
    concurrency: r.int('concurrency', 0, 0) || AZURE_DEFAULTS.concurrency,
  };

  // Go's checks, in Go's order: container, then account_name (unless endpoint_url), then the shared key.
  if (!o.container) throw new ConfigError(r.key('container'), 'is required for the azure storage');
  if (o.account_name === undefined && o.endpoint_url === undefined) {
    throw new ConfigError(r.key('account_name'), 'is required when endpoint_url is not set');
  }
  if (o.use_shared_key) {
    if (o.account_name === undefined) throw new ConfigError(r.key('account_name'), 'is required when use_shared_key is true');
    if (o.account_key !== undefined && o.account_key_file !== undefined) {
      throw new ConfigError(r.key('account_key_file'), 'use either account_key or account_key_file, not both');
    }
    if (o.account_key === undefined && o.account_key_file === undefined) {
      throw new ConfigError(r.key('account_key'), 'account_key or account_key_file is required when use_shared_key is true');
    }
    if (o.account_key !== undefined && !isBase64Key(o.account_key.reveal())) {
      throw new ConfigError(r.key('account_key'), 'is not a base64 account key');
    }
  }
  // Without use_shared_key (Go's default), the default Azure credential chain authenticates (see backend.ts);
  // a key in the config is then ignored, as in Go.
  if (o.use_shared_key && o.account_key_file !== undefined && o.secrets_refresh_interval < 1000) {
    throw new ConfigError(r.key('secrets_refresh_interval'), 'must be at least 1s');
  }
  if (o.endpoint_url !== undefined) {
    const u = endpointUrl(r, o.endpoint_url);
    if (u.search !== '' || u.username !== '' || u.password !== '') {
      throw new ConfigError(r.key('endpoint_url'), 'must not contain a query (SAS token) or user info: the account key or the Azure credential authenticates');
    }
  }
  return o;
}

/** The blob service URL: endpoint_url, or Azure's public endpoint of the account. */
export function azureServiceUrl(o: AzureOptions): string {
  return (o.endpoint_url ?? `https://${o.account_name ?? ''}.blob.core.windows.net`).replace(/\/+$/, '');
}

/** A plain, loggable view of the options (the key masked, durations as Go prints them). */
export function redactedAzureOptions(o: AzureOptions): Record<string, unknown> {
  return redactedRemoteOptions(o);
}
