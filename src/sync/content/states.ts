import { CONTENT_HASH_ALGORITHM, type ContentHash } from '../../snapshot/content-hash.js';
import type { Storage } from '../../storage/storage.js';
import type { Clock } from '../../util/clock.js';
import type { ContentAgreement } from './agreement.js';
import { buildStateName, parseStateName, statePrefix } from './state-name.js';

/**
 * This LMDB's published content states in the storage: lists every instance's newest (feeding the
 * agreement) and publishes ours, removing our older ones, so each instance keeps about one object.
 */
export class ContentStates {
  private ownNames: string[] = [];
  private publishedHex: string | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly db: string,
    private readonly instance: string,
    private readonly agreement: ContentAgreement,
    private readonly clock: Clock,
  ) {}

  async list(signal: AbortSignal): Promise<void> {
    const own: string[] = [];
    for (const obj of await this.storage.list(statePrefix(this.db), signal)) {
      const state = parseStateName(this.db, obj.name);
      if (!state) continue;
      if (state.instance === this.instance) {
        own.push(state.name);
        continue;
      }
      const hash: ContentHash = { algorithm: CONTENT_HASH_ALGORITHM, digest: Buffer.from(state.digestHex, 'hex'), entries: 0 };
      this.agreement.publishedHash(state.instance, hash, state.timestamp);
    }
    this.ownNames = own;
  }

  /** Publishes `hash` unless it is what we published last; then removes our older state objects. */
  async publish(hash: ContentHash, signal: AbortSignal): Promise<boolean> {
    const hex = hash.digest.toString('hex');
    if (hex === this.publishedHex) return false;
    const name = buildStateName(this.db, this.instance, this.clock.nowNano(), hash.digest);
    await this.storage.store(name, Buffer.alloc(0), signal);
    this.publishedHex = hex;
    const older = this.ownNames.filter((n) => n < name);
    for (const old of older) await this.storage.delete(old, signal);
    this.ownNames = [name];
    return true;
  }
}
