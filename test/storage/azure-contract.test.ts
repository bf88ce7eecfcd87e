// The shared Storage contract against a real Azurite server (see azureenv.ts).
import { createStorage } from '../../src/storage/index.js';
import { storageContract } from './contract.js';
import { azureOptions, requireAzureTestEnv, uniqueContainer } from './azureenv.js';

const env = requireAzureTestEnv('azure contract');
if (env) {
  const container = uniqueContainer('contract');
  let n = 0;
  // One container for the file; each test works under its own global_prefix, so it starts empty.
  storageContract('azure', {
    timeout: 60_000,
    ownListAfter: true,
    open: async () => createStorage('azure', azureOptions(env, container, { create_container: true, global_prefix: `t${++n}/` })),
  });
  // The same without a global_prefix, in a container of its own per test.
  storageContract('azure (no global_prefix)', {
    timeout: 60_000,
    ownListAfter: true,
    open: async () => createStorage('azure', azureOptions(env, uniqueContainer('bare'), { create_container: true })),
  });
}
