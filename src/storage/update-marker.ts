import { NotFoundError, type ObjectInfo } from './storage.js';

/**
 * The listing cache of `use_update_marker` (S3 and Azure, as in Go): every writer rewrites a small marker
 * object after each change, so a reader that finds the marker unchanged reuses its last listing (one GET
 * instead of a LIST), until update_marker_force_list_interval has passed. Go lists the whole bucket and
 * caches that; here each prefix is listed and cached on its own (a listing of a prefix also answers for
 * longer prefixes), so the content-hash states and the journal do not make every listing hold everything.
 */
export class UpdateMarkerListCache {
  private readonly cache = new Map<string, { marker: string; objects: ObjectInfo[]; time: number }>();
  /** listAfter() answers by prefix: reused while the marker is unchanged and startAfter does not go back. */
  private readonly afterCache = new Map<string, { marker: string; startAfter: string; objects: ObjectInfo[]; time: number }>();

  constructor(private readonly forceListIntervalMs: number) {}

  /**
   * The objects under prefix: from the cache when the marker (read with readMarker; NotFoundError = no marker)
   * is what it was when prefix (or a shorter prefix of it) was listed, else from listPrefix(prefix).
   */
  async list(prefix: string, readMarker: () => Promise<Buffer>, listPrefix: (prefix: string) => Promise<ObjectInfo[]>): Promise<ObjectInfo[]> {
    const marker = await readMarkerText(readMarker);
    const now = Date.now();
    for (const [cachedPrefix, c] of this.cache) {
      if (now - c.time >= this.forceListIntervalMs || (marker !== undefined && marker !== c.marker)) this.cache.delete(cachedPrefix);
      else if (marker !== undefined && prefix.startsWith(cachedPrefix)) return filterPrefix(c.objects, prefix);
    }
    const objects = await listPrefix(prefix);
    if (marker === undefined) this.cache.clear();
    else this.cache.set(prefix, { marker, objects, time: now });
    return filterPrefix(objects, prefix);
  }

  /**
   * The objects under prefix after startAfter: from the last answer for prefix when the marker is what it was
   * then and startAfter is not before that answer's (so it held every object asked for), else from listAfter.
   */
  async listAfter(
    prefix: string, startAfter: string, readMarker: () => Promise<Buffer>, listAfter: () => Promise<ObjectInfo[]>,
  ): Promise<ObjectInfo[]> {
    const marker = await readMarkerText(readMarker);
    const cached = this.afterCache.get(prefix);
    if (cached && marker !== undefined && marker === cached.marker && startAfter >= cached.startAfter &&
        Date.now() - cached.time < this.forceListIntervalMs) {
      return cached.objects.filter((o) => o.name > startAfter).map((o) => ({ ...o }));
    }
    const time = Date.now();
    const objects = await listAfter();
    if (marker === undefined) this.afterCache.delete(prefix);
    else this.afterCache.set(prefix, { marker, startAfter, objects, time });
    return objects.map((o) => ({ ...o }));
  }

  /** After our own change (or new credentials): the next list() and listAfter() do a real LIST. */
  invalidate(): void {
    this.cache.clear();
    this.afterCache.clear();
  }
}

/** The marker's content; undefined when there is none yet. */
async function readMarkerText(readMarker: () => Promise<Buffer>): Promise<string | undefined> {
  try {
    return (await readMarker()).toString('utf8');
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

function filterPrefix(objects: ObjectInfo[], prefix: string): ObjectInfo[] {
  return objects.filter((o) => o.name.startsWith(prefix)).map((o) => ({ ...o }));
}
