// Where the S3 tests find their server: a real Ceph radosgw started by scripts/ceph.sh, whose
// DIR/env.sh exports LS_S3_ENDPOINT, LS_S3_ACCESS_KEY and LS_S3_SECRET_KEY.
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';

export interface S3TestEnv {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

export const S3_ENV_HELP =
  'LS_S3_ENDPOINT, LS_S3_ACCESS_KEY and LS_S3_SECRET_KEY must be set for the S3 tests: ' +
  'run `bash scripts/ceph.sh start /tmp/ceph-dev && source /tmp/ceph-dev/env.sh` first (scripts/test.sh does this)';

export function s3TestEnv(): S3TestEnv | undefined {
  const endpoint = process.env.LS_S3_ENDPOINT;
  const accessKey = process.env.LS_S3_ACCESS_KEY;
  const secretKey = process.env.LS_S3_SECRET_KEY;
  if (!endpoint || !accessKey || !secretKey) return undefined;
  return { endpoint, accessKey, secretKey };
}

/**
 * The S3 environment, or undefined after registering a test that fails under CI (CI=true) and is
 * skipped elsewhere, so a missing server is never mistaken for a pass in CI.
 */
export function requireS3TestEnv(label: string): S3TestEnv | undefined {
  const env = s3TestEnv();
  if (env) return env;
  if (process.env.CI === 'true') {
    it(`${label}: S3 server available`, () => {
      throw new Error(`${S3_ENV_HELP} (CI=true, so this is a failure)`);
    });
  } else {
    it(`${label}: S3 server available`, { skip: S3_ENV_HELP }, () => {});
  }
  return undefined;
}

/** A bucket name nobody else uses (lowercase, <= 63 characters). */
export function uniqueBucket(tag: string): string {
  return `ls-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.slice(0, 63);
}

/** Base options for the test server. */
export function s3Options(env: S3TestEnv, bucket: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    access_key: env.accessKey,
    secret_key: env.secretKey,
    endpoint_url: env.endpoint,
    bucket,
    ...extra,
  };
}
