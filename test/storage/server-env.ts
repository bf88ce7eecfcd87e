// How the tests of a real storage server (Ceph's S3, Azurite) find it, and what they do without it.
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';

/**
 * The server's settings from the environment variables `vars` (all set), or undefined after registering a test
 * that fails under CI (CI=true) and is skipped elsewhere, so a missing server is never mistaken for a pass in CI.
 */
export function requireServerEnv<T>(label: string, server: string, help: string, read: () => T | undefined): T | undefined {
  const env = read();
  if (env) return env;
  if (process.env.CI === 'true') {
    it(`${label}: ${server} available`, () => {
      throw new Error(`${help} (CI=true, so this is a failure)`);
    });
  } else {
    it(`${label}: ${server} available`, { skip: help }, () => {});
  }
  return undefined;
}

/** A bucket or container name nobody else uses (lowercase letters, digits and dashes, 3-63 characters). */
export function uniqueName(tag: string): string {
  return `ls-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.slice(0, 63);
}
