import type { LmdbConfig } from '../config/config.js';
import type { Env, Txn } from '../lmdb/index.js';
import type { Logger } from '../log/logger.js';
import type { DbiSource } from '../snapshot/types.js';
import type { AsyncMutex } from './async-mutex.js';
import type { DbiMerger } from './merger.js';
import type { SyncMode } from './mode.js';

export interface ShadowModeOptions {
  dbName: string;
  lmdb: LmdbConfig;
  writeLock: AsyncMutex;
  log: Logger;
  tombstoneCutoffNano: () => bigint | undefined;
}

/** schema_tracks_changes: false — placeholder until shadow mode lands. */
export class ShadowMode implements SyncMode {
  readonly kind = 'shadow' as const;
  constructor(private readonly env: Env, private readonly opts: ShadowModeOptions) {}
  validate(): void {
    throw new Error(`lmdbs.${this.opts.dbName}: schema_tracks_changes: false (shadow mode) is not supported yet`);
  }
  async prepareSnapshot(): Promise<void> {}
  openSnapshotDbis(): void {}
  snapshotSources(_txn: Txn): { sources: DbiSource[]; entries: number } {
    void this.env;
    return { sources: [], entries: 0 };
  }
  mergeTarget(): DbiMerger {
    throw new Error('shadow mode is not supported yet');
  }
  checkDbiEnd(): void {}
  writtenSince(): Set<string> {
    return new Set(['?']);
  }
  hasLocalDataOutside(): boolean {
    return true;
  }
  afterMerge(): void {}
}
