/**
 * `$VAR` / `${VAR}` expansion with exactly the semantics of Go's os.ExpandEnv, which the Go
 * Lightning Stream applies to the whole config text before parsing it:
 * - `${NAME}` and `$NAME` (NAME = [A-Za-z0-9_]+) are replaced by the variable's value;
 * - an unset variable expands to the empty string (reported in `unset` so callers can warn);
 * - `$` followed by one shell-special character (`*#$@!?-` or a digit) names that one-character
 *   variable: `$$` is NOT an escape, it expands to the (normally unset, so empty) variable `$`;
 * - `${}` and an unterminated `${` are removed; a `$` followed by anything else, or at the very end,
 *   is kept as is.
 * There is no default-value syntax: `${A:-b}` looks up a variable literally named `A:-b`.
 */
export interface Expanded {
  text: string;
  /** Names that were referenced but not set, in order of first use. */
  unset: string[];
}

const SPECIAL = new Set(['*', '#', '$', '@', '!', '?', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
const isNameChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * Linear in the text: every scan starts where the last one ended (a text full of unterminated `${`
 * must not be rescanned to its end for each of them).
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): Expanded {
  const unset = new Set<string>();
  const parts: string[] = [];
  let from = 0;
  let close = -2; // position of the next '}' at or after the last search start; -1: none left
  const nextClose = (after: number): number => {
    if (close === -1 || close >= after) return close;
    close = text.indexOf('}', after);
    return close;
  };
  for (let j = text.indexOf('$'); j >= 0 && j + 1 < text.length; j = text.indexOf('$', from)) {
    parts.push(text.slice(from, j));
    const at = j + 1;
    let name = '';
    let width: number;
    if (text[at] === '{') {
      if (at + 2 < text.length && SPECIAL.has(text[at + 1]!) && text[at + 2] === '}') {
        name = text[at + 1]!;
        width = 3;
      } else {
        const c = nextClose(at + 1);
        if (c === at + 1) width = 2; // `${}`: eaten
        else if (c < 0) width = 1; // unterminated `${`: eaten
        else {
          name = text.slice(at + 1, c);
          width = c - at + 1;
        }
      }
    } else if (SPECIAL.has(text[at]!)) {
      name = text[at]!;
      width = 1;
    } else {
      let i = at;
      while (i < text.length && isNameChar(text.charCodeAt(i))) i++;
      name = text.slice(at, i);
      width = i - at;
    }
    if (name === '' && width === 0) {
      parts.push('$'); // `$` not followed by a name: kept
    } else if (name !== '') {
      const value = env[name];
      if (value === undefined) unset.add(name);
      parts.push(value ?? '');
    }
    from = at + width;
  }
  parts.push(text.slice(from));
  return { text: parts.join(''), unset: [...unset] };
}
