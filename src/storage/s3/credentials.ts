import type { StorageLogger } from '../common.js';
import { readSecretFile, type SecretScrubber } from '../remote/secrets.js';
import type { S3Options } from './options.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  expiration?: Date;
}

/**
 * Static credentials, or credentials read from access_key_file/secret_key_file and re-read every
 * secrets_refresh_interval (and after an authentication failure), so rotated secrets are picked up.
 */
export class CredentialSource {
  // JS-private (#) so that no inspection of the storage object can reach the secret values.
  #cached: { creds: Credentials; until: number } | undefined;

  /** secrets learns every secret key read, so that error texts can be cleaned of it. */
  constructor(private readonly o: S3Options, private readonly secrets: SecretScrubber, private readonly logger: StorageLogger | undefined) {
    if (o.secret_key) secrets.remember(o.secret_key.reveal());
  }

  /** The provider handed to the SDK. The SDK asks again for every request while `expiration` is near. */
  readonly provider = async (): Promise<Credentials> => {
    if (this.o.access_key !== undefined && this.o.secret_key) {
      return { accessKeyId: this.o.access_key, secretAccessKey: this.o.secret_key.reveal() };
    }
    const now = Date.now();
    if (this.#cached && now < this.#cached.until) return this.#cached.creds;
    try {
      const [ak, sk] = await Promise.all([
        readSecretFile('s3', 'access_key_file', this.o.access_key_file!),
        readSecretFile('s3', 'secret_key_file', this.o.secret_key_file!),
      ]);
      this.secrets.remember(sk);
      const until = now + this.o.secrets_refresh_interval;
      // An expiration within the SDK's 5-minute refresh window makes it call us for every request;
      // this cache decides how often the files are read.
      this.#cached = { creds: { accessKeyId: ak, secretAccessKey: sk, expiration: new Date(until) }, until };
      return this.#cached.creds;
    } catch (err) {
      if (this.#cached) {
        this.logger?.warn?.('s3: cannot re-read the credential files, keeping the previous credentials', {
          error: (err as Error).message,
        });
        this.#cached.until = now + this.o.secrets_refresh_interval;
        return this.#cached.creds;
      }
      throw err;
    }
  };

  /** Forces a re-read on the next request (after the server refused our signature). */
  invalidate(): void {
    if (this.#cached) this.#cached.until = 0;
  }
}
