/**
 * A one-line transfer progress display for the terminal: `label: 12.5 MiB / 40.0 MiB (31%), 8.2 MiB/s`,
 * redrawn in place on stderr. It only appears when the stream is a TTY and the transfer has been going for
 * a moment (small transfers print nothing), and never writes anything to a pipe or file.
 */
import { formatBytes } from '../util/format.js';


export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  label: string;
  /** Expected total bytes, when known (adds the percentage). */
  total?: number;
  /** More figures after the byte counts, e.g. `3/7 snapshots merged`. */
  detail?: () => string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Default: the stream is a TTY. */
  enabled?: boolean;
  /** Nothing is shown before the transfer has run this long. Default 500 ms. */
  delayMs?: number;
  /** Least time between two redraws. Default 200 ms. */
  intervalMs?: number;
  now?: () => number;
}

export interface Progress {
  /** Counts bytes transferred. */
  add(bytes: number): void;
  /** Ends the display (final figures and a newline, if anything was shown). */
  done(): void;
  readonly bytes: number;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? stream.isTTY === true;
  const now = opts.now ?? Date.now;
  const delay = opts.delayMs ?? 500;
  const interval = opts.intervalMs ?? 200;
  const start = now();
  let bytes = 0;
  let lastDraw = 0;
  let shown = false;

  const line = (t: number): string => {
    const seconds = Math.max((t - start) / 1000, 0.001);
    const total = opts.total !== undefined && opts.total > 0
      ? ` / ${formatBytes(opts.total)} (${Math.min(100, Math.floor((bytes * 100) / opts.total))}%)`
      : '';
    const detail = opts.detail ? `, ${opts.detail()}` : '';
    return `${opts.label}: ${formatBytes(bytes)}${total}, ${formatBytes(Math.round(bytes / seconds))}/s${detail}`;
  };
  const draw = (t: number): void => {
    stream.write(`\r${line(t)}\x1b[K`);
    shown = true;
    lastDraw = t;
  };

  return {
    get bytes() {
      return bytes;
    },
    add(n: number): void {
      bytes += n;
      if (!enabled) return;
      const t = now();
      if (t - start >= delay && t - lastDraw >= interval) draw(t);
    },
    done(): void {
      if (!shown) return;
      draw(now());
      stream.write('\n');
      shown = false;
    },
  };
}
