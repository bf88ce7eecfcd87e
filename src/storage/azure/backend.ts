import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import {
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { StorageContext, StorageLogger } from '../common.js';
import { onAbort } from '../../util/abort.js';
import { keepAliveAgentOptions } from '../remote/agents.js';
import { RemoteBlobStore, type RemoteEntry } from '../remote/blob-store.js';
import type { Failure } from '../remote/failure.js';
import { readSecretFile } from '../remote/secrets.js';
import { tlsAgentOptions } from '../remote/tls.js';
import { AZURE_CODES, AzureStorageError, classifyAzureError } from './errors.js';
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

/** How the client authenticates: the shared account key, or a token credential (Azure AD / Entra ID). */
export type AzureCredential = { key: string } | { token: TokenCredential };

/**
 * Blobs in one Azure Blob Storage container (under global_prefix), through @azure/storage-blob: the
 * primitives of a RemoteBlobStore. With use_shared_key, authenticated by the account key (account_key, or
 * account_key_file re-read every secrets_refresh_interval); without it (Go's default), by @azure/identity's
 * DefaultAzureCredential, as Go's azidentity.NewDefaultAzureCredential: a service principal from the
 * environment (AZURE_TENANT_ID, AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH;
 * AZURE_AUTHORITY_HOST), workload identity, managed identity, then developer logins (Azure CLI...).
 * Every store is one Put Blob, or staged blocks committed by one Put Block List: readers see the old blob
 * or the whole new one, never a part.
 */
export class AzureStorage extends RemoteBlobStore {
  #container: ContainerClient;
  /** The credential in use (JS-private: no inspection of the storage object reaches it). */
  #credential: AzureCredential;
  private readonly agent: HttpAgent | HttpsAgent;
  private refreshTimer: NodeJS.Timeout | undefined;

  private constructor(readonly options: AzureOptions, credential: AzureCredential, logger: StorageLogger | undefined) {
    super({
      label: 'azure',
      containerKind: 'container',
      container: options.container,
      endpoint: azureServiceUrl(options),
      ops: { get: 'GetBlob', ensure: 'CreateContainer' },
      markerName: AZURE_UPDATE_MARKER_NAME,
      options,
      redacted: redactedAzureOptions(options),
      errorClass: AzureStorageError,
      codes: AZURE_CODES,
      logger,
    });
    const agentOptions = keepAliveAgentOptions(options);
    this.agent = new URL(azureServiceUrl(options)).protocol === 'https:'
      ? new HttpsAgent({ ...agentOptions, ...tlsAgentOptions(options.tls, 'azure') })
      : new HttpAgent(agentOptions);
    this.#credential = credential;
    if ('key' in credential) this.secrets.remember(credential.key);
    this.#container = this.makeClient(credential);
  }

  /**
   * Reads the key (use_shared_key) or sets up the default credential chain, creates the client and, with
   * create_container, the container (within init_timeout).
   */
  static async open(options: AzureOptions, ctx?: StorageContext): Promise<AzureStorage> {
    let credential: AzureCredential;
    if (options.use_shared_key) {
      const key = options.account_key_file !== undefined ? await readKeyFile(options.account_key_file) : options.account_key?.reveal();
      if (key === undefined) throw new Error('azure: no account key (account_key or account_key_file)');
      credential = { key };
    } else {
      if (options.account_key !== undefined || options.account_key_file !== undefined) {
        ctx?.logger?.warn?.('azure: account_key and account_key_file are not used: use_shared_key is false, so the ' +
          'default Azure credential chain authenticates (as in Go)');
      }
      credential = { token: new DefaultAzureCredential({ disableInstanceDiscovery: isPrivateAuthority(process.env.AZURE_AUTHORITY_HOST) }) };
    }
    const s = new AzureStorage(options, credential, ctx?.logger);
    if (options.use_shared_key && options.account_key_file !== undefined) s.startKeyRefresh(options.account_key_file);
    await s.start(options.create_container);
    return s;
  }

  // --- primitives ----------------------------------------------------------------------------

  /**
   * One List Blobs page loop. startFrom (service version 2026-02-06, which this SDK speaks) starts the listing
   * at a name, inclusively: the base drops that name, and everything before it from a server that ignores
   * the parameter (Azurite before startFrom support). A continuation marker is no start-after: it only
   * resumes a listing the server began.
   */
  protected async listKeys(keyPrefix: string, startAfterKey: string | undefined, signal: AbortSignal | undefined): Promise<RemoteEntry[]> {
    const out: RemoteEntry[] = [];
    await this.call('ListBlobs', undefined, signal, async (abortSignal) => {
      const pages = this.#container.listBlobsFlat({ prefix: keyPrefix, startFrom: startAfterKey, abortSignal }).byPage({ maxPageSize: LIST_PAGE_SIZE });
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          out.push({ key: item.name, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified });
        }
      }
    });
    return out;
  }

  protected async get(name: string, key: string, signal: AbortSignal | undefined): Promise<Readable | undefined> {
    const res = await this.call('GetBlob', name, signal, (abortSignal) =>
      this.#container.getBlobClient(key).download(0, undefined, { abortSignal }),
    );
    return res.readableStreamBody as Readable | undefined;
  }

  protected async put(name: string, key: string, data: Buffer | Readable, signal: AbortSignal | undefined): Promise<string> {
    const blob = this.#container.getBlockBlobClient(key);
    if (Buffer.isBuffer(data)) {
      // Copied first: the caller may reuse its buffer as soon as we return (or fail).
      const copy = Buffer.from(data);
      return this.call('PutBlob', name, signal, async (abortSignal) => (await blob.uploadData(copy, {
        abortSignal, concurrency: this.options.concurrency,
      })).etag ?? '');
    }
    const forget = signal && onAbort(signal, () => data.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
    try {
      return await this.call('PutBlockList', name, signal, async (abortSignal) =>
        (await blob.uploadStream(data, STREAM_BLOCK_BYTES, this.options.concurrency, { abortSignal })).etag ?? '');
    } catch (err) {
      data.destroy(); // uncommitted blocks are invisible and expire on the server
      throw err;
    } finally {
      forget?.();
    }
  }

  protected async remove(name: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    await this.call('DeleteBlob', name, signal, (abortSignal) => this.#container.getBlobClient(key).delete({ abortSignal }));
  }

  protected async ensureContainer(signal: AbortSignal): Promise<void> {
    try {
      await this.call('CreateContainer', undefined, signal, (abortSignal) => this.#container.create({ abortSignal }));
      this.logger?.info?.('azure: created container', { container: this.options.container });
    } catch (err) {
      if (err instanceof AzureStorageError && err.code === 'ContainerAlreadyExists') return;
      throw err;
    }
  }

  protected classify(err: unknown): Failure {
    return classifyAzureError(err, this.options.use_shared_key);
  }

  protected release(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.agent.destroy();
  }

  // --- internals -----------------------------------------------------------------------------

  private makeClient(c: AzureCredential): ContainerClient {
    const credential = 'key' in c ? new StorageSharedKeyCredential(this.options.account_name ?? '', c.key) : c.token;
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
        if (this.isClosed() || ('key' in this.#credential && key === this.#credential.key)) return;
        this.secrets.remember(key);
        this.#credential = { key };
        this.#container = this.makeClient(this.#credential);
        this.invalidateListings();
        this.logger?.info?.('azure: updated the account key from account_key_file', { account_key_file: file });
      }, (err: unknown) => {
        this.logger?.warn?.('azure: cannot re-read account_key_file, keeping the previous key', {
          error: err instanceof Error ? err.message : String(err),
        });
      });
    }, this.options.secrets_refresh_interval);
    this.refreshTimer.unref();
  }
}

/** Microsoft's public and national-cloud sign-in hosts: MSAL knows their metadata without asking. */
const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn',
  'login.microsoftonline.de', 'login.windows.net', 'login.microsoft.com', 'sts.windows.net',
]);

/**
 * True when AZURE_AUTHORITY_HOST names an authority of one's own (Azure Stack, AD FS, a test service): MSAL
 * would otherwise validate it by asking login.microsoftonline.com ("instance discovery"), which such a host is
 * unknown to and which an isolated network cannot reach.
 */
export function isPrivateAuthority(authorityHost: string | undefined): boolean {
  if (!authorityHost) return false;
  try {
    return !MICROSOFT_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase());
  } catch {
    return false; // @azure/identity reports the bad value itself
  }
}

async function readKeyFile(file: string): Promise<string> {
  const value = await readSecretFile('azure', 'account_key_file', file);
  if (!isBase64Key(value)) throw new Error(`azure: account_key_file ${file} does not hold a base64 account key`);
  return value;
}
