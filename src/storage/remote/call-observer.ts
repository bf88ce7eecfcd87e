/**
 * Every round trip a remote blob store makes to its server (S3, Azure), reported to whoever observes
 * them: the status server turns them into Go's storage_s3_call_* / storage_azure_call_* metrics
 * (src/status/remote-call-metrics.ts). The storage layer keeps no metrics itself; with no observer a
 * report costs a Set iteration.
 */

/** One call: its backend ('s3', 'azure'), Go's method name, when it began, how long it took, and the failure code. */
export interface RemoteCall {
  backend: string;
  /** Go's names: list, load, store, delete, create-bucket (S3) / create-container (Azure). */
  method: string;
  startedAt: number;
  seconds: number;
  /** The server's error code (NoSuchBucket, BlobNotFound, ...) when the call failed. */
  error?: string;
}

export type RemoteCallObserver = (call: RemoteCall) => void;

const observers = new Set<RemoteCallObserver>();

/** Adds an observer of every later call of every remote store in the process; returns its removal. */
export function observeRemoteCalls(observer: RemoteCallObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

export function reportRemoteCall(call: RemoteCall): void {
  for (const o of observers) {
    try {
      o(call);
    } catch {
      // An observer's failure is never the storage's.
    }
  }
}
