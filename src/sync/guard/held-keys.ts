/**
 * The keys (per DBI) that the judging peers' newest states hold, as 52-bit FNV-1a hashes: about 40 bytes
 * per key whatever its length. A collision makes a key look held, which only keeps an entry (the safe side).
 */
export class HeldKeys {
  private readonly hashes = new Set<number>();

  add(dbiName: string, buf: Uint8Array, off: number, len: number): void {
    this.hashes.add(keyHash(dbiName, buf, off, len));
  }

  has(dbiName: string, buf: Uint8Array, off: number, len: number): boolean {
    return this.hashes.has(keyHash(dbiName, buf, off, len));
  }

  addAll(other: HeldKeys): void {
    for (const hash of other.hashes) this.hashes.add(hash);
  }

  get size(): number {
    return this.hashes.size;
  }
}

const dbiSeeds = new Map<string, [number, number]>();

/** Two 32-bit FNV-1a lanes with different offsets over DBI name, NUL, key; 52 bits of them kept. */
export function keyHash(dbiName: string, buf: Uint8Array, off: number, len: number): number {
  let seed = dbiSeeds.get(dbiName);
  if (!seed) {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ 0x5bd1e995;
    for (const byte of Buffer.from(`${dbiName}\0`)) {
      a = Math.imul(a ^ byte, 0x01000193);
      b = Math.imul(b ^ byte, 0x01000193);
    }
    seed = [a, b];
    dbiSeeds.set(dbiName, seed);
  }
  let [a, b] = seed;
  for (let i = off; i < off + len; i++) {
    const byte = buf[i]!;
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ (byte + 0x9e), 0x01000193);
  }
  return (a >>> 0) * 0x100000 + ((b >>> 0) & 0xfffff);
}
