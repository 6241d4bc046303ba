// End to end, the search box over the lessons (a Pagefind index built with the site): reached
// from the keyboard ("/" and Tab), it finds a lesson by a word that is only in its body, in
// English and in Korean, and Enter opens it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e search: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;

describe.skipIf(skip)('search, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('search', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  // Words from the lessons' bodies, not their titles or summaries.
  const cases = [
    { home: '/', word: 'propagation', lesson: '/lessons/en/mount-namespaces/', lang: 'en' },
    { home: '/ko/', word: '디스플레이', lesson: '/lessons/ko/hypervisors/', lang: 'ko' },
  ];
  for (const c of cases) {
    it(`${c.lang}: "/" focuses the box, "${c.word}" finds ${c.lesson}, Enter opens it`, async () => {
      const page = await lab.context.newPage();
      await page.goto(`${lab.base}${c.home}`);
      await page.locator('body').press('/');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('search-input');
      await page.keyboard.type(c.word);
      const results = page.locator('[data-testid="search-result"]');
      await results.first().waitFor({ timeout: T });
      const hrefs = await results.evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(hrefs).toContain(c.lesson);
      // Only this language's lessons.
      expect(hrefs.every((h) => h!.startsWith(`/lessons/${c.lang}/`))).toBe(true);
      const i = hrefs.indexOf(c.lesson);
      for (let n = 0; n <= i; n++) await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await page.waitForURL(`**${c.lesson}`, { timeout: T });
      await page.close();
    }, T);
  }

  // On /ko/ Pagefind (no Korean stemmer) used to answer a word in no lesson with the "-Z" of
  // `id -Z`: src/scripts/search-relevance.ts drops such one-letter matches.
  it('is reached with Tab from the top of a page, and says so when nothing matches', async () => {
    const page = await lab.context.newPage();
    await page.goto(`${lab.base}/ko/`);
    let reached = false;
    for (let n = 0; n < 6 && !reached; n++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))) === 'search-input';
    }
    expect(reached).toBe(true);
    await page.keyboard.type('zzqqxxnothing');
    await expect.poll(() => page.locator('[data-testid="search-results"]').textContent(), { timeout: T }).toContain('이 단어가 있는 레슨이 없습니다.');
    await page.close();
  }, T);
});
