// A benchmark, not a test: what a reader feels on a lesson page in headless Chromium, through
// the real lab server (`src/server/main.ts`) and a real `box --lab` sandbox.
//   - keystroke echo: a key pressed (the page's own keydown) to its glyph in xterm.js's buffer,
//     measured inside the page with performance.now(), so no driver round trip is counted;
//   - lesson opened to a usable prompt: navigation start to a prompt in the buffer, for a
//     new tab (a new sandbox) each time; with a sandbox made ahead (the server's default,
//     --warm-sandboxes 1) and without (--warm-sandboxes 0), and their ratio.
//
//   node test/bench/page.ts [--keystrokes 100] [--runs 5]
//
// wetty (the anchor the issue names) is not installed here (`npm view wetty` answers 3.2.0, but
// it is not in node_modules and the registry is the only way to it): no side-by-side numbers yet.

import { randomBytes } from 'node:crypto';
import { boxLabAvailable, freePort, launchChromium, spawnServer } from '../e2e/harness.ts';
import { benchArgs } from './args.ts';
import { median, percentile } from './stats.ts';

type Api = { isolab?: { state: string; terminalText(): string } };

export interface PageBenchResult {
  echoMs: { median: number; p90: number; samples: number };
  /** Where one key's time goes (medians): keydown -> the page's WebSocket send, send -> the
   *  echo's frame arriving, arrival -> the glyph in the buffer. */
  echoParts: { toSend: number; network: number; toBuffer: number };
  promptMs: PromptStats;
  /** The same with no sandbox made ahead (--warm-sandboxes 0): each made when the tab asks. */
  promptColdMs: PromptStats;
}

type Stat = { median: number; p90: number; samples: number };
const stat = (xs: number[]): Stat => ({ median: median(xs), p90: percentile(xs, 90), samples: xs.length });

/** Where the time to a usable prompt goes, medians over the tabs (ms from navigation start). */
export interface PromptSplit {
  /** The lesson's HTML has arrived (responseEnd). */
  html: number;
  /** The terminal's WebSocket is made, and open. */
  socketMade: number;
  socketOpen: number;
  /** Its first frame (the server's hello) arrives. */
  firstFrame: number;
  /** The terminal's script has mounted xterm.js and taken the socket (its performance mark). */
  mounted: number;
  /** DOMContentLoaded: the page's module scripts have run. */
  domReady: number;
  /** The prompt is in xterm's buffer. */
  prompt: number;
}

interface PromptStats extends Stat {
  /** To the prompt in the buffer and a key typed there echoed back (the `median` above is to the prompt). */
  usable: Stat;
  split: PromptSplit;
}

type Stamps = PromptSplit & { usable: number };

/**
 * Lesson opened to a usable prompt, for `runs` new tabs (new sandboxes) of a lab server started
 * with `args`. Between tabs a pause as a reader's (3 s): time for the server to make the next
 * sandbox ahead, when it does, and for the closed tab's sandbox to go. A usable prompt: the
 * prompt in xterm's buffer, and a key typed then (the page's own input path, as xterm's onData
 * calls it) echoed back into the buffer.
 */
export async function promptTimes(args: string[], runs: number): Promise<PromptStats> {
  const token = 'bench-page-' + randomBytes(16).toString('hex');
  const server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--token', token, '--max-sandboxes', '3', '--grace-seconds', '1', ...args]);
  const base = `http://127.0.0.1:${server.port}`;
  const ctx = await launchChromium('bench-page-prompt');
  try {
    const first = await ctx.newPage();
    await first.goto(server.url);
    await first.close();
    const stamps: Stamps[] = [];
    for (let i = 0; i < runs + 1; i++) {
      await new Promise((r) => setTimeout(r, 3000));
      const page = await ctx.newPage();
      // Stamps on the terminal's WebSocket, whoever makes it and whenever: made, open, first frame.
      await page.addInitScript(() => {
        const w = window as unknown as { benchWs: { made: number; open: number; first: number } };
        w.benchWs = { made: 0, open: 0, first: 0 };
        window.WebSocket = new Proxy(window.WebSocket, {
          construct(target, a: ConstructorParameters<typeof WebSocket>) {
            const sock = new target(...a);
            if (!String(a[0]).includes('/ws/terminal') || w.benchWs.made) return sock;
            w.benchWs.made = performance.now();
            sock.addEventListener('open', () => { w.benchWs.open = performance.now(); });
            sock.addEventListener('message', () => { w.benchWs.first ||= performance.now(); });
            return sock;
          },
        });
      });
      await page.goto(`${base}/lessons/en/uts-namespaces/`, { waitUntil: 'commit' });
      const t = await page.evaluate(() => new Promise<Stamps>((resolve, reject) => {
        const w = window as unknown as Api & { benchWs: { made: number; open: number; first: number } };
        let prompt = 0;
        let len = 0;
        const poll = () => {
          const api = w.isolab;
          const text = api?.terminalText() ?? '';
          if (!prompt && api?.state === 'connected' && /[#$] *$/.test(text)) {
            prompt = performance.now();
            len = text.length;
            (api as unknown as { input(d: string): void }).input('x');
          }
          if (prompt && text.length > len && text.endsWith('x')) {
            const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
            resolve({ html: nav.responseEnd, socketMade: w.benchWs.made, socketOpen: w.benchWs.open, firstFrame: w.benchWs.first, mounted: performance.getEntriesByName('isolab:terminal-mounted')[0]?.startTime ?? NaN, domReady: nav.domContentLoadedEventStart, prompt, usable: performance.now() });
          } else if (performance.now() > 60_000) reject(new Error(`no usable prompt in 60 s: state ${api?.state}, prompt ${prompt ? 'seen' : 'not seen'}, notice "${document.querySelector('[data-testid="terminal-notice"]')?.textContent?.trim()}"`));
          else setTimeout(poll, 2);
        };
        poll();
      }));
      if (i > 0) stamps.push(t); // the first warms the server's caches and the browser's
      await page.close();
    }
    const mid = (k: keyof Stamps) => median(stamps.map((x) => x[k]));
    return {
      ...stat(stamps.map((x) => x.prompt)),
      usable: stat(stamps.map((x) => x.usable)),
      split: { html: mid('html'), socketMade: mid('socketMade'), socketOpen: mid('socketOpen'), firstFrame: mid('firstFrame'), mounted: mid('mounted'), domReady: mid('domReady'), prompt: mid('prompt') },
    };
  } finally {
    await ctx.close();
    await server.stop();
  }
}

export async function benchPage(opts: { keystrokes?: number; runs?: number } = {}): Promise<PageBenchResult> {
  const probe = await boxLabAvailable();
  if (!probe.ok) throw new Error(`bench page: ${probe.reason}`);
  const token = 'bench-page-' + randomBytes(16).toString('hex');
  const server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--token', token, '--max-sandboxes', '3', '--grace-seconds', '2']);
  const base = `http://127.0.0.1:${server.port}`;
  const ctx = await launchChromium('bench-page');
  try {
    const first = await ctx.newPage();
    await first.goto(server.url);
    await first.close();

    // ---- keystroke echo ----
    const page = await ctx.newPage();
    // Stamps on the page's WebSocket: when it last sent, when a binary frame last arrived (a
    // listener added at construction runs before the page's own onmessage).
    await page.addInitScript(() => {
      const w = window as unknown as { benchSendT: number; benchRecvT: number };
      const Native = window.WebSocket;
      const send = Native.prototype.send;
      Native.prototype.send = function (this: WebSocket, data: Parameters<WebSocket['send']>[0]) {
        if (typeof data !== 'string') w.benchSendT = performance.now();
        return send.call(this, data);
      };
      window.WebSocket = new Proxy(Native, {
        construct(target, args: ConstructorParameters<typeof WebSocket>) {
          const sock = new target(...args);
          sock.addEventListener('message', (ev) => {
            if (typeof ev.data === 'string') return;
            w.benchRecvT = performance.now();
            // The page's onmessage runs next and writes the frame into xterm; look right after.
            setTimeout(() => (window as unknown as { benchCheck?: () => void }).benchCheck?.(), 0);
          });
          return sock;
        },
      });
    });
    await page.goto(`${base}/lessons/en/uts-namespaces/`);
    await page.waitForFunction(() => /[#$] *$/.test((window as unknown as Api).isolab?.terminalText() ?? ''), null, { timeout: 90_000 });
    await page.locator('[data-testid="terminal"]').click();
    const echo: number[] = [];
    const parts: number[][] = [];
    const n = opts.keystrokes ?? 100;
    // The clock starts at the page's own keydown (a capture listener in the page, so the
    // driver's own round trips are not counted) and stops when the glyph is in xterm's buffer,
    // looked at right after each frame the page's socket receives (no polling loop, which would
    // compete with the page's own tasks).
    type Probe = { expect: string; len: number; result: number[] | string | null };
    await page.evaluate(() => {
      const w = window as unknown as { benchProbe: Probe | null; benchCheck?: () => void; benchSendT: number; benchRecvT: number };
      w.benchProbe = null;
      let t0 = 0;
      w.benchCheck = () => {
        const probe = w.benchProbe;
        if (!probe || probe.result !== null || t0 === 0) return;
        const text = (window as unknown as Api).isolab!.terminalText();
        if (text.length > probe.len && text.endsWith(probe.expect)) {
          const t = performance.now();
          probe.result = [t - t0, w.benchSendT - t0, w.benchRecvT - w.benchSendT, t - w.benchRecvT];
        }
      };
      document.addEventListener('keydown', () => {
        const probe = w.benchProbe;
        if (!probe || probe.result !== null) return;
        t0 = performance.now();
        w.benchSendT = 0;
        w.benchRecvT = 0;
        setTimeout(() => {
          if (probe.result === null) probe.result = `no echo of "${probe.expect}" in 10 s; the terminal ends with ${JSON.stringify((window as unknown as Api).isolab!.terminalText().slice(-80))}`;
        }, 10_000);
      }, { capture: true });
    });
    for (let i = 0; i < n; i++) {
      const ch = 'abcdefghijklmnopqrstuvwxyz'[i % 26]!;
      await page.evaluate((c) => {
        (window as unknown as { benchProbe: Probe }).benchProbe = { expect: c, len: (window as unknown as Api).isolab!.terminalText().length, result: null };
      }, ch);
      await page.keyboard.press(ch);
      const handle = await page.waitForFunction(() => (window as unknown as { benchProbe: Probe }).benchProbe.result, null, { timeout: 15_000, polling: 5 });
      const r = (await handle.jsonValue()) as number[] | string;
      if (typeof r === 'string') throw new Error(`bench page: ${r}`);
      echo.push(r[0]!);
      parts.push(r.slice(1));
      if (i % 20 === 19) { // keep the line short: Ctrl+U clears it
        await page.keyboard.press('Control+U');
        await page.waitForTimeout(30);
      }
    }
    await page.close();
    const part = (k: number) => median(parts.slice(5).map((p) => p[k]!));
    const echoResult = { echoMs: stat(echo.slice(5)), echoParts: { toSend: part(0), network: part(1), toBuffer: part(2) } };
    await ctx.close();
    await server.stop();
    // ---- lesson opened to a usable prompt: a sandbox made ahead, and none ----
    const runs = opts.runs ?? 5;
    return { ...echoResult, promptMs: await promptTimes([], runs), promptColdMs: await promptTimes(['--warm-sandboxes', '0'], runs) };
  } finally {
    await ctx.close().catch(() => {});
    await server.stop();
  }
}

/** The split of one row: when each step happened, from navigation start (medians). */
function splitLine(x: PromptSplit): string {
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  return `at: HTML received ${ms(x.html)}, socket made ${ms(x.socketMade)}, open ${ms(x.socketOpen)}, first frame ${ms(x.firstFrame)}, terminal mounted ${ms(x.mounted)}, DOMContentLoaded ${ms(x.domReady)}, prompt in the buffer ${ms(x.prompt)}`;
}

export function formatPageBench(r: PageBenchResult): string {
  return [
    'lesson page in headless Chromium, real lab server and box sandbox',
    `  key press -> glyph in xterm's buffer   median ${r.echoMs.median.toFixed(1)} ms   p90 ${r.echoMs.p90.toFixed(1)} ms   (${r.echoMs.samples} keys)`,
    `    of which: keydown -> WebSocket send ${r.echoParts.toSend.toFixed(1)} ms, send -> echo frame in ${r.echoParts.network.toFixed(1)} ms, frame -> buffer ${r.echoParts.toBuffer.toFixed(1)} ms (medians)`,
    `  lesson opened -> usable prompt         median ${r.promptMs.median.toFixed(0)} ms   p90 ${r.promptMs.p90.toFixed(0)} ms   (${r.promptMs.samples} new tabs, a sandbox made ahead: --warm-sandboxes 1)`,
    `      and a key typed there echoed       median ${r.promptMs.usable.median.toFixed(0)} ms   p90 ${r.promptMs.usable.p90.toFixed(0)} ms`,
    `      ${splitLine(r.promptMs.split)}`,
    `    the same, none made ahead            median ${r.promptColdMs.median.toFixed(0)} ms   p90 ${r.promptColdMs.p90.toFixed(0)} ms   (--warm-sandboxes 0)`,
    `      and a key typed there echoed       median ${r.promptColdMs.usable.median.toFixed(0)} ms   p90 ${r.promptColdMs.usable.p90.toFixed(0)} ms`,
    `      ${splitLine(r.promptColdMs.split)}`,
    `    made ahead / none                    ${(r.promptMs.median / r.promptColdMs.median).toFixed(2)} (medians)`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = benchArgs(process.argv.slice(2));
  console.log(formatPageBench(await benchPage({ keystrokes: args.num('--keystrokes'), runs: args.num('--runs') })));
}
