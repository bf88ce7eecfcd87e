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
const isNameChar = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c);

/** Name found after a `$`: `name` ('' when none) and how many characters it used (`width`). */
function shellName(s: string): { name: string; width: number } {
  if (s[0] === '{') {
    if (s.length > 2 && SPECIAL.has(s[1]!) && s[2] === '}') return { name: s[1]!, width: 3 };
    const close = s.indexOf('}', 1);
    if (close === 1) return { name: '', width: 2 }; // `${}`: eaten
    if (close < 0) return { name: '', width: 1 }; // unterminated `${`: eaten
    return { name: s.slice(1, close), width: close + 1 };
  }
  if (SPECIAL.has(s[0]!)) return { name: s[0]!, width: 1 };
  let i = 0;
  while (i < s.length && isNameChar(s[i]!)) i++;
  return { name: s.slice(0, i), width: i };
}

export function expandEnv(text: string, env: NodeJS.ProcessEnv): Expanded {
  const unset: string[] = [];
  let out = '';
  let from = 0;
  for (let j = 0; j < text.length; j++) {
    if (text[j] !== '$' || j + 1 >= text.length) continue;
    out += text.slice(from, j);
    const { name, width } = shellName(text.slice(j + 1));
    if (name === '' && width === 0) {
      out += '$'; // `$` not followed by a name: kept
    } else if (name !== '') {
      const value = env[name];
      if (value === undefined && !unset.includes(name)) unset.push(name);
      out += value ?? '';
    }
    j += width;
    from = j + 1;
  }
  return { text: out + text.slice(from), unset };
}
