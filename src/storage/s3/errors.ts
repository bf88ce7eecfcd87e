import { BackendOperationError } from '../common.js';
import type { Failure, FailureCodes } from '../remote/failure.js';

/** An S3 failure, with a message that never carries credentials: `s3: <Op> <name>: <code> <message>`. */
export class S3StorageError extends BackendOperationError {
  override name = 'S3StorageError';
}

export const S3_CODES: FailureCodes = {
  auth: new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied', 'InvalidToken', 'ExpiredToken']),
  transient: new Set(['SlowDown', 'RequestTimeout', 'Throttling', 'ThrottlingException', 'InternalError', 'ServiceUnavailable', 'TooManyRequests']),
};

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** What an AWS SDK failure says; NoSuchKey (or a bare 404 NotFound) is an absent object, NoSuchBucket is not. */
export function classifyS3Error(err: unknown): Failure {
  const e = (err ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  let code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? 'Error';
  if (code === 'UnknownError' && status) code = `HTTP${status}`;
  const detail = (e.message ?? '').replace(/\s+/g, ' ').trim();
  return {
    code,
    status,
    detail: detail === 'UnknownError' ? '' : detail,
    notFound: code === 'NoSuchKey' || (status === 404 && code === 'NotFound'),
    hint: code === 'SignatureDoesNotMatch' ? '(check the secret key)' : code === 'InvalidAccessKeyId' ? '(check the access key)' : undefined,
  };
}
