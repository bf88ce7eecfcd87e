import { NotFoundError } from '../storage.js';
import { BackendOperationError, StorageClosedError } from '../common.js';

/** An Azure failure, with a message that never carries the key: `azure: <Op> <name>: <code> (HTTP n) <message>`. */
export class AzureStorageError extends BackendOperationError {
  override name = 'AzureStorageError';
}

/** Error codes of a missing blob or container (Go maps the same three to "not found"). */
const NOT_FOUND_CODES = new Set(['BlobNotFound', 'ContainerNotFound', 'ResourceNotFound']);
const AUTH_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'InvalidAuthenticationInfo',
  'AccountIsDisabled',
]);
const TRANSIENT_CODES = new Set(['ServerBusy', 'InternalError', 'OperationTimedOut', 'ServiceUnavailable', 'Timeout']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

export interface MapContext {
  signal?: AbortSignal;
  container: string;
  /** Removes every secret from a text. */
  scrub(text: string): string;
}

/**
 * An SDK failure as an error whose message names the operation and blob (or the container) and never
 * carries a secret; a missing blob becomes NotFoundError (when the operation is about a blob), an abort
 * the signal's reason.
 */
export function mapAzureError(op: string, name: string | undefined, err: unknown, ctx: MapContext): Error {
  const { signal } = ctx;
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
  if (err instanceof NotFoundError || err instanceof AzureStorageError || err instanceof StorageClosedError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let code = e.code ?? (e.name && e.name !== 'Error' && e.name !== 'RestError' ? e.name : undefined) ?? (status ? `HTTP${status}` : 'Error');
  if (code === 'AbortError' && !signal?.aborted) code = 'Timeout'; // the SDK's per-try timeout (client_timeout)
  if (name !== undefined && (NOT_FOUND_CODES.has(code) || status === 404)) {
    return new NotFoundError(name);
  }
  // The SDK's messages carry the request id and time on further lines: keep the first.
  const firstLine = (e.message ?? '').split('\n')[0]?.replace(/\s+/g, ' ').trim() ?? '';
  let msg = firstLine && firstLine !== code ? ` ${firstLine}` : '';
  if (AUTH_CODES.has(code)) msg += ' (check account_name and account_key)';
  if (code === 'Timeout') msg += ' (no answer within client_timeout)';
  const where = `${op} ${name ?? ctx.container}`;
  const text = ctx.scrub(`azure: ${where}: ${code}${status && !code.startsWith('HTTP') ? ` (HTTP ${status})` : ''}${msg}`);
  return new AzureStorageError(text, op, name, code, status);
}

/**
 * True for failures another attempt may not see: 5xx and 429 answers, busy/timeout codes, and network
 * failures (no HTTP status). False for definite answers (403, 400, 404, 409...).
 */
export function isTransientAzureError(err: unknown): boolean {
  if (!(err instanceof AzureStorageError)) return false;
  if (TRANSIENT_CODES.has(err.code)) return true;
  if (err.statusCode === undefined) return !AUTH_CODES.has(err.code);
  return err.statusCode >= 500 || err.statusCode === 429;
}

/** True when the answer says the credentials were refused. */
export function isAuthError(err: unknown): boolean {
  return err instanceof AzureStorageError && AUTH_CODES.has(err.code);
}
