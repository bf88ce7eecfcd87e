import { readFileSync } from 'node:fs';
import type { S3TlsOptions } from './options.js';

/** Node https.Agent options for the `tls` settings: CA, client certificate, insecure_skip_verify. */
export function tlsAgentOptions(tls: S3TlsOptions, backend = 's3'): Record<string, unknown> {
  const read = (file: string, option: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${backend}: cannot read tls.${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    }
  };
  const out: Record<string, unknown> = {};
  if (tls.ca !== undefined || tls.ca_file !== undefined) {
    out.ca = tls.ca_file !== undefined ? read(tls.ca_file, 'ca_file') : tls.ca;
  }
  if (tls.cert !== undefined || tls.cert_file !== undefined) {
    out.cert = tls.cert_file !== undefined ? read(tls.cert_file, 'cert_file') : tls.cert;
    out.key = tls.key_file !== undefined ? read(tls.key_file, 'key_file') : tls.key?.reveal();
  }
  if (tls.insecure_skip_verify) out.rejectUnauthorized = false;
  return out;
}
