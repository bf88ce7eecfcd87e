import { NotFoundError, type ObjectInfo } from './storage.js';

/**
 * The listing cache of `use_update_marker` (S3 and Azure, as in Go): every writer rewrites a small marker
 * object after each change, so a reader that finds the marker unchanged reuses its last full listing (one GET
 * instead of a LIST), until update_marker_force_list_interval has passed.
 */
export class UpdateMarkerListCache {
  private cache: { marker: string; objects: ObjectInfo[]; time: number } | undefined;

  constructor(private readonly forceListIntervalMs: number) {}

  /**
   * The objects under prefix: from the cache when the marker (read with readMarker; NotFoundError = no marker)
   * is what it was at the last listing, else from listAll('') (everything is cached; prefixes filter the cache).
   */
  async list(prefix: string, readMarker: () => Promise<Buffer>, listAll: () => Promise<ObjectInfo[]>): Promise<ObjectInfo[]> {
    let marker: string | undefined;
    try {
      marker = (await readMarker()).toString('utf8');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    const cache = this.cache;
    if (cache && marker !== undefined && marker === cache.marker && Date.now() - cache.time < this.forceListIntervalMs) {
      return filterPrefix(cache.objects, prefix);
    }
    const time = Date.now();
    const objects = await listAll();
    this.cache = marker === undefined ? undefined : { marker, objects, time };
    return filterPrefix(objects, prefix);
  }

  /** After our own change (or new credentials): the next list() does a real LIST. */
  invalidate(): void {
    this.cache = undefined;
  }
}

function filterPrefix(objects: ObjectInfo[], prefix: string): ObjectInfo[] {
  return objects.filter((o) => o.name.startsWith(prefix)).map((o) => ({ ...o }));
}
