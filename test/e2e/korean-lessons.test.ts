// End to end, every Korean lesson that korean.test.ts does not already run (it runs the three
// virtual machine lessons): the real lab server and site in headless Chromium, one browser and
// one tab. For each lesson, its main demo from the page's Run buttons, read back from the
// xterm.js buffer, and one exercise checked before the task (fail, the Korean hint shown) and
// after it (pass, "통과"). The steps are lesson-steps.ts's, shared with the English tests: the
// commands, outputs and exercise ids are the same in both languages.
//
// One server and one browser for the file; each lesson in a tab, so a sandbox, of its own (a
// closed tab's sandbox goes after the server's grace period).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';
import { chrootToContainers, earlierLessons, imagesAsFiles, runLesson, whyVirtualize } from './lesson-steps.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e Korean lessons: skipped: ${missing}`);
// Under CI a missing browser or sandbox is a failure, not a skip.
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;
const started = Date.now();

describe.skipIf(skip)('every Korean lesson in a browser: its demo, and an exercise failed then passed', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('ko-lessons', 4);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
    console.log(`korean-lessons: ${((Date.now() - started) / 1000).toFixed(0)} s for ${1 + 2 + earlierLessons.length} lessons`);
  }, T);

  for (const steps of [whyVirtualize, chrootToContainers, imagesAsFiles, ...earlierLessons]) {
    it(`ko/${steps.slug}`, async () => {
      const p = await lab.open(`ko/${steps.slug}`);
      expect(await p.page.locator('html').getAttribute('lang')).toBe('ko');
      await runLesson(p, steps);
      // The hint the reader saw was the Korean one.
      expect(await p.exercise(steps.exercise.id).locator('[data-testid="exercise-hint"]').textContent()).toMatch(/[가-힣]/);
    }, 6 * T);
  }
});
