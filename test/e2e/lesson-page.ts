// A lesson page in headless Chromium, driven as a reader drives it: Run buttons, the
// keyboard in the xterm.js terminal, and the exercises' Check buttons. What the helpers
// return and wait for is what the page shows (the terminal's buffer, an exercise's state).
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { freePort, launchChromium, spawnServer } from './harness.ts';
import type { ServerProcess } from './harness.ts';

// What the page's Terminal island exposes as window.isolab (src/scripts/terminal/terminal.ts).
interface IsolabApi { readonly state: string; readonly sandbox: string; terminalText(): string }
type WithIsolab = { isolab?: IsolabApi };

export const T = 90_000;

const cssString = (s: string) => s.replace(/["\\]/g, '\\$&');

export class LessonPage {
  readonly page: Page;
  readonly lesson: string;

  constructor(page: Page, lesson: string) {
    this.page = page;
    this.lesson = lesson;
  }

  /** Open `/lessons/<lesson>/` in a new tab (a new tab is a new sandbox) and wait for a prompt. */
  static async open(ctx: BrowserContext, base: string, lesson: string): Promise<LessonPage> {
    return LessonPage.load(await ctx.newPage(), base, lesson);
  }

  static async load(page: Page, base: string, lesson: string): Promise<LessonPage> {
    const res = await page.goto(`${base}/lessons/${lesson}/`);
    if (res?.status() !== 200) throw new Error(`/lessons/${lesson}/ answered ${res?.status()}`);
    const lp = new LessonPage(page, lesson);
    try {
      await page.waitForFunction(() => (window as unknown as WithIsolab).isolab?.state === 'connected', null, { timeout: T });
      await page.waitForFunction(() => /[#$] *$/.test((window as unknown as WithIsolab).isolab!.terminalText()), null, { timeout: T });
    } catch (e) {
      const notice = await page.locator('[data-testid="terminal-notice"]').textContent().catch(() => '');
      throw new Error(`${lesson}: the terminal did not connect (notice "${notice?.trim()}")`, { cause: e });
    }
    return lp;
  }

  screen(): Promise<string> {
    return this.page.evaluate(() => (window as unknown as WithIsolab).isolab!.terminalText());
  }

  /** Wait until the terminal, from character `from` on, matches `pattern`; returns that part. */
  async waitScreen(pattern: RegExp, from = 0, timeout = T): Promise<string> {
    try {
      await this.page.waitForFunction(([src, flags, skip]) => new RegExp(src, flags).test((window as unknown as WithIsolab).isolab!.terminalText().slice(skip)),
        [pattern.source, pattern.flags, from] as const, { timeout });
    } catch (e) {
      throw new Error(`${this.lesson}: the terminal never showed ${pattern}; it shows:\n${(await this.screen()).slice(-1500)}`, { cause: e });
    }
    return (await this.screen()).slice(from);
  }

  /** Click the Run button of `command` (the n-th one when the lesson has it twice) and wait for `expect`. */
  run(command: string, expect: RegExp, nth = 0): Promise<string> {
    return this.#click(`="${cssString(command)}"`, command, expect, nth);
  }

  /** The same for a command known by its start (a here-document, a long line). */
  runStarting(start: string, expect: RegExp, nth = 0): Promise<string> {
    return this.#click(`^="${cssString(start)}"`, start, expect, nth);
  }

  async #click(match: string, what: string, expect: RegExp, nth: number): Promise<string> {
    const from = (await this.screen()).length;
    const button = this.page.locator(`[data-testid="run-button"][data-command${match}]`).nth(nth);
    if (await button.count() === 0) throw new Error(`${this.lesson}: no Run button for ${what}`);
    await button.scrollIntoViewIfNeeded();
    await button.click();
    return this.waitScreen(expect, Math.max(0, from - 1));
  }

  /**
   * Type a command on the keyboard, as a reader does, with a marker on the same line, and
   * wait for the marker: returns what the terminal showed from the command line on, and the
   * command's exit status. (On the same line: a marker typed ahead while the command runs
   * would be echoed by the terminal into the middle of its output.) The marker is typed as two
   * quoted pieces, so its echo on the command line never matches it.
   */
  async type(command: string, timeout = T): Promise<{ out: string; status: number }> {
    const id = randomBytes(3).toString('hex');
    const from = (await this.screen()).length;
    await this.page.locator('[data-testid="terminal"]').click();
    const joiner = /&\s*$/.test(command) ? ' ' : '; '; // `cmd &; echo` is a syntax error
    await this.page.keyboard.type(`${command}${joiner}echo "${id}""-status-$?"`);
    await this.page.keyboard.press('Enter');
    const text = await this.waitScreen(new RegExp(`\\n[^\\n]*${id}-status-(\\d+)`), Math.max(0, from - 1), timeout);
    const m = new RegExp(`${id}-status-(\\d+)`).exec(text)!;
    return { out: text.slice(0, m.index), status: Number(m[1]) };
  }

  /** Type each command in turn; fail (with what it printed) when one exits non-zero. */
  async typeAll(...commands: string[]): Promise<void> {
    for (const c of commands) {
      const r = await this.type(c);
      if (r.status !== 0) throw new Error(`${this.lesson}: \`${c}\` exited ${r.status}:\n${r.out.slice(-1200)}`);
    }
  }

  exercise(id: string): Locator {
    return this.page.locator(`[data-testid="exercise"][data-exercise="${id}"]`);
  }

  /** Press Check once and wait for the answer: 'pass' or 'fail' (and the hint shown with it), or 'idle' when refused. */
  async check(id: string): Promise<{ status: string; hintShown: boolean; hint: string; result: string }> {
    const ex = this.exercise(id);
    await ex.scrollIntoViewIfNeeded();
    await ex.locator('[data-testid="check-button"]').click();
    // The click makes it 'checking' at once; then 'pass' or 'fail', or 'idle' again when the
    // server did not run it (too many checks at once: its box says to wait).
    await this.page.waitForFunction((e) => {
      const s = document.querySelector(`[data-testid="exercise"][data-exercise="${e}"]`)?.getAttribute('data-status');
      return s === 'pass' || s === 'fail' || s === 'idle';
    }, id, { timeout: T });
    return {
      status: (await ex.getAttribute('data-status'))!,
      hintShown: await ex.locator('[data-testid="exercise-hint"]').isVisible(),
      hint: (await ex.locator('[data-testid="exercise-hint"]').textContent()) ?? '',
      result: (await ex.locator('[data-testid="exercise-result"]').textContent()) ?? '',
    };
  }

  /**
   * Check until it passes: some states take a moment to build up (a throttled count, CPU
   * time used). Returns the number of presses; throws with the last answer after `timeout`.
   */
  async checkUntilPass(id: string, timeout = T): Promise<number> {
    const deadline = Date.now() + timeout;
    for (let presses = 1; ; presses++) {
      const r = await this.check(id);
      if (r.status === 'pass') {
        if (r.hintShown) throw new Error(`${this.lesson}/${id}: passed, yet the hint is still shown`);
        return presses;
      }
      if (Date.now() > deadline) throw new Error(`${this.lesson}/${id}: still failing after ${presses} checks: ${r.result}`);
      // The server takes 5 checks at once, then one each 2 s (src/server/terminal.ts RATE.checks):
      // pressing faster would be refused with "too many checks" while a slow state settles.
      await this.page.waitForTimeout(1500);
    }
  }

  /** Fail first: on a sandbox where the task is not done, Check fails and shows the hint. */
  async expectFail(id: string, hintWord: string): Promise<void> {
    const r = await this.check(id);
    expect(r.status, `${this.lesson}/${id} before the task`).toBe('fail');
    expect(r.hintShown, `${this.lesson}/${id}: the hint is shown on fail`).toBe(true);
    expect(r.hint).toContain(hintWord);
  }

  /** ...and once it is done, Check passes (the page says so, in its language, and hides the hint). */
  async expectPass(id: string): Promise<void> {
    await this.checkUntilPass(id);
    expect(await this.exercise(id).getAttribute('data-status')).toBe('pass');
    expect(await this.exercise(id).locator('[data-testid="exercise-status"]').textContent()).toContain(this.lesson.startsWith('ko/') ? '통과' : 'Passed');
  }

  close(): Promise<void> {
    return this.page.close();
  }
}

/** A prompt at the end of the terminal, on a line of its own (the command's echo ended). */
export const PROMPT = /\n[^\n]*[#$] *$/;

/** The Pid of a container, the lessons' idiom, for commands typed into the terminal. */
export const pidOf = (name: string) => `$(box inspect ${name} | grep -o '"Pid": *[0-9]*' | grep -o '[0-9]*$')`;

export interface LessonLab {
  server: ServerProcess;
  context: BrowserContext;
  base: string;
  /** Open a lesson (`en/<slug>`) in a new tab, closing the previous one. */
  open(lesson: string): Promise<LessonPage>;
  stop(): Promise<number | null>;
}

/**
 * One lab server (`node src/server/main.ts`, which builds the site when it is stale) and one
 * browser for a whole file of lesson tests. Each lesson gets a tab, so a sandbox, of its own;
 * a closed tab's sandbox goes after a short grace period.
 */
export async function startLessonLab(tag: string, maxSandboxes = 14): Promise<LessonLab> {
  const token = `e2e-${tag}-` + randomBytes(16).toString('hex');
  const port = await freePort();
  const server = await spawnServer('src/server/main.ts', ['--port', String(port), '--token', token,
    '--max-sandboxes', String(maxSandboxes), '--grace-seconds', '5']);
  const base = `http://127.0.0.1:${server.port}`;
  const context = await launchChromium(tag);
  const first = await context.newPage();
  await first.goto(server.url); // the token becomes a cookie
  await first.close();
  let current: LessonPage | undefined;
  return {
    server, context, base,
    async open(lesson) {
      await current?.close().catch(() => {}); // one lesson at a time: its sandbox goes after the grace period
      current = await LessonPage.open(context, base, lesson);
      return current;
    },
    async stop() {
      await context.close();
      return server.stop();
    },
  };
}
