import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import {
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
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
import { tlsAgentOptions } from '../s3/tls.js';
import { retryTransientUntilAborted } from '../init-retry.js';
import { UpdateMarkerListCache } from '../update-marker.js';
import { NotFoundError, type ObjectInfo, type Storage } from '../storage.js';
import { AzureStorageError, isAuthError, isTransientAzureError, mapAzureError } from './errors.js';
import {
  AZURE_UPDATE_MARKER_NAME,
  azureServiceUrl,
  isBase64Key,
  redactedAzureOptions,
  type AzureOptions,
} from './options.js';

export { AzureStorageError };

/** Bytes per staged block of a streamed store: memory is bounded by about (concurrency + 1) blocks. */
const STREAM_BLOCK_BYTES = 4 << 20;
const LIST_PAGE_SIZE = 5000;

/**
 * Blobs in one Azure Blob Storage container (under global_prefix), through @azure/storage-blob with a
 * shared key (account_name + account_key, or account_key_file re-read every secrets_refresh_interval).
 * Every store is one Put Blob, or staged blocks committed by one Put Block List: readers see the old
 * blob or the whole new one, never a part.
 */
export class AzureStorage implements Storage {
  #container: ContainerClient;
  /** The key in use (JS-private: no inspection of the storage object reaches it). */
  #key: string;
  readonly #seenKeys = new Set<string>();
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly markerKey: string;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly listCache: UpdateMarkerListCache;
  private markerSeq = 0;
  private closed = false;

  private constructor(
    readonly options: AzureOptions,
    key: string,
    private readonly logger: StorageLogger | undefined,
  ) {
    const url = new URL(azureServiceUrl(options));
    const agentOptions = {
      keepAlive: true,
      keepAliveMsecs: options.dial_keep_alive,
      maxSockets: 64,
      maxFreeSockets: options.max_idle_conns,
    };
    this.agent = url.protocol === 'https:'
      ? new HttpsAgent({ ...agentOptions, ...tlsAgentOptions(options.tls, 'azure') })
      : new HttpAgent(agentOptions);
    this.markerKey = options.global_prefix + AZURE_UPDATE_MARKER_NAME;
    this.listCache = new UpdateMarkerListCache(options.update_marker_force_list_interval);
    this.#key = key;
    this.remember(key);
    this.#container = this.makeClient(key);
  }

  /** Reads the key, creates the client and, with create_container, the container (within init_timeout). */
  static async open(options: AzureOptions, ctx?: StorageContext): Promise<AzureStorage> {
    ctx?.logger?.debug?.('azure storage options', { options: redactedAzureOptions(options) });
    const key = options.account_key_file !== undefined ? await readKeyFile(options.account_key_file) : options.account_key?.reveal();
    if (key === undefined) throw new Error('azure: no account key (account_key or account_key_file)');
    const s = new AzureStorage(options, key, ctx?.logger);
    if (options.tls.watch_certs) {
      ctx?.logger?.warn?.('azure: tls.watch_certs is not supported: certificates are read once at start-up');
    }
    if (options.account_key_file !== undefined) s.startKeyRefresh(options.account_key_file);
    if (options.create_container) {
      try {
        await s.createContainer(AbortSignal.timeout(options.init_timeout));
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

    return this.listCache.list(prefix, () => this.getObject(AZURE_UPDATE_MARKER_NAME, this.markerKey, signal), (p) => this.listAll(p, signal));
  }

  async loadStream(name: string, signal?: AbortSignal): Promise<Readable> {
    this.checkName(name, signal);
    return this.getStream(name, this.key(name), signal);
  }

  async store(name: string, data: Buffer | Readable, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    const blob = this.#container.getBlockBlobClient(key);
    let etag: string;
    if (Buffer.isBuffer(data)) {
      // Copied first: the caller may reuse its buffer as soon as we return (or fail).
      const copy = Buffer.from(data);
      etag = await this.call('PutBlob', name, signal, async (abortSignal) => (await blob.uploadData(copy, {
        abortSignal, concurrency: this.options.concurrency,
      })).etag ?? '');
    } else {
      const forget = signal && onAbort(signal, () => data.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
      try {
        etag = await this.call('PutBlockList', name, signal, async (abortSignal) =>
          (await blob.uploadStream(data, STREAM_BLOCK_BYTES, this.options.concurrency, { abortSignal })).etag ?? '');
      } catch (err) {
        data.destroy(); // uncommitted blocks are invisible and expire on the server
        throw err;
      } finally {
        forget?.();
      }
    }
    await this.setMarker(key, etag, false, signal);
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    this.checkName(name, signal);
    const key = this.key(name);
    try {
      await this.call('DeleteBlob', name, signal, (abortSignal) => this.#container.getBlobClient(key).delete({ abortSignal }));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // deleting an absent blob is fine
    }
    await this.setMarker(key, '', true, signal);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.agent.destroy();
    return Promise.resolve();
  }

  /** What logs and inspection show: where the storage points, never its client or key. */
  toJSON(): Record<string, unknown> {
    return { type: 'azure', ...redactedAzureOptions(this.options) };
  }

  [inspect.custom](): string {
    const o = this.options;
    return `AzureStorage { endpoint: ${azureServiceUrl(o)}, container: ${o.container}, global_prefix: ${JSON.stringify(o.global_prefix)} }`;
  }

  // --- internals -----------------------------------------------------------------------------

  private makeClient(key: string): ContainerClient {
    const credential = new StorageSharedKeyCredential(this.options.account_name ?? '', key);
    // `agent` is not in the typed options, but the SDK hands these options to @azure/core-rest-pipeline,
    // whose agent policy then sends every request through our agent (keep-alive, idle sockets, TLS).
    const pipelineOptions: StoragePipelineOptions & { agent: HttpAgent | HttpsAgent } = {
      agent: this.agent,
      retryOptions: {
        maxTries: 3,
        retryDelayInMs: 250,
        maxRetryDelayInMs: 4000,
        tryTimeoutInMs: this.options.client_timeout,
      },
      userAgentOptions: { userAgentPrefix: 'lightningstream-ts' },
    };
    const url = `${azureServiceUrl(this.options)}/${encodeURIComponent(this.options.container)}`;
    return new ContainerClient(url, newPipeline(credential, pipelineOptions));
  }

  /** Re-reads account_key_file every secrets_refresh_interval; a changed key gets a new client. */
  private startKeyRefresh(file: string): void {
    this.refreshTimer = setInterval(() => {
      readKeyFile(file).then((key) => {
        if (this.closed || key === this.#key) return;
        this.remember(key);
        this.#key = key;
        this.#container = this.makeClient(key);
        this.listCache.invalidate();
        this.logger?.info?.('azure: updated the account key from account_key_file', { account_key_file: file });
      }, (err: unknown) => {
        this.logger?.warn?.('azure: cannot re-read account_key_file, keeping the previous key', {
          error: err instanceof Error ? err.message : String(err),
        });
      });
    }, this.options.secrets_refresh_interval);
    this.refreshTimer.unref();
  }

  private key(name: string): string {
    return this.options.global_prefix + name;
  }

  private check(signal: AbortSignal | undefined): void {
    if (this.closed) throw new StorageClosedError('azure');
    checkAborted(signal);
  }

  private checkName(name: string, signal: AbortSignal | undefined): void {
    this.check(signal);
    checkObjectName(name);
    if (this.options.use_update_marker && name === AZURE_UPDATE_MARKER_NAME) {
      throw new InvalidNameError(name, 'reserved for the update marker (use_update_marker is on)');
    }
  }

  private remember(key: string): void {
    if (this.#seenKeys.size > 16) this.#seenKeys.clear();
    this.#seenKeys.add(key);
  }

  private scrub(text: string): string {
    let out = text;
    for (const k of this.#seenKeys) if (k) out = out.split(k).join('<redacted>');
    return out;
  }

  private mapError(op: string, name: string | undefined, err: unknown, signal?: AbortSignal): Error {
    return mapAzureError(op, name, err, { signal, container: this.options.container, scrub: (t) => this.scrub(t) });
  }

  /** Runs one SDK call with a signal of its own, turning failures into AzureStorageError/NotFoundError/the abort reason. */
  private async call<T>(
    op: string,
    name: string | undefined,
    signal: AbortSignal | undefined,
    fn: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    // The SDK adds abort listeners per request: give it a signal of its own, not the shared one.
    const child = signal && childSignal(signal);
    try {
      return await fn(child?.signal);
    } catch (err) {
      const mapped = this.mapError(op, name, err, signal);
      if (isAuthError(mapped)) this.logger?.debug?.('azure: the server refused the credentials', { op });
      throw mapped;
    } finally {
      child?.dispose();
    }
  }

  /**
   * Makes sure the container exists, retrying transient failures (5xx, busy, resets, timeouts) until
   * init_timeout, as the s3 backend does for its bucket. Permanent answers (403, bad name...) fail at once.
   */
  private createContainer(signal: AbortSignal): Promise<void> {
    return retryTransientUntilAborted({
      signal,
      attempt: () => this.createContainerOnce(signal),
      isTransient: isTransientAzureError,
      onRetry: (err, delayMs) => this.logger?.warn?.('azure: container check failed, retrying within init_timeout', {
        container: this.options.container, error: err instanceof Error ? err.message : String(err), retry_in: formatDuration(delayMs),
      }),
      giveUp: (last) => this.initTimeoutError(last),
    });
  }

  private initTimeoutError(lastFailure: unknown): AzureStorageError {
    const limit = `init_timeout (${formatDuration(this.options.init_timeout)})`;
    const text = lastFailure instanceof Error
      ? `no success within ${limit}; last error: ${lastFailure.message}`
      : `no answer within ${limit}`;
    return new AzureStorageError(`azure: CreateContainer ${this.options.container}: ${text}`, 'CreateContainer', undefined, 'Timeout', undefined);
  }

  private async createContainerOnce(signal: AbortSignal): Promise<void> {
    try {
      await this.call('CreateContainer', undefined, signal, (abortSignal) => this.#container.create({ abortSignal }));
      this.logger?.info?.('azure: created container', { container: this.options.container });
    } catch (err) {
      if (err instanceof AzureStorageError && err.code === 'ContainerAlreadyExists') return;
      throw err;
    }
  }

  private async listAll(prefix: string, signal: AbortSignal | undefined): Promise<ObjectInfo[]> {
    const gp = this.options.global_prefix;
    const out: ObjectInfo[] = [];
    await this.call('ListBlobs', undefined, signal, async (abortSignal) => {
      const pages = this.#container.listBlobsFlat({ prefix: gp + prefix, abortSignal }).byPage({ maxPageSize: LIST_PAGE_SIZE });
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          const key = item.name;
          if (key === this.markerKey || !key.startsWith(gp)) continue;
          out.push({
            name: key.slice(gp.length),
            size: item.properties.contentLength ?? 0,
            lastModified: item.properties.lastModified,
          });
        }
      }
    });
    return sortObjects(out);
  }

  private async getStream(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable> {
    const res = await this.call('GetBlob', name, signal, (abortSignal) =>
      this.#container.getBlobClient(key).download(0, undefined, { abortSignal }),
    );
    const body = res.readableStreamBody as Readable | undefined;
    if (!body) throw new AzureStorageError(`azure: GetBlob ${name}: empty response body`, 'GetBlob', name, 'NoBody', undefined);
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
      throw this.mapError('GetBlob', name, err, signal);
    }
  }

  /** With use_update_marker: records the change so every instance's next list() does a real listing. */
  private async setMarker(key: string, etag: string, isDelete: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (!this.options.use_update_marker) return;
    const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.markerSeq++ % 1_000_000);
    const content = Buffer.from(`${key}:${etag}:${nanos}:${isDelete}`); // Go's format
    const blob = this.#container.getBlockBlobClient(this.markerKey);
    await this.call('PutBlob', AZURE_UPDATE_MARKER_NAME, signal, (abortSignal) => blob.uploadData(content, { abortSignal }));
    this.listCache.invalidate();
  }
}

async function readKeyFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`azure: cannot read account_key_file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const value = text.trim();
  if (!value) throw new Error(`azure: account_key_file ${file} is empty`);
  if (!isBase64Key(value)) throw new Error(`azure: account_key_file ${file} does not hold a base64 account key`);
  return value;
}
