// End to end, what a reader and a presenter meet around the lessons, in both languages: the
// home page (chapter numbers 1, 2, 3 without the content keys' gaps, `code` in summaries,
// "continue where you left off", progress in words) and a terminal with room (presenter mode
// at a projector's 1024x768 keeps ~90 columns, a divider to drag, the maximise toggle gives it
// the page).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e reader: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;

type Api = { isolab: { cols: number; rows: number; state: string; terminalText(): string } };
const cols = (p: Page) => p.evaluate(() => (window as unknown as Api).isolab.cols);

async function openConnected(lesson: string, viewport = { width: 1400, height: 900 }): Promise<Page> {
  const page = await lab.context.newPage();
  await page.setViewportSize(viewport);
  expect((await page.goto(`${lab.base}/lessons/${lesson}/`))?.status()).toBe(200);
  await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
  await page.waitForFunction(() => /[#$] *$/.test((window as unknown as Api).isolab.terminalText()), null, { timeout: T });
  return page;
}

describe.skipIf(skip)('the reader and the presenter, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('reader', 4);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  for (const [lang, home, label] of [['en', '/', 'Chapter'], ['ko', '/ko/', '제']] as const) {
    it(`${lang}: the home page numbers chapters 1, 2, 3 and renders code in summaries`, async () => {
      const page = await lab.context.newPage();
      await page.goto(`${lab.base}${home}`);
      const nums = await page.locator('[data-testid="chapter-card"] .num').allTextContents();
      expect(nums.length).toBeGreaterThan(1);
      expect(nums).toEqual(nums.map((_, i) => (lang === 'en' ? `${label} ${i + 1}` : `제${i + 1}장`)));
      const sidebar = await page.locator('[data-testid="chapter-link"] .chapter-num').allTextContents();
      expect(sidebar).toEqual(sidebar.map((_, i) => String(i + 1)));
      const summaries = await page.locator('[data-testid="chapter-card"] p').allTextContents();
      expect(summaries.filter((t) => t.includes('`'))).toEqual([]);
      if (lang === 'en') expect(await page.locator('[data-testid="chapter-card"] p code', { hasText: 'docker' }).count()).toBe(1);
      // No progress yet: no "continue", and no progress words on the cards.
      expect(await page.locator('[data-testid="continue-link"]').isVisible()).toBe(false);
      expect((await page.locator('[data-testid="card-progress"]').allTextContents()).join('')).toBe('');
      await page.close();
    }, T);
  }

  it('ko: after a lesson was opened and read, the home page offers to continue there and says "진행 중"', async () => {
    const page = await openConnected('ko/volumes');
    await page.locator('#lesson-end').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => (localStorage.getItem('isolab.progress.v1') ?? '').includes('ko/volumes'), null, { timeout: T });
    await page.goto(`${lab.base}/ko/`);
    const cont = page.locator('[data-testid="continue-link"]');
    await cont.waitFor({ state: 'visible', timeout: T });
    expect(await cont.getAttribute('href')).toBe('/lessons/ko/volumes/');
    expect(await cont.textContent()).toMatch(/^\s*읽던 곳에서 계속하기: 제\d+장: /);
    const card = page.locator('[data-testid="chapter-card"][data-lesson="ko/volumes"] [data-testid="card-progress"]');
    expect(await card.textContent()).toBe('진행 중');
    // The English home has no progress of its own yet.
    await page.goto(`${lab.base}/`);
    expect(await page.locator('[data-testid="continue-link"]').isVisible()).toBe(false);
    await page.close();
  }, T);

  for (const lesson of ['en/pid-namespaces', 'ko/volumes']) {
    it(`${lesson}: presenter mode at 1024x768 folds the chapter list and keeps at least 90 columns`, async () => {
      const page = await openConnected(lesson, { width: 1024, height: 768 });
      const before = await cols(page);
      await page.locator('[data-testid="presenter-toggle"]').click();
      try {
        await page.waitForFunction((n) => (window as unknown as Api).isolab.cols !== n, before, { timeout: T });
        expect(await cols(page)).toBeGreaterThanOrEqual(90);
        // ...and rows to show a command's output beside it, with the kernel panel open (4 before).
        expect(await page.locator('[data-testid="kernel-panel"]').getAttribute('data-hidden')).toBe('false');
        expect(await page.evaluate(() => (window as unknown as Api).isolab.rows)).toBeGreaterThanOrEqual(10);
        // Large type: the terminal's font grew with the page's.
        const fontPx = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('.xterm-rows')!).fontSize));
        expect(fontPx).toBeGreaterThanOrEqual(17);
        // The chapter list is folded into the menu button; the lesson text is still there.
        expect(await page.locator('[data-testid="menu-toggle"]').isVisible()).toBe(true);
        const nav = await page.locator('[data-testid="chapter-list"]').boundingBox();
        expect(nav!.x + nav!.width).toBeLessThanOrEqual(0);
        expect(await page.locator('[data-testid="lesson"] h1').isVisible()).toBe(true);
        // No sideways scrolling of the page.
        expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true);
      } finally {
        await page.locator('[data-testid="presenter-toggle"]').click(); // the setting is remembered
      }
      await page.close();
    }, T);
  }

  it('en at 1440x900: the divider widens the terminal by dragging and by arrow keys, remembered across a reload; a double-click gives the default back', async () => {
    const viewport = { width: 1440, height: 900 };
    let page = await openConnected('en/uts-namespaces', viewport);
    const bar = page.locator('[data-testid="terminal-splitter"]');
    expect(await bar.getAttribute('role')).toBe('separator');
    const start = await cols(page);
    // Drag the divider 300 px towards the lesson: the terminal takes them.
    const box = (await bar.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 300, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((n) => (window as unknown as Api).isolab.cols > n, start, { timeout: T });
    const dragged = await cols(page);
    expect(dragged).toBeGreaterThanOrEqual(start + 20); // 300 px of a ~9 px cell
    // The keyboard does the same: ArrowLeft on the focused divider, 32 px a press.
    await bar.focus();
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
    await page.waitForFunction((n) => (window as unknown as Api).isolab.cols > n, dragged, { timeout: T });
    const keyed = await cols(page);
    // The shell was told (the resize reached the pty).
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type('echo "cols=$(tput cols)"');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => (window as unknown as Api).isolab.terminalText().includes(`cols=${n}`), keyed, { timeout: T });
    // Remembered: a reload opens with the same width.
    await page.close();
    page = await openConnected('en/uts-namespaces', viewport);
    expect(await cols(page)).toBe(keyed);
    // A double-click on the divider gives the default split back (and forgets the width).
    await page.locator('[data-testid="terminal-splitter"]').dblclick();
    await page.waitForFunction((n) => (window as unknown as Api).isolab.cols === n, start, { timeout: T });
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem('isolab.split') ?? '{}'))).toEqual({});
    await page.close();
  }, 2 * T);

  it('ko: the maximise toggle gives the terminal the page and gives it back, and the shell is told', async () => {
    const page = await openConnected('ko/volumes');
    const narrow = await cols(page);
    const toggle = page.locator('[data-testid="terminal-maximise"]');
    expect(await toggle.getAttribute('title')).toBe('터미널을 화면 전체로 넓히기');
    await toggle.click();
    await page.waitForFunction((n) => (window as unknown as Api).isolab.cols > n, narrow, { timeout: T });
    expect(await page.locator('[data-testid="lesson"]').isVisible()).toBe(false);
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    // The shell sees the new width (the resize reached the pty).
    const wide = await cols(page);
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type('echo "cols=$(tput cols)"');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => (window as unknown as Api).isolab.terminalText().includes(`cols=${n}`), wide, { timeout: T });
    await toggle.click();
    await page.waitForFunction((n) => (window as unknown as Api).isolab.cols === n, narrow, { timeout: T });
    expect(await page.locator('[data-testid="lesson"]').isVisible()).toBe(true);
    await page.close();
  }, T);
});
