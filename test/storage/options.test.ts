import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import {
  compareNames,
  createStorage,
  formatDuration,
  parseDuration,
  parseS3Options,
  parseStorageOptions,
  redactedS3Options,
} from '../../src/storage/index.js';

const base = { access_key: 'AK', secret_key: 'TOPSECRETVALUE', bucket: 'b' };

function configError(fn: () => unknown, key: string, re?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.key, key);
    if (re) assert.match(err.message, re);
    return true;
  });
}

describe('storage options', () => {
  it('parses Go durations', () => {
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('1500us'), 1.5);
    for (const bad of ['', '15', 's', '1d', '1 s', 'abc']) assert.throws(() => parseDuration(bad), /time: (invalid duration|missing unit in duration|unknown unit)/);
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(300_000), '5m0s');
    assert.equal(formatDuration(250), '250ms');
  });

  it('gives the s3 defaults of the Go implementation', () => {
    const o = parseS3Options(base);
    assert.equal(o.region, 'us-east-1');
    assert.equal(o.endpoint_url, undefined);
    assert.equal(o.global_prefix, '');
    assert.equal(o.create_bucket, false);
    assert.equal(o.use_update_marker, false);
    assert.equal(o.update_marker_force_list_interval, 300_000);
    assert.equal(o.secrets_refresh_interval, 15_000);
    assert.equal(o.init_timeout, 20_000);
    assert.equal(o.disable_send_content_md5, false);
    assert.equal(o.tls.insecure_skip_verify, false);
  });

  it('reads every s3 option', () => {
    const o = parseS3Options({
      access_key_file: '/run/ak',
      secret_key_file: '/run/sk',
      secrets_refresh_interval: '1m',
      region: 'eu-west-1',
      bucket: 'snapshots',
      storage_class: 'STANDARD_IA',
      create_bucket: true,
      global_prefix: 'team/',
      endpoint_url: 'https://s3.example.net:8443',
      disable_send_content_md5: true,
      num_minio_threads: 8,
      tls: { ca_file: '/etc/ca.pem', insecure_skip_verify: true },
      init_timeout: '5s',
      client_timeout: '2m',
      dial_timeout: '3s',
      use_update_marker: true,
      update_marker_force_list_interval: '30s',
    });
    assert.equal(o.secrets_refresh_interval, 60_000);
    assert.equal(o.region, 'eu-west-1');
    assert.equal(o.global_prefix, 'team/');
    assert.equal(o.num_minio_threads, 8);
    assert.equal(o.tls.ca_file, '/etc/ca.pem');
    assert.equal(o.tls.insecure_skip_verify, true);
    assert.equal(o.init_timeout, 5000);
    assert.equal(o.client_timeout, 120_000);
    assert.equal(o.update_marker_force_list_interval, 30_000);
  });

  it('refuses bad s3 options, naming the key', () => {
    configError(() => parseS3Options({ ...base, foo: 1 }), 'storage.options.foo', /unknown option/);
    configError(() => parseS3Options({ ...base, tls: { bar: true } }), 'storage.options.tls.bar');
    configError(() => parseS3Options({ ...base, bucket: undefined }), 'storage.options.bucket', /required/);
    configError(() => parseS3Options({ bucket: 'b' }), 'storage.options.access_key', /credentials/);
    configError(() => parseS3Options({ bucket: 'b', access_key: 'x' }), 'storage.options.secret_key');
    configError(() => parseS3Options({ bucket: 'b', access_key_file: '/x' }), 'storage.options.secret_key_file');
    configError(() => parseS3Options({ ...base, access_key_file: '/x' }), 'storage.options.access_key_file', /not both/);
    configError(
      () => parseS3Options({ bucket: 'b', access_key_file: '/a', secret_key_file: '/s', secrets_refresh_interval: '10ms' }),
      'storage.options.secrets_refresh_interval',
    );
    configError(() => parseS3Options({ ...base, endpoint_url: 'ftp://x' }), 'storage.options.endpoint_url', /scheme/);
    configError(() => parseS3Options({ ...base, endpoint_url: 'not a url' }), 'storage.options.endpoint_url');
    configError(() => parseS3Options({ ...base, create_bucket: 'yes' }), 'storage.options.create_bucket');
    configError(() => parseS3Options({ ...base, init_timeout: '5 parsecs' }), 'storage.options.init_timeout', /duration/);
    configError(() => parseS3Options({ ...base, init_timeout: 5 }), 'storage.options.init_timeout', /duration/);
    configError(() => parseS3Options({ ...base, init_timeout: '-5s' }), 'storage.options.init_timeout', /negative/);
    configError(() => parseS3Options({ ...base, num_minio_threads: 1.5 }), 'storage.options.num_minio_threads');
    configError(() => parseS3Options({ ...base, tls: { cert_file: '/c' } }), 'storage.options.tls.key');
    configError(() => parseS3Options('bucket=b'), 'storage.options', /mapping/);
    configError(() => parseS3Options({}, 'x.storage.options'), 'x.storage.options.bucket');
  });

  it('never shows secrets when the options are printed', () => {
    const o = parseS3Options({ ...base, tls: { cert: 'CERT', key: 'PRIVATEKEYDATA' } });
    assert.equal(o.secret_key?.reveal(), 'TOPSECRETVALUE');
    assert.equal(o.tls.key?.reveal(), 'PRIVATEKEYDATA');
    for (const text of [
      JSON.stringify(o),
      inspect(o, { depth: 10 }),
      String(o.secret_key),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- what a template literal makes of a Secret is under test
      `${o.secret_key}`,
      JSON.stringify(redactedS3Options(o)),
      inspect({ ...o }, { depth: 10 }),
    ]) {
      assert.doesNotMatch(text, /TOPSECRETVALUE|PRIVATEKEYDATA/);
    }
    assert.equal(redactedS3Options(o).secret_key, '<redacted>');
    assert.equal(redactedS3Options(o).init_timeout, '20s');
  });

  it('validates the storage type and the options per type', async () => {
    configError(() => parseStorageOptions('gcs', {}), 'storage.type', /unknown storage type/);
    configError(() => parseStorageOptions('s3', { bucket: 'b' }), 'storage.options.access_key');
    assert.equal(parseStorageOptions('fs', { root_path: '/x' }).type, 'fs');
    await assert.rejects(createStorage('s3', { ...base, bogus: true }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.key, 'storage.options.bogus');
      return true;
    });
  });

  it('orders names bytewise (UTF-8), as Go does', () => {
    const names = ['b', 'a__2', 'a__10', 'A', '\u{1F600}', '\uFFFD', 'a'];
    assert.deepEqual([...names].sort(compareNames), ['A', 'a', 'a__10', 'a__2', 'b', '\uFFFD', '\u{1F600}']);
    const bytewise = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual([...names].sort(compareNames), bytewise);
  });
});
