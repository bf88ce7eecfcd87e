// A real headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the status
// page test. playwright-core is imported by a computed name and typed here with just what the test
// uses, so the project builds without it; Debian's chromium package is installed on first use.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface ConsoleMessage {
  type(): string;
  text(): string;
}

export interface Page {
  on(event: 'console', fn: (m: ConsoleMessage) => void): void;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  goto(url: string): Promise<unknown>;
  waitForSelector(selector: string, opts?: { timeout?: number }): Promise<unknown>;
  evaluate<T>(expression: string): Promise<T>;
  getAttribute(selector: string, name: string): Promise<string | null>;
  textContent(selector: string): Promise<string | null>;
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<Buffer>;
}

export interface Browser {
  newPage(opts?: { viewport?: { width: number; height: number } }): Promise<Page>;
  close(): Promise<void>;
}

/** playwright-core's chromium launcher, or why it is not available. */
export async function loadChromium(): Promise<{ launch(): Promise<Browser> } | { missing: string }> {
  const name = 'playwright-core';
  let pw: { chromium: { launch(opts: Record<string, unknown>): Promise<Browser> } };
  try {
    pw = (await import(name)) as typeof pw;
  } catch {
    return { missing: 'playwright-core is not installed (devDependency "playwright-core": "1.65.1")' };
  }
  const problem = ensureChromium();
  if (problem) return { missing: problem };
  return { launch: () => pw.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 }) };
}

/** Installs Debian's chromium package when missing (as root); returns why it is unavailable, if so. */
export function ensureChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return `${CHROMIUM} is missing (apt-get install chromium)`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { env, stdio: 'ignore', timeout: 600_000 });
  } catch (err) {
    return `installing chromium failed: ${(err as Error).message}`;
  }
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is still missing after apt-get install chromium`;
}
