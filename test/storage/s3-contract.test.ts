// The shared Storage contract against the real Ceph radosgw (see s3env.ts).
import { createStorage } from '../../src/storage/index.js';
import { storageContract } from './contract.js';
import { requireS3TestEnv, s3Options, uniqueBucket } from './s3env.js';

const env = requireS3TestEnv('s3 contract');
if (env) {
  const bucket = uniqueBucket('contract');
  let n = 0;
  // One bucket for the file; each test works under its own global_prefix, so it starts empty.
  storageContract('s3', {
    timeout: 60_000,
    ownListAfter: true,
    open: async () => createStorage('s3', s3Options(env, bucket, { create_bucket: true, global_prefix: `t${++n}/` })),
  });
}
