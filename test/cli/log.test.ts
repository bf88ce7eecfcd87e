import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, logfmtValue, parseLevel, rfc3339, type LoggerOptions } from '../../src/log/logger.js';

const T0 = new Date('2024-05-01T10:00:00Z');
const T1 = new Date('2024-05-01T10:00:12Z');

function capture(opts: LoggerOptions): { lines: string[]; opts: LoggerOptions } {
  const lines: string[] = [];
  return { lines, opts: { now: () => T1, startTime: T0, ...opts, stream: { write: (l: string) => lines.push(l) } } };
}

/** Minimal logfmt reader: key=value, value bare or a JSON-style quoted string. */
function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of line.matchAll(re)) out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  return out;
}

test('json: one object per line, logrus keys, errors as message', () => {
  const { lines, opts } = capture({ format: 'json', level: 'debug' });
  const log = createLogger(opts).with({ db: 'main' });
  log.info('hello "world"', { n: 3, ok: true, error: new Error('boom'), big: 10n, buf: Buffer.from([1, 2]) });
  log.debug('dbg', { time: 'clash' });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(first, {
    big: 10, buf: '0102', db: 'main', error: 'boom', level: 'info', msg: 'hello "world"', n: 3, ok: true, time: rfc3339(T1),
  });
  assert.deepEqual(Object.keys(first), Object.keys(first).sort(), 'keys sorted like Go');
  const second = JSON.parse(lines[1]!) as Record<string, unknown>;
  assert.equal(second['fields.time'], 'clash');
  assert.equal(second.level, 'debug');
});

test('logfmt: logrus layout and quoting, parses back', () => {
  const { lines, opts } = capture({ format: 'logfmt' });
  const log = createLogger(opts);
  log.warn('disk almost full', { path: '/var/lib/x', pct: 99.5, note: 'a b=c "q"', empty: '', err: new Error('no space') });
  const line = lines[0]!.trimEnd();
  assert.ok(line.startsWith(`time="${rfc3339(T1)}" level=warning msg="disk almost full" `), line);
  assert.deepEqual(parseLogfmt(line), {
    time: rfc3339(T1), level: 'warning', msg: 'disk almost full', empty: '', err: 'no space', note: 'a b=c "q"', path: '/var/lib/x', pct: '99.5',
  });
  assert.match(line, / path=\/var\/lib\/x /);
  assert.equal(logfmtValue('abc-1.2_x/y@z^+'), 'abc-1.2_x/y@z^+');
  assert.equal(logfmtValue('a:b'), '"a:b"');
});

test('timestamp disable / full / short', () => {
  const d = capture({ format: 'logfmt', timestamp: 'disable' });
  createLogger(d.opts).info('x');
  assert.equal(d.lines[0], 'level=info msg=x\n');
  const j = capture({ format: 'json', timestamp: 'disable' });
  createLogger(j.opts).info('x');
  assert.deepEqual(JSON.parse(j.lines[0]!), { level: 'info', msg: 'x' });
  const h = capture({ format: 'human', timestamp: 'full' });
  createLogger(h.opts).info('x');
  assert.equal(h.lines[0], `INFO[${rfc3339(T1)}] x\n`);
  const s = capture({ format: 'human' });
  createLogger(s.opts).error('x');
  assert.equal(s.lines[0], 'ERRO[0012] x\n');
});

test('human: db prefix, padded message, fields; colours only when asked/TTY', () => {
  const { lines, opts } = capture({ format: 'human', timestamp: 'disable' });
  createLogger(opts).with({ db: 'main' }).info('Initialised syncer', { instance: 'ns1' });
  assert.equal(lines[0], `INFO ${'[main          ] Initialised syncer'.padEnd(44)}  instance=ns1\n`);
  // eslint-disable-next-line no-control-regex -- the ESC of ANSI colour sequences is what is checked
  assert.doesNotMatch(lines[0], /\x1b\[/);
  const c = capture({ format: 'human', colour: true });
  createLogger(c.opts).warn('careful', { k: 1 });
  // eslint-disable-next-line no-control-regex -- the ESC of ANSI colour sequences is what is checked
  assert.match(c.lines[0]!, /^\x1b\[33mWARN\x1b\[0m\[0012\] careful +\x1b\[33mk\x1b\[0m=1\n$/);
});

test('levels filter, child loggers bind fields', () => {
  const { lines, opts } = capture({ format: 'logfmt', timestamp: 'disable', level: 'warning' });
  const log = createLogger(opts);
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  const child = log.with({ db: 'main' }).with({ db: 'shard', x: 1 });
  child.error('c', { x: 2 });
  assert.deepEqual(lines, ['level=warning msg=w\n', 'level=error msg=e\n', 'level=error msg=c db=shard x=2\n']);
  assert.equal(log.isEnabled('info'), false);
  assert.equal(parseLevel('WARN'), parseLevel('warning'));
  assert.ok(parseLevel('trace') < parseLevel('debug'));
  assert.throws(() => parseLevel('verbose'), /^Error: unknown log level "verbose"$/);
  for (const inherited of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    assert.throws(() => parseLevel(inherited), /unknown log level/, inherited);
  }
});

test('rfc3339 like Go', () => {
  assert.match(rfc3339(T0), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
});
