// End to end, the two image lessons as a reader meets them: the real lab server, the site in
// headless Chromium, a real `box --lab` sandbox per lesson. The main demos from the pages'
// Run buttons, results read from the xterm.js buffer; each exercise checked before the task
// (fail, with its hint) and after it (pass).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { LessonPage, PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();

let lab: LessonLab;
let lesson: LessonPage | undefined;

async function expectFail(id: string, hintWord: string): Promise<void> {
  const r = await lesson!.check(id);
  expect(r.status, `${id} before the task`).toBe('fail');
  expect(r.hintShown, `${id}: hint shown on fail`).toBe(true);
  expect(r.hint).toContain(hintWord);
}

async function expectPass(id: string): Promise<void> {
  await lesson!.checkUntilPass(id);
  expect(await lesson!.exercise(id).getAttribute('data-status')).toBe('pass');
}

needs(missing).describe('the image lessons in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('images', 4);
  }, 600_000);

  afterAll(async () => {
    await lesson?.close().catch(() => {});
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  async function open(slug: string): Promise<LessonPage> {
    await lesson?.close().catch(() => {});
    lesson = await lab.open(`en/${slug}`);
    return lesson;
  }

  it('union filesystems: copy-up and a whiteout by hand, a two-layer build, two containers', async () => {
    const p = await open('union-filesystems');
    await p.run('mkdir -p /tmp/ov', PROMPT);
    await p.run('mount -t tmpfs ov /tmp/ov', PROMPT);
    await p.run('mkdir /tmp/ov/lower /tmp/ov/upper /tmp/ov/work /tmp/ov/merged', PROMPT);
    await p.run('echo "from the lower layer" > /tmp/ov/lower/greeting.txt', PROMPT);
    await p.run('echo "delete me" > /tmp/ov/lower/old.txt', PROMPT);
    await p.runStarting('mount -t overlay overlay', PROMPT);
    await p.run('echo "changed in merged" >> /tmp/ov/merged/greeting.txt', PROMPT);
    // Copy-up: the lower file is as it was, the upper directory holds the changed copy.
    expect(await p.run('cat /tmp/ov/lower/greeting.txt', /\nfrom the lower layer\n[^\n]*[#$] *$/)).not.toContain('changed in merged');
    expect(await p.run('ls -l /tmp/ov/upper', /greeting.txt[\s\S]*[#$] *$/)).toMatch(/ 39 [^\n]* greeting.txt/);

    await expectFail('whiteout-by-hand', 'merged');
    await p.run('rm /tmp/ov/merged/old.txt', PROMPT);
    expect(await p.run("stat -c '%F %t:%T' /tmp/ov/upper/old.txt", /\ncharacter special file 0:0\n/)).toContain('0:0');
    await expectPass('whiteout-by-hand');

    await p.run('mkdir -p /root/greeter', PROMPT);
    await p.run('cd /root/greeter', PROMPT);
    await p.run('echo "hello from layer two" > message.txt', PROMPT);
    await p.runStarting('cat > Boxfile <<', PROMPT);
    const built = await p.run('box build -t greeter:1 /root/greeter', /Successfully tagged greeter:1\n[^\n]*[#$] *$/);
    expect(built).toMatch(/Step 3\/4 : RUN dd [^\n]*\n ---> Running in build-/);
    const history = await p.run('box history greeter:1', /BusyBox[^\n]*\n[^\n]*[#$] *$/);
    expect(history).toMatch(/RUN \/bin\/sh -c dd [^\n]* 5\d\dkB/);
    expect(history).toMatch(/COPY message.txt \/app\/message.txt/);

    await p.run('box run -d --name alpha greeter:1 sleep 1000', /\n[0-9a-f]{64}\n/);
    await p.run('box run -d --name beta greeter:1 sleep 1000', /\n[0-9a-f]{64}\n/);
    await expectFail('copy-up', 'box diff beta');
    await p.run('box exec beta dd if=/dev/zero of=/app/scratch bs=1024 count=256', /records out\n/);
    // A new file is an addition, not a copy-up: still a fail.
    expect((await p.check('copy-up')).status).toBe('fail');
    await p.run(`box exec beta sh -c 'echo "beta was here" >> /app/message.txt'`, PROMPT);
    expect(await p.run('box diff beta', /A \/app\/scratch\n/)).toMatch(/C \/app\/message.txt\n/);
    await expectPass('copy-up');
    const du = await p.runStarting('for c in alpha beta;', /upper\n[^\n]*upper\n[^\n]*[#$] *$/);
    expect(du).toMatch(/\n0\s+[^\n]*upper\n2\d\dK\s+[^\n]*upper\n/); // the terminal shows du's tabs as spaces

    const again = await p.run('box build -t greeter:1 /root/greeter', /Successfully tagged greeter:1\n[^\n]*[#$] *$/, 1);
    expect(again.match(/ ---> CACHED /g)).toHaveLength(3);
  }, 8 * T);

  it('images and registries: push to a loopback registry, pull, sign and verify', async () => {
    const p = await open('images-registries');
    await p.run('mkdir -p /root/hello', PROMPT);
    await p.run('cd /root/hello', PROMPT);
    await p.run('echo "hello from an image" > message.txt', PROMPT);
    await p.runStarting('printf ', PROMPT);
    await p.run('box build -t hello:1.0 /root/hello', /Successfully tagged hello:1.0\n/);
    await p.run('box tag hello:1.0 hello:latest', PROMPT);
    const images = await p.run('box images', /Total: [^\n]*\n[^\n]*[#$] *$/);
    const ids = [...images.matchAll(/^hello +(?:1\.0|latest) +([0-9a-f]{12}) /gm)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);

    await p.runStarting("cat > /root/registry.yml <<'EOF'", PROMPT);
    await p.run('docker-registry serve /root/registry.yml > /root/registry.log 2>&1 &', PROMPT);
    await p.typeAll('for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf http://127.0.0.1:5000/v2/ && break; sleep 0.5; done');
    await expectFail('pushed', 'box tag');
    await p.run('box tag hello:1.0 localhost:5000/hello:1.0', PROMPT);
    expect(await p.run('box push localhost:5000/hello:1.0', /1\.0: digest: sha256:[0-9a-f]{64} size: \d+\n/)).toContain('Pushed');
    expect(await p.run('box push localhost:5000/hello:1.0', /1\.0: digest: /, 1)).toContain('Layer already exists');
    expect(await p.run('curl -s http://127.0.0.1:5000/v2/hello/tags/list', /\{"name":"hello","tags":\["1\.0"\]\}/)).toBeTruthy();
    await expectPass('pushed');

    await p.run('box rmi hello:1.0 hello:latest localhost:5000/hello:1.0', /Untagged: localhost:5000\/hello:1.0\n/);
    await p.run('box pull localhost:5000/hello:1.0', /Status: [^\n]*\n/);
    await p.run('box run --rm localhost:5000/hello:1.0', /\nhello from an image\n/);
    expect(await p.run('box run --rm --verify localhost:5000/hello:1.0', /is not signed[^\n]*\n/)).toContain('box sign');
    await p.run('box sign localhost:5000/hello:1.0', /Signed localhost:5000\/hello:1.0/);
    await p.run('box run --rm --verify localhost:5000/hello:1.0', /\nhello from an image\n/, 1);

    await p.run('echo "not what was signed" > /root/hello/message.txt', PROMPT);
    await p.run('box build -q -t localhost:5000/hello:1.0 /root/hello', /\nsha256:[0-9a-f]{64}\n/);
    await expectFail('trusted', 'box sign');
    await p.typeAll('box push -q localhost:5000/hello:1.0', 'box sign localhost:5000/hello:1.0');
    // Signed and pushed, but no container yet.
    expect((await p.check('trusted')).status).toBe('fail');
    await p.typeAll('box run --name trusted --verify localhost:5000/hello:1.0');
    await expectPass('trusted');
  }, 8 * T);
});
