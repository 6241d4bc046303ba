// End to end, the Compose lesson as a reader meets it, in English and in Korean: the real lab
// server, the site in headless Chromium, a real `box --lab` sandbox. The reader's files typed
// by the here-documents' Run buttons, the application started with `box compose up -d` and
// visited through its published port; exercises checked before the task (fail, with the
// hint) and after it (pass).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, pidOf, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();

let lab: LessonLab;

/** The lesson's first sections from their Run buttons: the files, then `up -d`. */
async function writeAndUp(p: LessonPage): Promise<void> {
  await p.run('mkdir -p /root/hits/web/cgi-bin /root/hits/counter/cgi-bin', PROMPT);
  await p.run('cd /root/hits', PROMPT);
  await p.runStarting('cat > counter/cgi-bin/hit', PROMPT);
  await p.runStarting('cat > web/cgi-bin/index.cgi', PROMPT);
  await p.run('chmod +x counter/cgi-bin/hit web/cgi-bin/index.cgi', PROMPT);
  await p.runStarting('cat > compose.yaml', PROMPT);
  const up = await p.run('box compose up -d', /Container hits-web-1 +Started\n[^\n]*[#$] *$/);
  // web waited for the counter's health check (depends_on: service_healthy)
  expect(up.indexOf('Container counter  Healthy')).toBeGreaterThan(up.indexOf('Container hits-counter-1  Started'));
  expect(up.indexOf('Container hits-web-1  Started')).toBeGreaterThan(up.indexOf('Container counter  Healthy'));
}

needs(missing).describe('the compose lesson in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('compose', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('the application from its Run buttons: up, the published port, names, a crash restarted; the restart exercise failed then passed', async () => {
    const p = await lab.open('en/compose');
    await writeAndUp(p);
    expect(await p.run('wget -q -O - http://localhost:8080/', /visitor number \d+\n[^\n]*[#$] *$/, 0)).toContain('Hello from hits-web-1: you are visitor number 1');
    // the <PortLink> opens the sandbox's port 8080 in a new tab: the page, through web and counter
    const link = p.page.locator('[data-testid="port-link"][data-port="8080"]');
    await link.scrollIntoViewIfNeeded();
    const [tab] = await Promise.all([p.page.context().waitForEvent('page'), link.click()]);
    await tab.waitForLoadState();
    expect(await tab.locator('body').innerText()).toContain('Hello from hits-web-1: you are visitor number 2');
    await tab.close();
    expect(await p.run('box compose exec web wget -q -O - http://counter:8000/cgi-bin/hit?peek', /\n2\n[^\n]*[#$] *$/)).toMatch(/\n2\n/);
    expect(await p.run('box volume ls', /hits_data\n[^\n]*[#$] *$/)).toContain('local    hits_data');

    await p.expectFail('restarted', 'State.Pid');
    await p.typeAll('box restart hits-counter-1'); // not a crash: the policy does not count it
    await p.expectFail('restarted', 'State.Pid');
    await p.typeAll(`kill -KILL ${pidOf('hits-counter-1')}`);
    await p.expectPass('restarted');
    // the count was in the volume, not in the crashed container
    await p.typeAll('until box exec hits-web-1 wget -q -O - http://counter:8000/cgi-bin/hit?peek; do sleep 1; done'); // back up
    expect((await p.type('wget -q -O - http://localhost:8080/')).out).toContain('you are visitor number 3');

    await p.run('box compose down -v', /Volume hits_data +Removed\n[^\n]*[#$] *$/);
    await p.typeAll('box engine stop', 'cd /root');
    await p.close();
  }, 10 * T);

  it('the Korean lesson runs the same commands, and its checks answer with its hints', async () => {
    const p = await lab.open('ko/compose');
    await writeAndUp(p);
    await p.typeAll('wget -q -O - http://localhost:8080/');
    await p.expectFail('survived', 'down -v');
    expect(await p.exercise('survived').locator('[data-testid="exercise-hint"]').textContent()).toContain('볼륨');
    await p.typeAll('box compose down', 'box compose up -d', 'wget -q -O - http://localhost:8080/');
    await p.checkUntilPass('survived');
    await p.typeAll('box compose down -v', 'box engine stop', 'cd /root');
    await p.close();
  }, 8 * T);
});
