/**
 * Safe-to-log views of a Config. Go masks storage.options `secret_key`, `secret` and `password`;
 * we mask more: any option whose name contains secret, password, passwd, token, credential or
 * (account_)key (except names ending in `_file`/`_path`, which hold paths, not secrets), access keys
 * partially (first 4 characters kept, enough to tell keys apart), and the userinfo of URLs.
 */
import { Scalar, stringify } from 'yaml';
import type { Config } from './config.js';
import { CONFIG_SPEC } from './config.js';
import { camelCase, type Spec } from './schema.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import { formatDuration, formatSize } from './units.js';
import { MASK, maskUrlUserinfo, partialKeyId } from '../util/secrets.js';

export { MASK };

const SECRET_NAME = /secret|password|passwd|token|credential|private|(^|_)key$|account_key|sas/i;
const PARTIAL_NAME = /access_key(_id)?$|^key_id$|account_name/i;
const PATH_NAME = /(_file|_path)$/i;

const maskUrl = maskUrlUserinfo;

function redactValue(key: string, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => redactValue(key, v));
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) return redactOptions(value as Record<string, unknown>);
  if (typeof value !== 'string' || value === '' || PATH_NAME.test(key)) return typeof value === 'string' ? maskUrl(value) : value;
  if (PARTIAL_NAME.test(key)) return partialKeyId(value);
  if (SECRET_NAME.test(key)) return MASK;
  return maskUrl(value);
}

function redactOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, redactValue(k, v)]));
}

/**
 * A deep copy of the config with secrets masked (for logging; never use it to connect): storage.options
 * masked, and no parsed storage options (they hold the secrets, and may not be plain data).
 */
export function redactConfig(config: Config): Config<never> {
  const { type, options, cleanup, rootPath } = config.storage;
  const copy = structuredClone({ ...config, storage: { type, options, cleanup, rootPath } });
  copy.storage.options = redactOptions(copy.storage.options);
  copy.http.address = maskUrl(copy.http.address);
  return copy;
}

function toYamlValue(spec: Spec, value: unknown): unknown {
  switch (spec.kind) {
    case 'struct':
      return Object.fromEntries(
        Object.entries(spec.fields).map(([k, s]) => [k, toYamlValue(s, (value as Record<string, unknown>)[camelCase(k)])]),
      );
    case 'map':
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toYamlValue(spec.of, v)]));
    case 'duration':
      return formatDuration(value as number);
    case 'size':
      return formatSize(value as number);
    case 'mode':
      return Object.assign(new Scalar(value), { format: 'OCT' }); // YAML 1.1 octal: 0775
    case 'dbiflags':
      return value === undefined ? null : formatDbiFlags(value as number);
    default:
      return value;
  }
}

/** The effective config as YAML with the original key names, secrets masked (for `--log-config`). */
export function configToYaml(config: Config): string {
  return stringify(toYamlValue(CONFIG_SPEC, redactConfig(config)), { version: '1.1', lineWidth: 0 });
}
