/**
 * Wall-clock time in nanoseconds since the epoch. Date.now() has only milliseconds; the
 * sub-millisecond digits come from hrtime so values are fine-grained, and each value is forced above
 * the previous one so timestamps written by one process strictly increase (snapshot names and entry
 * timestamps stay in commit order). Follows the wall clock, so NTP corrections are honoured.
 */
let last = 0n;

export function nowNano(): bigint {
  let t = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (t <= last) t = last + 1n;
  last = t;
  return t;
}
