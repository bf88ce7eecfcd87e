/**
 * Terminal output for the demo and the benchmarks: ANSI colours only when the stream is a TTY
 * (and NO_COLOR is unset; FORCE_COLOR forces them), plain text in logs.
 */

export interface Style {
  readonly enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  blue(s: string): string;
  magenta(s: string): string;
  cyan(s: string): string;
  /** A stable colour per instance name (by its position in `names`). */
  instance(name: string, names: readonly string[]): string;
}

export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createStyle(enabled: boolean): Style {
  const sgr = (open: number, close: number) => (s: string): string => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  const palette = [sgr(36, 39), sgr(35, 39), sgr(33, 39), sgr(34, 39), sgr(32, 39)];
  return {
    enabled,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    blue: sgr(34, 39),
    magenta: sgr(35, 39),
    cyan: sgr(36, 39),
    instance(name, names) {
      const i = names.indexOf(name);
      return i < 0 ? name : palette[i % palette.length]!(name);
    },
  };
}

/** Pads to a visible width (ANSI sequences do not count). */
export function pad(s: string, width: number): string {
  // eslint-disable-next-line no-control-regex -- matching the ESC of ANSI colour sequences is the point
  const visible = s.replace(/\x1b\[[0-9;]*m/g, '').length;
  return visible >= width ? s : s + ' '.repeat(width - visible);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
