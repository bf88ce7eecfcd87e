import type { Logger } from '../log/logger.js';
import type { SyncRun } from '../sync/runner.js';

/** Placeholder until the HTTP status server lands: returns its stop function. */
export async function startStatusServer(run: SyncRun, log: Logger): Promise<() => Promise<void>> {
  log.warn('http.address is set, but the HTTP status server is not implemented yet', { address: run.config.http.address });
  return async () => {};
}
