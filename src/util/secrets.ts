/** Masking of secrets for anything a person or a log collector may read. */
export const MASK = '***';

const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]+@/gi;

/** Replaces the userinfo (`user:password@`, or a token used as user name) of every URL inside `text`. */
export function maskUrlUserinfo(text: string): string {
  if (!text.includes('://') || !text.includes('@')) return text;
  return text.replace(URL_USERINFO, `$1${MASK}@`);
}

/** An access key id, shown only by its first 4 characters (enough to tell keys apart). */
export function partialKeyId(value: string): string {
  return value.length > 8 ? `${value.slice(0, 4)}${MASK}` : MASK;
}
