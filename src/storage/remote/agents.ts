import type { ConnectionOptions } from '../options.js';

/** The keep-alive settings of the HTTP(S) agents of a remote backend (Go's dial_keep_alive and max_idle_conns). */
export function keepAliveAgentOptions(o: ConnectionOptions): { keepAlive: true; keepAliveMsecs: number; maxSockets: number; maxFreeSockets: number } {
  return { keepAlive: true, keepAliveMsecs: o.dial_keep_alive, maxSockets: 64, maxFreeSockets: o.max_idle_conns };
}
