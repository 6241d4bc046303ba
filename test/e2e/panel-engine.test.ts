// End to end, the memory plot while a `box engine` runs on the host (issue 18: every card said
// "memory – (no limit)", the hog's included). With an engine running, the lab server's
// `box run --lab` is relayed to the engine, which makes the sandbox: its cgroups sit under the
// engine's cgroup, not under the server's. The panel finds them from the sandbox's own process
// (/proc/PID/cgroup). Here the engine runs in a cgroup of its own (as one started by systemd
// or from another shell does) on a box root of this test's, the lab server uses that root,
// and the Resources tab in Chromium must plot the hog's memory under its limit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOX, browserTestsMissing } from './harness.ts';
import { T, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';
import { removeEngineCgroups, startEngineInOwnCgroup } from '../support/engine-cgroup.ts';

const isRoot = process.getuid?.() === 0;
const missing = (await browserTestsMissing()) || (isRoot ? '' : 'needs root (an engine in a cgroup of its own)');
if (missing) console.warn(`e2e panel with an engine: skipped: ${missing}`);
const skip = !!missing && process.env.CI !== 'true';

let lab: LessonLab | undefined;
let p: LessonPage;
let root = '';
const engineGroups: string[] = [];

function boxIn(args: string[]): { status: number | null; stdout: string; out: string } {
  const r = spawnSync(BOX, args, { env: { ...process.env, BOX_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(skip)('the memory plot with a box engine running on the host, in a browser', () => {
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-e2e-engine-'));
    const started = startEngineInOwnCgroup(BOX, root, `isolab-e2e-engine-${process.pid}`);
    engineGroups.push(...started.groups);
    expect(started.status, started.stderr).toBe(0);
    // The lab server (a child of this process) runs its box commands on the engine's root.
    const before = process.env.BOX_ROOT;
    process.env.BOX_ROOT = root;
    try {
      lab = await startLessonLab('panel-engine', 2);
    } finally {
      if (before === undefined) delete process.env.BOX_ROOT; else process.env.BOX_ROOT = before;
    }
    const setup = await lab.context.newPage();
    await setup.goto(`${lab.base}/`);
    await setup.evaluate(() => {
      localStorage.setItem('isolab.panel', 'shown');
      localStorage.setItem('isolab.panelTab', 'resources');
    });
    await setup.close();
    p = await lab.open('en/cgroups-memory');
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0); // removes the sandbox (through the engine)
    if (root) {
      const stopped = boxIn(['engine', 'stop']);
      expect(stopped.status, stopped.out).toBe(0);
      fs.rmSync(root, { recursive: true, force: true });
    }
    await removeEngineCgroups(engineGroups);
  }, T);

  it("plots the hog's memory, and the sandbox's, from cgroups under the engine's", async () => {
    const page = p.page;
    // The engine made this reader's sandbox: it is one of the engine's running containers.
    const status = boxIn(['engine', 'status']);
    expect(status.out).toMatch(/engine: running/);
    expect(status.out).toMatch(/containers: [1-9]\d* running/);
    const sandboxName = await page.evaluate(() => (window as unknown as { isolab: { sandbox: string } }).isolab.sandbox);
    const pid = Number(JSON.parse(boxIn(['inspect', sandboxName]).stdout)[0]?.State?.Pid ?? 0);
    expect(pid).toBeGreaterThan(0);
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const memoryLine = lines.find((l) => /:memory:/.test(l)) ?? lines.find((l) => l.startsWith('0::')) ?? '';
    expect(memoryLine, 'the sandbox sits under the engine\'s cgroup').toContain(`/isolab-e2e-engine-${process.pid}/`);

    await page.locator('[data-testid="panel-tab-resources"]').click();
    expect(await page.locator('[data-testid="panel-resources"]').isVisible()).toBe(true);
    const sandbox = page.locator('[data-testid="stats-group"][data-group=""]');
    await expect.poll(() => sandbox.count(), { timeout: T }).toBe(1);
    // The sandbox's own card reads its numbers: using so much of its 512 MiB limit.
    await expect.poll(() => sandbox.locator('[data-metric="memory"] figcaption').textContent(), { timeout: T })
      .toMatch(/^memory using [\d.]+ [KMG]?i?B of a 512 MiB limit/);

    // The hog: dd holds a 40 MB buffer while it waits for `sleep` to read (it never does).
    await page.locator('[data-testid="terminal"]').click();
    await page.keyboard.type("box run --rm --memory 64m busybox sh -c 'dd if=/dev/zero bs=40M count=1 2>/dev/null | sleep 20'; echo HOG-$?");
    await page.keyboard.press('Enter');
    const hog = page.locator(`[data-testid="stats-group"][data-mem-max="${64 * 1024 * 1024}"]`);
    await expect.poll(async () => Number(await hog.getAttribute('data-mem-high')), { timeout: T }).toBeGreaterThan(30e6);
    expect(await hog.getAttribute('data-group')).toMatch(/^box\/box-[0-9a-f]{12}$/);
    expect(await hog.locator('[data-metric="memory"] figcaption').textContent()).toMatch(/^memory using [\d.]+ MiB of a 64 MiB limit/);
    await expect.poll(() => hog.locator('[data-metric="memory"] path.line').getAttribute('d'), { timeout: T }).toMatch(/^M[\d.]+ [\d.]+L/);
    // Usage is hierarchical: the sandbox's card includes the hog's memory.
    await expect.poll(async () => Number(await sandbox.getAttribute('data-mem-high')), { timeout: T }).toBeGreaterThan(30e6);
    await p.waitScreen(/HOG-0/);
  }, 3 * T);
});
