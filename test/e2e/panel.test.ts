// End to end: the kernel panel beside a lesson's terminal, in headless Chromium, against the
// real lab server (`node src/server/main.ts`) and real `box --lab` sandboxes. What the
// reader types goes into xterm.js; what is asserted is what the panel shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { browserTestsMissing, freePort, launchChromium, spawnServer } from './harness.ts';
import type { ServerProcess } from './harness.ts';
import { needs } from '../support/requires.ts';

interface IsolabApi { readonly state: string; terminalText(): string }

const TOKEN = 'e2e-panel-token-' + 'cd'.repeat(16);
const LESSON = '/lessons/en/pid-namespaces/';
const T = 90_000;

const missing = await browserTestsMissing();

let server: ServerProcess;
let context: BrowserContext;
let base = '';
let page: Page;

const api = (p: Page) => p.evaluate(() => (window as unknown as { isolab: IsolabApi }).isolab.terminalText());

async function connected(p: Page): Promise<void> {
  await p.waitForFunction(() => (window as unknown as { isolab?: IsolabApi }).isolab?.state === 'connected', null, { timeout: T });
  await p.waitForFunction(() => /[#$] *$/.test((window as unknown as { isolab: IsolabApi }).isolab.terminalText()), null, { timeout: T });
}

/** Type a command on the keyboard, as a reader does, and wait for `until` in the terminal. */
async function typeLine(p: Page, line: string, until: RegExp): Promise<string> {
  const from = (await api(p)).length;
  await p.locator('[data-testid="terminal"]').click();
  await p.keyboard.type(line);
  await p.keyboard.press('Enter');
  try {
    await p.waitForFunction(([src, flags, skip]) => new RegExp(src, flags).test((window as unknown as { isolab: IsolabApi }).isolab.terminalText().slice(skip)),
      [until.source, until.flags, Math.max(0, from - 100)] as const, { timeout: T });
  } catch (e) {
    throw new Error(`the terminal never showed ${until}; it shows:\n${(await api(p)).slice(-1500)}`, { cause: e });
  }
  return (await api(p)).slice(from);
}

/** The sandbox's own card in the Resources tab. */
function sandboxGroup(p: Page) {
  return p.locator('[data-testid="stats-group"][data-group=""]');
}

needs(missing).describe('the kernel panel in a browser', () => {
  beforeAll(async () => {
    const port = await freePort();
    server = await spawnServer('src/server/main.ts', ['--port', String(port), '--token', TOKEN, '--max-sandboxes', '4']);
    base = `http://127.0.0.1:${server.port}`;
    context = await launchChromium('panel', { width: 1500, height: 1000 });
    const first = await context.newPage();
    await first.goto(server.url); // the token becomes a cookie
    await first.close();
    page = await context.newPage();
    expect((await page.goto(base + LESSON))?.status()).toBe(200);
    await connected(page);
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    if (server) expect(await server.stop()).toBe(0);
  }, T);

  it('shows the system calls and cgroup writes of the last box command', async () => {
    const panel = page.locator('[data-testid="kernel-panel"]');
    await expect.poll(() => panel.getAttribute('data-hidden')).toBe('false');
    await page.locator('[data-testid="panel-tab-trace"]').click();
    await typeLine(page, 'box run --rm --memory 32m busybox true; echo RUN-$?', /RUN-0/);
    const events = page.locator('[data-testid="trace-events"]');
    await expect.poll(() => events.getAttribute('data-command'), { timeout: T }).toBe('box run --rm --memory 32m busybox true');
    await expect.poll(() => events.textContent(), { timeout: T }).toMatch(/unshare\(CLONE_NEW/);
    const text = (await events.textContent())!;
    // The limit write as the kernel file takes it: v1 on this host, v2 elsewhere.
    expect(text).toMatch(/(memory\.limit_in_bytes|memory\.max)←"33554432"/);
    expect(text).toMatch(/pivot_root\(/);
    expect(text).toMatch(/mount\("overlay"/);
    // Which side made each call: box outside, box-init inside the new namespaces.
    expect(await page.locator('[data-testid="trace-events"] [data-who="init"][data-kind="syscall"]').count()).toBeGreaterThan(3);
    expect(await page.locator('[data-testid="trace-events"] [data-who="box"][data-kind="write"]').count()).toBeGreaterThan(0);
  }, 2 * T);

  it('follows the newest command, and box --trace prints the same calls in the terminal', async () => {
    const out = await typeLine(page, 'box --trace run --rm --memory 16m busybox true 2>&1 | grep -c unshare', /\n\d+\r?\n/);
    expect(Number(/\n(\d+)\r?\n/.exec(out)![1])).toBeGreaterThan(0);
    const events = page.locator('[data-testid="trace-events"]');
    await expect.poll(() => events.getAttribute('data-command'), { timeout: T }).toBe('box --trace run --rm --memory 16m busybox true');
    await expect.poll(() => events.textContent(), { timeout: T }).toMatch(/"16777216"/);
    // The earlier command is still there to pick.
    const options = await page.locator('[data-testid="trace-command"] option').allTextContents();
    expect(options.some((o) => o.includes('box run --rm --memory 32m busybox true'))).toBe(true);
  }, 2 * T);

  it('plots the memory of a hog climbing above 30 MB under its 64 MiB limit', async () => {
    await page.locator('[data-testid="panel-tab-resources"]').click();
    await expect.poll(() => sandboxGroup(page).count(), { timeout: T }).toBe(1);
    // dd holds a 40 MB buffer while it waits for `sleep` to read (it never does).
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type("box run --rm --memory 64m busybox sh -c 'dd if=/dev/zero bs=40M count=1 2>/dev/null | sleep 3'; echo HOG-$?");
    await page.keyboard.press('Enter');
    const hog = page.locator(`[data-testid="stats-group"][data-mem-max="${64 * 1024 * 1024}"]`);
    await expect.poll(async () => Number(await hog.getAttribute('data-mem-high')), { timeout: T }).toBeGreaterThan(30e6);
    expect(await hog.getAttribute('data-group')).toMatch(/^box\/box-[0-9a-f]{12}$/);
    expect(await hog.getAttribute('data-ended')).toBe('false');
    expect(await hog.locator('[data-metric="memory"] .limit-label').textContent()).toMatch(/64 MiB/);
    // It is drawn: a line, and the limit line across the plot.
    await expect.poll(() => hog.locator('[data-metric="memory"] path.line').getAttribute('d'), { timeout: T }).toMatch(/^M[\d.]+ [\d.]+L/);
    const limit = await hog.locator('[data-metric="memory"] line.limit').evaluate((l) => ({ display: getComputedStyle(l).display, y: Number(l.getAttribute('y1')) }));
    expect(limit.display).not.toBe('none');
    expect(limit.y).toBeGreaterThan(0); // near the top: the scale is the limit (and a little)
    expect(limit.y).toBeLessThan(20);
    await typeLine(page, '', /HOG-0/);
    await expect.poll(() => hog.getAttribute('data-ended'), { timeout: T }).toBe('true');
    // The sandbox's own memory included the hog's (usage is hierarchical).
    expect(Number(await sandboxGroup(page).getAttribute('data-mem-high'))).toBeGreaterThan(30e6);
  }, 2 * T);

  it('says a container ended because the OOM killer killed it, though box removed its cgroup at once', async () => {
    await page.locator('[data-testid="panel-tab-resources"]').click();
    // A string that doubles every 0.3 s: 16 MB is plotted for a while, the step to 32 MB is killed.
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type(`box run --rm --memory 24m busybox sh -c 's=x; while :; do s="$s$s"; sleep 0.3; done'; echo OOMHOG-$?`);
    await page.keyboard.press('Enter');
    const hog = page.locator(`[data-testid="stats-group"][data-mem-max="${24 * 1024 * 1024}"]`);
    await expect.poll(() => hog.count(), { timeout: T }).toBe(1);
    await expect.poll(() => hog.getAttribute('data-ended'), { timeout: T }).toBe('true');
    await typeLine(page, '', /OOMHOG-137/);
    // The kill and the cgroup's removal fall between two samples; box's note in its trace says why.
    expect(await hog.locator('.kp-group-state').textContent()).toBe('killed by the OOM killer');
    expect(await hog.locator('.kp-group-state').getAttribute('data-kind')).toBe('oom');
    await page.locator('[data-testid="panel-tab-trace"]').click();
    await expect.poll(() => page.locator('[data-testid="trace-events"]').textContent(), { timeout: T }).toMatch(/oom_kill 1 in \/sys\/fs\/cgroup\/(memory\/)?box\/box-[0-9a-f]{12}/);
    await page.locator('[data-testid="panel-tab-resources"]').click();
  }, 2 * T);

  it('shows a busy loop flattening at its CPU quota, throttled', async () => {
    await typeLine(page, "box run -d --name spin --cpus 0.5 busybox sh -c 'while :; do :; done'; echo SPIN-$?", /SPIN-0/);
    const spin = page.locator('[data-testid="stats-group"][data-cpu-max="0.5"]:not([data-ended="true"])');
    await expect.poll(async () => Number(await spin.getAttribute('data-throttled')), { timeout: T }).toBeGreaterThan(0);
    // It runs flat out, but the rate it gets sits at the quota (the last second's average),
    // not at the whole CPU the loop would take without a limit...
    await expect.poll(async () => Number(await spin.getAttribute('data-cpu')), { timeout: T }).toBeGreaterThan(0.3);
    await page.waitForTimeout(3000);
    // ...and no 250 ms sample went much above it (a sample spans 2.5 periods of 100 ms).
    expect(Number(await spin.getAttribute('data-cpu-high'))).toBeLessThanOrEqual(0.65);
    expect(Number(await spin.getAttribute('data-cpu'))).toBeLessThanOrEqual(0.6);
    await typeLine(page, 'box rm -f spin; echo RM-$?', /RM-0/);
  }, 2 * T);

  it("shows a detached container's namespaces beside the sandbox's", async () => {
    await page.locator('[data-testid="panel-tab-namespaces"]').click();
    const pidRow = page.locator('[data-testid="ns-row"][data-type="pid"]');
    await expect.poll(() => pidRow.locator('[data-testid="ns-box"]').count(), { timeout: T }).toBeGreaterThan(0);
    await typeLine(page, 'box run -d --name sleeper busybox sleep 1000; echo SLEEP-$?', /SLEEP-0/);
    // A PID namespace of its own, where sleep is PID 1, and new net and mnt namespaces too.
    const newPid = pidRow.locator('[data-testid="ns-box"][data-baseline="false"]', { has: page.locator('[data-testid="ns-proc"][data-comm="sleep"]') });
    await expect.poll(() => newPid.count(), { timeout: T }).toBe(1);
    expect(await newPid.locator('[data-comm="sleep"] .inner').textContent()).toContain('1');
    for (const type of ['net', 'mnt', 'uts', 'ipc']) {
      const row = page.locator(`[data-testid="ns-row"][data-type="${type}"]`);
      expect(await row.locator('[data-testid="ns-box"][data-baseline="false"] [data-comm="sleep"]').count(), type).toBe(1);
    }
    // The sandbox's shell stays in the sandbox's own namespaces.
    const shell = pidRow.locator('[data-testid="ns-box"][data-baseline="true"] [data-testid="ns-proc"][data-pid="1"]');
    expect(await shell.count()).toBe(1);
    await typeLine(page, 'box rm -f sleeper; echo GONE-$?', /GONE-0/);
    await expect.poll(() => newPid.count(), { timeout: T }).toBe(0);
  }, 2 * T);

  it('can be hidden, stays hidden after a reload, and the server stops sampling for it', async () => {
    const panel = page.locator('[data-testid="kernel-panel"]');
    await page.locator('[data-testid="panel-toggle"]').click();
    expect(await panel.getAttribute('data-hidden')).toBe('true');
    expect(await page.locator('[data-testid="panel-resources"]').isVisible()).toBe(false);
    await page.reload();
    await connected(page);
    expect(await panel.getAttribute('data-hidden')).toBe('true');
    // Count the frames the page receives for two seconds: none while hidden.
    const countFrames = () => page.evaluate(() => new Promise<number>((resolve) => {
      let n = 0;
      const count = () => { n++; };
      for (const t of ['isolab:stats', 'isolab:namespaces', 'isolab:trace']) window.addEventListener(t, count);
      setTimeout(() => resolve(n), 2000);
    }));
    expect(await countFrames()).toBe(0);
    await page.locator('[data-testid="panel-toggle"]').click();
    expect(await panel.getAttribute('data-hidden')).toBe('false');
    // Shown again: four samples a second come back (a few frames in two seconds, at least).
    expect(await countFrames()).toBeGreaterThan(4);
  }, 2 * T);
});
