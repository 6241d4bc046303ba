// A benchmark, not a test: keystroke echo as a reader feels it, Isolab's lesson page beside
// wetty 3.2 (xterm.js over socket.io, the web terminal the issue compares against), measured
// the same way in the same run, each with the same shell: a `box run --lab` sandbox.
//   key press -> the glyph in xterm.js's buffer, timed inside the page (performance.now(): a
//   capture keydown listener starts the clock; the buffer is looked at right after each
//   WebSocket message the page receives, so the driver's round trips are not counted).
//
//   node test/bench/echo.ts [--keystrokes 100]
//
// wetty is not a dependency of the project (a reference only): it is taken from WETTY (the
// path of its build/main.js) or node_modules/wetty; without it this prints how to get it
// (`npm install --no-save wetty@3.2.0`) and measures Isolab's page alone.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { boxLabAvailable, BOX, freePort, launchChromium, NODE, REPO, spawnServer } from '../e2e/harness.ts';
import { boxRunCommand } from '../../src/server/sandbox.ts';
import { benchArgs } from './args.ts';
import { median, percentile } from './stats.ts';

type Stat = { median: number; p90: number; samples: number };
export interface EchoBenchResult { isolab: Stat; wetty: Stat | null; wettyMissing: string }

const WETTY = process.env.WETTY ?? path.join(REPO, 'node_modules/wetty/build/main.js');

/**
 * Milliseconds from each key's keydown to its glyph at the end of the terminal's text, for
 * `n` keys, on a page whose terminal is connected and whose shell shows a prompt. `text` is
 * evaluated in the page and returns the terminal's buffer as text.
 */
async function echoTimes(page: Page, text: string, n: number): Promise<number[]> {
  await page.evaluate((textFn) => {
    type W = { benchProbe: { expect: string; len: number; result: number | string | null } | null; benchCheck: () => boolean; benchText: () => string };
    const w = window as unknown as W;
    w.benchText = new Function(`return (${textFn})`)() as () => string;
    w.benchProbe = null;
    let t0 = 0;
    // true: nothing (more) to look for; false: a key waits for its glyph, not there yet.
    w.benchCheck = () => {
      const probe = w.benchProbe;
      if (!probe || probe.result !== null || t0 === 0) return true;
      const now = w.benchText();
      if (now.length > probe.len && now.endsWith(probe.expect)) probe.result = performance.now() - t0;
      return probe.result !== null;
    };
    document.addEventListener('keydown', () => {
      const probe = w.benchProbe;
      if (!probe || probe.result !== null) return;
      t0 = performance.now();
      setTimeout(() => {
        if (probe.result === null) probe.result = `no echo of "${probe.expect}" in 10 s; the terminal ends with ${JSON.stringify(w.benchText().slice(-80))}`;
      }, 10_000);
    }, { capture: true });
  }, text);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const ch = 'abcdefghijklmnopqrstuvwxyz'[i % 26]!;
    await page.evaluate((c) => {
      const w = window as unknown as { benchProbe: object; benchText: () => string };
      w.benchProbe = { expect: c, len: w.benchText().length, result: null };
    }, ch);
    await page.keyboard.press(ch);
    const handle = await page.waitForFunction(() => (window as unknown as { benchProbe: { result: unknown } }).benchProbe.result, null, { timeout: 15_000, polling: 5 });
    const r = (await handle.jsonValue()) as number | string;
    if (typeof r === 'string') throw new Error(`bench echo: ${r}`);
    out.push(r);
    if (i % 20 === 19) { // keep the line short: Ctrl+U clears it
      await page.keyboard.press('Control+U');
      await page.waitForTimeout(30);
    }
  }
  return out.slice(5); // the first keys warm the page's and the shell's paths
}

/** Look at the buffer right after each WebSocket message the page gets (before the page's own handler would be too early: a timer after it). */
const afterEachMessage = () => {
  const Native = window.WebSocket;
  window.WebSocket = new Proxy(Native, {
    construct(target, args: ConstructorParameters<typeof WebSocket>) {
      const sock = new target(...args);
      // The terminal may parse the frame a task or two later (xterm.js's write buffer, a
      // socket.io decode): look again a few turns, then wait for the next message.
      sock.addEventListener('message', () => {
        let turns = 0;
        const look = () => { if ((window as unknown as { benchCheck?: () => boolean }).benchCheck?.() === false && ++turns < 20) setTimeout(look, 0); };
        setTimeout(look, 0);
      });
      return sock;
    },
  });
};

const stat = (xs: number[]): Stat => ({ median: median(xs), p90: percentile(xs, 90), samples: xs.length });

async function isolabEcho(n: number): Promise<number[]> {
  const token = 'bench-echo-' + randomBytes(16).toString('hex');
  const server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--token', token, '--max-sandboxes', '2', '--grace-seconds', '2']);
  const ctx = await launchChromium('bench-echo-isolab');
  try {
    const first = await ctx.newPage();
    await first.goto(server.url); // the token's cookie
    await first.close();
    const page = await ctx.newPage();
    await page.addInitScript(afterEachMessage);
    await page.goto(`http://127.0.0.1:${server.port}/lessons/en/uts-namespaces/`);
    await page.waitForFunction(() => /[#$] *$/.test((window as unknown as { isolab?: { terminalText(): string } }).isolab?.terminalText() ?? ''), null, { timeout: 90_000 }).catch((e: Error) => {
      throw new Error(`bench echo: no prompt on the lesson page (${e.message})`);
    });
    await page.locator('[data-testid="terminal"]').click();
    return await echoTimes(page, '() => window.isolab.terminalText().trimEnd()', n);
  } finally {
    await ctx.close().catch(() => {});
    await server.stop();
  }
}

async function wettyEcho(n: number): Promise<number[]> {
  // wetty runs one program for each page (as root: no login, no ssh): here a script that
  // starts the same kind of sandbox the lab server gives a reader.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wetty-'));
  const name = `bench-wetty-${randomBytes(4).toString('hex')}`;
  const { file, args } = boxRunCommand(BOX, name);
  const script = path.join(dir, 'sandbox.sh');
  fs.writeFileSync(script, `#!/bin/sh\nexec ${[file, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`, { mode: 0o755 });
  const port = await freePort();
  const wetty = spawn(NODE, [WETTY, '--host', '127.0.0.1', '--port', String(port), '--base', '/wetty/', '--command', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  wetty.stdout!.on('data', (d) => { log += d; });
  wetty.stderr!.on('data', (d) => { log += d; });
  const ctx = await launchChromium('bench-echo-wetty');
  try {
    const page = await ctx.newPage();
    await page.addInitScript(afterEachMessage);
    for (let i = 0; ; i++) { // wetty listens once it has started
      try { await page.goto(`http://127.0.0.1:${port}/wetty/`); break; } catch (e) {
        if (i > 100 || wetty.exitCode !== null) throw new Error(`bench echo: wetty did not serve: ${(e as Error).message}\n${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // wetty's page sets window.wetty_term once its socket is up; until then, no text.
    const text = `() => { if (!window.wetty_term) return ''; const b = window.wetty_term.buffer.active; const lines = []; for (let y = 0; y < b.length; y++) lines.push(b.getLine(y).translateToString(true)); return lines.join('\\n').trimEnd(); }`;
    await page.waitForFunction(`/[#$] *$/.test((${text})())`, null, { timeout: 90_000 }).catch(async (e: Error) => {
      throw new Error(`bench echo: no prompt in wetty's terminal (${e.message}); it shows ${JSON.stringify(String(await page.evaluate(text)).slice(-200))}; wetty said: ${log.slice(-500)}`);
    });
    await page.locator('.xterm').first().click();
    return await echoTimes(page, text, n);
  } finally {
    await ctx.close().catch(() => {});
    if (wetty.exitCode === null) {
      wetty.kill('SIGTERM');
      await new Promise((r) => wetty.once('exit', r));
    }
    // Its sandbox goes with its pty's SIGHUP (--rm); removed here too, whatever wetty did.
    spawnSync(BOX, ['rm', '-f', name], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchEcho(opts: { keystrokes?: number } = {}): Promise<EchoBenchResult> {
  const probe = await boxLabAvailable();
  if (!probe.ok) throw new Error(`bench echo: ${probe.reason}`);
  const n = opts.keystrokes ?? 100;
  const wettyMissing = fs.existsSync(WETTY) ? '' : `wetty is not installed (a reference, not a dependency): \`npm install --no-save wetty@3.2.0\`, or WETTY=/path/to/wetty/build/main.js`;
  // Alternate, so that neither gets the quieter part of the run.
  const isolab: number[] = [];
  const wetty: number[] = [];
  for (let round = 0; round < 2; round++) {
    isolab.push(...await isolabEcho(Math.ceil(n / 2) + 5));
    if (!wettyMissing) wetty.push(...await wettyEcho(Math.ceil(n / 2) + 5));
  }
  return { isolab: stat(isolab), wetty: wettyMissing ? null : stat(wetty), wettyMissing };
}

export function formatEchoBench(r: EchoBenchResult): string {
  const row = (what: string, s: Stat) => `  ${what.padEnd(34)} median ${s.median.toFixed(1)} ms   p90 ${s.p90.toFixed(1)} ms   (${s.samples} keys)`;
  return [
    'keystroke echo in headless Chromium, key press -> glyph in xterm.js\'s buffer, a box --lab sandbox\'s shell behind each',
    row('Isolab lesson page', r.isolab),
    r.wetty ? row('wetty 3.2', r.wetty) : `  wetty: not measured: ${r.wettyMissing}`,
    ...(r.wetty ? [`  Isolab / wetty                     ${(r.isolab.median / r.wetty.median).toFixed(2)} (medians)`] : []),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = benchArgs(process.argv.slice(2));
  console.log(formatEchoBench(await benchEcho({ keystrokes: args.num('--keystrokes') })));
}
