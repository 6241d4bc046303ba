// End to end, the course in Korean as a reader meets it: the real lab server and site in
// headless Chromium. The language switcher (an English lesson to the same Korean lesson and
// back, the choice remembered by `/`), `/` choosing Korean for a browser that asks for it
// (Accept-Language / navigator.languages), and a Korean lesson's main demo from its Run
// button with one exercise failed, then passed, in a real `box --lab` sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
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

  it('draws Korean text with a Korean font: the web font where the system has none', async () => {
    let systemKorean = '';
    try { systemKorean = execFileSync('fc-list', [':lang=ko', 'family'], { encoding: 'utf8' }).trim(); } catch { /* no fontconfig tools */ }
    const page = await lab.context.newPage();
    const fonts: string[] = [];
    page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/fonts/')) fonts.push(new URL(r.url()).pathname); });
    await page.goto(`${lab.base}/lessons/ko/full-and-paravirtualization/`);
    await page.evaluate(() => document.fonts.ready);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument');
    // The header's tagline and the chapter list are small text, where system-ui once drew boxes.
    for (const selector of ['.tagline', '.chapter-title', 'h1', '.lesson p']) {
      const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
      const used = (await cdp.send('CSS.getPlatformFontsForNode', { nodeId })).fonts;
      const korean = used.filter((f) => f.isCustomFont || /KR|Gothic|CJK/.test(f.familyName));
      expect(korean.length, `${selector}: ${JSON.stringify(used)}`).toBeGreaterThan(0);
      if (!systemKorean) expect(korean.every((f) => f.isCustomFont), `${selector} uses the web font`).toBe(true);
    }
    if (!systemKorean) {
      expect(fonts[0]).toBe('/fonts/hangul.css');
      expect(fonts.some((f) => /^\/fonts\/noto-sans-kr-\d+-wght-normal\.woff2$/.test(f))).toBe(true);
    }
    // An English page's only Hangul, the switcher's "한국어", is drawn from the glyphs inlined
    // in the page: not one font request.
    fonts.length = 0;
    await page.goto(`${lab.base}/lessons/en/full-and-paravirtualization/`);
    await page.evaluate(() => document.fonts.ready);
    const { root: enRoot } = await cdp.send('DOM.getDocument');
    const { nodeId: label } = await cdp.send('DOM.querySelector', { nodeId: enRoot.nodeId, selector: '[data-testid="switch-ko"]' });
    const used = (await cdp.send('CSS.getPlatformFontsForNode', { nodeId: label })).fonts;
    const korean = used.filter((f) => f.isCustomFont || /KR|Gothic|CJK/.test(f.familyName));
    expect(korean.length, JSON.stringify(used)).toBeGreaterThan(0);
    if (!systemKorean) expect(korean.every((f) => f.isCustomFont), `the switcher uses the inlined glyphs: ${JSON.stringify(used)}`).toBe(true);
    expect(fonts).toEqual([]);
    await page.close();
  }, T);

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
    expect(fail.hint).toContain('인사말');
    expect(fail.result).toContain('/root/greeting이 없거나 비어 있습니다');
    expect(await p.exercise('hello-exits').locator('[data-testid="exercise-status"]').textContent()).toBe('✗ 아직 아님');

    // The lesson's own count (31) is not the answer: it follows the reader's greeting.
    expect((await p.type("echo '안녕, 민아' > /root/greeting && echo 31 > /root/hello-exits")).status).toBe(0);
    expect((await p.check('hello-exits')).result).toContain('여러분의 인사말로 hello 게스트가 하는 exit 횟수가 아닙니다');
    const r = await p.type("box vm run hello --message \"$(cat /root/greeting)\" 2>&1 >/dev/null | grep -o 'exits to the monitor: [0-9]*' | grep -o '[0-9]*$' > /root/hello-exits");
    expect(r.status).toBe(0);
    await p.checkUntilPass('hello-exits');
    expect(await p.exercise('hello-exits').getAttribute('data-status')).toBe('pass');
    expect(await p.exercise('hello-exits').locator('[data-testid="exercise-status"]').textContent()).toBe('✓ 통과');
  }, 4 * T);

  it('runs 전가상화와 반가상화: the paravirtual guest from its Run button, count-both failed, then passed', async () => {
    lesson = await lab.open('ko/full-and-paravirtualization');
    const p = lesson;
    const out = await p.run('box vm run message-pv', /exits to the monitor: 2 \(IO 2\)[\s\S]*[#$] *$/);
    expect(out).toContain('by device: hypercall 1, exit 1');

    const fail = await p.check('count-both');
    expect(fail.status).toBe('fail');
    expect(fail.hint).toContain('마지막 exit');
    expect((await p.type("echo '반가상화는 한 번에' > /root/message")).status).toBe(0);
    const total = (guest: string) => `box vm run ${guest} --message "$(cat /root/message)" 2>&1 >/dev/null | grep -o 'exits to the monitor: [0-9]*' | grep -o '[0-9]*$'`;
    expect((await p.type(`${total('message-trap')} > /root/trap-exits && ${total('message-pv')} > /root/pv-exits`)).status).toBe(0);
    await p.checkUntilPass('count-both');
    expect(await p.exercise('count-both').locator('[data-testid="exercise-status"]').textContent()).toBe('✓ 통과');
  }, 4 * T);

  it('runs 가상 머신과 컨테이너: the container\'s kernel from its Run button, container-kernel failed, then passed', async () => {
    lesson = await lab.open('ko/vms-and-containers');
    const p = lesson;
    const release = (await p.type('uname -r')).out.trim().split('\n').pop()!.trim();
    expect(release).toMatch(/^\d+\.\d+\S*$/);
    const escaped = release.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await p.run('box run --rm busybox uname -r', new RegExp('\\n' + escaped + '\\r?\\n[\\s\\S]*[#$] *$'));

    const fail = await p.check('container-kernel');
    expect(fail.status).toBe('fail');
    expect(fail.hint).toContain('왜 같을까요');
    expect((await p.type('box run --rm busybox uname -r > /root/container-kernel')).status).toBe(0);
    await p.checkUntilPass('container-kernel');
    expect(await p.exercise('container-kernel').locator('[data-testid="exercise-status"]').textContent()).toBe('✓ 통과');
  }, 4 * T);
});
