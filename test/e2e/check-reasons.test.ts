// End to end, a failed check that teaches: it names the condition that failed in the reader's
// words (the check prints `fail: <key>`; the lesson gives each key its sentence in its language),
// and a worked solution is offered after the second failed try. English and Korean pages, real
// `box --lab` sandboxes, real checks from content/exercises.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e check reasons: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;

describe.skipIf(skip)('a failed check says why, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('reasons', 3);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, 90_000);

  it('en/uts-namespaces: names each failed condition in turn, then passes', async () => {
    const p = await lab.open('en/uts-namespaces');
    const solution = p.exercise('named-cache').locator('[data-testid="exercise-solution"]');
    let r = await p.check('named-cache');
    expect(r).toMatchObject({ status: 'fail', result: 'no container named cache is running', hintShown: true });
    expect(await solution.isVisible()).toBe(false); // one try is not two
    await p.typeAll('box run -d --name cache --hostname cache-2 busybox sleep 1000');
    r = await p.check('named-cache');
    expect(r).toMatchObject({ status: 'fail', result: 'the container cache runs, but its hostname is not cache-1' });
    // Two failed tries: the solution is offered, folded.
    expect(await solution.isVisible()).toBe(true);
    await solution.locator('summary').click();
    expect(await solution.textContent()).toContain('box run -d --name cache --hostname cache-1 busybox sleep 1000');
    await p.typeAll('box rm -f cache', 'box run -d --name cache --hostname cache-1 busybox sleep 1000');
    await p.expectPass('named-cache');
    expect(await p.exercise('named-cache').locator('[data-testid="exercise-result"]').textContent()).toBe('');
    await p.typeAll('box rm -f cache');
  }, 240_000);

  it('ko/volumes: the reason and the solution in Korean', async () => {
    const p = await lab.open('ko/volumes');
    await p.typeAll('box rm -f gb 2>/dev/null; box volume rm -f guestbook 2>/dev/null; true');
    let r = await p.check('guestbook');
    expect(r).toMatchObject({ status: 'fail', result: 'guestbook 볼륨에 hello from a container 줄이 있는 entries.txt가 없습니다' });
    // Written, but a stopped container still holds the volume.
    await p.typeAll('box run --name gb -v guestbook:/g busybox sh -c "echo hello from a container > /g/entries.txt"');
    r = await p.check('guestbook');
    expect(r.status).toBe('fail');
    expect(r.result).toBe('실행 중이든 멈췄든 아직 guestbook 볼륨을 쓰는 컨테이너가 있습니다. 그 컨테이너를 지우세요');
    const solution = p.exercise('guestbook').locator('[data-testid="exercise-solution"]');
    expect(await solution.isVisible()).toBe(true);
    expect(await solution.locator('summary').textContent()).toBe('풀이 보기');
    await p.typeAll('box rm gb');
    await p.checkUntilPass('guestbook');
    await p.typeAll('box volume rm guestbook');
  }, 240_000);
});
