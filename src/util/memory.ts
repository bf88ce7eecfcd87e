/**
 * Memory of a long-running process: an opt-in periodic report (LS_DEBUG_MEMORY=<seconds>) of where the
 * resident set goes: V8's heap, the buffers outside it, and the kernel's split of the resident set into
 * anonymous memory (ours: heap, malloc arenas, stacks) and mapped files (node itself, the LMDB's pages).
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

export type MemoryFields = Record<string, number>;

const MIB = 2 ** 20;
const mib = (bytes: number): number => Math.round((bytes / MIB) * 10) / 10;

/** VmRSS, RssAnon, RssFile, RssShmem of /proc/self/status in MiB (absent where /proc is not Linux's). */
export function procRss(pid: number | 'self' = 'self'): MemoryFields {
  const out: MemoryFields = {};
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return out;
  }
  for (const field of ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem', 'VmHWM']) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m) out[field] = mib(Number(m[1]) * 1024);
  }
  return out;
}

/** process.memoryUsage() and procRss() in MiB, one flat record for a log line. */
export function memorySnapshot(): MemoryFields {
  const u = process.memoryUsage();
  return {
    ...procRss(),
    heap_used: mib(u.heapUsed), heap_total: mib(u.heapTotal), external: mib(u.external), array_buffers: mib(u.arrayBuffers),
  };
}

/**
 * When LS_DEBUG_MEMORY is a positive number of seconds, calls report(memorySnapshot()) that often
 * (the timer does not keep the process alive); returns a stop function.
 */
export function startMemoryReport(report: (fields: MemoryFields) => void, env: NodeJS.ProcessEnv = process.env): () => void {
  const seconds = Number(env.LS_DEBUG_MEMORY ?? '');
  if (!(seconds > 0)) return () => {};
  const timer = setInterval(() => report(memorySnapshot()), seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A long-running sync's memory settings, applied once at its start: V8's young generation stays at its
 * initial size (1 MiB semi-spaces) instead of growing to 16 MiB ones. A daemon allocates a little all the
 * time (listings, deltas, merges), enough for V8 to grow the young generation to its maximum, ~30 MiB
 * resident that holds only garbage; the heavy paths (snapshot encode, decode, merge) work on typed arrays
 * over a few buffers, not on objects per entry, so more frequent scavenges cost little. The growth factor is
 * read at each growth, so setting it after start-up works (unlike --max-semi-space-size); a
 * --max-semi-space-size or --semi-space-growth-factor given to node (NODE_OPTIONS, the command line) wins.
 */
export function settleDaemonMemory(execArgv: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]): boolean {
  if (execArgv.some((a) => /^--(max-semi-space-size|semi-space-growth-factor)\b/.test(a.replaceAll('_', '-')))) return false;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}
