/**
 * A snapshot object that cannot be used: bad name, corrupt or truncated gzip, malformed protobuf,
 * unsupported version, limits exceeded. Always names the object, e.g.
 * `snapshot main__a__20261126-085102-524196773__GX.pb.gz: truncated gzip stream`.
 * Callers mark such a snapshot as corrupt and go on; I/O errors of the input stream and aborts are
 * passed through unchanged (they are not a property of the object).
 */
export class SnapshotFormatError extends Error {
  constructor(
    readonly snapshotName: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`snapshot ${snapshotName}: ${problem}`, options);
    this.name = 'SnapshotFormatError';
  }
}

/**
 * Internal: a wire-level problem found by the context-free parsing helpers, turned into a
 * SnapshotFormatError (with the object name) by the decoder. `truncated` means the data ended
 * before the value did (more data might complete it).
 */
export class WireError extends Error {
  constructor(message: string, readonly truncated = false) {
    super(message);
    this.name = 'WireError';
  }
}
