// End to end, a sandbox that is hard to lose: `exit` at the sandbox's prompt starts a new shell
// in the same sandbox (its containers still there, a line in the terminal says so), and only
// the Reset button, after a confirmation, makes a new empty sandbox, with a line in the
// terminal where it happened. On a Korean page, with a real `box --lab` sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';

const missing = await browserTestsMissing();
if (missing) console.warn(`e2e sandbox keep: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab;
type Api = { isolab: { sandbox: string; state: string } };

describe.skipIf(skip)('exit keeps the sandbox; Reset makes a new one, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    lab = await startLessonLab('keep', 3);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('ko: exit restarts the shell in the same sandbox; Reset asks, then starts an empty one', async () => {
    const p = await lab.open('ko/volumes');
    const sandbox = () => p.page.evaluate(() => (window as unknown as Api).isolab.sandbox);
    const first = await sandbox();
    await p.typeAll('box run -d --name keeper busybox sleep 1000');

    // One exit too many.
    const from = (await p.screen()).length;
    await p.page.locator('[data-testid="terminal"]').click();
    await p.page.keyboard.type('exit');
    await p.page.keyboard.press('Enter');
    await p.waitScreen(/셸이 끝나서 같은 샌드박스에서 새 셸을 시작했습니다[^\n]*\n[\s\S]*[#$] *$/, from);
    expect(await sandbox()).toBe(first);
    expect((await p.type('box ps')).out).toContain('keeper');
    expect(await p.page.locator('[data-testid="terminal-notice"]').isVisible()).toBe(false);

    // Reset, declined: nothing changes.
    p.page.once('dialog', (d) => void d.dismiss());
    await p.page.locator('[data-testid="terminal-reset"]').click();
    expect(await sandbox()).toBe(first);
    expect((await p.type('box ps')).out).toContain('keeper');

    // Reset, confirmed: the question in Korean, a line in the terminal, a new empty sandbox.
    let question = '';
    p.page.once('dialog', (d) => { question = d.message(); void d.accept(); });
    const before = (await p.screen()).length;
    await p.page.locator('[data-testid="terminal-reset"]').click();
    await p.page.waitForFunction((old) => {
      const api = (window as unknown as Api).isolab;
      return api.state === 'connected' && api.sandbox !== '' && api.sandbox !== old;
    }, first, { timeout: T });
    expect(question).toContain('샌드박스를 초기화할까요?');
    const after = await p.waitScreen(/비어 있는 새 샌드박스\(위의 샌드박스는 초기화되었습니다\)[\s\S]*[#$] *$/, Math.max(0, before - 1));
    expect(after).toMatch(PROMPT);
    // The old scrollback is still above the line.
    expect(await p.screen()).toContain('keeper');
    expect((await p.type('box ps -a')).out).not.toContain('keeper');
  }, 4 * T);
});
