/**
 * `lightningstream checkconfig`: loads and validates the config file (like every config-using command does
 * before it starts) and reports success. Exists in a development branch of the Go tool; handy in
 * deployment scripts. With --log-config it also prints the effective configuration (secrets masked).
 */
import type { Command } from 'commander';
import { EXIT_OK, type ContextFactory } from './context.js';

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('checkconfig')
    .description('Check that the configuration is valid')
    .action(contexts.action((ctx) => {
      ctx.logger.info('Config is valid', { file: ctx.options.config, lmdbs: Object.keys(ctx.config.lmdbs).join(',') });
      return EXIT_OK;
    }));
}
