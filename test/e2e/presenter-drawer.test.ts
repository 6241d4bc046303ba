// End to end, a presenter at a projector's 1024x768: opening the folded chapter list (the menu
// button) lays the list over the lesson; the terminal keeps its ~90 columns while it is open
// and after it is closed again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e presenter-drawer: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;

type Api = { isolab: { cols: number; state: string; terminalText(): string } };
const cols = (p: Page) => p.evaluate(() => (window as unknown as Api).isolab.cols);

describe.skipIf(skip)('presenter mode with the chapter list opened, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('presdrawer', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('en/pid-namespaces at 1024x768: the opened chapter list leaves the terminal at least 90 columns', async () => {
    const page = await lab.context.newPage();
    await page.addInitScript(() => localStorage.setItem('isolab.presenter', 'on'));
    await page.setViewportSize({ width: 1024, height: 768 });
    expect((await page.goto(`${lab.base}/lessons/en/pid-namespaces/`))?.status()).toBe(200);
    await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
    await page.waitForFunction(() => /[#$] *$/.test((window as unknown as Api).isolab.terminalText()), null, { timeout: T });
    expect(await page.evaluate(() => document.documentElement.dataset.presenter)).toBe('on');
    const folded = await cols(page);
    expect(folded).toBeGreaterThanOrEqual(90);

    const menu = page.locator('[data-testid="menu-toggle"]');
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    // The list is on screen (slid in over the lesson) ...
    await page.waitForFunction(() => {
      const r = document.querySelector('[data-testid="chapter-list"]')!.getBoundingClientRect();
      return r.x >= 0 && r.width > 0;
    }, null, { timeout: T });
    expect(await page.locator('[data-testid="chapter-link"]').first().isVisible()).toBe(true);
    // ... and the terminal did not give up its columns to it (a resize would show after a frame).
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    expect(await cols(page)).toBeGreaterThanOrEqual(90);
    // The shell agrees: what it was told is what the page shows.
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('echo "cols=$(tput cols)"');
    await page.keyboard.press('Enter');
    const now = await cols(page);
    await page.waitForFunction((n) => (window as unknown as Api).isolab.terminalText().includes(`cols=${n}`), now, { timeout: T });
    expect(now).toBeGreaterThanOrEqual(90);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true);

    // Closed again by its button (Escape inside the terminal belongs to the shell).
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
    expect(await cols(page)).toBeGreaterThanOrEqual(90);
    await page.close();
  }, T);
});
