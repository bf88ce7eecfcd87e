/**
 * The `lightningstream` command line (commander).
 *
 * Adding a command: create `src/cli/<name>.ts` exporting
 *
 *     export function register(program: Command, contexts: ContextFactory): void {
 *       program.command('stats').description('...').option(...)
 *         .action(contexts.action(async (ctx, opts, cmd) => { ... return 0; }));
 *     }
 *
 * and add its `register` to COMMANDS below. `contexts.action` loads the config (with `--instance` and the
 * log flags applied), creates the logger and the AbortSignal (SIGINT/SIGTERM/--timeout), then runs the body;
 * its return value is the exit code. Use `contexts.actionWithoutConfig` for commands that need no config.
 * Subcommands of `snapshots` register on the `snapshots` parent in snapshots.ts.
 *
 * Errors: a thrown error prints one line `lightningstream: <message>` on stderr (with --debug, also the
 * stack of an unexpected one: TypeError, RangeError...) and exits 1; usage errors (unknown command/option, bad flag value) exit 2; `--timeout` exits 75.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, LOG_TIMESTAMPS, parseDuration } from '../config/index.js';
import { maskUrlUserinfo } from '../util/secrets.js';
import { packageVersion } from '../util/version.js';
import { createContextFactory, EXIT_ERROR, EXIT_OK, EXIT_USAGE, type ContextFactory, type RunState } from './context.js';
import * as checkconfig from './checkconfig.js';
import * as snapshots from './snapshots.js';
import * as version from './version.js';
import * as sync from './sync.js';
import * as dump from './dump.js';
import * as stats from './stats.js';
import * as migrateTimestamps from './migrate-timestamps.js';
import * as dropShadow from './drop-shadow.js';
import * as verify from './verify.js';
import * as restore from './restore.js';
import * as completion from './completion.js';
import * as docs from './docs.js';
import * as pdnsV5FixDuplicateDomains from './pdns-v5-fix-duplicate-domains.js';
import { MAXIMUM_MIN_PID } from './minimum-pid.js';

export type RegisterCommand = (program: Command, contexts: ContextFactory) => void;

/** Every top-level command, one file each. */
const COMMANDS: RegisterCommand[] = [
  version.register,
  checkconfig.register,
  snapshots.register,
  sync.register,
  dump.register,
  stats.register,
  migrateTimestamps.register,
  pdnsV5FixDuplicateDomains.register,
  dropShadow.register,
  verify.register,
  restore.register,
  completion.register,
  docs.register,
  // sync.register, receive.register, dump.register, stats.register, dropShadow.register, ...
];

function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function intArg(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected an integer');
  return Number(value);
}

export function buildProgram(state: RunState): Command {
  const program = new Command('lightningstream')
    .description('This tool syncs one or more LMDB databases with an S3 bucket')
    .version(packageVersion(), '-v, --version', 'Print the version number')
    .option('-c, --config <file>', 'Config file', 'lightningstream.yaml')
    .option('-i, --instance <name>', 'Instance name, defaults to hostname. MUST be unique for each instance')
    .option('--debug', 'Enable debug logging')
    .addOption(new Option('--log-level <level>', 'Log level (default: info)').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'Log format (default: human)').choices(LOG_FORMATS))
    .addOption(new Option('--log-timestamp <timestamp>', 'Log timestamp (default: short)').choices(LOG_TIMESTAMPS))
    .option('--log-config', 'Log the evaluated configuration on startup')
    .option('--timeout <duration>', 'Timeout for command execution, e.g. 30s (exit code 75)', durationArg)
    .option('--minimum-pid <pid>', 'Try to fork processes until we reach a minimum PID to avoid LMDB lock PID clashes ' +
      `when running in a container. The maximum allowed value is ${MAXIMUM_MIN_PID}`, intArg)
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // main() prints the one-line error itself
    .showSuggestionAfterError(true);
  const contexts = createContextFactory(state);
  for (const register of COMMANDS) register(program, contexts);
  // Subcommands inherit the error handling and output settings.
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

let debugRequested = false;

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code) || err.exitCode === 0) {
      return EXIT_OK;
    }
    const message = err.message.replace(/^error: /, '').split('\n')[0];
    process.stderr.write(`lightningstream: ${message} (see --help)\n`);
    return EXIT_USAGE;
  }
  const message = maskUrlUserinfo(err instanceof Error ? err.message : String(err));
  process.stderr.write(`lightningstream: ${message.split('\n').join(' ')}\n`);
  // A stack trace helps only with a bug (the message of an ordinary fatal error says all there is).
  if (debugRequested && isProgrammingError(err)) {
    const inner = err.cause instanceof Error ? err.cause : err;
    process.stderr.write(`${inner.stack ?? ''}\n`);
  }
  return EXIT_ERROR;
}

function isProgrammingError(err: unknown): err is Error {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError ||
    (err instanceof Error && err.name === 'AssertionError');
}

let processHandlersInstalled = false;

function installProcessHandlers(): void {
  if (processHandlersInstalled) return;
  processHandlersInstalled = true;
  // A stray rejection from a command must still end in one readable line, not a dump.
  process.on('unhandledRejection', (reason) => {
    process.exit(report(reason));
  });
}

/** Runs the CLI with `argv` as in process.argv (node, script, args...); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  installProcessHandlers();
  debugRequested = argv.includes('--debug');
  const state: RunState = { exitCode: EXIT_OK };
  try {
    const program = buildProgram(state);
    await program.parseAsync(argv, { from: 'node' });
    return state.exitCode;
  } catch (err) {
    return report(err);
  }
}
