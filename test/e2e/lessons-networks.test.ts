// End to end, the networks lesson as a reader meets it, in English and in Korean: the real lab
// server, the site in headless Chromium, a real `box --lab` sandbox. The main demos from the
// page's Run buttons, results read from the xterm.js buffer; each exercise checked before the
// task (fail, with its hint) and after it (pass); the <PortLink> opens, in a new tab, the page
// that busybox httpd serves from the reader's container through the lab server's port proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab, LessonPage } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();
const ID_LINE = /\n[0-9a-f]{64}\n[^\n]*[#$] *$/;

let lab: LessonLab;

async function openPort(p: LessonPage): Promise<{ url: string; text: string }> {
  const link = p.page.locator('[data-testid="port-link"][data-port="8080"]');
  await link.scrollIntoViewIfNeeded();
  const [tab] = await Promise.all([p.page.context().waitForEvent('page'), link.click()]);
  await tab.waitForLoadState();
  const text = await tab.locator('body').innerText();
  const url = tab.url();
  await tab.close();
  return { url, text };
}

needs(missing).describe('the networks lesson in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('networks', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('a bridge and a veth, names on a network of your own, a published port opened from the page; three exercises', async () => {
    const p = await lab.open('en/networks');
    await p.run('box run -d --name web1 busybox sleep 1000', ID_LINE);
    expect(await p.run('ip -br link', /veth[0-9a-f]+@if\d+[^\n]*\n[^\n]*[#$] *$/)).toMatch(/\nbox-[0-9a-f]+ +UP /);
    expect(await p.run('box exec web1 ip route', /\n172\.17\.0\.0\/16 dev eth0[^\n]*\n[^\n]*[#$] *$/)).toContain('default via 172.17.0.1 dev eth0');
    expect(await p.run('nft list ruleset', /\n}\n[^\n]*[#$] *$/)).toMatch(/ip saddr 172\.17\.0\.0\/16 oifname != "box-[0-9a-f]+" masquerade/);

    await p.run('box network create app', ID_LINE);
    await p.run('mkdir -p /root/api', PROMPT);
    await p.run("echo 'hello from api' > /root/api/index.html", PROMPT);
    await p.run('box run -d --name api --network app -v /root/api:/www busybox httpd -f -p 80 -h /www', ID_LINE);
    expect(await p.run('box run --rm --network app busybox nslookup api', /Address: 172\.\d+\.0\.2\n+[^\n]*[#$] *$/)).toMatch(/Name: +api/);
    await p.run('box run --rm --network app busybox wget -qO- http://api/', /\nhello from api\n[^\n]*[#$] *$/);
    // The default bridge has no names.
    await p.run('box run --rm busybox wget -qO- http://api/', /wget: bad address 'api'\n[^\n]*[#$] *$/);

    await p.expectFail('by-name', 'lobby');
    await p.typeAll('box network create lobby', 'mkdir -p /root/greeter', 'echo hello from greeter > /root/greeter/index.html',
      'box run -d --name greeter -v /root/greeter:/www busybox httpd -f -p 80 -h /www'); // the default bridge: no name
    await p.expectFail('by-name', 'lobby');
    await p.typeAll('box rm -f greeter', 'box run -d --name greeter --network lobby -v /root/greeter:/www busybox httpd -f -p 80 -h /www');
    await p.expectPass('by-name');

    await p.run('mkdir -p /root/site', PROMPT);
    await p.run("echo '<h1>Hello from a container</h1>' > /root/site/index.html", PROMPT);
    await p.run('box run -d --name site -p 8080:80 -v /root/site:/www busybox httpd -f -p 80 -h /www', ID_LINE);
    await p.run('box port site', /80\/tcp -> 0\.0\.0\.0:8080\n[^\n]*[#$] *$/);
    await p.run('busybox wget -qO- http://127.0.0.1:8080/', /<h1>Hello from a container<\/h1>\n[^\n]*[#$] *$/);
    const opened = await openPort(p);
    expect(opened.url).toMatch(/\/port\/[A-Za-z0-9_-]+\/8080\/$/);
    expect(opened.text).toContain('Hello from a container');
    // The page is the container's: change the file, open again.
    await p.typeAll("echo '<h1>Changed in the sandbox</h1>' > /root/site/index.html");
    expect((await openPort(p)).text).toContain('Changed in the sandbox');

    await p.expectFail('published', '8081');
    await p.typeAll('mkdir -p /root/shop', 'echo shop > /root/shop/index.html',
      'box run -d --name shop -p 8081:80 -v /root/shop:/www busybox httpd -f -p 80 -h /www');
    await p.expectPass('published');

    await p.run('box network create other', ID_LINE);
    await p.run('box run --rm --network other busybox ping -c 2 -W 1 172.18.0.2', /100% packet loss\n[^\n]*[#$] *$/);
    await p.run('box network create --internal vault', ID_LINE);
    await p.run('box run --rm --network vault busybox ping -c 2 -W 1 172.18.0.2', /Network is unreachable\n[^\n]*[#$] *$/);

    await p.expectFail('sealed', '--internal');
    await p.typeAll('box network create secrets', 'box run -d --name safe --network secrets busybox sleep 1000');
    await p.expectFail('sealed', '--internal'); // a network with a way out
    await p.typeAll('box rm -f safe', 'box network rm secrets', 'box network create --internal secrets',
      'box run -d --name safe --network secrets busybox sleep 1000');
    await p.expectPass('sealed');

    await p.run('box rm -f web1 api site greeter shop safe', PROMPT);
    await p.run('box network rm app other vault lobby secrets', /\nsecrets\n[^\n]*[#$] *$/);
    expect((await p.type('ip -br link show type bridge | wc -l')).out).toMatch(/\n1\n/);
    await p.close();
  }, 10 * T);

  it('the Korean lesson runs the same commands, its link opens the port, and its checks answer with its hints', async () => {
    const p = await lab.open('ko/networks');
    await p.run('box network create app', ID_LINE);
    await p.run('mkdir -p /root/api', PROMPT);
    await p.run("echo 'hello from api' > /root/api/index.html", PROMPT);
    await p.run('box run -d --name api --network app -v /root/api:/www busybox httpd -f -p 80 -h /www', ID_LINE);
    await p.run('box run --rm --network app busybox wget -qO- http://api/', /\nhello from api\n[^\n]*[#$] *$/);
    expect(await p.page.locator('[data-testid="port-link"]').first().textContent()).toContain('포트');
    await p.run('mkdir -p /root/site', PROMPT);
    await p.run("echo '<h1>Hello from a container</h1>' > /root/site/index.html", PROMPT);
    await p.run('box run -d --name site -p 8080:80 -v /root/site:/www busybox httpd -f -p 80 -h /www', ID_LINE);
    expect((await openPort(p)).text).toContain('Hello from a container');
    await p.expectFail('by-name', 'lobby');
    expect(await p.exercise('by-name').locator('[data-testid="exercise-hint"]').textContent()).toContain('네트워크');
    await p.typeAll('box network create lobby', 'mkdir -p /root/greeter', 'echo hello from greeter > /root/greeter/index.html',
      'box run -d --name greeter --network lobby -v /root/greeter:/www busybox httpd -f -p 80 -h /www');
    await p.checkUntilPass('by-name');
    await p.typeAll('box rm -f api site greeter', 'box network rm app lobby');
    await p.close();
  }, 4 * T);
});
