// Where the S3 tests find their server: a real Ceph radosgw started by scripts/ceph.sh, whose
// DIR/env.sh exports LS_S3_ENDPOINT, LS_S3_ACCESS_KEY and LS_S3_SECRET_KEY.
import { requireServerEnv, uniqueName } from './server-env.js';

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

/** The S3 environment, or undefined after registering a test that fails under CI (see requireServerEnv). */
export function requireS3TestEnv(label: string): S3TestEnv | undefined {
  return requireServerEnv(label, 'S3 server', S3_ENV_HELP, s3TestEnv);
}

/** A bucket name nobody else uses (lowercase, <= 63 characters). */
export const uniqueBucket = uniqueName;

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
