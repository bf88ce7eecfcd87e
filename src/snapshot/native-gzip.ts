import { loadAddon } from '../util/addon.js';

/** native/deflate_addon.c: one gzip member per call, compressed by libdeflate on the libuv pool. */
export interface DeflateAddon {
  gzip(input: Buffer, level: number): Promise<Buffer>;
}

/** The libdeflate addon, or undefined when it was not built (then zlib compresses). */
export const deflateAddon: DeflateAddon | undefined = loadAddon('deflate_addon').addon as DeflateAddon | undefined;
