import { native } from './native.js';

/** glibc's mallopt parameters (malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

/**
 * A long-running process's allocator settings (glibc), applied once at start unless the operator set them
 * through malloc's own environment variables (which win). Measured with bench/soak.ts (README, "Steady-state
 * memory soak"): with glibc's defaults, the first large block freed raises the mmap threshold to its size, so
 * later snapshot buffers (chunks, scan buffers, compressors) come from the heaps and leave them fragmented, and
 * each thread-pool thread grows an arena of its own; 30-40 MiB more resident per process after 15 minutes of a
 * trickle of changes. Fixed thresholds hand blocks over 128 KiB back to the kernel when freed, and two arenas
 * are plenty for a pool that mostly compresses.
 * Returns the settings applied.
 */
export function tuneMallocForDaemon(env: NodeJS.ProcessEnv = process.env): string[] {
  const applied: string[] = [];
  const set = (variable: string, param: number, value: number): void => {
    if (env[variable] !== undefined) return;
    if (native.mallocOption(param, value)) applied.push(`${variable}=${value}`);
  };
  set('MALLOC_MMAP_THRESHOLD_', M_MMAP_THRESHOLD, 128 << 10);
  set('MALLOC_TRIM_THRESHOLD_', M_TRIM_THRESHOLD, 128 << 10);
  set('MALLOC_ARENA_MAX', M_ARENA_MAX, 2);
  return applied;
}
