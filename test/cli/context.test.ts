import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { buildProgram } from '../../src/cli/main.js';
import { createContextFactory, EXIT_TIMEOUT, type RunState } from '../../src/cli/context.js';

async function runWith(args: string[], body: (signal: AbortSignal) => Promise<number> | Promise<void>): Promise<RunState> {
  const state: RunState = { exitCode: -1 };
  const program = buildProgram(state);
  program.command('test-wait').action(createContextFactory(state).actionWithoutConfig((ctx) => body(ctx.signal)));
  const keepAlive = setInterval(() => {}, 1000); // the CLI's own timers are unref'd, like real I/O would hold the loop
  try {
    await program.parseAsync(['node', 'lightningstream', '--log-level', 'panic', ...args, 'test-wait'], { from: 'node' });
  } finally {
    clearInterval(keepAlive);
  }
  return state;
}

test('--timeout aborts the command and exits 75', async () => {
  const started = Date.now();
  const state = await runWith(['--timeout', '50ms'], async (signal) => {
    await once(signal, 'abort');
    throw signal.reason; // commands may reject with the abort reason
  });
  assert.equal(state.exitCode, EXIT_TIMEOUT);
  assert.ok(Date.now() - started < 5000);
});

test('first SIGINT aborts gracefully (exit 0) and handlers are removed afterwards', async () => {
  const before = process.listenerCount('SIGINT');
  const state = await runWith([], async (signal) => {
    assert.equal(process.listenerCount('SIGINT'), before + 1);
    setImmediate(() => process.emit('SIGINT', 'SIGINT'));
    await once(signal, 'abort');
    return 0;
  });
  assert.equal(state.exitCode, 0);
  assert.equal(process.listenerCount('SIGINT'), before);
});

test('the body return value is the exit code', async () => {
  assert.equal((await runWith([], () => Promise.resolve(3))).exitCode, 3);
});
