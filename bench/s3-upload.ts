/**
 * Streamed multipart upload to a real S3 server (Ceph from scripts/ceph.sh; LS_S3_* env): the project's
 * own uploader (src/storage/s3/multipart.ts, through S3Storage.store) against @aws-sdk/lib-storage's
 * Upload with the same client settings, part size and concurrency. Each run is a fresh child process,
 * so peak RSS is the upload's own. Prints figures; not a test.
 *
 *   node dist/bench/s3-upload.js [--mb 200] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createStorage } from '../src/storage/index.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const MB = Number(opt('mb', '200'));
const RUNS = Number(opt('runs', '3'));
const endpoint = process.env.LS_S3_ENDPOINT;
const accessKeyId = process.env.LS_S3_ACCESS_KEY;
const secretAccessKey = process.env.LS_S3_SECRET_KEY;
if (!endpoint || !accessKeyId || !secretAccessKey) throw new Error('set LS_S3_ENDPOINT, LS_S3_ACCESS_KEY, LS_S3_SECRET_KEY (bash scripts/ceph.sh start DIR && source DIR/env.sh)');
const BUCKET = 'bench-upload';

function body(): Readable {
  let left = MB;
  return new Readable({
    read() {
      if (left-- <= 0) return void this.push(null);
      this.push(randomFillSync(Buffer.allocUnsafe(1 << 20)));
    },
  });
}

async function child(which: string): Promise<void> {
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const started = performance.now();
  if (which === 'ours') {
    const storage = await createStorage('s3', { endpoint_url: endpoint, access_key: accessKeyId, secret_key: secretAccessKey, bucket: BUCKET, create_bucket: true });
    await storage.store(`ours-${process.pid}`, body());
    await storage.close();
  } else {
    const client = new S3Client({
      endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await new Upload({ client, params: { Bucket: BUCKET, Key: `lib-${process.pid}`, Body: body() }, queueSize: 4, partSize: 5 << 20 }).done();
    client.destroy();
  }
  clearInterval(sample);
  console.log(JSON.stringify({ which, seconds: (performance.now() - started) / 1000, peakMiB: Math.round(peak / 2 ** 20) }));
}

if (args[0] === '--child') {
  await child(args[1]!);
} else {
  console.log(`s3 upload benchmark: ${MB} MiB streamed, 5 MiB parts, 4 in flight, ${RUNS} runs each, ${endpoint}`);
  const rows: Record<string, Array<{ seconds: number; peakMiB: number }>> = { ours: [], lib: [] };
  for (let r = 0; r < RUNS; r++) {
    for (const which of ['ours', 'lib']) {
      const res = spawnSync(process.execPath, [import.meta.filename, '--child', which, '--mb', String(MB)], { encoding: 'utf8', env: process.env });
      const line = res.stdout.trim().split('\n').pop() ?? '';
      if (res.status !== 0) throw new Error(`${which} failed: ${res.stderr}`);
      const m = JSON.parse(line) as { seconds: number; peakMiB: number };
      rows[which]!.push(m);
      console.log(`run ${r + 1} ${which.padEnd(4)} ${m.seconds.toFixed(2)} s, peak RSS ${m.peakMiB} MiB`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const which of ['ours', 'lib']) {
    const xs = rows[which]!;
    console.log(`median ${which === 'ours' ? 'hand-written multipart' : '@aws-sdk/lib-storage '}: ${med(xs.map((x) => x.seconds)).toFixed(2)} s, peak RSS ${med(xs.map((x) => x.peakMiB))} MiB`);
  }
}
