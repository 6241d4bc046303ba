// Accessibility, end to end: axe-core (injected into headless Chromium) over every lesson page
// of both languages, in the light and the dark theme, with the terminal connected to a real
// sandbox; no serious or critical violation. And the terminal's own keyboard and screen-reader
// affordances: Ctrl+Shift+L leaves the terminal (shown beside it), screen-reader mode is a
// remembered setting, the first Run button is reached without tabbing through code blocks, and
// the page's h1 is its first heading.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserTestsMissing, REPO } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e a11y: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const lessons = ['en', 'ko'].flatMap((lang) =>
  fs.readdirSync(path.join(REPO, 'content/lessons', lang)).filter((f) => f.endsWith('.mdx')).map((f) => `${lang}/${f.slice(0, -4)}`));

type Api = { isolab?: { state: string; terminalText(): string } };
interface Violation { id: string; impact: string; help: string; nodes: { target: string[] }[] }

async function axe(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run(c: Document, o: object): Promise<{ violations: Violation[] }> } }).axe.run(document, { resultTypes: ['violations'] });
    return r.violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`);
}

let lab: LessonLab;

describe.skipIf(skip)('accessibility, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('a11y', 4);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it(`axe finds nothing serious on the ${lessons.length} lesson pages and the homes, light and dark`, async () => {
    const found: string[] = [];
    // One tab, as a reader goes from page to page: the next lesson resumes the tab's sandbox
    // (the session id is in sessionStorage), so the terminal is connected to a real sandbox on
    // every page without a new one each time (with --max-sandboxes 4, the fifth new tab would
    // wait in the lab's queue for a closed tab's grace period to end).
    const page = await lab.context.newPage();
    for (const where of ['/', '/ko/', ...lessons.map((l) => `/lessons/${l}/`)]) {
      await page.goto(`${lab.base}${where}`);
      if (where.startsWith('/lessons/')) {
        await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
      }
      for (const theme of ['light', 'dark']) {
        await page.evaluate((t) => { document.documentElement.dataset.theme = t; }, theme);
        await page.waitForTimeout(100);
        for (const v of await axe(page)) found.push(`${where} ${theme}: ${v}`);
      }
    }
    await page.close();
    expect(found).toEqual([]);
  }, 20 * 60_000);

  it('ko: the first h1 comes before any other heading, and the first Run button is a few Tabs away', async () => {
    const page = await lab.context.newPage();
    await page.goto(`${lab.base}/lessons/ko/volumes/`);
    const headings = await page.evaluate(() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map((h) => h.tagName));
    expect(headings[0]).toBe('H1');
    // Tab from the lesson's title: the Run button comes before any other code block's stop.
    const stops = await page.evaluate(() => {
      const h1 = document.querySelector('h1')!;
      const focusable = [...document.querySelectorAll<HTMLElement>('a[href], button, [tabindex]:not([tabindex="-1"]), input')]
        .filter((e) => !e.hasAttribute('disabled') && e.offsetParent !== null && (h1.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING));
      const first = focusable.findIndex((e) => e.matches('[data-testid="run-button"]'));
      return { first, before: focusable.slice(0, first).map((e) => e.className || e.tagName) };
    });
    expect(stops.before.filter((c) => /astro-code|copy-btn/.test(String(c)))).toEqual([]);
    await page.close();
  }, T);

  it('ko: Ctrl+Shift+L leaves the terminal for the Run button that sent the command, and says so beside it', async () => {
    const page = await lab.context.newPage();
    await page.goto(`${lab.base}/lessons/ko/volumes/`);
    await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
    const run = page.locator('[data-testid="run-button"]').first();
    await run.click(); // types the command and focuses the terminal
    expect(await page.evaluate(() => !!document.activeElement?.closest('.xterm'))).toBe(true);
    const hint = page.locator('[data-testid="terminal-keyhint"]');
    expect(await hint.textContent()).toBe('Ctrl+Shift+L 터미널에서 나가기');
    await expect.poll(() => hint.evaluate((h) => getComputedStyle(h).opacity), { timeout: T }).toBe('1');
    // Tab stays in the terminal (the shell's completion)...
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('.xterm'))).toBe(true);
    // ...and the key leaves it.
    await page.keyboard.press('Control+Shift+KeyL');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('run-button');
    expect(await run.evaluate((b) => b === document.activeElement)).toBe(true);
    await page.close();
  }, T);

  it('en: screen-reader mode is a remembered setting that puts terminal output in a live region', async () => {
    const page = await lab.context.newPage();
    await page.goto(`${lab.base}/lessons/en/uts-namespaces/`);
    await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
    const toggle = page.locator('[data-testid="terminal-screen-reader"]');
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    await toggle.click();
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await page.reload();
    await page.waitForFunction(() => (window as unknown as Api).isolab?.state === 'connected', null, { timeout: T });
    expect(await page.locator('[data-testid="terminal-screen-reader"]').getAttribute('aria-pressed')).toBe('true');
    // xterm.js's accessibility tree: the output is in its live region.
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type('echo sr-$((6*7))');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.xterm-accessibility-tree').textContent(), { timeout: T }).toContain('sr-42');
    await page.locator('[data-testid="terminal-screen-reader"]').click(); // leave the setting off for the next tests
    await page.close();
  }, T);
});
