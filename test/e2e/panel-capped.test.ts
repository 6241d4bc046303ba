// End to end: a reader who makes more cgroups than the kernel panel reads per sample (issue 12:
// the server walked them all, synchronously) sees, in the panel, that it shows only part of
// the tree; the note goes when the cgroups do. Headless Chromium, `node src/server/main.ts`,
// a real `box --lab` sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import type { BrowserContext, Page } from 'playwright-core';
import { browserTestsMissing, freePort, launchChromium, spawnServer } from './harness.ts';
import type { ServerProcess } from './harness.ts';
import { WALK_LIMITS } from '../../src/server/panel-stats.ts';

interface IsolabApi { readonly state: string; terminalText(): string }

const TOKEN = 'e2e-capped-token-' + 'ef'.repeat(16);
const LESSON = '/lessons/en/pid-namespaces/';
const T = 90_000;

const missing = await browserTestsMissing();
if (missing) {
  if (process.env.CI === 'true') throw new Error(`e2e panel-capped: ${missing}`);
  console.warn(`e2e panel-capped: skipped: ${missing}`);
}

let server: ServerProcess;
let context: BrowserContext;
let page: Page;

const text = (p: Page) => p.evaluate(() => (window as unknown as { isolab: IsolabApi }).isolab.terminalText());

async function typeLine(p: Page, line: string, until: RegExp): Promise<void> {
  const from = (await text(p)).length;
  await p.locator('[data-testid="terminal"]').click();
  await p.keyboard.type(line);
  await p.keyboard.press('Enter');
  await p.waitForFunction(([src, skip]) => new RegExp(src).test((window as unknown as { isolab: IsolabApi }).isolab.terminalText().slice(skip)),
    [until.source, Math.max(0, from - 100)] as const, { timeout: T });
}

needs(missing).describe('the kernel panel with a big cgroup tree', () => {
  beforeAll(async () => {
    server = await spawnServer('src/server/main.ts', ['--port', String(await freePort()), '--token', TOKEN]);
    context = await launchChromium('capped', { width: 1500, height: 1000 });
    page = await context.newPage();
    await page.goto(server.url);
    expect((await page.goto(`http://127.0.0.1:${server.port}${LESSON}`))?.status()).toBe(200);
    await page.waitForFunction(() => (window as unknown as { isolab?: IsolabApi }).isolab?.state === 'connected', null, { timeout: T });
    await page.waitForFunction(() => /[#$] *$/.test((window as unknown as { isolab: IsolabApi }).isolab.terminalText()), null, { timeout: T });
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    if (server) expect(await server.stop()).toBe(0);
  }, T);

  it('says it reads only part of the tree, in Resources and in Namespaces, until the cgroups are gone', async () => {
    const note = `reads only its first ${WALK_LIMITS.entries} entries`;
    await page.locator('[data-testid="panel-tab-resources"]').click();
    const source = page.locator('[data-testid="stats-source"]');
    await expect.poll(() => source.textContent(), { timeout: T }).toMatch(/cgroup v/);
    expect(await source.textContent()).not.toContain(note);

    await typeLine(page, 'cd /sys/fs/cgroup/pids && seq 1 1000 | sed s/^/many/ | xargs mkdir && cd / && echo MADE-$?', /MADE-0/);
    await expect.poll(() => source.textContent(), { timeout: T }).toContain(note);
    await page.locator('[data-testid="panel-tab-namespaces"]').click();
    await expect.poll(() => page.locator('[data-testid="ns-rows"]').textContent(), { timeout: T }).toContain(note);

    await typeLine(page, 'cd /sys/fs/cgroup/pids && ls -d many* | xargs rmdir && cd / && echo GONE-$?', /GONE-0/);
    await page.locator('[data-testid="panel-tab-resources"]').click();
    await expect.poll(() => source.textContent(), { timeout: T }).not.toContain(note);
  }, 4 * T);
});
