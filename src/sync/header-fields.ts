import { HeaderError, headerFlags, headerTsHi, headerTsLo, headerValueOffset } from '../lmdb/header.js';

/** The parts of a native header the engine needs, read without allocating. */
export interface HeaderFields {
  tsHi: number;
  tsLo: number;
  flags: number;
  valOff: number;
  valLen: number;
}

/** Parses the header of the value at buf[off, off+len) into out; errors name the DBI. */
export function readHeaderFields(buf: Buffer, off: number, len: number, out: HeaderFields, dbiName: string): HeaderFields {
  let valOff: number;
  try {
    valOff = headerValueOffset(buf, off, len);
  } catch (err) {
    if (err instanceof HeaderError) throw new HeaderError(`DBI ${dbiName}: ${err.message}`);
    throw err;
  }
  out.tsHi = headerTsHi(buf, off);
  out.tsLo = headerTsLo(buf, off);
  out.flags = headerFlags(buf, off);
  out.valOff = valOff;
  out.valLen = off + len - valOff;
  return out;
}
