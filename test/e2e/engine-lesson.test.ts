// End to end, the engine lesson as a reader meets it: the real lab server, the site in headless
// Chromium, a real `box --lab` sandbox in which the reader starts box's engine. The main demos
// from the page's Run buttons, results read from the xterm.js buffer; each exercise checked
// before the task (fail, with its hint) and after it (pass). The real clients (docker, curl,
// podman) in both languages: English, then the Korean page in a sandbox of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { LessonPage, PROMPT, T, pidOf, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();

let lab: LessonLab;
let p: LessonPage;

async function expectFail(id: string, hintWord: string): Promise<void> {
  const r = await p.check(id);
  expect(r.status, `${id} before the task`).toBe('fail');
  expect(r.hintShown, `${id}: hint shown on fail`).toBe(true);
  expect(r.hint).toContain(hintWord);
}

async function expectPass(id: string): Promise<void> {
  await p.checkUntilPass(id);
  expect(await p.exercise(id).getAttribute('data-status')).toBe('pass');
  expect(await p.exercise(id).locator('[data-testid="exercise-status"]').textContent()).toContain('Passed');
}

/** The engine's `served` count, as `box engine status` prints it in the terminal. */
async function served(): Promise<number> {
  const { out, status } = await p.type('box engine status');
  expect(status, out).toBe(0);
  return Number(/(\d+) served/.exec(out)![1]);
}

needs(missing).describe('the engine lesson in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('engine', 2);
    p = await lab.open('en/engine');
  }, 600_000);

  afterAll(async () => {
    await p?.close().catch(() => {});
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('starts the engine on a root-only socket; box run goes through it, BOX_ENGINE=off does not', async () => {
    await p.run('box engine start', /engine started \(pid \d+\), listening on \/var\/lib\/box\/engine\.sock[\s\S]*[#$] *$/);
    expect(await p.run('ls -l /var/lib/box/engine.sock', /\n(s\S+) \d+ root root [^\n]*engine\.sock\n/)).toMatch(/\nsrw------- \d+ root root /);
    expect(await p.run('ss -xl', /\/var\/lib\/box\/engine\.sock[\s\S]*[#$] *$/)).toMatch(/u_str +LISTEN [^\n]*\/var\/lib\/box\/engine\.sock/);
    expect(await p.run('box run --rm busybox echo hello', /\nhello\n[^\n]*[#$] *$/)).toContain('hello');
    expect(await p.run('box engine status', /containers: \d+ running, \d+ served\n/)).toMatch(/engine: running, pid \d+[\s\S]*containers: 0 running, 1 served/);

    // One container served so far: not yet three.
    await expectFail('three-served', 'served');
    expect(await p.run('time box run --rm busybox true', /\nreal\s+\d+m[\d.]+s\nuser[^\n]*\nsys[^\n]*\n/)).toMatch(/real/);
    expect(await served()).toBe(2);
    await p.run('time BOX_ENGINE=off box run --rm busybox true', /\nreal\s+\d+m[\d.]+s\nuser[^\n]*\nsys[^\n]*\n/);
    expect(await served(), 'BOX_ENGINE=off runs the CLI: the engine does not count it').toBe(2);
    await expectFail('three-served', 'BOX_ENGINE=off');
    await p.typeAll('box run --rm busybox true');
    await expectPass('three-served');
  }, 6 * T);

  it("makes the engine the parent of the container's box-init; the exercise wants its PID", async () => {
    await p.run('box run --name napper busybox sleep 1000 &', /\[\d+\] \d+\n/);
    await p.typeAll('until box ps | grep -q napper; do sleep 0.2; done');
    // sleep's parent is box-init, whose parent is the engine; the client has no children.
    const tree = await p.run('pstree -pT', /\(1\)[\s\S]*pstree\(\d+\)\n[^\n]*[#$] *$/); // PID 1: the sandbox's shell keeper, then bash
    // The sandbox's locale is UTF-8, so pstree draws its lines with box-drawing characters.
    expect(tree).toMatch(/MainThread\(\d+\)───box-init\(\d+\)───sleep\(\d+\)/);
    expect(tree).toMatch(/─box-client\(\d+\)\n/);

    await expectFail('whose-child', 'box-init');
    await p.typeAll('pgrep -x box-client > /root/parent'); // the client is not the parent
    expect((await p.check('whose-child')).status).toBe('fail');
    await p.typeAll(`I=$(ps -o ppid= -p ${pidOf('napper')})`, 'ps -o ppid= -p $I > /root/parent');
    await expectPass('whose-child');
  }, 4 * T);

  it('kills the container of a client killed with SIGKILL', async () => {
    await expectFail('tethered', 'SIGKILL');
    await p.typeAll('box run --name tethered busybox sleep 1000 &', 'until box ps | grep -q tethered; do sleep 0.2; done', 'kill -9 $!');
    await expectPass('tethered');
    expect((await p.type('box ps -a')).out).toMatch(/Exited \(137\)[^\n]*tethered/);
  }, 3 * T);

  it('shows what crosses the socket: the request, the answer, the terminal taken by the client, SO_PEERCRED in the engine', async () => {
    const client = await p.runStarting('strace -e trace=connect,write,read', /\+\+\+ exited with 0 \+\+\+\n[^\n]*[#$] *$/);
    expect(client).toMatch(/connect\(3, \{sa_family=AF_UNIX, sun_path="\/var\/lib\/box\/engine\.sock"\}, \d+\) = 0/);
    expect(client).toMatch(/write\(3, "box-engine 1\\0/);
    expect(client).toMatch(/\nhello\n/);
    expect(client).toMatch(/read\(3, "exit 0\\n"/);

    // -it: the client takes the terminal's master out of the container's box-init.
    await p.runStarting('strace -o /tmp/client.trace', /\n\/ # *$/);
    expect(await p.run('exit', PROMPT)).toContain('exit');
    const tty = await p.run('cat /tmp/client.trace', /exited with 0 \+\+\+\n[^\n]*[#$] *$/);
    expect(tty).toMatch(/connect\(3, [^\n]*engine\.sock"\}, \d+\) = 0\npidfd_open\(\d+, 0\)\s+= (\d+)\npidfd_getfd\(\1, \d+, 0\)\s+= \d+\n/);

    await p.run('E=$(cat /var/lib/box/engine.pid)', PROMPT);
    await p.runStarting('strace -q -p $E', /\[\d+\] \d+\n/);
    await p.typeAll('sleep 1'); // strace attaches
    await p.run('box run --rm busybox echo hello', /\nhello\n[^\n]*[#$] *$/, 1);
    await p.run('kill $!', PROMPT);
    await p.typeAll('sleep 1'); // strace writes its file and exits
    const engine = await p.run('cat /tmp/engine.trace', /pidfd_getfd\(\d+, 2, 0\)\s+= \d+\n/);
    expect(engine).toMatch(/getsockopt\(\d+, SOL_SOCKET, SO_PEERCRED, \{pid=\d+, uid=0, gid=0\}/);
    expect(engine).toMatch(/pidfd_getfd\(\d+, 1, 0\)\s+= \d+/);
  }, 3 * T);

  it('refuses nobody at the socket, and stops: the container it served goes with it', async () => {
    const nobody = await p.runStarting('setpriv --reuid=65534', /exited with 125 \+\+\+\n[^\n]*[#$] *$/);
    expect(nobody).toMatch(/connect\(3, [^\n]*engine\.sock"\}, \d+\) = -1 EACCES \(Permission denied\)/);
    expect(nobody).toContain('box: box run needs root');

    expect(await p.run('box engine stop', /engine stopped \(pid \d+\)\n[\s\S]*[#$] *$/)).toContain('engine stopped');
    // napper's client, still a job of the shell, ends with its container (SIGKILL: 128 + 9).
    expect((await p.type('wait; jobs; box engine status')).out).toContain("the engine is not running; 'box engine start' starts it");
    expect((await p.type('box inspect napper | grep ExitCode')).out).toMatch(/"ExitCode": 137/);
  }, 3 * T);

  it('real clients: the docker CLI and curl on the Engine API, the layers in engine.log, podman with box as its runtime', async () => {
    await realClients(p, REASONS.en);
    await p.run('box rm -f napper tethered detached from-docker', PROMPT);
  }, 6 * T);

  it('the same in Korean: the real clients, the exercise failed with its Korean reason, then passed', async () => {
    p = await lab.open('ko/engine');
    expect(await p.page.locator('html').getAttribute('lang')).toBe('ko');
    await realClients(p, REASONS.ko);
    expect(await p.exercise('real-client').locator('[data-testid="exercise-hint"]').textContent()).toMatch(/[가-힣]/);
  }, 6 * T);
});

// The real-client exercise's fail reasons as the reader sees them (the lesson's frontmatter).
const REASONS = {
  en: { missing: 'there is no container named from-docker', notApi: 'from-docker was made by box run, not through the Engine API: use docker with DOCKER_HOST' },
  ko: { missing: 'from-docker라는 이름의 컨테이너가 없습니다', notApi: 'from-docker는 Engine API가 아니라 box run이 만들었습니다. DOCKER_HOST를 설정한 docker를 쓰세요' },
};

/** The lesson's "Real clients" section from its Run buttons, with the real-client exercise. */
async function realClients(p: LessonPage, reasons: { missing: string; notApi: string }): Promise<void> {
  await p.run('BOX_API_DEBUG=1 box engine start', /engine started \(pid \d+\)[\s\S]*[#$] *$/);
  expect(await p.check('real-client')).toMatchObject({ status: 'fail', result: reasons.missing, hintShown: true });
  // A container of that name made by box, not by docker: not what the exercise asks.
  await p.typeAll('box run -d --name from-docker busybox sleep 1000');
  expect(await p.check('real-client')).toMatchObject({ status: 'fail', result: reasons.notApi });
  await p.typeAll('box rm -f from-docker');

  await p.run('export DOCKER_HOST=unix:///var/lib/box/engine.sock', PROMPT);
  expect(await p.runStarting('docker version --format', /box engine, API 1\.41\n[^\n]*[#$] *$/)).toContain('box engine, API 1.41');
  expect(await p.run('docker run --rm busybox echo hello from docker', /\nhello from docker\n[^\n]*[#$] *$/)).toContain('hello from docker');
  await p.typeAll('docker run -d --name from-docker busybox sleep 1000');
  await p.checkUntilPass('real-client');
  expect(await p.exercise('real-client').getAttribute('data-status')).toBe('pass');
  expect((await p.type('docker ps --format "{{.Names}} {{.Status}}"')).out).toMatch(/\nfrom-docker Up /);

  expect(await p.run('curl -s --unix-socket /var/lib/box/engine.sock http://box/_ping; echo', /\nOK\n[^\n]*[#$] *$/)).toContain('OK');
  const list = await p.run('curl -s --unix-socket /var/lib/box/engine.sock http://box/v1.41/containers/json', /\][^\n]*[#$] *$/);
  expect(list).toMatch(/"Names":\["\/from-docker"\]/);

  // The three layers in one file: the client's requests, then the runtime's system calls.
  const layers = await p.runStarting("grep -E 'api: ", /init: pivot_root[^\n]*\n[\s\S]*[#$] *$/);
  expect(layers).toMatch(/api: HEAD \/_ping/);
  expect(layers).toMatch(/api: POST \/v1\.41\/containers\/create\?name=from-docker/);
  expect(layers).toMatch(/api: upgrade POST \/v1\.41\/containers\/ID\/attach\?/);
  expect(layers).toMatch(/api: POST \/v1\.41\/containers\/ID\/wait\?condition=removed\n[^\n]*api: POST \/v1\.41\/containers\/ID\/start\n/);
  expect(layers).toMatch(/\[trace\] \$ POST \/containers\/from-docker\/start\n\[trace\] init: unshare\(CLONE_NEWNS/);

  // podman, with box as its OCI runtime.
  await p.runStarting('podman() {', PROMPT);
  await p.run('mkdir -p /var/tmp', PROMPT);
  await p.run('box save busybox -o /root/busybox.tar', PROMPT);
  expect(await p.run('podman load -q -i /root/busybox.tar', /Loaded image: [^\n]*\n[^\n]*[#$] *$/)).toContain('docker.io/library/busybox:latest');
  expect(await p.runStarting('podman --runtime /opt/box/runtime/bin/box run', /\nhello from podman\n[^\n]*[#$] *$/)).toContain('hello from podman');

  expect(await p.run('box engine stop', /engine stopped \(pid \d+\)\n[\s\S]*[#$] *$/, 1)).toContain('engine stopped');
  await p.run('unset DOCKER_HOST', PROMPT);
  await p.run('rm -rf /root/busybox.tar /var/lib/containers', PROMPT);
}
