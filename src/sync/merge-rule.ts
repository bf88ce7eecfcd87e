/**
 * The per-key merge rule every instance applies identically (see the facts note, "Merge rule"):
 * newer timestamp wins; on equal timestamps the bytewise lower-or-equal local value is kept.
 * Timestamps come as two unsigned 32-bit halves so the hot loop allocates nothing.
 *
 * Returns 1 when the remote entry wins, 0 when both have the same timestamp and value (local kept),
 * -1 when the local entry is kept.
 */
export function mergeOrder(
  remoteTsHi: number, remoteTsLo: number, remoteBuf: Buffer, remoteValOff: number, remoteValLen: number,
  localTsHi: number, localTsLo: number, localBuf: Buffer, localValOff: number, localValLen: number,
): 1 | 0 | -1 {
  if (remoteTsHi !== localTsHi) return remoteTsHi > localTsHi ? 1 : -1;
  if (remoteTsLo !== localTsLo) return remoteTsLo > localTsLo ? 1 : -1;
  // Equal timestamps: keep local when local <= remote bytewise.
  const cmp = localBuf.compare(remoteBuf, remoteValOff, remoteValOff + remoteValLen, localValOff, localValOff + localValLen);
  return cmp > 0 ? 1 : cmp < 0 ? -1 : 0;
}
