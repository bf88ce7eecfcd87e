import type { Dbi } from '../../lmdb/index.js';

/** An application DBI and its shadow (`_sync_shadow_<name>`, the same keys with native headers). */
export interface ShadowPair {
  name: string;
  app: Dbi;
  shadow: Dbi;
  /** MDB_DUPSORT: shadow keys are dupsort_hack keys (one per duplicate). */
  dupsort: boolean;
}
