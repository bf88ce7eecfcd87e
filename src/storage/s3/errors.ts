import { NotFoundError } from '../storage.js';
import { BackendOperationError, StorageClosedError } from '../common.js';

/** An S3 failure, with a message that never carries credentials: `s3: <Op> <name>: <code> <message>`. */
export class S3StorageError extends BackendOperationError {
  override name = 'S3StorageError';
}

const AUTH_CODES = new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied', 'InvalidToken', 'ExpiredToken']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * An SDK failure as an error whose message names the operation and object and never carries a secret;
 * NoSuchKey becomes NotFoundError, an abort the signal's reason. An authentication failure makes the
 * credentials be read again.
 */
export function mapS3Error(
op: string, name: string | undefined, err: unknown,
ctx: { signal?: AbortSignal; bucket: string; credentials: { invalidate(): void; scrub(text: string): string } },
): Error {
const { signal } = ctx;
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
  if (err instanceof NotFoundError || err instanceof S3StorageError || err instanceof StorageClosedError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  let code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? 'Error';
  if (code === 'UnknownError' && status) code = `HTTP${status}`;
  if (code === 'NoSuchKey' || (status === 404 && code === 'NotFound' && name !== undefined)) {
    return new NotFoundError(name ?? '');
  }
  if (AUTH_CODES.has(code)) ctx.credentials.invalidate();
  const detail = (e.message ?? '').replace(/\s+/g, ' ').trim();
  let msg = detail && detail !== code && detail !== 'UnknownError' ? ` ${detail}` : '';
  if (code === 'SignatureDoesNotMatch') msg += ' (check the secret key)';
  if (code === 'InvalidAccessKeyId') msg += ' (check the access key)';
  const where = `${op}${name !== undefined ? ` ${name}` : ` ${ctx.bucket}`}`;
  const text = ctx.credentials.scrub(`s3: ${where}: ${code}${status && !code.startsWith('HTTP') ? ` (HTTP ${status})` : ''}${msg}`);
  return new S3StorageError(text, op, name, code, status);
}

const TRANSIENT_CODES = new Set(['SlowDown', 'RequestTimeout', 'Throttling', 'ThrottlingException', 'InternalError', 'ServiceUnavailable', 'TooManyRequests']);

/**
 * True for failures another attempt may not see: 5xx and 429 answers, throttling codes, and network-level
 * failures (resets, timeouts: no HTTP status at all). False for definite answers (403, 400, 404...).
 */
export function isTransientS3Error(err: unknown): boolean {
  if (!(err instanceof S3StorageError)) return false;
  if (TRANSIENT_CODES.has(err.code)) return true;
  if (err.statusCode === undefined) return !err.code.startsWith('Credentials') && !AUTH_CODES.has(err.code);
  return err.statusCode >= 500 || err.statusCode === 429;
}
