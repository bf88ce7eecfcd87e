/** A configuration problem, always naming the offending key path (e.g. `storage.options.bucket`). */
export class ConfigError extends Error {
  constructor(readonly key: string, problem: string) {
    super(`config: ${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}
