// The terminal WebSocket for real: a listening lab server, real ptys, real shells.
// Every test runs with the host-shell driver (plumbing only, no isolation) and again with
// the real `box --lab` sandbox when this machine can run it.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import type { LabServer } from '../../src/server/app.ts';
import { HIGH_WATERMARK } from '../../src/server/flow.ts';
import { BOX, sleep, TEST_TOKEN } from '../e2e/harness.ts';
import type { InProcessOptions } from '../e2e/harness.ts';
import { LabClient, newSessionId } from '../e2e/lab-client.ts';
import type { ClientOptions } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';
import { closedAfterEach, LAB_DRIVERS, startLab, stepTimeout } from './lab-servers.ts';

const { open, clients } = closedAfterEach();

describe.each(LAB_DRIVERS)('terminal over WebSocket ($driver)', ({ driver, missing }) => {
  const T = stepTimeout(driver);

  const server = (o: InProcessOptions = {}) => startLab(driver, open, o);

  async function connect(s: LabServer, o: ClientOptions = {}): Promise<LabClient> {
    const c = new LabClient(s.port, { token: TEST_TOKEN, ...o });
    clients.push(c);
    await c.opened();
    return c;
  }

  /** Connected, greeted and with a prompt that runs commands. */
  async function ready(s: LabServer, o: ClientOptions = {}): Promise<LabClient> {
    const c = await connect(s, o);
    await c.message('hello', T);
    expect(await c.run('echo ready', T)).toBe('ready');
    return c;
  }

  function gone(name: string, home: string): Promise<boolean> {
    if (driver === 'host-shell') return Promise.resolve(!fs.existsSync(home));
    return new Promise((resolve) => execFile(BOX, ['exec', name, 'true'], { timeout: 30_000 }, (e) => resolve(e !== null)));
  }

  needs(missing).it('greets, runs what is typed and echoes it back', async () => {
    const s = await server();
    const c = await connect(s);
    const hello = await c.message('hello', T);
    expect(hello).toMatchObject({ type: 'hello', session: c.session, resumed: false });
    expect(hello.sandbox).toMatch(/^lab-[0-9a-f]{8}$/);
    expect(await c.run('echo $((6 * 7))', T)).toBe('42');
  }, 2 * T);

  needs(missing).it('resizes the pty, and refuses 0x0 and 100000x100000 without dropping the connection', async () => {
    const s = await server();
    const c = await ready(s, { cols: 100, rows: 30 });
    expect(await c.run('stty size')).toBe('30 100');
    c.send({ type: 'resize', cols: 132, rows: 43 });
    expect(await c.run('stty size')).toBe('43 132');
    const before = c.messages.length;
    c.send({ type: 'resize', cols: 0, rows: 0 });
    c.send({ type: 'resize', cols: 100000, rows: 100000 });
    await c.until(() => c.messages.length >= before + 2);
    expect(c.messages.slice(before).map((m) => m.type)).toEqual(['error', 'error']);
    expect(String(c.messages[before].message)).toMatch(/cols 1\.\.500, rows 1\.\.200/);
    expect(await c.run('stty size')).toBe('43 132');
  }, 2 * T);

  needs(missing).it('answers malformed and unknown messages with an error frame and goes on', async () => {
    const s = await server();
    const c = await ready(s);
    const before = c.messages.length;
    for (const bad of ['{not json', '[]', '"text"', '{"type":"launch-missiles"}', '{"type":"check","lesson":"../x","exercise":"y"}']) c.ws.send(bad);
    await c.until(() => c.messages.length >= before + 5);
    expect(c.messages.slice(before).map((m) => [m.type, String(m.message).split(' ')[0]])).toEqual([
      ['error', 'malformed'], ['error', 'a'], ['error', 'a'], ['error', 'unknown'], ['error', 'check'],
    ]);
    expect(await c.run('echo still-here')).toBe('still-here');
  }, 2 * T);

  needs(missing).it('closes a socket that sends over 64 KiB at once (1009) and keeps serving the others', async () => {
    const s = await server();
    const a = await ready(s);
    const b = await ready(s);
    b.ws.send(Buffer.alloc(70 * 1024, 0x61), { binary: true });
    await b.until(() => b.closed, T, 'the close');
    expect(b.closed!.code).toBe(1009);
    expect(await a.run('echo a-still-works')).toBe('a-still-works');
    // The session of the closed socket is kept for a reload.
    const again = await connect(s, { session: b.session });
    expect((await again.message('hello', T)).resumed).toBe(true);
  }, 2 * T);

  needs(missing).it('stops sending at the high watermark until the page acks (flow control)', async () => {
    const s = await server();
    const c = await ready(s, { ack: 'manual' });
    // Ack the greeting and prompt so the count starts near zero.
    c.ack(c.received);
    c.type('yes flow-control-test-line\r');
    await sleep(2500);
    const plateau = c.received;
    expect(plateau).toBeGreaterThan(HIGH_WATERMARK / 2);
    expect(plateau).toBeLessThan(HIGH_WATERMARK + 256 * 1024);
    await sleep(1000);
    expect(c.received).toBe(plateau);
    // Ack what we have: the output flows again.
    c.ack(c.received);
    await c.until(() => c.received > plateau + 100 * 1024, T, 'output after the ack');
    c.type('\x03');
    // Drain with acks until the prompt answers again.
    const drain = setInterval(() => c.ack(c.received), 20);
    try {
      expect(await c.run('echo after-yes', T)).toBe('after-yes');
    } finally {
      clearInterval(drain);
    }
  }, 3 * T);

  needs(missing).it('reload: the same session id resumes the same sandbox, replays the screen and keeps files', async () => {
    const s = await server();
    const a = await ready(s);
    const name = (await a.message('hello')).sandbox;
    expect(await a.run('echo made-before-reload > ~/reload-marker; echo screen-$((1000+337))')).toBe('screen-1337');
    await a.close();
    const b = await connect(s, { session: a.session });
    const hello = await b.message('hello', T);
    expect(hello).toMatchObject({ resumed: true, sandbox: name });
    await b.waitFor('screen-1337'); // the replayed scrollback
    expect(await b.run('cat ~/reload-marker')).toBe('made-before-reload');
  }, 2 * T);

  needs(missing).it('a second socket with the same session takes it over; the first is told and closed (4001)', async () => {
    const s = await server();
    const a = await ready(s);
    const b = await connect(s, { session: a.session });
    expect((await b.message('hello', T)).resumed).toBe(true);
    await a.until(() => a.closed, T, 'the first socket to close');
    expect(a.closed!.code).toBe(4001);
    expect(a.messages.find((m) => m.type === 'error')?.message).toMatch(/another tab/);
    expect(await b.run('echo b-has-it')).toBe('b-has-it');
  }, 2 * T);

  needs(missing).it('removes a sandbox whose page does not come back within the grace period', async () => {
    const s = await server({ graceMs: 1000 });
    const a = await ready(s);
    const name = String((await a.message('hello')).sandbox);
    const home = await a.run('echo $HOME');
    await a.close();
    // The session ends once the grace period is over: wait for that, not for a fixed time.
    await expect.poll(() => s.sessions.size, { timeout: T, interval: 100 }).toBe(0);
    await expect.poll(() => gone(name, home), { timeout: T }).toBe(true);
    const b = await connect(s, { session: a.session });
    const hello = await b.message('hello', T);
    expect(hello.resumed).toBe(false);
    expect(hello.sandbox).not.toBe(name);
  }, 3 * T);

  needs(missing).it('says the lab is full past --max-sandboxes (1013), and has room again when one ends', async () => {
    const s = await server({ maxSandboxes: 2, graceMs: 500 });
    const a = await ready(s);
    await ready(s);
    const c = await connect(s);
    const full = await c.message('full', T);
    expect(full).toMatchObject({ position: 1, message: 'the lab is full; you are number 1 in the queue, and this page tries again by itself' });
    await c.until(() => c.closed, T, 'the close');
    expect(c.closed!.code).toBe(1013);
    expect(await a.run('echo a-unaffected')).toBe('a-unaffected');
    if (driver === 'host-shell') {
      a.type('exit\r');
      await a.message('exit', T);
    } else {
      // A box sandbox outlives `exit` (the shell keeper): it ends when its page has gone for
      // the grace period.
      await a.close();
      for (const t0 = Date.now(); s.sessions.size >= 2 && Date.now() - t0 < T;) await sleep(100);
      expect(s.sessions.size).toBeLessThan(2);
    }
    // The freed sandbox is owed to the first in the line (c): a newcomer waits behind it.
    const late = await connect(s);
    expect((await late.message('full', T)).position).toBe(2);
    await ready(s, { session: c.session });
  }, 3 * T);

  needs(missing).it('removes an idle sandbox and tells the page why', async () => {
    const s = await server({ idleMs: 1500 });
    const c = await ready(s);
    const exit = await c.message('exit', T);
    expect(exit.code).toBe(129);
    expect(exit.reason).toMatch(/^this sandbox was removed after 2 seconds without input/);
    expect(c.messages.find((m) => m.type === 'error')?.message).toBe(exit.reason);
    await c.until(() => c.closed, T, 'the close');
    expect(c.closed!.code).toBe(1000);
    expect(s.sessions.size).toBe(0);
  }, 2 * T);

  (driver === 'box' ? needs(missing).it : it.skip)('box: exit starts a new shell in the same sandbox, and says so (OSC 777)', async () => {
    const s = await server();
    const a = await ready(s);
    const name = (await a.message('hello')).sandbox;
    await a.run('touch /root/still-here');
    a.type('exit 3\r');
    await a.until(() => Buffer.concat(a.bytes).includes('\x1b]777;isolab;shell-restarted\x07'), T, 'the restart note');
    expect(await a.run('ls /root/still-here', T)).toBe('/root/still-here');
    expect(a.messages.some((m) => m.type === 'exit')).toBe(false);
    expect(a.closed).toBe(null);
    expect((await connect(s, { session: a.session })).session).toBe(a.session);
    void name;
  }, 2 * T);

  (driver === 'box' ? it.skip : needs(missing).it)('reports the shell exit status; the same session id then gets a fresh sandbox', async () => {
    const s = await server();
    const a = await ready(s);
    const name = (await a.message('hello')).sandbox;
    a.type('exit 3\r');
    expect((await a.message('exit', T)).code).toBe(3);
    await a.until(() => a.closed, T, 'the close');
    expect(a.closed!.code).toBe(1000);
    const b = await connect(s, { session: a.session });
    const hello = await b.message('hello', T);
    expect(hello.resumed).toBe(false);
    expect(hello.sandbox).not.toBe(name);
  }, 2 * T);

  needs(missing).it('runs exercise checks from content/exercises: fail, then pass (the hint is the page\'s own)', async () => {
    const s = await server();
    const c = await ready(s);
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    const fail = await c.message('check', T);
    expect(fail).toMatchObject({ exercise: 'make-flag', pass: false, hint: '' });
    await c.run('touch ~/isolab-flag');
    const from = c.messages.length;
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    expect(await c.message('check', T, from)).toMatchObject({ exercise: 'make-flag', pass: true, hint: '' });
    const from2 = c.messages.length;
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'noisy-fail' });
    const noisy = await c.message('check', T, from2);
    expect(noisy).toMatchObject({ pass: false, hint: '' });
    expect(noisy.detail).toContain('expected 1, found 0');
  }, 2 * T);

  needs(missing).it('refuses unknown lessons and exercises, and a second check while one runs', async () => {
    const s = await server();
    const c = await ready(s);
    const from = c.messages.length;
    c.send({ type: 'check', lesson: 'en/no-such-lesson', exercise: 'x' });
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'no-such-exercise' });
    await c.until(() => c.messages.length >= from + 2);
    expect(c.messages.slice(from).map((m) => m.message)).toEqual([
      'there is no lesson "en/no-such-lesson"',
      'lesson "en/test-lesson" has no exercise "no-such-exercise"',
    ]);
    const from2 = c.messages.length;
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'slow' });
    c.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    expect((await c.message('error', T, from2)).message).toMatch(/already running/);
    // The slow one is cut at 10 s.
    const slow = await c.message('check', 20_000, from2);
    expect(slow).toMatchObject({ exercise: 'slow', pass: false, hint: '' });
    expect(slow.detail).toBe('the check did not finish within 10 s');
  }, 3 * T);

  needs(missing).it('on shutdown tells every page (1001) and removes every sandbox', async () => {
    const s = await server();
    const a = await ready(s);
    const b = await ready(s);
    const names = [String((await a.message('hello')).sandbox), String((await b.message('hello')).sandbox)];
    const homes = [await a.run('echo $HOME'), await b.run('echo $HOME')];
    await s.close();
    open.splice(open.indexOf(s), 1);
    await a.until(() => a.closed, T, 'a to close');
    expect(a.closed!.code).toBe(1001);
    expect(a.messages.some((m) => m.type === 'error' && /shutting down/.test(String(m.message)))).toBe(true);
    for (let i = 0; i < 2; i++) expect(await gone(names[i], homes[i])).toBe(true);
  }, 2 * T);

  needs(missing).it('two sessions are two different sandboxes', async () => {
    const s = await server();
    const a = await ready(s);
    const b = await ready(s);
    expect((await a.message('hello')).sandbox).not.toBe((await b.message('hello')).sandbox);
    await a.run('echo only-in-a > ~/which');
    expect(await b.run('cat ~/which 2>/dev/null || echo none')).toBe('none');
  }, 2 * T);
});

describe('session ids', () => {
  it('are random per client', () => {
    expect(newSessionId()).not.toBe(newSessionId());
  });
});
