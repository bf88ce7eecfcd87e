import { BackendOperationError } from '../common.js';
import type { Failure, FailureCodes } from '../remote/failure.js';

/** An Azure failure, with a message that never carries the key: `azure: <Op> <name>: <code> (HTTP n) <message>`. */
export class AzureStorageError extends BackendOperationError {
  override name = 'AzureStorageError';
}

/** Error codes of a missing blob or container (Go maps the same three to "not found"). */
const NOT_FOUND_CODES = new Set(['BlobNotFound', 'ContainerNotFound', 'ResourceNotFound']);

export const AZURE_CODES: FailureCodes = {
  auth: new Set([
    'AuthenticationFailed',
    'AuthorizationFailure',
    'AuthorizationPermissionMismatch',
    'InvalidAuthenticationInfo',
    'AccountIsDisabled',
  ]),
  transient: new Set(['ServerBusy', 'InternalError', 'OperationTimedOut', 'ServiceUnavailable', 'Timeout']),
};

const IDENTITY_ERRORS = new Set(['AuthenticationError', 'AggregateAuthenticationError', 'CredentialUnavailableError']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

/**
 * What an Azure SDK failure says. An AbortError reaching here is the SDK's per-try timeout (client_timeout):
 * an abort of the caller's signal never gets this far.
 */
export function classifyAzureError(err: unknown, sharedKey = true): Failure {
  const e = (err ?? {}) as SdkErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let code = e.code ?? (e.name && e.name !== 'Error' && e.name !== 'RestError' ? e.name : undefined) ?? (status ? `HTTP${status}` : 'Error');
  if (code === 'AbortError') code = 'Timeout';
  // The SDK's messages carry the request id and time on further lines: keep the first.
  const detail = (e.message ?? '').split('\n')[0]?.replace(/\s+/g, ' ').trim() ?? '';
  let hint: string | undefined;
  if (AZURE_CODES.auth.has(code)) {
    hint = sharedKey ? '(check account_name and account_key)' : '(check the Azure identity and its role on the container)';
  }
  // @azure/identity could not get a token (DefaultAzureCredential, use_shared_key false).
  if (IDENTITY_ERRORS.has(code)) hint = '(check the AZURE_* environment of the Azure identity)';
  if (code === 'Timeout') hint = '(no answer within client_timeout)';
  return { code, status, detail, notFound: NOT_FOUND_CODES.has(code) || status === 404, hint };
}
