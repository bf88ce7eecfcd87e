import { sameContent, type ContentHash } from '../../snapshot/content-hash.js';

/** What is known of one instance's content. */
export interface InstanceContent {
  /** The hash of its newest full snapshot we read (computed while merging it, ours or Go's). */
  snapshot?: { name: string; hash: ContentHash; timestampNano: bigint };
  /** Its newest published state (our implementation only: a state after merges, which no snapshot shows). */
  published?: { hash: ContentHash; timestampNano: bigint };
}

export type InstanceVerdict = 'equal' | 'differs' | 'unknown';

export interface InstanceAgreement {
  instance: string;
  verdict: InstanceVerdict;
  /** The instance's newest known hash (published or snapshot, whichever is newer). */
  hash?: ContentHash;
  hashAt?: Date;
  hashSource?: 'snapshot' | 'published';
  snapshotName?: string;
}

export interface Agreement {
  /** Instances compared, this one included. */
  instances: number;
  /** Instances whose newest known hash equals ours, this one included (0 while ours is unknown). */
  agreeing: number;
  converged: boolean;
  /** When the instances stopped agreeing (unset while converged or before the first comparison). */
  differsSince?: Date;
  perInstance: InstanceAgreement[];
}

/**
 * Keeps the content hashes of this LMDB and of every instance's newest snapshot or published state, and
 * says whether they agree. An instance counts by its newest known hash: a state published after its
 * last snapshot (merges change an LMDB without a snapshot, as in Go) replaces the snapshot's.
 */
export class ContentAgreement {
  private local: { hash: ContentHash; at: Date } | undefined;
  private readonly known = new Map<string, InstanceContent>();
  private differsSince: Date | undefined;

  constructor(private readonly ownInstance: string, private readonly now: () => Date = () => new Date()) {}

  get localHash(): { hash: ContentHash; at: Date } | undefined {
    return this.local;
  }

  setLocal(hash: ContentHash, at: Date): void {
    this.local = { hash, at };
    this.changed();
  }

  snapshotHash(instance: string, name: string, hash: ContentHash, timestampNano: bigint): void {
    const entry = this.entry(instance);
    if (!entry.snapshot || entry.snapshot.timestampNano <= timestampNano) entry.snapshot = { name, hash, timestampNano };
    this.changed();
  }

  publishedHash(instance: string, hash: ContentHash, timestampNano: bigint): void {
    const entry = this.entry(instance);
    if (!entry.published || entry.published.timestampNano <= timestampNano) entry.published = { hash, timestampNano };
    this.changed();
  }

  /** Only these instances count (those with snapshots in the storage); the others are forgotten. */
  retain(instances: Iterable<string>): void {
    const keep = new Set(instances);
    for (const name of this.known.keys()) if (!keep.has(name)) this.known.delete(name);
    this.changed();
  }

  evaluate(): Agreement {
    return { ...this.compare(), ...(this.differsSince ? { differsSince: this.differsSince } : {}) };
  }

  /** After any change: when the instances stopped agreeing is the time of the change that ended agreement. */
  private changed(): void {
    if (this.compare().converged) this.differsSince = undefined;
    else if (this.local && !this.differsSince) this.differsSince = this.now();
  }

  private compare(): Omit<Agreement, 'differsSince'> {
    const perInstance: InstanceAgreement[] = [];
    let agreeing = this.local ? 1 : 0;
    for (const [instance, content] of [...this.known].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (instance === this.ownInstance) continue;
      const newest = newestHash(content);
      const verdict: InstanceVerdict = !newest || !this.local ? 'unknown' : sameContent(newest.hash, this.local.hash) ? 'equal' : 'differs';
      if (verdict === 'equal') agreeing++;
      perInstance.push({
        instance, verdict,
        ...(newest ? { hash: newest.hash, hashAt: nanoToDate(newest.timestampNano), hashSource: newest.source } : {}),
        ...(content.snapshot ? { snapshotName: content.snapshot.name } : {}),
      });
    }
    const instances = perInstance.length + 1;
    const converged = this.local !== undefined && agreeing === instances;
    return { instances, agreeing, converged, perInstance };
  }

  private entry(instance: string): InstanceContent {
    let entry = this.known.get(instance);
    if (!entry) {
      entry = {};
      this.known.set(instance, entry);
    }
    return entry;
  }
}

function newestHash(c: InstanceContent): { hash: ContentHash; timestampNano: bigint; source: 'snapshot' | 'published' } | undefined {
  const snap = c.snapshot;
  const pub = c.published;
  if (pub && (!snap || pub.timestampNano >= snap.timestampNano)) return { ...pub, source: 'published' };
  return snap ? { hash: snap.hash, timestampNano: snap.timestampNano, source: 'snapshot' } : undefined;
}

function nanoToDate(ns: bigint): Date {
  return new Date(Number(ns / 1_000_000n));
}
