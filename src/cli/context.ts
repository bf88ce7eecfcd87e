/**
 * What every command needs, built once per command run: the global options, the configuration
 * (file + CLI overrides), the logger, and an AbortSignal that fires on SIGINT/SIGTERM (a second signal
 * exits at once) or when `--timeout` expires (exit code 75 like Go; forced 10 s later if the command
 * does not return).
 */
import type { Command } from 'commander';
import { ConfigError, configToYaml, instanceName, loadConfig, type Config } from '../config/index.js';
import { createLogger, type LogFormat, type Logger, type LogTimestamp } from '../log/logger.js';
import { parseStorageOptions, type StorageOptions } from '../storage/index.js';
import { ensureMinimumPid } from './minimum-pid.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** EX_TEMPFAIL, as the Go implementation uses for `--timeout`. */
export const EXIT_TIMEOUT = 75;
const FORCE_EXIT_AFTER_MS = 10_000;

/** Global flags, parsed (commander's camelCase names). */
export interface GlobalOptions {
  config: string;
  instance?: string;
  debug?: boolean;
  logLevel?: string;
  logFormat?: LogFormat;
  logTimestamp?: LogTimestamp;
  logConfig?: boolean;
  /** Milliseconds; 0/undefined = none. */
  timeout?: number;
  minimumPid?: number;
}

export interface BaseContext {
  readonly options: GlobalOptions;
  readonly logger: Logger;
  /** Aborted on SIGINT/SIGTERM or timeout; pass it to every long operation. */
  readonly signal: AbortSignal;
}

export interface CommandContext extends BaseContext {
  /** The storage options in it are parsed (requireStorage gives them, ready for openStorage). */
  readonly config: Config<StorageOptions>;
  /** The instance name for snapshot names (config/--instance, else host name; Go's sanitising). */
  instance(): string;
}

export type CommandBody<C, A extends unknown[]> = (ctx: C, ...args: A) => Promise<number | undefined> | Promise<void> | number | undefined;

/**
 * Handed to every command's register(): wraps the command body into a commander action that builds the
 * context first. The body's arguments after `ctx` are commander's: positional arguments, the command's
 * own options, then the Command. Its return value (default 0) is the exit code.
 */
export interface ContextFactory {
  action<A extends unknown[]>(body: CommandBody<CommandContext, A>): (...args: A) => Promise<void>;
  /** For commands that must work without a config file (`version`). */
  actionWithoutConfig<A extends unknown[]>(body: CommandBody<BaseContext, A>): (...args: A) => Promise<void>;
}

class Shutdown extends Error {
  constructor(readonly why: 'signal' | 'timeout', message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (err === signal.reason || (err instanceof Error && err.name === 'AbortError'));
}

/** Shared between main() and the factory: the exit code of the command that ran. */
export interface RunState {
  exitCode: number;
}

function logLevel(o: GlobalOptions, config?: Config): string {
  return o.debug ? 'debug' : (o.logLevel ?? config?.log.level ?? 'info');
}

function makeLogger(o: GlobalOptions, config?: Config): Logger {
  return createLogger({
    level: logLevel(o, config),
    format: o.logFormat ?? config?.log.format ?? 'human',
    timestamp: o.logTimestamp ?? ((config?.log.timestamp || 'short') as LogTimestamp),
  });
}

/** Loads the config file, storage options parsed; errors name the file. */
function loadFor(o: GlobalOptions): Config<StorageOptions> {
  try {
    return loadConfig(o.config, process.env, { overrides: { instance: o.instance }, parseStorage: parseStorageOptions });
  } catch (err) {
    if (err instanceof ConfigError && err.key !== o.config) {
      throw new Error(`${o.config}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

export function createContextFactory(state: RunState): ContextFactory {
  const run = async (needConfig: boolean, body: CommandBody<never, unknown[]>, args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const options = command.optsWithGlobals<GlobalOptions>();
    const config = needConfig ? loadFor(options) : undefined;
    const logger = makeLogger(options, config);
    if (config) {
      const childExit = await ensureMinimumPid(options.minimumPid, logger);
      if (childExit !== undefined) {
        state.exitCode = childExit;
        return;
      }
    }
    const controller = new AbortController();
    const { signal } = controller;
    const timers: NodeJS.Timeout[] = [];

    let signals = 0;
    const onSignal = (name: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.error(`Received ${name} again, exiting immediately`);
        process.exit(128 + (name === 'SIGINT' ? 2 : 15));
      }
      logger.warn(`Received ${name}, shutting down (send it again to exit immediately)`);
      controller.abort(new Shutdown('signal', `interrupted by ${name}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    if (options.timeout && options.timeout > 0) {
      logger.info('Setting command timeout', { timeout: `${options.timeout}ms` });
      timers.push(setTimeout(() => {
        logger.warn('Timeout reached');
        controller.abort(new Shutdown('timeout', 'command timeout reached'));
        timers.push(setTimeout(() => {
          logger.error('Shutdown took too long, forcing exit');
          process.exit(EXIT_TIMEOUT);
        }, FORCE_EXIT_AFTER_MS).unref());
      }, options.timeout).unref());
    }

    try {
      let ctx: BaseContext | CommandContext = { options, logger, signal };
      if (config) {
        for (const warning of config.warnings) logger.warn(`Config: ${warning}`);
        if (options.logConfig) logger.info(`Effective configuration:\n${configToYaml(config)}`);
        let resolved: string | undefined;
        ctx = {
          ...ctx,
          config,
          instance: (): string => {
            if (resolved === undefined) {
              resolved = instanceName(config);
              if (config.instance && resolved !== config.instance) {
                logger.warn('Instance name contains unsafe characters, they were replaced by "-"', { instance: resolved });
              }
            }
            return resolved;
          },
        };
      }
      let code: number;
      try {
        code = (await body(ctx as never, ...args)) ?? EXIT_OK;
      } catch (err) {
        if (!isAbort(err, signal)) throw err;
        code = EXIT_OK;
      }
      const reason: unknown = signal.reason;
      if (reason instanceof Shutdown && reason.why === 'timeout') {
        logger.error('Exiting due to timeout');
        code = EXIT_TIMEOUT;
      }
      state.exitCode = code;
    } finally {
      for (const t of timers) clearTimeout(t);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
  return {
    action: (body) => (...args) => run(true, body as unknown as CommandBody<never, unknown[]>, args),
    actionWithoutConfig: (body) => (...args) => run(false, body as unknown as CommandBody<never, unknown[]>, args),
  };
}
