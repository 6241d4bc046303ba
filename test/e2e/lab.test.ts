// End to end: the real lab server (`node src/server/main.ts`, which builds the site when it
// is stale), the real site in headless Chromium, and real `box --lab` sandboxes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { BOX, browserTestsMissing, freePort, launchChromium, spawnServer } from './harness.ts';
import type { ServerProcess } from './harness.ts';
import { needs } from '../support/requires.ts';
import { HIGH_WATERMARK } from '../../src/server/flow.ts';

// What the page's Terminal island exposes as window.isolab (src/scripts/terminal/terminal.ts).
// (Functions given to page.evaluate run in the page, where they read it through a cast.)
interface IsolabApi { readonly state: string; readonly sandbox: string; terminalText(): string }

const TOKEN = 'e2e-token-' + 'ab'.repeat(16);
const LESSON = '/lessons/en/pid-namespaces/';
const T = 90_000;

const missing = await browserTestsMissing();

let server: ServerProcess;
let context: BrowserContext;
let base = '';
/** Every sandbox a page of these tests was given: all must be gone after the server stops. */
const sandboxes = new Set<string>();

function launch(): Promise<BrowserContext> {
  return launchChromium('lab');
}

/** Open a lesson in a new tab and wait for its terminal to be connected. */
async function openLesson(ctx: BrowserContext, url = LESSON): Promise<Page> {
  const page = await ctx.newPage();
  const res = await page.goto(base + url);
  expect(res?.status()).toBe(200);
  await connected(page);
  sandboxes.add((await page.locator('[data-testid="terminal-sandbox"]').textContent()) ?? '');
  return page;
}

async function connected(page: Page): Promise<void> {
  try {
    await page.waitForFunction(() => (window as unknown as { isolab?: IsolabApi }).isolab?.state === 'connected', null, { timeout: T });
  } catch (e) {
    const state = await page.evaluate(() => [(window as unknown as { isolab?: IsolabApi }).isolab?.state, document.querySelector('[data-testid="terminal-notice"]')?.textContent?.trim()]);
    throw new Error(`the terminal did not connect: state ${state[0]}, notice "${state[1]}"; server log:\n${server.output().slice(-1500)}`, { cause: e });
  }
  // A prompt has appeared: the shell in the sandbox is ready for input.
  await page.waitForFunction(() => /[#$] *$/.test((window as unknown as { isolab: IsolabApi }).isolab.terminalText()), null, { timeout: T });
}

function screen(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as { isolab: IsolabApi }).isolab.terminalText());
}

/** Wait until the terminal shows `pattern` (after the first `skip` characters). */
async function waitScreen(page: Page, pattern: RegExp, skip = 0): Promise<string> {
  try {
    await page.waitForFunction(([src, flags, from]) => new RegExp(src, flags).test((window as unknown as { isolab: IsolabApi }).isolab.terminalText().slice(from)),
      [pattern.source, pattern.flags, skip] as const, { timeout: T });
  } catch (e) {
    throw new Error(`the terminal never showed ${pattern}; it shows:\n${(await screen(page)).slice(-1200)}`, { cause: e });
  }
  return (await screen(page)).slice(skip);
}

/** Type a line on the keyboard, as a reader does, and wait for `until` to show. */
async function typeLine(page: Page, line: string, until: RegExp): Promise<string> {
  const from = (await screen(page)).length;
  await page.locator('[data-testid="terminal"]').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
  return waitScreen(page, until, Math.max(0, from - 200));
}

function runButton(page: Page, command: string) {
  return page.locator(`[data-testid="run-button"][data-command="${command.replace(/["\\]/g, '\\$&')}"]`);
}

needs(missing).describe('the lab in a browser', () => {
  beforeAll(async () => {
    const port = await freePort();
    server = await spawnServer('src/server/main.ts', ['--port', String(port), '--token', TOKEN, '--max-sandboxes', '6']);
    base = `http://127.0.0.1:${server.port}`;
    context = await launch();
    // The printed URL carries the token; the server trades it for a cookie.
    const page = await context.newPage();
    const res = await page.goto(server.url);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`${base}/`);
    await page.close();
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    if (!server) return;
    const code = await server.stop();
    expect(code).toBe(0);
    expect(server.output()).toContain('removing');
    // SIGTERM removed every sandbox the server made, those in their grace period included.
    expect(sandboxes.size).toBeGreaterThan(0);
    const ps = execFileSync(BOX, ['ps', '-a'], { encoding: 'utf8' });
    for (const name of sandboxes) expect(ps, name).not.toContain(name);
  }, T);

  it('runs the PID namespace demo from its Run buttons: the shell in the container is PID 1', async () => {
    const page = await openLesson(context);
    expect(await page.locator('[data-testid="terminal-sandbox"]').textContent()).toMatch(/^lab-[0-9a-f]{8}$/);
    await runButton(page, 'box run -it --ns pid,mnt busybox sh').first().click();
    // busybox's sh prompt inside the container.
    await waitScreen(page, /\n\/ # $/);
    const from = (await screen(page)).length;
    await runButton(page, 'echo $$').first().click();
    expect(await waitScreen(page, /echo \$\$\n1\n/, from - 10)).toMatch(/\n1\n/);
    const from2 = (await screen(page)).length;
    await runButton(page, 'ps').first().click();
    const ps = await waitScreen(page, /PID\s+USER.*\n\s*1 root\s+sh\n/, from2 - 10);
    // In the container's numbering there is nothing but the shell (1) and ps itself.
    const pids = [...ps.matchAll(/^\s*(\d+) root/gm)].map((m) => Number(m[1]));
    expect(pids[0]).toBe(1);
    expect(pids.length).toBeLessThanOrEqual(3);
    await typeLine(page, 'exit', /exit\n[\s\S]*[#$] $/);
    await page.close();
  }, 2 * T);

  it("opens the terminal's socket at the top of the page, while it is still loading, and the terminal takes that one", async () => {
    const page = await context.newPage();
    // Every terminal socket the page makes, and how far the page had loaded then.
    await page.addInitScript(() => {
      const made: string[] = [];
      (window as unknown as { madeSockets: string[] }).madeSockets = made;
      window.WebSocket = new Proxy(window.WebSocket, {
        construct(target, args: ConstructorParameters<typeof WebSocket>) {
          if (String(args[0]).includes('/ws/terminal')) made.push(document.readyState);
          return new target(...args);
        },
      });
    });
    expect((await page.goto(base + LESSON))?.status()).toBe(200);
    await connected(page);
    sandboxes.add((await page.locator('[data-testid="terminal-sandbox"]').textContent()) ?? '');
    // Made while the HTML was still being parsed ('loading': module scripts run only after
    // it), and the only one: the terminal adopted it rather than opening its own.
    expect(await page.evaluate(() => (window as unknown as { madeSockets: string[] }).madeSockets)).toEqual(['loading']);
    // The socket the page did not open itself is the terminal's: what is typed runs.
    expect(await typeLine(page, 'echo early-$((6*7))', /\nearly-42\n/)).toContain('early-42');
    await page.close();
  }, T);

  it('fails an exercise that was not done (with its hint), then passes it once it is done', async () => {
    const page = await openLesson(context);
    const exercise = page.locator('[data-testid="exercise"][data-exercise="pid-one-by-hand"]');
    await exercise.locator('[data-testid="check-button"]').click();
    await expect.poll(() => exercise.getAttribute('data-status'), { timeout: T }).toBe('fail');
    expect(await exercise.locator('[data-testid="exercise-status"]').textContent()).toContain('Not yet');
    await expect.poll(() => exercise.locator('[data-testid="exercise-hint"]').isVisible()).toBe(true);
    expect(await exercise.locator('[data-testid="exercise-hint"]').textContent()).toContain('unshare');

    await typeLine(page, 'unshare --pid --fork sleep 999 &', /\[1\] \d+/);
    await exercise.locator('[data-testid="check-button"]').click();
    await expect.poll(() => exercise.getAttribute('data-status'), { timeout: T }).toBe('pass');
    expect(await exercise.locator('[data-testid="exercise-status"]').textContent()).toContain('Passed');
    expect(await exercise.locator('[data-testid="exercise-hint"]').isVisible()).toBe(false);
    // Marked in the chapter list too (kept in the browser).
    await page.reload();
    await connected(page);
    expect(await exercise.getAttribute('data-status')).toBe('pass');
    await page.close();
  }, 3 * T);

  it('a Check pressed too often is answered in its box: wait and check again (the server takes 5, then one each 2 s)', async () => {
    const page = await openLesson(context);
    const exercise = page.locator('[data-testid="exercise"][data-exercise="pid-one-by-hand"]');
    // Pressed again as soon as each answer comes: the sixth or seventh is refused.
    let status = '';
    for (let press = 1; press <= 8 && status !== 'idle'; press++) {
      await exercise.locator('[data-testid="check-button"]').click();
      await expect.poll(() => exercise.getAttribute('data-status'), { timeout: T }).not.toBe('checking');
      status = (await exercise.getAttribute('data-status'))!;
    }
    expect(status).toBe('idle');
    expect(await exercise.locator('[data-testid="exercise-result"]').textContent()).toMatch(/^too many checks at once; wait \d+ s and check again$/);
    expect(await exercise.locator('[data-testid="check-button"]').isEnabled()).toBe(true);
    await page.close();
  }, 3 * T);

  it("gives two pages two sandboxes that cannot see each other's processes or files", async () => {
    const a = await openLesson(context);
    const b = await openLesson(context);
    const nameA = await a.locator('[data-testid="terminal-sandbox"]').textContent();
    const nameB = await b.locator('[data-testid="terminal-sandbox"]').textContent();
    expect(nameA).not.toBe(nameB);
    await typeLine(a, 'echo from-a > /root/only-in-a; sleep 3131313 & echo A-READY', /\nA-READY\n/);
    const files = await typeLine(b, 'cat /root/only-in-a; echo B-CAT-$?', /B-CAT-\d+/);
    expect(files).toContain('No such file');
    expect(files).toMatch(/B-CAT-1/);
    const procs = await typeLine(b, 'ps -eo args | grep -c "[s]leep 3131313"; echo B-PS-DONE', /\n\d+\nB-PS-DONE/);
    expect(procs).toMatch(/\n0\nB-PS-DONE/);
    // And a sees its own.
    expect(await typeLine(a, 'ps -eo args | grep -c "[s]leep 3131313"; echo A-PS-DONE', /\n\d+\nA-PS-DONE/)).toMatch(/\n1\nA-PS-DONE/);
    await a.close();
    await b.close();
  }, 3 * T);

  it('reload reconnects to the same sandbox: a file made before it is still there', async () => {
    const page = await openLesson(context);
    const name = await page.locator('[data-testid="terminal-sandbox"]').textContent();
    await typeLine(page, 'echo made-before-reload > /root/reload-proof; echo WROTE', /\nWROTE\n/);
    await page.reload();
    await connected(page);
    expect(await page.locator('[data-testid="terminal-sandbox"]').textContent()).toBe(name);
    expect(await page.locator('[data-testid="terminal-sandbox"]').getAttribute('title')).toContain('resumed');
    // The screen from before the reload is replayed.
    expect(await screen(page)).toContain('WROTE');
    expect(await typeLine(page, 'cat /root/reload-proof', /\nmade-before-reload\n/)).toContain('made-before-reload');
    // The next lesson in the same tab uses the same sandbox too.
    await page.locator('[data-testid="next-link"]').click();
    await connected(page);
    expect(await page.locator('[data-testid="terminal-sandbox"]').textContent()).toBe(name);
    await page.close();
  }, 3 * T);

  it('a flood of output (yes) does not freeze the page, and Ctrl-C stops it with at most the flow-control window still to come', async () => {
    // Every byte of terminal output the page receives (binary frames), counted from the page's
    // first WebSocket on: the listener is in place before the page opens its socket.
    let received = 0;
    context.once('page', (p) => p.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string') received += payload.length;
    })));
    const page = await openLesson(context);
    // A slow machine's page (CPU throttled 8x): xterm writes, and so acks, slower than `yes`
    // produces; only flow control keeps the server from queueing the difference for it.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 8 });
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type('yes isolab-flood-line');
    await page.keyboard.press('Enter');
    await waitScreen(page, /isolab-flood-line\nisolab-flood-line\n/);
    // The page keeps answering while the output streams in (a frozen page never answers, and
    // the test's timeout fails it); the delays are printed, not judged (speed is npm run bench's).
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      expect(await page.evaluate(() => document.title)).not.toBe('');
      delays.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 300));
    }
    const before = received;
    await page.keyboard.press('Control+C');
    await typeLine(page, 'echo after-the-$((1+1))-floods', /\nafter-the-2-floods\n/);
    // With flow control (src/server/flow.ts) the server stops reading the pty while 512 KiB are
    // unacked or 512 KiB wait in the socket's send buffer: what reaches the page after Ctrl-C is
    // at most those two, a pty read and the prompt. Without it, the whole backlog of the flood
    // (hundreds of MB) would have to arrive first.
    const after = received - before;
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
    console.log(`flood: ${(before / 2 ** 20).toFixed(1)} MiB before Ctrl-C, ${(after / 1024).toFixed(0)} KiB after; the page answered within ${Math.max(...delays)} ms`);
    expect(before).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(2 * HIGH_WATERMARK + 256 * 1024);
    await page.close();
  }, 2 * T);

  it('refuses a browser without the token: the page and the WebSocket', async () => {
    const stranger = await launch();
    try {
      const page = await stranger.newPage();
      const res = await page.goto(base + LESSON);
      expect(res?.status()).toBe(401);
      expect(await page.textContent('body')).toContain('token');
      const ws = await page.evaluate((url) => new Promise<string>((resolve) => {
        const sock = new WebSocket(url);
        sock.onopen = () => resolve('open');
        sock.onclose = (e) => resolve(`closed ${e.code}`);
      }), `ws://127.0.0.1:${server.port}/ws/terminal?session=strangerstranger&cols=80&rows=24`);
      expect(ws).toBe('closed 1006');
      expect((await stranger.newPage().then((p) => p.goto(`${base}/?token=wrong-token-wrong-token`)))?.status()).toBe(401);
    } finally {
      await stranger.close();
    }
  }, T);
});
