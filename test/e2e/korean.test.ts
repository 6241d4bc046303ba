// End to end, the course in Korean as a reader meets it: the real lab server and site in
// headless Chromium. The language switcher (an English lesson to the same Korean lesson and
// back, the choice remembered by `/`), `/` choosing Korean for a browser that asks for it
// (Accept-Language / navigator.languages), and a Korean lesson's main demo from its Run
// button with one exercise failed, then passed, in a real `box --lab` sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { browserTestsMissing, launchChromium } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e Korean: skipped: ${missing}`);
// Under CI a missing browser or sandbox is a failure, not a skip.
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;
let korean: BrowserContext | undefined;
let lesson: LessonPage | undefined;

/** The page's language, title, and the language switcher's one link. */
async function pageFacts(page: Page) {
  return {
    path: new URL(page.url()).pathname,
    lang: await page.locator('html').getAttribute('lang'),
    title: await page.title(),
    switchTo: await page.locator('[data-testid="language-switch"] a').getAttribute('hreflang'),
  };
}

describe.skipIf(skip)('the course in Korean, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('ko', 3);
  }, 600_000);

  afterAll(async () => {
    await lesson?.close().catch(() => {});
    await korean?.close().catch(() => {});
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('switches an English lesson to the same Korean lesson and back, and / remembers the choice', async () => {
    const page = await lab.context.newPage();
    // An English browser (Chromium's default en-US) that chose nothing stays on the English home.
    await page.goto(`${lab.base}/`);
    expect(await pageFacts(page)).toMatchObject({ path: '/', lang: 'en', switchTo: 'ko' });

    await page.goto(`${lab.base}/lessons/en/hypervisors/`);
    expect(await pageFacts(page)).toEqual({ path: '/lessons/en/hypervisors/', lang: 'en', title: 'What a hypervisor does · Isolab', switchTo: 'ko' });
    await page.locator('[data-testid="switch-ko"]').click();
    await page.waitForURL('**/lessons/ko/hypervisors/');
    expect(await pageFacts(page)).toEqual({ path: '/lessons/ko/hypervisors/', lang: 'ko', title: '하이퍼바이저가 하는 일 · Isolab', switchTo: 'en' });
    expect(await page.locator('.eyebrow').textContent()).toBe('제2장 · 가상 머신');
    expect(await page.locator('[data-testid="language-switch"] a').textContent()).toContain('English');

    // Remembered: a new visit to / (a bookmark, the link npm start printed) opens the Korean home.
    await page.goto(`${lab.base}/`);
    await page.waitForURL('**/ko/');
    expect(await pageFacts(page)).toMatchObject({ path: '/ko/', lang: 'ko', title: 'Isolab: 직접 실행하며 배우는 가상화와 컨테이너' });
    expect(await page.locator('[data-testid="chapter-card"] .num').first().textContent()).toMatch(/^제\d+장$/);

    // And back: the Korean lesson's switcher goes to the same English lesson, and / stays English.
    await page.goto(`${lab.base}/lessons/ko/vms-and-containers/`);
    await page.locator('[data-testid="switch-en"]').click();
    await page.waitForURL('**/lessons/en/vms-and-containers/');
    expect(await pageFacts(page)).toMatchObject({ path: '/lessons/en/vms-and-containers/', lang: 'en' });
    await page.goto(`${lab.base}/`);
    expect(await pageFacts(page)).toMatchObject({ path: '/', lang: 'en' });
    expect(await page.evaluate(() => localStorage.getItem('isolab.lang'))).toBe('en');
    await page.close();
  }, 2 * T);

  it('opens / in Korean for a browser that asks for Korean first', async () => {
    korean = await launchChromium('ko-accept', undefined, 'ko-KR');
    const page = await korean.newPage();
    const sent: string[] = [];
    page.on('request', (r) => { if (r.isNavigationRequest()) sent.push(r.headers()['accept-language'] ?? ''); });
    await page.goto(lab.server.url); // /?token=…: the server trades it for a cookie and sends the reader to /
    await page.waitForURL('**/ko/');
    expect(sent[0]).toMatch(/^ko-KR\b/);
    expect(await page.evaluate(() => navigator.languages[0])).toBe('ko-KR');
    expect(await pageFacts(page)).toMatchObject({ path: '/ko/', lang: 'ko', switchTo: 'en' });
    // A link on the site to / is followed as it is: the reader who switched to English stays there.
    await page.locator('[data-testid="switch-en"]').click();
    await page.waitForURL((u) => u.pathname === '/');
    expect(await pageFacts(page)).toMatchObject({ path: '/', lang: 'en' });
    await page.close();
  }, T);

  it('runs a Korean lesson: the hello guest from its Run button, an exercise failed, then passed', async () => {
    lesson = await lab.open('ko/hypervisors');
    const p = lesson;
    expect(await p.page.locator('html').getAttribute('lang')).toBe('ko');
    // Run buttons say 실행; box's own report stays English, as the lesson says.
    expect(await p.page.locator('[data-testid="run-button"]').first().getAttribute('data-label')).toBe('실행');
    const out = await p.run('box vm run hello --trace', /exits to the monitor: \d+ \(IO 30, HLT 1\)[\s\S]*[#$] *$/);
    expect(out).toContain('Hello from a real-mode guest!');

    const fail = await p.check('hello-exits');
    expect(fail.status).toBe('fail');
    expect(fail.hintShown).toBe(true);
    expect(fail.hint).toContain('괄호 안의 숫자');
    expect(await p.exercise('hello-exits').locator('[data-testid="exercise-status"]').textContent()).toBe('✗ 아직 아님');

    const r = await p.type("box vm run hello 2>&1 >/dev/null | grep -o 'exits to the monitor: [0-9]*' | grep -o '[0-9]*$' > /root/hello-exits");
    expect(r.status).toBe(0);
    await p.checkUntilPass('hello-exits');
    expect(await p.exercise('hello-exits').getAttribute('data-status')).toBe('pass');
    expect(await p.exercise('hello-exits').locator('[data-testid="exercise-status"]').textContent()).toBe('✓ 통과');
  }, 4 * T);
});
