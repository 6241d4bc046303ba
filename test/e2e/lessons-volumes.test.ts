// End to end, the volumes lesson as a reader meets it, in English and in Korean: the real lab
// server, the site in headless Chromium, a real `box --lab` sandbox. The main demos from the
// page's Run buttons, results read from the xterm.js buffer; each exercise checked before the
// task (fail, with its hint) and after it (pass).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();

let lab: LessonLab;

needs(missing).describe('the volumes lesson in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('volumes', 2);
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('a named volume outlives its containers, a bind mount read-only, a volume filled from the image; three exercises', async () => {
    const p = await lab.open('en/volumes');
    await p.run('box volume create notes', /\nnotes\n[^\n]*[#$] *$/);
    await p.run("box run --rm -v notes:/data busybox sh -c 'echo first entry >> /data/notes.txt'", PROMPT);
    await p.run("box run --rm -v notes:/data busybox sh -c 'echo second entry >> /data/notes.txt'", PROMPT);
    expect(await p.run('box run --rm -v notes:/data busybox cat /data/notes.txt', /\nfirst entry\nsecond entry\n[^\n]*[#$] *$/)).toContain('second entry');
    // The bytes on the sandbox's disk, and the bind in the container's mount table.
    expect(await p.run('cat /var/lib/box/volumes/notes/_data/notes.txt', /\nfirst entry\nsecond entry\n[^\n]*[#$] *$/)).toContain('first entry');
    expect(await p.run('box run --rm -v notes:/data busybox grep /data /proc/self/mountinfo', / \/volumes\/notes\/_data \/data rw[^\n]*\n[^\n]*[#$] *$/))
      .toMatch(/\/volumes\/notes\/_data \/data /);
    await p.run('box run -d --name keeper -v notes:/data busybox sleep 1000', /\n[0-9a-f]{64}\n[^\n]*[#$] *$/);
    expect(await p.run('box volume rm notes', /in use by container keeper[^\n]*\n[^\n]*[#$] *$/)).toContain("box: volume 'notes' is in use by container keeper");

    await p.expectFail('guestbook', 'dangling');
    await p.typeAll('box run --rm -v guestbook:/g busybox sh -c "echo hello from a container > /g/entries.txt"');
    await p.expectPass('guestbook');

    await p.run('mkdir -p /root/site', PROMPT);
    await p.run("echo '<h1>hello</h1>' > /root/site/index.html", PROMPT);
    expect(await p.run("box run --rm -v /root/site:/www:ro busybox sh -c 'echo nope > /www/index.html'", /Read-only file system\n[^\n]*[#$] *$/))
      .toContain("can't create /www/index.html: Read-only file system");
    expect(await p.run("box run --rm --read-only -v notes:/data busybox sh -c 'echo third entry >> /data/notes.txt; touch /elsewhere'",
      /touch: \/elsewhere: Read-only file system\n[^\n]*[#$] *$/)).not.toContain("can't create /data");
    expect((await p.type('tail -1 /var/lib/box/volumes/notes/_data/notes.txt')).out).toMatch(/\nthird entry\n/); // the volume stayed writable

    await p.expectFail('readonly-site', ':ro');
    await p.typeAll('box run -d --name site -v /root/site:/www busybox sleep 1000'); // read-write: still a fail
    await p.expectFail('readonly-site', ':ro');
    await p.typeAll('box rm -f site', 'box run -d --name site -v /root/site:/www:ro busybox sleep 1000');
    await p.expectPass('readonly-site');

    expect(await p.run('box run --rm -v etc-seed:/etc busybox ls -l /etc', /passwd\n[^\n]*[#$] *$/)).toMatch(/ group\n[^\n]* passwd\n/);
    await p.expectFail('seeded', '/etc');
    await p.typeAll('box run --rm -v seeded:/etc busybox sh -c "echo reader:x:1000:1000::/home/reader:/bin/sh >> /etc/passwd"');
    await p.expectPass('seeded');

    expect(await p.run("box run --rm --tmpfs /scratch:size=1m busybox sh -c 'df -h /scratch; dd if=/dev/zero of=/scratch/big bs=1k count=2048'",
      /1024\+0 records out\n[^\n]*[#$] *$/)).toContain('No space left on device');
    await p.run('box rm -f keeper site', PROMPT);
    await p.run('box volume rm -f notes etc-seed guestbook seeded', PROMPT);
    expect((await p.type('box volume ls -q | wc -l')).out).toMatch(/\n0\n/);
    await p.close();
  }, 10 * T);

  it('the Korean lesson runs the same commands, and its checks answer with its hints', async () => {
    const p = await lab.open('ko/volumes');
    await p.run('box volume create notes', /\nnotes\n[^\n]*[#$] *$/);
    await p.expectFail('guestbook', 'dangling=true');
    expect(await p.exercise('guestbook').locator('[data-testid="exercise-hint"]').textContent()).toContain('볼륨');
    await p.typeAll('box run --rm -v guestbook:/g busybox sh -c "echo hello from a container > /g/entries.txt"');
    await p.checkUntilPass('guestbook');
    await p.typeAll('box volume rm notes guestbook');
    await p.close();
  }, 4 * T);
});
