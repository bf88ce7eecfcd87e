/** A configuration problem, always naming the offending key path (e.g. `storage.options.bucket`). */
export class ConfigError extends Error {
  constructor(readonly key: string, problem: string) {
    super(`config: ${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** The YAML text itself could not be parsed; `key` is the position (`line 3, column 5`). */
export class ConfigSyntaxError extends ConfigError {
  constructor(readonly line: number, readonly column: number, problem: string) {
    super(`line ${line}, column ${column}`, problem);
    this.name = 'ConfigSyntaxError';
  }
}
