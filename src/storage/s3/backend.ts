import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type BucketLocationConstraint,
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
} from '../common.js';
import { formatDuration } from '../../config/units.js';
import { childSignal, onAbort } from '../../util/abort.js';
import { retryTransientUntilAborted } from '../init-retry.js';
import { UpdateMarkerListCache } from '../update-marker.js';
import type { ObjectInfo, Storage } from '../storage.js';
import { CredentialSource } from './credentials.js';
import { isTransientS3Error, mapS3Error, S3StorageError } from './errors.js';
import { uploadStream, type UploadTarget } from './multipart.js';
import { redactedS3Options, UPDATE_MARKER_NAME, type S3Options } from './options.js';
import { tlsAgentOptions } from './tls.js';

export { S3StorageError };

/**
 * Objects in one S3 bucket (under global_prefix), through @aws-sdk/client-s3. The parts around it, one
 * file each: options.ts (the Go option names), credentials.ts (static or re-read key files),
 * errors.ts (SDK failures as clear, secret-free errors), multipart.ts (streamed uploads), tls.ts.
 */
export class S3Storage implements Storage {
  private readonly client: S3Client;
  private readonly creds: CredentialSource;
  private readonly markerKey: string;
  private readonly agents: Array<HttpAgent | HttpsAgent>;
  private readonly listCache: UpdateMarkerListCache;
  private markerSeq = 0;
  private closed = false;

  private constructor(
    readonly options: S3Options,
    private readonly logger: StorageLogger | undefined,
  ) {
    this.creds = new CredentialSource(options, logger);
    this.markerKey = options.global_prefix + UPDATE_MARKER_NAME;
    this.listCache = new UpdateMarkerListCache(options.update_marker_force_list_interval);
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

    return this.listCache.list(prefix, () => this.getObject(UPDATE_MARKER_NAME, this.markerKey, signal), (p) => this.listAll(p, signal));
  }

  async listAfter(prefix: string, startAfter: string, signal?: AbortSignal): Promise<ObjectInfo[]> {
    this.check(signal);
    if (!this.options.use_update_marker) return this.listAll(prefix, signal, startAfter);
    return this.listCache.listAfter(prefix, startAfter, () => this.getObject(UPDATE_MARKER_NAME, this.markerKey, signal),
      () => this.listAll(prefix, signal, startAfter));
  }

  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.checkName(name, signal);
    return this.getStream(name, this.key(name), signal);
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    const etag = Buffer.isBuffer(data)
      ? await this.putBuffer('PutObject', name, key, data, signal)
      : await uploadStream(this.uploadTarget, name, key, data, signal);
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

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.client.destroy();
    for (const a of this.agents) a.destroy();
    return Promise.resolve();
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

  private mapError(op: string, name: string | undefined, err: unknown, signal?: AbortSignal): Error {
    return mapS3Error(op, name, err, { signal, bucket: this.options.bucket, credentials: this.creds });
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

  /**
   * Makes sure the bucket exists, retrying transient failures (5xx, SlowDown, resets, timeouts) until
   * init_timeout: one failed round trip during a short outage must not end a daemon that retries every
   * other storage operation. Permanent answers (403, invalid name, ...) fail at once.
   */
  private createBucket(signal: AbortSignal): Promise<void> {
    return retryTransientUntilAborted({
      signal,
      attempt: () => this.createBucketOnce(signal),
      isTransient: isTransientS3Error,
      onRetry: (err, delayMs) => this.logger?.warn?.('s3: bucket check failed, retrying within init_timeout', {
        bucket: this.options.bucket, error: err instanceof Error ? err.message : String(err), retry_in: formatDuration(delayMs),
      }),
      giveUp: (last) => this.initTimeoutError(last),
    });
  }

  /** The give-up error: what failed last, or that the server never answered at all. */
  private initTimeoutError(lastFailure: unknown): S3StorageError {
    const limit = `init_timeout (${formatDuration(this.options.init_timeout)})`;
    const text = lastFailure instanceof Error
      ? `no success within ${limit}; last error: ${lastFailure.message}`
      : `no answer within ${limit}`;
    return new S3StorageError(`s3: CreateBucket ${this.options.bucket}: ${text}`, 'CreateBucket', undefined, 'Timeout', undefined);
  }

  private async createBucketOnce(signal: AbortSignal): Promise<void> {
    const bucket = this.options.bucket;
    const region = this.options.region;
    // Ceph answers CreateBucket on a bucket one already owns with 200: ask first, so "created" is true.
    try {
      await this.call('HeadBucket', undefined, signal, (o) => this.client.send(new HeadBucketCommand({ Bucket: bucket }), o));
      return;
    } catch (err) {
      // A transient failure says nothing about the bucket: retry rather than try to create it.
      if (isTransientS3Error(err)) throw err;
      // absent (or not visible to HeadBucket): try to create it below, which reports real problems
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
      throw err;
    }
  }

  private async listAll(prefix: string, signal: AbortSignal | undefined, startAfter?: string): Promise<ObjectInfo[]> {
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
            StartAfter: startAfter === undefined || token !== undefined ? undefined : gp + startAfter,
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

  /** What the multipart uploader needs of this backend. */
  private readonly uploadTarget: UploadTarget = {
    client: () => this.client,
    options: () => this.options,
    logger: () => this.logger,
    call: (op, name, signal, fn) => this.call(op, name, signal, fn),
    putBuffer: (op, name, key, data, signal) => this.putBuffer(op, name, key, data, signal),
    mapError: (op, name, err, signal) => this.mapError(op, name, err, signal),
    md5: (body) => this.md5(body),
  };

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

  private md5(body: Buffer): string | undefined {
    return this.options.disable_send_content_md5 ? undefined : createHash('md5').update(body).digest('base64');
  }

  /** With use_update_marker: records the change so every instance's next list() does a real LIST. */
  private async setMarker(key: string, etag: string, isDelete: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (!this.options.use_update_marker) return;
    const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.markerSeq++ % 1_000_000);
    const content = Buffer.from(`${key}:${etag}:${nanos}:${isDelete}`);
    await this.putBuffer('PutObject', UPDATE_MARKER_NAME, this.markerKey, content, signal);
    this.listCache.invalidate();
  }
}
