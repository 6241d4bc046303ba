// End to end, a class in Chromium with real `box --lab` sandboxes: `npm start -- --class`, two
// students who join with the code and a name (a wrong code refused), pass and fail exercises,
// the instructor's page showing it live, follow mode, a read-only view that ignores the
// keyboard, typing in a student's terminal with their permission (deny, allow, revoke), a
// reset, and a server restart that keeps progress for a student on a new device.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { browserTestsMissing, freePort, launchChromium, spawnServer } from './harness.ts';
import type { ServerProcess } from './harness.ts';
import { LessonPage, T } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e classroom: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

const LESSON = 'en/pid-namespaces';
const CELL = 'pid-namespaces/pid-one-by-hand';

interface Lab { server: ServerProcess; base: string; code: string; teacherUrl: string }
let dataDir = '';
let port = 0;
let lab: Lab;
const contexts: BrowserContext[] = [];

async function startClass(): Promise<Lab> {
  const server = await spawnServer('src/server/main.ts', ['--port', String(port), '--class', 'E2E class', '--data-dir', dataDir,
    '--max-sandboxes', '8', '--grace-seconds', '5']);
  // The code and the instructor's address are printed right after the lab's address.
  for (let i = 0; i < 100 && !/teacher=/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 50));
  const code = /type the code ([A-Z0-9]{10})/.exec(server.output())?.[1];
  const teacherUrl = /(http:\/\/\S+\/teach\/\?teacher=[0-9a-f]{64})/.exec(server.output())?.[1];
  if (!code || !teacherUrl) throw new Error(`the server did not print the class:\n${server.output()}`);
  return { server, base: `http://127.0.0.1:${server.port}`, code, teacherUrl };
}

async function browser(tag: string): Promise<BrowserContext> {
  const c = await launchChromium(tag);
  contexts.push(c);
  return c;
}

async function joinAs(ctx: BrowserContext, name: string, code: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${lab.base}/`);
  await page.waitForURL(/\/join\/$/);
  await page.fill('[data-testid="join-code"]', code);
  await page.fill('[data-testid="join-name"]', name);
  await page.click('[data-testid="join-button"]');
  return page;
}

const viewText = (page: Page) => page.evaluate(() => (window as unknown as { isolabView: { text(): string } }).isolabView.text());

describe.skipIf(skip)('a class in a browser', () => {
  let ann: BrowserContext;
  let bob: BrowserContext;
  let teacher: BrowserContext;
  let teach: Page;
  let annLesson: LessonPage;
  let bobLesson: LessonPage;

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-class-e2e-'));
    port = await freePort();
    lab = await startClass();
    [ann, bob, teacher] = [await browser('ann'), await browser('bob'), await browser('teacher')];
  }, 600_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    if (lab) expect(await lab.server.stop()).toBe(0);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }, T);

  it('refuses a wrong code on the join page', async () => {
    const page = await joinAs(ann, 'Ann', 'WRONG-CODE2');
    await expect.poll(() => page.locator('[data-testid="join-error"]').textContent(), { timeout: T }).toContain('not the code of an open class');
    expect(page.url()).toMatch(/\/join\/$/);
    await page.close();
  }, 3 * T);

  it('two students join and check exercises; the instructor sees it live', async () => {
    teach = await teacher.newPage();
    await teach.goto(lab.teacherUrl);
    await teach.waitForURL(/\/teach\/$/);
    await expect.poll(() => teach.locator('[data-testid="teach-code"]').textContent(), { timeout: T }).toBe(lab.code);

    for (const [ctx, name] of [[ann, 'Ann'], [bob, 'Bob']] as const) {
      const page = await joinAs(ctx, name, lab.code.toLowerCase());
      await page.waitForURL(`${lab.base}/`, { timeout: T });
      await page.close();
    }
    annLesson = await LessonPage.open(ann, lab.base, LESSON);
    bobLesson = await LessonPage.open(bob, lab.base, LESSON);

    await annLesson.expectFail('pid-one-by-hand', 'unshare');
    await annLesson.typeAll('unshare --pid --fork sleep 999 &');
    expect((await annLesson.check('pid-one-by-hand')).status).toBe('pass');
    await bobLesson.expectFail('stop-stubborn', 'SIGKILL');

    const annCell = teach.locator(`[data-testid="matrix"] tr[data-student="Ann"] td[data-key="${CELL}"]`);
    await expect.poll(() => annCell.getAttribute('class'), { timeout: 10_000 }).toBe('pass');
    const bobRow = teach.locator('[data-testid="roster"] tr[data-student="Bob"]');
    await expect.poll(() => bobRow.textContent(), { timeout: 10_000 }).toContain('stop-stubborn');
    expect(await bobRow.getAttribute('data-connected')).toBe('true');
    expect(await bobRow.textContent()).toContain('SIGKILL'); // the hint
    expect(await teach.locator(`[data-testid="matrix"] tr[data-student="Bob"] td[data-key="${CELL}"]`).getAttribute('class')).not.toBe('pass');
    expect(await teach.locator('[data-testid="roster"] tr[data-student="Ann"]').textContent()).toContain(LESSON);
  }, 3 * T);

  it('follow mode: a student sees the instructor\'s terminal', async () => {
    const present = await LessonPage.open(teacher, lab.base, LESSON);
    const follow = await bob.newPage();
    await follow.goto(`${lab.base}/view/`);
    await present.typeAll('echo presenter-$((40+2))');
    await expect.poll(() => viewText(follow), { timeout: T }).toContain('presenter-42');
    await follow.close();
    await present.page.close();
  }, 3 * T);

  it('the instructor\'s read-only view of a student\'s terminal ignores the keyboard', async () => {
    const href = await teach.locator('[data-testid="roster"] tr[data-student="Ann"] [data-testid="watch-student"]').getAttribute('href');
    const watch = await teacher.newPage();
    await watch.goto(`${lab.base}${href}`);
    await annLesson.typeAll('echo ann-$((20+1))');
    await expect.poll(() => viewText(watch), { timeout: T }).toContain('ann-21');
    await watch.locator('[data-testid="view-terminal"]').click();
    await watch.keyboard.type('echo viewer-$((5+5))');
    await watch.keyboard.press('Enter');
    await annLesson.typeAll('echo after-$((1+2))');
    await expect.poll(() => viewText(watch), { timeout: T }).toContain('after-3');
    expect(await annLesson.screen()).not.toContain('viewer-');
    expect(await viewText(watch)).not.toContain('viewer-');
    await watch.close();
  }, 3 * T);

  it('the instructor types in a student\'s terminal only after the student allows it, until revoked', async () => {
    const href = await teach.locator('[data-testid="roster"] tr[data-student="Ann"] [data-testid="watch-student"]').getAttribute('href');
    const watch = await teacher.newPage();
    await watch.goto(`${lab.base}${href}`);
    const ask = watch.locator('[data-testid="view-ask"]');
    const controlStatus = () => watch.locator('[data-testid="view-control-status"]').textContent();
    const prompt = annLesson.page.locator('[data-testid="control-prompt"]');
    await ask.waitFor({ state: 'visible', timeout: T });
    const typeInView = async (line: string) => {
      await watch.locator('[data-testid="view-terminal"]').click();
      await watch.keyboard.type(line);
      await watch.keyboard.press('Enter');
    };
    // A marker the student types after each attempt: once it shows, an attempt that got through would show before it.
    const settle = async (tag: string) => {
      await annLesson.typeAll(`echo ${tag}-$((40+2))`);
      await expect.poll(() => viewText(watch), { timeout: T }).toContain(`${tag}-42`);
    };

    // Asked, then denied: the keys are refused.
    await ask.click();
    await expect.poll(() => prompt.getAttribute('data-state'), { timeout: T }).toBe('asked');
    expect(await prompt.textContent()).toContain('The instructor of E2E class wants to type in your terminal');
    await annLesson.page.locator('[data-testid="control-deny"]').click();
    await expect.poll(controlStatus, { timeout: T }).toContain('has not allowed you to type');
    await typeInView('echo denied-$((2+2))');
    await settle('after-deny');
    expect(await annLesson.screen()).not.toContain('denied-');
    expect(await prompt.isVisible()).toBe(false);

    // Allowed: the instructor's `echo hi` runs in the student's terminal.
    await ask.click();
    await expect.poll(() => prompt.getAttribute('data-state'), { timeout: T }).toBe('asked');
    await annLesson.page.locator('[data-testid="control-allow"]').click();
    await expect.poll(controlStatus, { timeout: T }).toContain('The student allowed you to type');
    await expect.poll(() => prompt.getAttribute('data-state'), { timeout: T }).toBe('allowed');
    await typeInView('echo hi');
    await expect.poll(() => annLesson.screen(), { timeout: T }).toMatch(/echo hi\s*\nhi\s*$/m);

    // Revoked by the student: refused again.
    await annLesson.page.locator('[data-testid="control-revoke"]').click();
    await expect.poll(controlStatus, { timeout: T }).toContain('has not allowed you to type');
    await typeInView('echo revoked-$((3+3))');
    await settle('after-revoke');
    expect(await annLesson.screen()).not.toContain('revoked-');
    await watch.close();
  }, 3 * T);

  it('the instructor resets a student\'s sandbox', async () => {
    const before = await bobLesson.page.evaluate(() => (window as unknown as { isolab: { sandbox: string } }).isolab.sandbox);
    teach.once('dialog', (d) => void d.accept());
    await teach.locator('[data-testid="roster"] tr[data-student="Bob"] [data-testid="reset-student"]').click();
    await bobLesson.page.waitForFunction(() => (window as unknown as { isolab: { state: string } }).isolab.state === 'exited', null, { timeout: T });
    expect(await bobLesson.page.locator('[data-testid="terminal-notice"]').textContent()).toContain('instructor reset your sandbox');
    expect(before).toMatch(/^lab-/);
    expect(await annLesson.page.evaluate(() => (window as unknown as { isolab: { state: string } }).isolab.state)).toBe('connected');
  }, 3 * T);

  it('a restart keeps progress: the same code and name on a new device bring it back', async () => {
    await annLesson.page.close();
    await bobLesson.page.close();
    const oldCode = lab.code;
    expect(await lab.server.stop()).toBe(0);
    lab = await startClass();
    expect(lab.code).toBe(oldCode);
    const phone = await browser('ann-phone');
    const page = await joinAs(phone, 'Ann', lab.code);
    await page.waitForURL(`${lab.base}/`, { timeout: T });
    const mark = page.locator(`.progress-mark[data-lesson="${LESSON}"]`).first();
    await expect.poll(() => mark.getAttribute('data-progress'), { timeout: T }).toBe('started');
    const teach2 = await teacher.newPage();
    await teach2.goto(lab.teacherUrl);
    const cell = teach2.locator(`[data-testid="matrix"] tr[data-student="Ann"] td[data-key="${CELL}"]`);
    await expect.poll(() => cell.getAttribute('class'), { timeout: T }).toBe('pass');
  }, 3 * T);
});
