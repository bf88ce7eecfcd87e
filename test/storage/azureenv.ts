// Where the azure tests find their server: a real Azurite started by scripts/azurite.sh, whose
// DIR/env.sh exports LS_AZURE_ENDPOINT, LS_AZURE_ACCOUNT and LS_AZURE_KEY.
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';

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

/**
 * The azure environment, or undefined after registering a test that fails under CI (CI=true) and is
 * skipped elsewhere, so a missing server is never mistaken for a pass in CI.
 */
export function requireAzureTestEnv(label: string): AzureTestEnv | undefined {
  const env = azureTestEnv();
  if (env) return env;
  if (process.env.CI === 'true') {
    it(`${label}: Azurite server available`, () => {
      throw new Error(`${AZURE_ENV_HELP} (CI=true, so this is a failure)`);
    });
  } else {
    it(`${label}: Azurite server available`, { skip: AZURE_ENV_HELP }, () => {});
  }
  return undefined;
}

/** A container name nobody else uses (lowercase letters, digits and dashes, 3-63 characters). */
export function uniqueContainer(tag: string): string {
  return `ls-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.slice(0, 63);
}

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
