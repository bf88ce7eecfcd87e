import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
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
import type { StorageContext, StorageLogger } from '../common.js';
import { keepAliveAgentOptions } from '../remote/agents.js';
import { RemoteBlobStore, type RemoteEntry } from '../remote/blob-store.js';
import type { Failure } from '../remote/failure.js';
import { CredentialSource } from './credentials.js';
import { classifyS3Error, S3_CODES, S3StorageError } from './errors.js';
import { uploadStream, type UploadTarget } from './multipart.js';
import { redactedS3Options, UPDATE_MARKER_NAME, type S3Options } from './options.js';
import { tlsAgentOptions } from '../remote/tls.js';

export { S3StorageError };

/**
 * Objects in one S3 bucket (under global_prefix), through @aws-sdk/client-s3: the primitives of a
 * RemoteBlobStore. The parts around it, one file each: options.ts (the Go option names), credentials.ts
 * (static or re-read key files), errors.ts (what an SDK failure says), multipart.ts (streamed uploads), tls.ts.
 */
export class S3Storage extends RemoteBlobStore {
  private readonly client: S3Client;
  private readonly creds: CredentialSource;
  private readonly agents: Array<HttpAgent | HttpsAgent>;

  private constructor(readonly options: S3Options, logger: StorageLogger | undefined) {
    super({
      label: 's3',
      containerKind: 'bucket',
      container: options.bucket,
      endpoint: options.endpoint_url ?? 'AWS',
      ops: { get: 'GetObject', ensure: 'CreateBucket' },
      markerName: UPDATE_MARKER_NAME,
      options,
      redacted: redactedS3Options(options),
      errorClass: S3StorageError,
      codes: S3_CODES,
      logger,
    });
    this.creds = new CredentialSource(options, this.secrets, logger);
    const agentOptions = keepAliveAgentOptions(options);
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
    await s.start(options.create_bucket);
    return s;
  }

  // --- primitives ----------------------------------------------------------------------------

  protected async listKeys(keyPrefix: string, startAfterKey: string | undefined, signal: AbortSignal | undefined): Promise<RemoteEntry[]> {
    const folders = this.options.prefix_folders || this.options.hide_folders;
    const out: RemoteEntry[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.call('ListObjectsV2', undefined, signal, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: keyPrefix,
            ContinuationToken: token,
            StartAfter: token === undefined ? startAfterKey : undefined,
            Delimiter: folders ? '/' : undefined,
          }),
          { abortSignal },
        ),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || (this.options.hide_folders && obj.Key.endsWith('/'))) continue;
        out.push({ key: obj.Key, size: obj.Size ?? 0, lastModified: obj.LastModified ?? new Date(0) });
      }
      if (this.options.prefix_folders) {
        for (const p of page.CommonPrefixes ?? []) {
          if (p.Prefix !== undefined) out.push({ key: p.Prefix, size: 0, lastModified: new Date(0) });
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  protected async get(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable | undefined> {
    const res = await this.call('GetObject', name, signal, (abortSignal) =>
      this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }), { abortSignal }),
    );
    return res.Body as Readable | undefined;
  }

  protected put(name: string, key: string, data: Buffer | Readable, signal: AbortSignal | undefined): Promise<string> {
    return Buffer.isBuffer(data)
      ? this.putBuffer('PutObject', name, key, data, signal)
      : uploadStream(this.uploadTarget, name, key, data, signal);
  }

  protected async remove(name: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    await this.call('DeleteObject', name, signal, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }), { abortSignal }),
    );
  }

  protected async ensureContainer(signal: AbortSignal): Promise<void> {
    const bucket = this.options.bucket;
    const region = this.options.region;
    const head = () => this.call('HeadBucket', undefined, signal, (abortSignal) =>
      this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }));
    // Ceph answers CreateBucket on a bucket one already owns with 200: ask first, so "created" is true.
    try {
      await head();
      return;
    } catch (err) {
      // A transient failure says nothing about the bucket: retry rather than try to create it.
      if (this.isTransient(err)) throw err;
      // absent (or not visible to HeadBucket): try to create it below, which reports real problems
    }
    try {
      await this.call('CreateBucket', undefined, signal, (abortSignal) =>
        this.client.send(
          new CreateBucketCommand({
            Bucket: bucket,
            CreateBucketConfiguration:
              region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
          }),
          { abortSignal },
        ),
      );
      this.logger?.info?.('s3: created bucket', { bucket });
    } catch (err) {
      if (err instanceof S3StorageError && err.code === 'BucketAlreadyOwnedByYou') return;
      // Some servers answer BucketAlreadyExists for one's own bucket too: it is fine if we can use it.
      if (err instanceof S3StorageError && err.code === 'BucketAlreadyExists') {
        await head();
        return;
      }
      throw err;
    }
  }

  protected classify(err: unknown): Failure {
    return classifyS3Error(err);
  }

  /** The credential files are read again before the next request. */
  protected override credentialsRefused(): void {
    this.creds.invalidate();
  }

  protected release(): void {
    this.client.destroy();
    for (const a of this.agents) a.destroy();
  }

  // --- internals -----------------------------------------------------------------------------

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

  private async putBuffer(op: string, name: string, key: string, data: Buffer, signal: AbortSignal | undefined): Promise<string> {
    const res = await this.call(op, name, signal, (abortSignal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: data,
          ContentLength: data.length,
          ContentMD5: this.md5(data),
          StorageClass: this.options.storage_class as StorageClass | undefined,
        }),
        { abortSignal },
      ),
    );
    return res.ETag ?? '';
  }

  private md5(body: Buffer): string | undefined {
    return this.options.disable_send_content_md5 ? undefined : createHash('md5').update(body).digest('base64');
  }
}
