import { readFile } from 'node:fs/promises';

/**
 * Every secret a backend has held (keys rotate: an old one may still sit in a late error), so that error
 * texts can be cleaned of them. JS-private (#) so that no inspection of the storage object reaches them.
 */
export class SecretScrubber {
  readonly #seen = new Set<string>();

  remember(secret: string): void {
    if (this.#seen.size > 16) this.#seen.clear();
    this.#seen.add(secret);
  }

  /** text with every remembered secret replaced by <redacted>. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.#seen) if (s) out = out.split(s).join('<redacted>');
    return out;
  }
}

/** A secret kept in a file (option names the setting in errors), trimmed; never empty. */
export async function readSecretFile(label: string, option: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${label}: cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const value = text.trim();
  if (!value) throw new Error(`${label}: ${option} ${file} is empty`);
  return value;
}
