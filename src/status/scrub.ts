/**
 * Keeps secrets out of everything the HTTP server shows: error messages may quote an endpoint URL
 * with credentials, or (from a badly written library) a configured key. Every text shown goes
 * through a Scrubber, which masks URL passwords and every value that redactConfig masks in the
 * storage options (access keys keep the same short prefix redactConfig shows).
 */
import type { Config } from '../config/config.js';
import { MASK, redactConfig } from '../config/redact.js';

export type Scrubber = (text: string) => string;

/** Values shorter than this are not searched for (masking every "1" would ruin messages, and they are no real secrets). */
const MIN_SECRET_LENGTH = 4;

function collectSecrets(original: unknown, redacted: unknown, out: Map<string, string>): void {
  if (typeof original === 'string') {
    if (original !== redacted && original.length >= MIN_SECRET_LENGTH) out.set(original, String(redacted));
    return;
  }
  if (original === null || typeof original !== 'object' || redacted === null || typeof redacted !== 'object') return;
  for (const [key, value] of Object.entries(original)) {
    collectSecrets(value, (redacted as Record<string, unknown>)[key], out);
  }
}

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/gi;

export function makeScrubber(config: Config): Scrubber {
  const secrets = new Map<string, string>();
  collectSecrets(config.storage.options, redactConfig(config).storage.options, secrets);
  // Longest first, so a secret containing another is masked whole.
  const pairs = [...secrets].sort(([a], [b]) => b.length - a.length);
  return (text) => {
    let out = text.replace(URL_PASSWORD, `$1:${MASK}@`);
    for (const [secret, masked] of pairs) out = out.split(secret).join(masked);
    return out;
  };
}
