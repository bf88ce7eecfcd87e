import { BackendOperationError } from '../common.js';

/** What a backend reads from one SDK failure (see RemoteBlobStore.classify). */
export interface Failure {
  /** The server's error code, or a name for a failure without an answer (ECONNREFUSED, Timeout...). */
  code: string;
  /** The HTTP status, when the server answered. */
  status?: number;
  /** One line of the SDK's message, without secrets' surroundings; '' when it says nothing more than code. */
  detail: string;
  /** The object asked about is absent (only consulted when the call is about an object). */
  notFound: boolean;
  /** A hint for the operator, in parentheses: "(check the secret key)". */
  hint?: string;
}

/** The error codes a backend's server uses for refused credentials and for failures worth retrying. */
export interface FailureCodes {
  auth: ReadonlySet<string>;
  transient: ReadonlySet<string>;
}

/** `<label>: <op> <object or container>: <code> (HTTP n) <detail> <hint>`, before scrubbing. */
export function failureText(label: string, op: string, where: string, f: Failure): string {
  const detail = f.detail && f.detail !== f.code ? ` ${f.detail}` : '';
  const status = f.status && !f.code.startsWith('HTTP') ? ` (HTTP ${f.status})` : '';
  return `${label}: ${op} ${where}: ${f.code}${status}${detail}${f.hint ? ` ${f.hint}` : ''}`;
}

/**
 * True for failures another attempt may not see: 5xx and 429 answers, the backend's busy/throttling codes,
 * and network-level failures (resets, timeouts: no HTTP status) other than refused credentials. False for
 * definite answers (403, 400, 404, 409...).
 */
export function isTransientFailure(err: BackendOperationError, codes: FailureCodes): boolean {
  if (codes.transient.has(err.code)) return true;
  if (err.statusCode === undefined) return !err.code.startsWith('Credentials') && !codes.auth.has(err.code);
  return err.statusCode >= 500 || err.statusCode === 429;
}
