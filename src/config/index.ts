export * from './config.js';
export { ConfigError, ConfigSyntaxError } from './errors.js';
export { expandEnv, type Expanded } from './env.js';
export { parseDuration, formatDuration, parseSize, formatSize } from './units.js';
export { parseDbiFlags, formatDbiFlags, DBI_FLAGS } from '../lmdb/flag-names.js';
export { redactConfig, configToYaml, MASK } from './redact.js';
export { yamlName } from './schema.js';
