/** Commander argument parser for an option that may be given several times: collects the values. */
export function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
