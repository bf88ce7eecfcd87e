/**
 * The per-key merge rule every instance applies identically (see the facts note, "Merge rule"):
 * the newer timestamp wins; on equal timestamps the bytewise lower value wins, and the local one is
 * kept when both are equal. Beyond the Go rule, equal timestamps AND equal value bytes with a
 * different deleted flag are ordered too (the deletion marker wins): otherwise a deletion and an
 * empty live value written at the same nanosecond would each keep their own side and never converge.
 * Timestamps come as two unsigned 32-bit halves so the hot loop allocates nothing.
 *
 * Returns 1 when the remote entry wins, 0 when both are the same entry (timestamp, value and deleted
 * flag; local kept), -1 when the local entry is kept.
 */
export function mergeOrder(
  remoteTsHi: number, remoteTsLo: number, remoteDeleted: boolean, remoteBuf: Buffer, remoteValOff: number, remoteValLen: number,
  localTsHi: number, localTsLo: number, localDeleted: boolean, localBuf: Buffer, localValOff: number, localValLen: number,
): 1 | 0 | -1 {
  if (remoteTsHi !== localTsHi) return remoteTsHi > localTsHi ? 1 : -1;
  if (remoteTsLo !== localTsLo) return remoteTsLo > localTsLo ? 1 : -1;
  // A deletion marker's value is empty whatever bytes follow its header.
  const rLen = remoteDeleted ? 0 : remoteValLen;
  const lLen = localDeleted ? 0 : localValLen;
  const cmp = localBuf.compare(remoteBuf, remoteValOff, remoteValOff + rLen, localValOff, localValOff + lLen);
  if (cmp !== 0) return cmp > 0 ? 1 : -1;
  if (remoteDeleted === localDeleted) return 0;
  return remoteDeleted ? 1 : -1;
}
