import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type BucketLocationConstraint,
  type CompletedPart,
  type ListObjectsV2CommandOutput,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import {
  checkAborted,
  checkObjectName,
  InvalidNameError,
  readAll,
  sortObjects,
  StorageClosedError,
  type StorageContext,
  type StorageLogger,
} from './common.js';
import { formatDuration } from './options.js';
import { NotFoundError, type ObjectInfo, type Storage } from './storage.js';
import { redactedS3Options, UPDATE_MARKER_NAME, type S3Options, type S3TlsOptions } from './s3-options.js';
import { childSignal, onAbort } from '../util/abort.js';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  expiration?: Date;
}

/**
 * Static credentials, or credentials read from access_key_file/secret_key_file and re-read every
 * secrets_refresh_interval (and after an authentication failure), so rotated secrets are picked up.
 */
class CredentialSource {
  // JS-private (#) so that no inspection of the storage object can reach the secret values.
  #cached: { creds: Credentials; until: number } | undefined;
  readonly #seenSecrets = new Set<string>();

  constructor(private readonly o: S3Options, private readonly logger: StorageLogger | undefined) {
    if (o.secret_key) this.remember(o.secret_key.reveal());
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
        readKeyFile(this.o.access_key_file!, 'access_key_file'),
        readKeyFile(this.o.secret_key_file!, 'secret_key_file'),
      ]);
      this.remember(sk);
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

  /** Removes every secret this source ever held from a text. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.#seenSecrets) if (s) out = out.split(s).join('<redacted>');
    return out;
  }

  private remember(secret: string): void {
    if (this.#seenSecrets.size > 16) this.#seenSecrets.clear();
    this.#seenSecrets.add(secret);
  }
}

async function readKeyFile(file: string, option: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`s3: cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const value = text.trim();
  if (!value) throw new Error(`s3: ${option} ${file} is empty`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** An S3 failure, with a message that never carries credentials: `s3: <Op> <name>: <code> <message>`. */
export class S3StorageError extends Error {
  constructor(
    message: string,
    readonly op: string,
    readonly objectName: string | undefined,
    readonly code: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
    this.name = 'S3StorageError';
  }
}

const AUTH_CODES = new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied', 'InvalidToken', 'ExpiredToken']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

// ---------------------------------------------------------------------------------------------
// Backend

interface ListCache {
  marker: string;
  objects: ObjectInfo[];
  time: number;
}

/** Objects in one S3 bucket (under global_prefix), through @aws-sdk/client-s3. */
export class S3Storage implements Storage {
  private readonly client: S3Client;
  private readonly creds: CredentialSource;
  private readonly markerKey: string;
  private readonly agents: Array<HttpAgent | HttpsAgent>;
  private listCache: ListCache | undefined;
  private markerSeq = 0;
  private closed = false;

  private constructor(
    readonly options: S3Options,
    private readonly logger: StorageLogger | undefined,
  ) {
    this.creds = new CredentialSource(options, logger);
    this.markerKey = options.global_prefix + UPDATE_MARKER_NAME;
    const agentOptions = {
      keepAlive: true,
      keepAliveMsecs: options.dial_keep_alive,
      maxSockets: 64,
      maxFreeSockets: options.max_idle_conns,
    };
    const httpAgent = new HttpAgent(agentOptions);
    const httpsAgent = new HttpsAgent({ ...agentOptions, ...tlsAgentOptions(options.tls) });
    if (options.tls.insecure_key_log_file) {
      const file = options.tls.insecure_key_log_file;
      httpsAgent.on('keylog', (line: Buffer) => appendFileSync(file, line, { mode: 0o600 }));
    }
    this.agents = [httpAgent, httpsAgent];
    const config: S3ClientConfig = {
      region: options.region,
      credentials: this.creds.provider,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: {
        connectionTimeout: options.dial_timeout,
        requestTimeout: options.client_timeout,
        throwOnRequestTimeout: true,
        httpAgent,
        httpsAgent,
      },
    };
    if (options.endpoint_url !== undefined) {
      config.endpoint = options.endpoint_url;
      config.forcePathStyle = true;
    }
    this.client = new S3Client(config);
  }

  /** Creates the client and, with create_bucket, the bucket (within init_timeout). */
  static async open(options: S3Options, ctx?: StorageContext): Promise<S3Storage> {
    const s = new S3Storage(options, ctx?.logger);
    ctx?.logger?.debug?.('s3 storage options', { options: redactedS3Options(options) });
    if (options.tls.watch_certs) {
      ctx?.logger?.warn?.('s3: tls.watch_certs is not supported: certificates are read once at start-up');
    }
    if (options.create_bucket) {
      try {
        await s.createBucket(AbortSignal.timeout(options.init_timeout));
      } catch (err) {
        await s.close();
        throw err;
      }
    }
    return s;
  }

  async list(prefix: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    this.check(signal);
    if (!this.options.use_update_marker) return this.listAll(prefix, signal);

    let marker: string | undefined;
    try {
      marker = (await this.getObject(UPDATE_MARKER_NAME, this.markerKey, signal)).toString('utf8');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    const cache = this.listCache;
    const fresh =
      cache !== undefined &&
      marker !== undefined &&
      marker === cache.marker &&
      Date.now() - cache.time < this.options.update_marker_force_list_interval;
    if (fresh) return filterPrefix(cache.objects, prefix);

    const time = Date.now();
    const objects = await this.listAll('', signal); // cache everything; prefixes filter the cache
    this.listCache = marker === undefined ? undefined : { marker, objects, time };
    return filterPrefix(objects, prefix);
  }

  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.checkName(name, signal);
    return this.getStream(name, this.key(name), signal);
  }

  async load(name: string, signal?: AbortSignal): Promise<Buffer> {
    this.checkName(name, signal);
    return this.getObject(name, this.key(name), signal);
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    const etag = Buffer.isBuffer(data)
      ? await this.putBuffer('PutObject', name, key, data, signal)
      : await this.putStream(name, key, data, signal);
    await this.setMarker(key, etag, false, signal);
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    await this.call('DeleteObject', name, signal, (o) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }), o),
    );
    await this.setMarker(key, '', true, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    for (const a of this.agents) a.destroy();
  }

  /** What logs and inspection show: where the storage points, never its client or credentials. */
  toJSON(): Record<string, unknown> {
    return { type: 's3', ...redactedS3Options(this.options) };
  }

  [inspect.custom](): string {
    const o = this.options;
    return `S3Storage { endpoint: ${o.endpoint_url ?? 'AWS'}, bucket: ${o.bucket}, global_prefix: ${JSON.stringify(o.global_prefix)} }`;
  }

  // --- internals -----------------------------------------------------------------------------

  private key(name: string): string {
    return this.options.global_prefix + name;
  }

  private check(signal: AbortSignal | undefined): void {
    if (this.closed) throw new StorageClosedError('s3');
    checkAborted(signal);
  }

  private checkName(name: string, signal: AbortSignal | undefined): void {
    this.check(signal);
    checkObjectName(name);
    if (this.options.use_update_marker && name === UPDATE_MARKER_NAME) {
      throw new InvalidNameError(name, 'reserved for the update marker (use_update_marker is on)');
    }
  }

  /** Runs one SDK call, turning its failures into S3StorageError/NotFoundError/the abort reason. */
  private async call<T>(
    op: string,
    name: string | undefined,
    signal: AbortSignal | undefined,
    fn: (o: { abortSignal?: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    // The SDK adds an abort listener per request: give it a signal of its own, not the shared one.
    const child = signal && childSignal(signal);
    try {
      return await fn(child ? { abortSignal: child.signal } : {});
    } catch (err) {
      throw this.mapError(op, name, err, signal);
    } finally {
      child?.dispose();
    }
  }

  private mapError(op: string, name: string | undefined, err: unknown, signal?: AbortSignal): Error {
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (err instanceof NotFoundError || err instanceof S3StorageError || err instanceof StorageClosedError) return err;
    const e = (err ?? {}) as SdkErrorShape;
    const status = e.$metadata?.httpStatusCode;
    let code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? 'Error';
    if (code === 'UnknownError' && status) code = `HTTP${status}`;
    if (code === 'NoSuchKey' || (status === 404 && code === 'NotFound' && name !== undefined)) {
      return new NotFoundError(name ?? '');
    }
    if (AUTH_CODES.has(code)) this.creds.invalidate();
    const detail = (e.message ?? '').replace(/\s+/g, ' ').trim();
    let msg = detail && detail !== code && detail !== 'UnknownError' ? ` ${detail}` : '';
    if (code === 'SignatureDoesNotMatch') msg += ' (check the secret key)';
    if (code === 'InvalidAccessKeyId') msg += ' (check the access key)';
    const where = `${op}${name !== undefined ? ` ${name}` : ` ${this.options.bucket}`}`;
    const text = this.creds.scrub(`s3: ${where}: ${code}${status && !code.startsWith('HTTP') ? ` (HTTP ${status})` : ''}${msg}`);
    return new S3StorageError(text, op, name, code, status);
  }

  private async createBucket(signal: AbortSignal): Promise<void> {
    const bucket = this.options.bucket;
    const region = this.options.region;
    // Ceph answers CreateBucket on a bucket one already owns with 200: ask first, so "created" is true.
    try {
      await this.call('HeadBucket', undefined, signal, (o) => this.client.send(new HeadBucketCommand({ Bucket: bucket }), o));
      return;
    } catch {
      // absent (or not visible yet): try to create it below, which reports real problems
    }
    try {
      await this.call('CreateBucket', undefined, signal, (o) =>
        this.client.send(
          new CreateBucketCommand({
            Bucket: bucket,
            CreateBucketConfiguration:
              region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
          }),
          o,
        ),
      );
      this.logger?.info?.('s3: created bucket', { bucket });
    } catch (err) {
      if (err instanceof S3StorageError && err.code === 'BucketAlreadyOwnedByYou') return;
      if (err instanceof S3StorageError && err.code === 'BucketAlreadyExists') {
        // Some servers answer this for one's own bucket too: it is fine if we can use it.
        await this.call('HeadBucket', undefined, signal, (o) =>
          this.client.send(new HeadBucketCommand({ Bucket: bucket }), o),
        );
        return;
      }
      if (signal.aborted) {
        throw new S3StorageError(
          `s3: CreateBucket ${bucket}: no answer within init_timeout (${formatDuration(this.options.init_timeout)})`,
          'CreateBucket',
          undefined,
          'Timeout',
          undefined,
        );
      }
      throw err;
    }
  }

  private async listAll(prefix: string, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
    const gp = this.options.global_prefix;
    const folders = this.options.prefix_folders || this.options.hide_folders;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.call('ListObjectsV2', undefined, signal, (o) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: gp + prefix,
            ContinuationToken: token,
            Delimiter: folders ? '/' : undefined,
          }),
          o,
        ),
      );
      for (const obj of page.Contents ?? []) {
        const key = obj.Key;
        if (key === undefined || key === this.markerKey || !key.startsWith(gp)) continue;
        if (this.options.hide_folders && key.endsWith('/')) continue;
        out.push({ name: key.slice(gp.length), size: obj.Size ?? 0, lastModified: obj.LastModified ?? new Date(0) });
      }
      if (this.options.prefix_folders) {
        for (const p of page.CommonPrefixes ?? []) {
          if (p.Prefix?.startsWith(gp)) out.push({ name: p.Prefix.slice(gp.length), size: 0, lastModified: new Date(0) });
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return sortObjects(out);
  }

  private async getStream(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable> {
    const res = await this.call('GetObject', name, signal, (o) =>
      this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }), o),
    );
    const body = res.Body as Readable | undefined;
    if (!body) throw new S3StorageError(`s3: GetObject ${name}: empty response body`, 'GetObject', name, 'NoBody', undefined);
    if (signal) {
      const forget = onAbort(signal, () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
      body.once('close', forget);
    }
    return body;
  }

  private async getObject(name: string, key: string, signal: AbortSignal | undefined): Promise<Buffer> {
    const body = await this.getStream(name, key, signal);
    try {
      return await readAll(body, signal);
    } catch (err) {
      throw this.mapError('GetObject', name, err, signal);
    }
  }

  private async putBuffer(
    op: string,
    name: string,
    key: string,
    data: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const res = await this.call(op, name, signal, (o) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: data,
          ContentLength: data.length,
          ContentMD5: this.md5(data),
          StorageClass: this.options.storage_class as StorageClass | undefined,
        }),
        o,
      ),
    );
    return res.ETag ?? '';
  }

  /**
   * Streams of unknown length: one PutObject when the stream fits in one part, else a multipart
   * upload with at most num_minio_threads parts in flight (atomic either way: the object appears
   * only when the upload completes; a failure aborts the upload). Memory: (threads + 1) parts.
   */
  private async putStream(name: string, key: string, data: Readable, signal: AbortSignal | undefined): Promise<string> {
    const reader = new PartReader(data, signal);
    let first: Buffer | undefined;
    let second: Buffer | undefined;
    try {
      first = await reader.next(partSize(1));
      second = first && first.length === partSize(1) ? await reader.next(partSize(2)) : undefined;
    } catch (err) {
      throw this.mapError('PutObject', name, err, signal);
    }
    if (!second) return this.putBuffer('PutObject', name, key, first ?? Buffer.alloc(0), signal);

    const bucket = this.options.bucket;
    const created = await this.call('CreateMultipartUpload', name, signal, (o) =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          StorageClass: this.options.storage_class as StorageClass | undefined,
        }),
        o,
      ),
    );
    const uploadId = created.UploadId!;
    const parts: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const startPart = (n: number, body: Buffer): void => {
      const task: Promise<void> = this.call('UploadPart', name, signal, (o) =>
        this.client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: body,
            ContentLength: body.length,
            ContentMD5: this.md5(body),
          }),
          o,
        ),
      ).then(
        (res) => {
          parts[n - 1] = { ETag: res.ETag, PartNumber: n };
          reader.recycle(body);
        },
        (err) => {
          failure ??= err;
        },
      ).finally(() => inFlight.delete(task));
      inFlight.add(task);
    };
    try {
      startPart(1, first!);
      let n = 2;
      for (let body: Buffer | undefined = second; body; body = await reader.next(partSize(++n))) {
        while (inFlight.size >= this.options.num_minio_threads && failure === undefined) await Promise.race(inFlight);
        if (failure !== undefined) throw failure;
        startPart(n, body);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      const done = await this.call('CompleteMultipartUpload', name, signal, (o) =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
          o,
        ),
      );
      return done.ETag ?? '';
    } catch (err) {
      data.destroy();
      await Promise.all(inFlight);
      // Best effort, and not bound to the (possibly aborted) signal: frees the parts on the server.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch((abortErr: unknown) => {
          this.logger?.warn?.('s3: could not abort a failed multipart upload', {
            object: name,
            error: this.mapError('AbortMultipartUpload', name, abortErr).message,
          });
        });
      throw this.mapError('PutObject', name, err, signal);
    }
  }

  private md5(body: Buffer): string | undefined {
    return this.options.disable_send_content_md5 ? undefined : createHash('md5').update(body).digest('base64');
  }

  /** With use_update_marker: records the change so every instance's next list() does a real LIST. */
  private async setMarker(key: string, etag: string, isDelete: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (!this.options.use_update_marker) return;
    const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.markerSeq++ % 1_000_000);
    const content = Buffer.from(`${key}:${etag}:${nanos}:${isDelete}`);
    await this.putBuffer('PutObject', UPDATE_MARKER_NAME, this.markerKey, content, signal);
    this.listCache = undefined;
  }
}

/** Multipart part sizes: 5 MiB (the S3 minimum), doubling every 1,000 parts to stay within 10,000 parts. */
function partSize(partNumber: number): number {
  return (5 << 20) * 2 ** Math.floor((partNumber - 1) / 1000);
}

/**
 * Cuts a stream into parts of a requested size, copying chunks into part buffers. Buffers of parts
 * already uploaded are recycled: the HTTP layer keeps a stale reference to the last body sent on
 * each kept-alive socket, so fresh buffers would double the memory held.
 */
class PartReader {
  private readonly it: AsyncIterator<Buffer | string>;
  private rest: Buffer | undefined;
  private ended = false;
  private free: Buffer[] = [];

  constructor(stream: Readable, private readonly signal: AbortSignal | undefined) {
    this.it = stream[Symbol.asyncIterator]();
    if (signal) {
      const forget = onAbort(signal, () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
      stream.once('close', forget);
    }
  }

  /** The next part: `size` bytes, fewer at the end of the stream, undefined once it is exhausted. */
  async next(size: number): Promise<Buffer | undefined> {
    checkAborted(this.signal);
    if (this.free[0]?.length !== size) this.free = [];
    const part = this.free.pop() ?? Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      let chunk = this.rest;
      this.rest = undefined;
      if (!chunk) {
        if (this.ended) break;
        const r = await this.it.next();
        if (r.done) {
          this.ended = true;
          break;
        }
        chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
      const n = Math.min(chunk.length, size - filled);
      chunk.copy(part, filled, 0, n);
      filled += n;
      if (n < chunk.length) this.rest = chunk.subarray(n);
    }
    checkAborted(this.signal);
    if (filled === 0) return undefined;
    return filled === size ? part : part.subarray(0, filled);
  }

  /** Hands back the buffer of a part whose upload completed, for a later part. */
  recycle(part: Buffer): void {
    const whole = part.buffer;
    if (part.byteOffset === 0 && whole.byteLength === part.length) this.free.push(part);
  }
}

function filterPrefix(objects: ObjectInfo[], prefix: string): ObjectInfo[] {
  return objects.filter((o) => o.name.startsWith(prefix)).map((o) => ({ ...o }));
}

function tlsAgentOptions(tls: S3TlsOptions): Record<string, unknown> {
  const read = (file: string, option: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`s3: cannot read tls.${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
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
