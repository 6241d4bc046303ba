// End to end, the kernel panel's Resources tab as a reader of the cgroups lessons meets it, in
// a 572-pixel-wide panel: the lesson's "watch the plot" button opens the tab; the container
// started last is the first card, an ended one folds to a line; nothing overflows sideways; an
// idle sandbox is not "throttled"; and the labels say "using … no limit", not "(no limit) 0.5".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e resources: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;
let p: LessonPage;

const cards = (page: Page) => page.locator('[data-testid="stats-group"]');
const noSidewaysScroll = (page: Page) => page.locator('[data-testid="panel-resources"]').evaluate((v) => ({ scroll: v.scrollWidth, client: v.clientWidth }));

describe.skipIf(skip)('the Resources tab, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('resources', 3);
    // A 572-pixel panel: the terminal pane as wide as the reader's in the issue.
    const setup = await lab.context.newPage();
    await setup.goto(`${lab.base}/`);
    await setup.evaluate(() => {
      localStorage.setItem('isolab.split', JSON.stringify({ width: 580 }));
      localStorage.setItem('isolab.panel', 'shown');
      localStorage.setItem('isolab.panelTab', 'trace');
    });
    await setup.close();
    p = await lab.open('en/cgroups-cpu');
  }, 600_000);

  afterAll(async () => {
    await p?.type('box rm -f keep1 keep2 2>/dev/null; true').catch(() => {});
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('opens the Resources tab from the lesson\'s "watch the plot" button', async () => {
    const page = p.page;
    const width = await page.locator('[data-testid="kernel-panel"]').evaluate((e) => e.getBoundingClientRect().width);
    expect(width).toBeGreaterThan(540);
    expect(width).toBeLessThan(600);
    await page.locator('[data-testid="panel-tab-trace"]').click();
    expect(await page.locator('[data-testid="panel-resources"]').isVisible()).toBe(false);
    await page.locator('[data-testid="watch-plot"]').first().click();
    expect(await page.locator('[data-testid="panel-tab-resources"]').getAttribute('aria-selected')).toBe('true');
    expect(await page.locator('[data-testid="panel-resources"]').isVisible()).toBe(true);
    await expect.poll(() => cards(page).count(), { timeout: T }).toBeGreaterThan(0);
  }, T);

  it('an idle sandbox: "using … of a … limit" in words, and no throttling in red', async () => {
    const page = p.page;
    const sandbox = page.locator('[data-testid="stats-group"][data-group=""]');
    await expect.poll(() => sandbox.locator('[data-metric="cpu"] figcaption').textContent(), { timeout: T }).toMatch(/^CPU using [\d.]+ CPU of a [\d.]+ CPU limit/);
    expect(await sandbox.locator('[data-metric="memory"] figcaption').textContent()).toMatch(/^memory using [\d.]+ [KMG]?i?B of a [\d.]+ [KMG]iB limit/);
    await page.waitForTimeout(6000); // past the "recent" window of anything the shell's start did
    expect(await sandbox.locator('[data-metric="cpu"] .extra').textContent()).toBe('');
    expect(await page.locator('[data-testid="panel-resources"] .extra[data-hot="true"]').count()).toBe(0);
    expect(await noSidewaysScroll(page)).toSatisfy((w: { scroll: number; client: number }) => w.scroll <= w.client);
  }, T);

  it('puts the newest running container first, folds an ended one, and never scrolls sideways', async () => {
    const page = p.page;
    await p.typeAll(
      "box run -d --name keep1 --memory 32m --cpus 0.5 busybox sh -c 'while :; do :; done'",
      'box run -d --name keep2 --memory 48m busybox sleep 1000',
    );
    await p.type("box run --rm --memory 16m busybox sh -c 'sleep 2'");
    const mem = (mib: number) => `[data-testid="stats-group"][data-mem-max="${mib * 1024 * 1024}"]`;
    await expect.poll(() => page.locator(mem(48)).count(), { timeout: T }).toBe(1);
    // keep2 (started last, running) is first, keep1 second, the sandbox third.
    await expect.poll(async () => (await cards(page).nth(0).getAttribute('data-mem-max')), { timeout: T }).toBe(String(48 * 1024 * 1024));
    expect(await cards(page).nth(1).getAttribute('data-mem-max')).toBe(String(32 * 1024 * 1024));
    expect(await cards(page).nth(2).getAttribute('data-group')).toBe('');
    // The limits in words ("no limit" is not a number beside a limit), and throttling of the
    // busy loop shown as it happens.
    await expect.poll(() => page.locator(mem(48)).locator('[data-metric="cpu"] figcaption').textContent(), { timeout: T }).toMatch(/^CPU using [\d.]+ CPU, no limit\s*$/);
    expect(await page.locator(mem(32)).locator('[data-metric="cpu"] figcaption').textContent()).toMatch(/using [\d.]+ CPU of a 0\.5 CPU limit/);
    await expect.poll(() => page.locator(mem(32)).locator('[data-metric="cpu"] .extra').textContent(), { timeout: T }).toMatch(/^throttled \d+× in the last 5 s$/);
    // The ended 16m container folds to its header line after a few seconds, below the live ones.
    const ended = page.locator(mem(16));
    await expect.poll(() => ended.getAttribute('data-folded'), { timeout: T }).toBe('true');
    expect(await ended.locator('.kp-charts').isVisible()).toBe(false);
    expect(await cards(page).last().getAttribute('data-mem-max')).toBe(String(16 * 1024 * 1024));
    await ended.locator('[data-testid="stats-fold"]').click();
    expect(await ended.locator('.kp-charts').isVisible()).toBe(true);
    expect(await noSidewaysScroll(page)).toSatisfy((w: { scroll: number; client: number }) => w.scroll <= w.client);
    // ...also in presenter mode's larger type.
    await page.locator('[data-testid="presenter-toggle"]').click();
    try {
      await page.waitForTimeout(500);
      expect(await noSidewaysScroll(page)).toSatisfy((w: { scroll: number; client: number }) => w.scroll <= w.client);
    } finally {
      await page.locator('[data-testid="presenter-toggle"]').click();
    }
    expect((await p.type('box rm -f keep1 keep2')).status).toBe(0);
  }, 3 * T);
});
