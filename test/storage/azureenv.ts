// Where the azure tests find their server: a real Azurite started by scripts/azurite.sh, whose
// DIR/env.sh exports LS_AZURE_ENDPOINT, LS_AZURE_ACCOUNT and LS_AZURE_KEY.
import { requireServerEnv, uniqueName } from './server-env.js';

export interface AzureTestEnv {
  endpoint: string;
  account: string;
  key: string;
}

export const AZURE_ENV_HELP =
  'LS_AZURE_ENDPOINT, LS_AZURE_ACCOUNT and LS_AZURE_KEY must be set for the azure tests: ' +
  'run `bash scripts/azurite.sh start /tmp/azurite-dev && source /tmp/azurite-dev/env.sh` first (scripts/test.sh does this)';

export function azureTestEnv(): AzureTestEnv | undefined {
  const endpoint = process.env.LS_AZURE_ENDPOINT;
  const account = process.env.LS_AZURE_ACCOUNT;
  const key = process.env.LS_AZURE_KEY;
  if (!endpoint || !account || !key) return undefined;
  return { endpoint, account, key };
}

/** The azure environment, or undefined after registering a test that fails under CI (see requireServerEnv). */
export function requireAzureTestEnv(label: string): AzureTestEnv | undefined {
  return requireServerEnv(label, 'Azurite server', AZURE_ENV_HELP, azureTestEnv);
}

/** A container name nobody else uses (lowercase letters, digits and dashes, 3-63 characters). */
export const uniqueContainer = uniqueName;

/** Base options for the test server. */
export function azureOptions(env: AzureTestEnv, container: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    account_name: env.account,
    account_key: env.key,
    use_shared_key: true,
    endpoint_url: env.endpoint,
    container,
    ...extra,
  };
}
