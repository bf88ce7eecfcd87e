/**
 * Durations and byte sizes as the Go implementation reads them from YAML.
 *
 * Durations: a string in Go time.ParseDuration syntax (`100ms`, `1.5s`, `1h30m`, `-1s`, `0`; units ns, us, µs,
 * μs, ms, s, m, h; a number always needs a unit except `0`). yaml.v2 also lets a plain YAML integer into a Go
 * time.Duration, where it counts NANOSECONDS (`5` = 5ns); we accept it with the same meaning.
 * Results here are milliseconds (fractional below 1 ms).
 *
 * Sizes (lmdb `map_size`, github.com/c2h5oh/datasize): an unsigned integer, optional spaces, an optional
 * case-insensitive unit with BINARY multiples: b/byte, k/kb/kilo(byte(s)) = 1024, m/mb = 1024^2, g/gb = 1024^3,
 * t/tb, p/pb, e/eb. No fractions. `Kb`, `Mb`, `Gb`, ... (capital then lower-case b) are refused as bits.
 * So `1GB` = 1073741824 and `1000MB` = 1048576000.
 */

const NS_PER_MS = 1e6;
const UNIT_MS: Record<string, number> = {
  ns: 1 / NS_PER_MS,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const MAX_DURATION_MS = 9223372036854.775; // Go: int64 nanoseconds (2^63-1 ns; the nearest double, = 2^63 / 1e6)

/** Parses a Go duration string to milliseconds; throws Error with Go-like messages. */
export function parseDuration(input: string): number {
  const bad = (why = 'invalid duration'): Error => new Error(`time: ${why} ${JSON.stringify(input)}`);
  let s = input;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const [num, intPart, frac] = [m[0], m[1] ?? '', m[2]];
    if (intPart === '' && (frac === undefined || frac === '')) throw bad();
    s = s.slice(num.length);
    const unitMatch = /^[^\d.]*/.exec(s)![0];
    if (unitMatch === '') throw bad('missing unit in duration');
    const unit = UNIT_MS[unitMatch];
    if (unit === undefined) throw new Error(`time: unknown unit ${JSON.stringify(unitMatch)} in duration ${JSON.stringify(input)}`);
    s = s.slice(unitMatch.length);
    total += Number(`${intPart || '0'}.${frac || '0'}`) * unit;
    if (total > MAX_DURATION_MS) throw bad();
  }
  // Round to whole nanoseconds, as Go stores them.
  return (sign * Math.round(total * NS_PER_MS)) / NS_PER_MS;
}

/** Milliseconds formatted like Go's time.Duration.String(): `1s`, `1m30s`, `4h0m0s`, `100ms`, `1.5µs`. */
export function formatDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * NS_PER_MS));
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  if (neg) ns = -ns;
  const frac = (value: bigint, unit: bigint): string => {
    const whole = value / unit;
    const rest = (value % unit).toString().padStart(unit.toString().length - 1, '0').replace(/0+$/, '');
    return rest ? `${whole}.${rest}` : `${whole}`;
  };
  let text: string;
  if (ns < 1000n) text = `${ns}ns`;
  else if (ns < 1_000_000n) text = `${frac(ns, 1000n)}µs`;
  else if (ns < 1_000_000_000n) text = `${frac(ns, 1_000_000n)}ms`;
  else {
    const h = ns / 3_600_000_000_000n;
    const m = (ns / 60_000_000_000n) % 60n;
    const s = `${frac(ns % 60_000_000_000n, 1_000_000_000n)}s`;
    text = h > 0n ? `${h}h${m}m${s}` : m > 0n ? `${m}m${s}` : s;
  }
  return neg ? `-${text}` : text;
}

const SIZE_UNITS: Array<[string[], number]> = [
  [['', 'b', 'byte'], 1],
  [['k', 'kb', 'kilo', 'kilobyte', 'kilobytes'], 2 ** 10],
  [['m', 'mb', 'mega', 'megabyte', 'megabytes'], 2 ** 20],
  [['g', 'gb', 'giga', 'gigabyte', 'gigabytes'], 2 ** 30],
  [['t', 'tb', 'tera', 'terabyte', 'terabytes'], 2 ** 40],
  [['p', 'pb', 'peta', 'petabyte', 'petabytes'], 2 ** 50],
  [['e', 'eb'], 2 ** 60],
];

/** Parses a datasize string (see above) to bytes. */
export function parseSize(input: string): number {
  const m = /^(\d+)(.*)$/s.exec(input);
  if (!m) throw new Error(`invalid size ${JSON.stringify(input)}: expected a number with an optional unit like 1000MB`);
  const unitRaw = m[2]!.trim();
  if (/^[KMGTPE]b$/.test(unitRaw)) {
    throw new Error(`invalid size ${JSON.stringify(input)}: ${unitRaw} means bits, use ${unitRaw[0]}B for bytes`);
  }
  const unit = unitRaw.toLowerCase();
  const mult = SIZE_UNITS.find(([names]) => names.includes(unit))?.[1];
  if (mult === undefined) throw new Error(`invalid size ${JSON.stringify(input)}: unknown unit ${JSON.stringify(unitRaw)}`);
  const bytes = Number(m[1]) * mult;
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size ${JSON.stringify(input)}: too large`);
  return bytes;
}

/** Bytes formatted like datasize's String(): the largest exact binary unit (`1GB`, `1000MB`, `123B`). */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0B';
  for (const [names, mult] of [...SIZE_UNITS].reverse()) {
    if (mult > 1 && bytes % mult === 0) return `${bytes / mult}${names[1]!.toUpperCase()}`;
  }
  return `${bytes}B`;
}
