import type { ContentHashConfig } from '../../config/config.js';
import { shortHash, type ContentHash } from '../../snapshot/content-hash.js';
import { isAborted } from '../../util/abort.js';
import { sleepOn, type Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { LmdbSyncContext } from '../context.js';
import type { ProgressView } from '../progress.js';
import type { ContentAgreement } from './agreement.js';
import { hashLocalContent } from './local-hash.js';
import { ContentStates } from './states.js';

/** How often the loop looks whether a hash scan, a listing or a publication is due. */
const CONTENT_CHECK_MS = 1000;

export interface ContentLoopOptions {
  config: ContentHashConfig;
  /** Write our state objects (false in `receive`, which never writes). */
  publish: boolean;
  /** What the loop may read of the sync (start-up over, nothing local waiting to be stored). */
  progress: ProgressView;
  /** The instances the receiver knows: agreement entries of others are dropped. */
  knownInstances: () => string[];
  clock: Clock;
}

/**
 * Content hashes (README, "Content hashes"): once the LMDB is settled (everything local stored, nothing
 * being merged), hashes it when it changed since the last hash (at most once per interval; full stores and
 * loads that leave the LMDB identical to a snapshot give the hash for free through known()), publishes our
 * state when it changed, and lists the other instances' states every interval.
 */
export class ContentLoop {
  /** The txn id the local content hash was computed at (-1: none yet). */
  private localHashTxnId = -1;
  private lastHashScanAt = 0;

  constructor(private readonly ctx: LmdbSyncContext, private readonly agreement: ContentAgreement, private readonly opts: ContentLoopOptions) {}

  /** The LMDB's hash at txnId is known without a scan (a full store, or a merge that left it identical to a snapshot). */
  known(hash: ContentHash, txnId: number): void {
    this.agreement.setLocal(hash, new Date(this.opts.clock.now()));
    this.localHashTxnId = txnId;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { ctx, agreement, opts } = this;
    const cfg = opts.config;
    if (!cfg.enabled) return;
    const states = new ContentStates(ctx.storage, ctx.dbName, ctx.instance, agreement, opts.clock);
    let lastListAt = -Infinity;
    let failing = false;
    while (!signal.aborted) {
      try {
        await sleepOn(opts.clock, CONTENT_CHECK_MS, signal);
        const now = opts.clock.now();
        if (now - lastListAt >= cfg.interval) {
          await states.list(signal);
          lastListAt = now;
          agreement.retain(opts.knownInstances());
        }
        const lastTxnId = ctx.env.info().lastTxnId;
        const settled = opts.progress.ready && opts.progress.settled(lastTxnId);
        if (settled && lastTxnId !== this.localHashTxnId && now - this.lastHashScanAt >= cfg.interval) {
          this.lastHashScanAt = now;
          const local = await hashLocalContent(ctx, signal);
          agreement.setLocal(local.hash, local.at);
          this.localHashTxnId = local.txnId;
          ctx.log.debug('content hash computed', { content_hash: shortHash(local.hash), txn_id: local.txnId, entries: local.hash.entries, ms: local.ms });
        }
        const local = agreement.localHash;
        if (opts.publish && settled && local && this.localHashTxnId === lastTxnId && await states.publish(local.hash, signal)) {
          ctx.log.debug('content state published', { content_hash: shortHash(local.hash) });
        }
        if (failing) ctx.log.info('content hash checks work again');
        failing = false;
      } catch (err) {
        if (isAborted(signal)) return;
        if (!failing) ctx.log.warn('content hash check failed, will keep trying', { error: errorMessage(err) });
        failing = true;
      }
    }
  }
}
