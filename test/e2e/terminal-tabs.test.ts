// End to end, a second terminal into the same sandbox: the tab strip above the terminal ("1",
// "+"), a process started in tab 1 seen by `ps` in tab 2, closing tab 2 ends only its shell
// (tab 1 goes on), and a fifth terminal is refused with a sentence saying why. In Chromium,
// with a real `box --lab` sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e terminal tabs: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;
interface Tabs { active: number; list(): number[]; text(n: number): string; connected(n: number): boolean }
type Api = { isolab: { sandbox: string; tabs: Tabs } };

const tabText = (page: Page, n: number) => page.evaluate((i) => (window as unknown as Api).isolab.tabs.text(i), n);

/** Wait until tab n shows `pattern` after character `from`; returns that part. */
async function waitTab(page: Page, n: number, pattern: RegExp, from = 0): Promise<string> {
  try {
    await page.waitForFunction(([i, src, flags, skip]) => new RegExp(src, flags).test((window as unknown as Api).isolab.tabs.text(i).slice(skip)),
      [n, pattern.source, pattern.flags, from] as const, { timeout: T });
  } catch (e) {
    throw new Error(`tab ${n} never showed ${pattern}; it shows:\n${(await tabText(page, n)).slice(-1500)}`, { cause: e });
  }
  return (await tabText(page, n)).slice(from);
}

/** Type a line into tab n on the keyboard, as a reader does. */
async function typeIn(page: Page, n: number, line: string): Promise<number> {
  const from = (await tabText(page, n)).length;
  await page.locator(`[data-testid="${n === 1 ? 'terminal' : `terminal-${n}`}"]`).click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
  return Math.max(0, from - 1);
}

describe.skipIf(skip)('terminal tabs: more terminals into the same sandbox, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('tabs', 3);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('tab 2 sees the process tab 1 started; closing tab 2 leaves tab 1 working', async () => {
    const p = await lab.open('en/pid-namespaces');
    const { page } = p;
    const sandbox = await page.evaluate(() => (window as unknown as Api).isolab.sandbox);
    expect(await page.locator('[data-testid="terminal-tab-1"]').getAttribute('aria-selected')).toBe('true');

    // Tab 1 runs something that stays.
    await typeIn(page, 1, 'sleep 987');

    // "+" opens tab 2: a shell of its own, shown instead of tab 1.
    await page.locator('[data-testid="terminal-tab-new"]').click();
    await page.waitForFunction(() => (window as unknown as Api).isolab.tabs.connected(2), null, { timeout: T });
    await waitTab(page, 2, /[#$] *$/);
    expect(await page.locator('[data-testid="terminal-tab-2"]').getAttribute('aria-selected')).toBe('true');
    expect(await page.locator('[data-testid="terminal-tab-1"]').getAttribute('aria-selected')).toBe('false');
    expect(await page.locator('[data-testid="terminal-2"]').isVisible()).toBe(true);
    expect(await page.locator('[data-testid="terminal"]').isVisible()).toBe(false);
    // The same sandbox, not a new one.
    expect(await page.evaluate(() => (window as unknown as Api).isolab.sandbox)).toBe(sandbox);

    // ps in tab 2 lists tab 1's sleep (one PID namespace: the sandbox's).
    let from = await typeIn(page, 2, 'ps -eo pid,args');
    const ps = await waitTab(page, 2, /ps -eo pid,args[\s\S]*\n[^\n]*[#$] *$/, from);
    expect(ps).toMatch(/^\s*\d+ sleep 987$/m);
    // Two login shells now: tab 1's and tab 2's.
    from = await typeIn(page, 2, 'ps -eo args | grep -c "^/bin/bash -l$"');
    expect(await waitTab(page, 2, /\n2\r?\n[^\n]*[#$] *$/, from)).toBeTruthy();

    // Close tab 2: its tab goes, tab 1 is shown again.
    await page.locator('[data-testid="terminal-tab-close"]').click();
    await page.waitForFunction(() => (window as unknown as Api).isolab.tabs.list().join() === '1', null, { timeout: T });
    expect(await page.locator('[data-testid="terminal-tab-2"]').count()).toBe(0);
    expect(await page.locator('[data-testid="terminal"]').isVisible()).toBe(true);
    expect(await page.locator('[data-testid="terminal-tab-1"]').getAttribute('aria-selected')).toBe('true');

    // Tab 1 still works: its sleep was not touched, Ctrl+C ends it, and tab 2's shell is gone.
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.press('Control+C');
    from = await typeIn(page, 1, 'for i in $(seq 100); do [ "$(ps -eo args | grep -c "^/bin/bash -l$")" = 1 ] && break; sleep 0.1; done; ps -eo args | grep -c "^/bin/bash -l$"');
    const after = await waitTab(page, 1, /\n(\d+)\r?\n[^\n]*[#$] *$/, from);
    expect(after).toMatch(/\n1\r?\n[^\n]*[#$] *$/);
    expect(after).toMatch(PROMPT);
    from = await typeIn(page, 1, 'echo tab-one-"still"-here');
    await waitTab(page, 1, /tab-one-still-here/, from);
  }, 4 * T);

  it('at most 4 terminals in a sandbox: the fifth is refused with a sentence saying why', async () => {
    const p = await lab.open('en/pid-namespaces');
    const { page } = p;
    for (const n of [2, 3, 4]) {
      await page.locator('[data-testid="terminal-tab-new"]').click();
      await page.waitForFunction((i) => (window as unknown as Api).isolab.tabs.connected(i), n, { timeout: T });
    }
    expect(await page.evaluate(() => (window as unknown as Api).isolab.tabs.list())).toEqual([1, 2, 3, 4]);
    await page.locator('[data-testid="terminal-tab-new"]').click();
    const notice = page.locator('[data-testid="terminal-notice"]');
    await notice.waitFor({ state: 'visible', timeout: T });
    expect(await notice.textContent()).toContain('this sandbox already has 4 terminals, the most one sandbox may have; close one of its tabs to open another');
    expect(await page.evaluate(() => (window as unknown as Api).isolab.tabs.list())).toEqual([1, 2, 3, 4]);
    // Arrow keys move along the tab list.
    await page.locator('[data-testid="terminal-tab-4"]').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate(() => (window as unknown as Api).isolab.tabs.active)).toBe(1);

    // `exit` in tab 3 ends its shell: its tab goes, the others stay.
    await page.locator('[data-testid="terminal-tab-3"]').click();
    await typeIn(page, 3, 'exit');
    await page.waitForFunction(() => (window as unknown as Api).isolab.tabs.list().join() === '1,2,4', null, { timeout: T });
    expect(await page.evaluate(() => (window as unknown as Api).isolab.tabs.active), 'its left neighbour is shown').toBe(2);

    // A reload finds tabs 2 and 4 again, their shells as they were (kept for the grace period).
    await page.locator('[data-testid="terminal-tab-4"]').click();
    const from = await typeIn(page, 4, 'export MARK=four; echo "marked-""$MARK"');
    await waitTab(page, 4, /marked-four/, from);
    await page.reload();
    await page.waitForFunction(() => (window as unknown as Api).isolab?.tabs.list().join() === '1,2,4', null, { timeout: T });
    await page.waitForFunction(() => (window as unknown as Api).isolab.tabs.connected(4), null, { timeout: T });
    await page.locator('[data-testid="terminal-tab-4"]').click();
    const again = await typeIn(page, 4, 'echo "still-""$MARK"');
    await waitTab(page, 4, /still-four/, again);
  }, 4 * T);
});
