// DNS helpers of the PowerDNS end-to-end tests (test/pdns/pdns-sync.test.ts, test/pdns/pdns-native.test.ts):
// `dig` answers, expected answers ("probes"), and a UDP query loop counting rcodes while the LMDB is synced.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';

/** A pdns instance as these helpers see it. */
export interface DnsServer {
  n: number;
  dnsPort: number;
}

export interface RunResult {
  code: number;
  /** stdout, then stderr after a newline when there is any. */
  out: string;
}

/** Runs a command; never throws on a non-zero exit (only when it cannot be started). */
export function run(cmd: string, args: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env, maxBuffer: 64 * 1024 * 1024 }, (err: Error | null, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') { reject(err); return; }
      const code = err ? ((err as { code?: number | null }).code ?? 1) : 0;
      resolve({ code, out: `${stdout}${stderr ? `\n${stderr}` : ''}` });
    });
  });
}

// ---------- dig ----------

export interface DigAnswer {
  status: string;
  /** Answer section as `TYPE rdata` with single spaces. */
  rrs: string[];
}

export async function dig(inst: DnsServer, name: string, type: string, dnssec = false): Promise<DigAnswer> {
  const r = await run('dig', ['+norec', '+time=1', '+tries=1', ...(dnssec ? ['+dnssec'] : []), '@127.0.0.1', '-p', String(inst.dnsPort), name, type]);
  const status = /status: ([A-Z]+)/.exec(r.out)?.[1] ?? `no answer (dig exit ${r.code})`;
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(r.out)?.[1] ?? '';
  const rrs = section.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(3).join(' '));
  return { status, rrs };
}

export interface Probe {
  name: string;
  type: string;
  /** Expected rdata of `type` (any order); 'any' = at least one; null = NXDOMAIN. */
  want: string[] | 'any' | null;
  /** Query with DO and require an RRSIG covering `type`. */
  signed?: boolean;
}

/** What differs from the probes on one instance (empty = all served as expected). */
export async function problems(inst: DnsServer, probes: Probe[]): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(probes.map(async (p) => {
    const a = await dig(inst, p.name, p.type, p.signed);
    const what = `instance ${inst.n}: ${p.name} ${p.type}${p.signed ? ' +dnssec' : ''}`;
    if (p.want === null) {
      if (a.status !== 'NXDOMAIN') out.push(`${what}: ${a.status} ${a.rrs.join(' | ')}, expected NXDOMAIN`);
      return;
    }
    const got = a.rrs.filter((rr) => rr.startsWith(`${p.type} `)).map((rr) => rr.slice(p.type.length + 1)).sort();
    if (a.status !== 'NOERROR') out.push(`${what}: ${a.status}`);
    else if (p.want === 'any' ? got.length === 0 : got.join(' | ') !== [...p.want].sort().join(' | ')) {
      out.push(`${what}: got [${got.join(' | ')}], expected ${p.want === 'any' ? 'some' : `[${p.want.join(' | ')}]`}`);
    } else if (p.signed && !a.rrs.some((rr) => rr.startsWith(`RRSIG ${p.type} 13 `))) {
      out.push(`${what}: no RRSIG ${p.type} in [${a.rrs.join(' | ')}]`);
    }
  }));
  return out.sort();
}

// ---------- a DNS query loop over UDP ----------

const QTYPES: Record<string, number> = { A: 1, NS: 2, SOA: 6, MX: 15, TXT: 16, AAAA: 28, DNSKEY: 48 };
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

function dnsQuery(id: number, name: string, type: string, dnssec: boolean): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0); // flags 0: a query without RD, like dig +norec
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(dnssec ? 1 : 0, 10);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(QTYPES[type]!, 0);
  question.writeUInt16BE(1, 2);
  // OPT: root name, type 41, UDP size 1232, extended rcode/version 0, DO bit, no options
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0]), question, ...(dnssec ? [opt] : [])]);
}

/** Queries one server in turn for each question, one at a time, every intervalMs; counts the rcodes. */
export class QueryLoop {
  readonly rcodes = new Map<string, number>();
  readonly servfails: string[] = [];
  /** Every change of the rcode of a question: `name type: OLD -> NEW at +seconds`. */
  readonly transitions: string[] = [];
  /** Changes from an answer (NOERROR/NXDOMAIN) back to REFUSED/SERVFAIL: a zone that was served went missing. */
  readonly regressions: string[] = [];
  private readonly lastRcode = new Map<string, string>();
  timeouts = 0;
  private readonly startedAt = Date.now();
  private stoppedAt: number | undefined;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly port: number, private readonly questions: Array<[string, string, boolean]>, private readonly intervalMs = 50) {
    this.done = this.loop();
  }

  get answered(): number {
    return [...this.rcodes.values()].reduce((a, b) => a + b, 0);
  }

  summary(): string {
    const seconds = ((this.stoppedAt ?? Date.now()) - this.startedAt) / 1000;
    return `${this.answered} answers in ${seconds.toFixed(1)} s (${[...this.rcodes].map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
      `${this.timeouts} timeouts`;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.stoppedAt ??= Date.now();
  }

  private async loop(): Promise<void> {
    const sock = createSocket('udp4');
    let pending: { id: number; resolve: (rcode: number | undefined) => void } | undefined;
    sock.on('message', (msg) => {
      if (pending && msg.length >= 12 && msg.readUInt16BE(0) === pending.id) pending.resolve(msg[3]! & 0x0f);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    try {
      for (let i = 0; this.running; i++) {
        const [name, type, dnssec] = this.questions[i % this.questions.length]!;
        const id = randomInt(65536);
        const rcode = await new Promise<number | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), 1000);
          pending = { id, resolve: (rc) => { clearTimeout(timer); resolve(rc); } };
          sock.send(dnsQuery(id, name, type, dnssec), this.port, '127.0.0.1');
        });
        pending = undefined;
        if (rcode === undefined) this.timeouts++;
        else {
          const label = RCODES[rcode] ?? `RCODE${rcode}`;
          this.rcodes.set(label, (this.rcodes.get(label) ?? 0) + 1);
          const q = `${name} ${type}${dnssec ? ' +DO' : ''}`;
          if (label === 'SERVFAIL') this.servfails.push(`${new Date().toISOString()} ${q}`);
          const prev = this.lastRcode.get(q);
          if (prev !== label) {
            const change = `${q}: ${prev ?? 'start'} -> ${label} at +${((Date.now() - this.startedAt) / 1000).toFixed(1)} s`;
            this.transitions.push(change);
            if ((prev === 'NOERROR' || prev === 'NXDOMAIN') && (label === 'REFUSED' || label === 'SERVFAIL')) this.regressions.push(change);
            this.lastRcode.set(q, label);
          }
        }
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    } finally {
      sock.close();
    }
  }
}
