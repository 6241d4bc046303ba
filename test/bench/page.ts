// A benchmark, not a test: what a reader feels on a lesson page in headless Chromium, through
// the real lab server (`src/server/main.ts`) and a real `box --lab` sandbox.
//   - keystroke echo: a key pressed (the page's own keydown) to its glyph in xterm.js's buffer,
//     measured inside the page with performance.now(), so no driver round trip is counted;
//   - lesson opened to a usable prompt: navigation start to a prompt in the buffer, for a
//     new tab (a new sandbox) each time.
//
//   node test/bench/page.ts [--keystrokes 100] [--runs 5]
//
// wetty (the anchor the issue names) is not installed here; see the report of issue 18.

import { randomBytes } from 'node:crypto';
import { boxLabAvailable, freePort, launchChromium, spawnServer } from '../e2e/harness.ts';
import { benchArgs } from './args.ts';
import { median, percentile } from './stats.ts';

type Api = { isolab?: { state: string; terminalText(): string } };

export interface PageBenchResult {
  echoMs: { median: number; p90: number; samples: number };
  promptMs: { median: number; p90: number; samples: number };
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

    // ---- lesson opened to a usable prompt ----
    const prompt: number[] = [];
    for (let i = 0; i < (opts.runs ?? 5) + 1; i++) {
      const page = await ctx.newPage();
      await page.goto(`${base}/lessons/en/uts-namespaces/`, { waitUntil: 'commit' });
      const ms = await page.evaluate(() => new Promise<number>((resolve) => {
        const poll = () => {
          const api = (window as unknown as Api).isolab;
          if (api?.state === 'connected' && /[#$] *$/.test(api.terminalText())) resolve(performance.now());
          else setTimeout(poll, 2);
        };
        poll();
      }));
      if (i > 0) prompt.push(ms); // the first warms the server's caches and the browser's
      await page.close();
    }

    // ---- keystroke echo ----
    const page = await ctx.newPage();
    await page.goto(`${base}/lessons/en/uts-namespaces/`);
    await page.waitForFunction(() => /[#$] *$/.test((window as unknown as Api).isolab?.terminalText() ?? ''), null, { timeout: 90_000 });
    await page.locator('[data-testid="terminal"]').click();
    const echo: number[] = [];
    const n = opts.keystrokes ?? 100;
    for (let i = 0; i < n; i++) {
      const ch = 'abcdefghijklmnopqrstuvwxyz'[i % 26]!;
      const wait = page.evaluate((c) => new Promise<number>((resolve) => {
        let t0 = 0;
        const before = (window as unknown as Api).isolab!.terminalText().length;
        document.addEventListener('keydown', () => { t0 = performance.now(); }, { capture: true, once: true });
        const poll = () => {
          const text = (window as unknown as Api).isolab!.terminalText();
          if (t0 && text.length > before && text.endsWith(c)) resolve(performance.now() - t0);
          else setTimeout(poll, 0);
        };
        poll();
      }), ch);
      await page.waitForTimeout(5);
      await page.keyboard.press(ch);
      echo.push(await wait);
      if (i % 20 === 19) { // keep the line short: Ctrl+U clears it
        await page.keyboard.press('Control+U');
        await page.waitForTimeout(30);
      }
    }
    await page.close();
    const stat = (xs: number[]) => ({ median: median(xs), p90: percentile(xs, 90), samples: xs.length });
    return { echoMs: stat(echo.slice(5)), promptMs: stat(prompt) };
  } finally {
    await ctx.close();
    await server.stop();
  }
}

export function formatPageBench(r: PageBenchResult): string {
  return [
    'lesson page in headless Chromium, real lab server and box sandbox',
    `  key press -> glyph in xterm's buffer   median ${r.echoMs.median.toFixed(1)} ms   p90 ${r.echoMs.p90.toFixed(1)} ms   (${r.echoMs.samples} keys)`,
    `  lesson opened -> usable prompt         median ${r.promptMs.median.toFixed(0)} ms   p90 ${r.promptMs.p90.toFixed(0)} ms   (${r.promptMs.samples} new tabs)`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = benchArgs(process.argv.slice(2));
  console.log(formatPageBench(await benchPage({ keystrokes: args.num('--keystrokes'), runs: args.num('--runs') })));
}
