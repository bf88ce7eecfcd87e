/**
 * `lightningstream version`: the first line is the bare version (what the Go tool prints, so scripts
 * reading it keep working), then the Node.js and liblmdb versions. Needs no config file.
 */
import type { Command } from 'commander';
import type { ContextFactory } from './context.js';
import { packageVersion } from '../util/version.js';


let lmdbVersion: (() => string | Promise<string>) | undefined;

/** Lets the LMDB layer report the liblmdb version (e.g. `LMDB 0.9.24: (July 24, 2019)`). */
export function setLmdbVersionProvider(provider: () => string | Promise<string>): void {
  lmdbVersion = provider;
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('version')
    .description('Print the version number')
    .action(contexts.actionWithoutConfig(async () => {
      const lines = [packageVersion(), `node: ${process.version}`];
      if (lmdbVersion) {
        try {
          lines.push(`liblmdb: ${await lmdbVersion()}`);
        } catch (err) {
          lines.push(`liblmdb: unavailable (${(err as Error).message})`);
        }
      }
      process.stdout.write(lines.join('\n') + '\n');
    }));
}
