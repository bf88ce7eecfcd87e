/**
 * The per-key merge rule every instance applies identically (see the facts note, "Merge rule"):
 * newer timestamp wins; on equal timestamps the bytewise lower-or-equal local value is kept.
 * Timestamps come as two unsigned 32-bit halves so the hot loop allocates nothing.
 */
export function remoteWins(
  remoteTsHi: number, remoteTsLo: number, remoteBuf: Buffer, remoteValOff: number, remoteValLen: number,
  localTsHi: number, localTsLo: number, localBuf: Buffer, localValOff: number, localValLen: number,
): boolean {
  if (remoteTsHi !== localTsHi) return remoteTsHi > localTsHi;
  if (remoteTsLo !== localTsLo) return remoteTsLo > localTsLo;
  // Equal timestamps: keep local when local <= remote bytewise.
  const cmp = localBuf.compare(remoteBuf, remoteValOff, remoteValOff + remoteValLen, localValOff, localValOff + localValLen);
  return cmp > 0;
}
