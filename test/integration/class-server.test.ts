// A class on a real lab server (in this process, host-shell terminals: the class's rules are
// the server's, not the sandbox's): students join with the code and a name instead of the
// token, their checks are recorded on the server, each sees only their own terminal and
// progress, a wrong code is refused, attempts are rate-limited, and a restart keeps progress.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeTestDist, makeTestLessons, startInProcess } from '../e2e/harness.ts';
import WebSocket from 'ws';
import { LabClient } from '../e2e/lab-client.ts';
import { ClassStore } from '../../src/server/store.ts';
import { Classroom, JOIN_RATE } from '../../src/server/class.ts';
import type { LabServer } from '../../src/server/app.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-class-'));
let dbCount = 0;
/** A new class database (each test its own class); the restart test opens one twice. */
const newDb = () => path.join(tmp, `data-${++dbCount}`, 'class.db');
const lessonsDir = makeTestLessons();
const dist = makeTestDist();
fs.mkdirSync(path.join(dist, 'join'));
fs.writeFileSync(path.join(dist, 'join', 'index.html'), '<!doctype html><h1>Join the class</h1>');

const open: { server?: LabServer; store?: ClassStore; clients: LabClient[] } = { clients: [] };
afterEach(async () => {
  for (const c of open.clients.splice(0)) await c.close();
  await open.server?.close();
  await open.store?.close();
  open.server = undefined;
  open.store = undefined;
});
afterAll(() => {
  for (const d of [tmp, path.dirname(lessonsDir), dist]) fs.rmSync(d, { recursive: true, force: true });
});

async function startClass(dbFile = newDb(), maxPerStudent?: number): Promise<{ server: LabServer; room: Classroom; base: string }> {
  const store = await ClassStore.sqlite(dbFile);
  const room = await Classroom.open(store, 'Containers 101', 'teacher-token-'.padEnd(40, 'x'));
  const server = await startInProcess({ dist, lessonsDir, classroom: room, maxPerStudent });
  open.server = server;
  open.store = store;
  return { server, room, base: `http://127.0.0.1:${server.port}` };
}

async function join(base: string, code: string, name: string, origin: string | null = base): Promise<{ status: number; cookie: string; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/class/join`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...(origin ? { Origin: origin } : {}) },
    body: JSON.stringify({ code, name }),
  });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
  return { status: res.status, cookie, body: await res.json() as Record<string, unknown> };
}

function terminal(port: number, cookie: string, session?: string): LabClient {
  const c = new LabClient(port, { token: null, cookie, session });
  open.clients.push(c);
  return c;
}

async function me(base: string, cookie: string): Promise<{ status: number; body: { name?: string; progress?: { lessonsRead: { lesson: string }[]; exercises: { exercise: string; passedAt: number | null; lastPass: boolean }[] } } }> {
  const res = await fetch(`${base}/api/class/me`, { headers: { Cookie: cookie } });
  return { status: res.status, body: await res.json() as never };
}

describe('a class on the lab server', () => {
  it('sends a visitor without token to the join page; refuses a wrong code; a student needs no token', async () => {
    const { server, room, base } = await startClass();
    expect(room.cls.code).toMatch(/^[2-9A-HJKMNP-Z]{10}$/);
    const home = await fetch(`${base}/`, { redirect: 'manual' });
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/join/');
    expect((await fetch(`${base}/ko/lessons/x/`, { redirect: 'manual' })).headers.get('location')).toBe('/ko/join/');
    expect(await (await fetch(`${base}/join/`)).text()).toContain('Join the class');
    // The join page is open, the rest of the site is not.
    expect((await fetch(`${base}/lessons/en/pid-namespaces/`, { redirect: 'manual' })).status).toBe(303);

    const wrong = await join(base, 'ABCDEFGHJK', 'Ann');
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toMatch(/not the code of an open class/);
    expect(wrong.cookie).toBe('');
    expect((await join(base, room.cls.code, 'Ann', null)).status).toBe(403); // no Origin: not from our page
    expect((await join(base, room.cls.code, '   ')).status).toBe(400);

    // Typed in lower case with a dash in the middle, as a student might.
    const code = room.cls.code.toLowerCase();
    const ann = await join(base, `${code.slice(0, 5)}-${code.slice(5)}`, 'Ann');
    expect(ann.status).toBe(200);
    expect(ann.body).toEqual({ class: 'Containers 101', name: 'Ann' });
    expect(ann.cookie).toMatch(/^isolab_student=\d+\.[A-Za-z0-9_-]{43}$/);
    expect((await fetch(`${base}/`, { headers: { Cookie: ann.cookie } })).status).toBe(200);
    // A forged cookie is nobody.
    const forged = ann.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect((await me(base, forged)).status).toBe(401);
    const refused = terminal(server.port, forged);
    await refused.until(() => refused.closed || undefined, 10_000, 'refusal');
    expect(refused.messages).toEqual([]);
  });

  it('records checks per student, keeps each student to their own terminal and progress, and survives a restart', async () => {
    const dbFile = newDb();
    let { server, room, base } = await startClass(dbFile);
    const ann = await join(base, room.cls.code, 'Ann');
    const bob = await join(base, room.cls.code, 'Bob');

    const a = terminal(server.port, ann.cookie);
    await a.message('hello');
    a.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    expect((await a.message('check')).pass).toBe(false);
    await a.run('touch ~/isolab-flag');
    const from = a.messages.length;
    a.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    expect((await a.message('check', 15_000, from)).pass).toBe(true);

    // Bob cannot take Ann's terminal even knowing its session id.
    const b = terminal(server.port, bob.cookie, a.session);
    await b.until(() => b.closed || undefined, 10_000, 'refusal');
    expect(b.messages).toEqual([]);
    expect(a.closed).toBeNull();

    const readRes = await fetch(`${base}/api/class/read`, {
      method: 'POST', headers: { Cookie: ann.cookie, Origin: base, 'Content-Type': 'application/json' }, body: JSON.stringify({ lesson: 'en/test-lesson' }),
    });
    expect(readRes.status).toBe(204);
    const annMe = await me(base, ann.cookie);
    expect(annMe.body.name).toBe('Ann');
    expect(annMe.body.progress?.lessonsRead.map((r) => r.lesson)).toEqual(['en/test-lesson']);
    expect(annMe.body.progress?.exercises).toMatchObject([{ exercise: 'make-flag', lastPass: true }]);
    expect((await me(base, bob.cookie)).body.progress).toEqual({ lessonsRead: [], exercises: [] });

    // Restart: the same class (same code) and Ann's progress, on another device (a new join).
    const oldCode = room.cls.code;
    for (const c of open.clients.splice(0)) await c.close();
    await server.close();
    open.store!.close();
    open.server = undefined;
    open.store = undefined;
    ({ server, room, base } = await startClass(dbFile));
    expect(room.cls.code).toBe(oldCode);
    expect((await me(base, ann.cookie)).status).toBe(401); // cookies of the old run are not signed by this one
    const again = await join(base, oldCode, 'Ann');
    const after = await me(base, again.cookie);
    expect(after.body.progress?.exercises).toMatchObject([{ exercise: 'make-flag', lastPass: true }]);
    expect(after.body.progress?.exercises[0].passedAt).toBeGreaterThan(0);
    expect(after.body.progress?.lessonsRead.map((r) => r.lesson)).toEqual(['en/test-lesson']);
  });

  it('holds a student to --max-per-student terminals, on every device together', async () => {
    const { server, room, base } = await startClass(newDb(), 1);
    const ann = await join(base, room.cls.code, 'Ann');
    const bob = await join(base, room.cls.code, 'Bob');
    await terminal(server.port, ann.cookie).message('hello');
    // Another device of Ann's: another client cookie, the same student.
    const again = new LabClient(server.port, { token: null, cookie: ann.cookie, clientId: 'another-device-0123456789' });
    open.clients.push(again);
    expect((await again.message('full')).message).toBe('you already have 1 lab terminals open, the most one student may have; close another lab tab (its sandbox goes a minute later) and try again');
    await terminal(server.port, bob.cookie).message('hello');
  });

  it('rate-limits join attempts from one address', async () => {
    const { base } = await startClass();
    const statuses = [];
    for (let i = 0; i < JOIN_RATE.burst + 1; i++) statuses.push((await join(base, 'ZZZZZZZZZZ', 'Eve')).status);
    expect(statuses).toEqual([...Array(JOIN_RATE.burst).fill(403), 429]);
    const last = await join(base, 'ZZZZZZZZZZ', 'Eve');
    expect(last.body.error).toMatch(/too many tries; wait \d+ s/);
  });
});

/** Read Server-Sent Events until `want` holds for a roster. */
async function rosterUntil(base: string, cookie: string, want: (r: Roster) => boolean): Promise<Roster> {
  const ctl = new AbortController();
  const res = await fetch(`${base}/api/teach/events`, { headers: { Cookie: cookie }, signal: ctl.signal });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  let buf = '';
  let last = '';
  const deadline = setTimeout(() => ctl.abort(new Error(`the roster never got there; the last one: ${last}`)), 15_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buf += Buffer.from(value).toString('utf8');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (data && /^event: roster$/m.test(frame)) {
          last = data;
          const r = JSON.parse(data) as Roster;
          if (want(r)) return r;
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    ctl.abort();
  }
}
type Roster = import('../../src/server/instructor.ts').Roster;

describe('the instructor', () => {
  it('has a token of its own that opens the instructor page and API and nothing else', async () => {
    const { server, room, base } = await startClass();
    const bad = await fetch(`${base}/teach/?teacher=nope`, { redirect: 'manual' });
    expect(bad.status).toBe(401);
    expect((await fetch(`${base}/api/teach/roster`)).status).toBe(401);
    const ok = await fetch(`${base}/teach/?teacher=${room.instructorToken}`, { redirect: 'manual' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/teach/');
    const teacher = ok.headers.get('set-cookie')!.split(';')[0];
    expect(teacher).toBe(`isolab_teacher=${room.instructorToken}`);
    expect((await fetch(`${base}/api/teach/roster`, { headers: { Cookie: teacher } })).status).toBe(200);
    // What a student has too (the course and a sandbox of its own to present from), no student's API.
    expect((await fetch(`${base}/`, { headers: { Cookie: teacher }, redirect: 'manual' })).status).toBe(200);
    expect((await fetch(`${base}/api/class/me`, { headers: { Cookie: teacher } })).status).toBe(401);
    const t = terminal(server.port, teacher);
    expect((await t.message('hello')).sandbox).toMatch(/^lab-/);
    // A student's cookie is not the instructor's.
    const ann = await join(base, room.cls.code, 'Ann');
    expect((await fetch(`${base}/api/teach/roster`, { headers: { Cookie: ann.cookie } })).status).toBe(401);
  });

  it('sees joins, connections and passes live; exports CSV; resets a sandbox; closes the class', async () => {
    const { server, room, base } = await startClass();
    const teacher = `isolab_teacher=${room.instructorToken}`;
    const ann = await join(base, room.cls.code, '=Ann, "the first"');
    const bob = await join(base, room.cls.code, 'Bob');
    const a = terminal(server.port, ann.cookie);
    const b = terminal(server.port, bob.cookie);
    await a.message('hello');
    await b.message('hello');
    await fetch(`${base}/api/class/at`, { method: 'POST', headers: { Cookie: ann.cookie, Origin: base }, body: JSON.stringify({ lesson: 'en/test-lesson' }) });
    a.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'noisy-fail' });
    await a.message('check');

    let r = await rosterUntil(base, teacher, (x) => x.students.length === 2 && x.students.every((s) => s.connected) && x.students.some((s) => s.lastFail));
    const annRow = r.students.find((s) => s.name.startsWith('=Ann'))!;
    expect(annRow).toMatchObject({ lesson: 'en/test-lesson', passed: {}, lastFail: { exercise: 'noisy-fail', hint: 'Look closer' } });
    expect(annRow.lastFail!.why).toContain('expected 1, found 0');
    expect(r.class).toEqual({ name: 'Containers 101', code: room.cls.code, closed: false });
    expect(r.exercises.map((e) => e.key)).toEqual(['test-lesson/make-flag', 'test-lesson/slow', 'test-lesson/noisy-fail']);

    // Bob passes; the open stream shows it.
    await b.run('touch ~/isolab-flag');
    b.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
    r = await rosterUntil(base, teacher, (x) => !!x.students.find((s) => s.name === 'Bob')?.passed['test-lesson/make-flag']);

    const csv = await (await fetch(`${base}/api/teach/roster.csv`, { headers: { Cookie: teacher } })).text();
    const lines = csv.replace(/^\uFEFF/, '').trimEnd().split('\r\n');
    expect(lines[0]).toBe('name,connected,lesson,lessons read,exercises passed,test-lesson/make-flag,test-lesson/slow,test-lesson/noisy-fail');
    // A name that looks like a formula is quoted and defused.
    expect(lines[1]).toMatch(/^"'=Ann, ""the first""",yes,en\/test-lesson,0,0,,,$/);
    expect(lines[2]).toMatch(/^Bob,yes,,0,1,\d{4}-\d\d-\d\dT[\d:.]+Z,,$/);

    // Reset Bob: his page is told, Ann's terminal goes on.
    const reset = await fetch(`${base}/api/teach/reset`, { method: 'POST', headers: { Cookie: teacher, Origin: base }, body: JSON.stringify({ student: r.students.find((s) => s.name === 'Bob')!.id }) });
    expect(await reset.json()).toEqual({ reset: 1 });
    expect((await b.message('exit')).reason).toMatch(/your instructor reset your sandbox/);
    expect(a.closed).toBeNull();
    expect(await a.run('echo still-here')).toContain('still-here');
    // Without Origin (another site's form), nothing happens.
    expect((await fetch(`${base}/api/teach/close`, { method: 'POST', headers: { Cookie: teacher } })).status).toBe(403);

    const close = await fetch(`${base}/api/teach/close`, { method: 'POST', headers: { Cookie: teacher, Origin: base } });
    expect(await close.json()).toEqual({ closed: true });
    expect((await a.message('exit')).reason).toMatch(/your instructor closed the class/);
    expect((await join(base, room.cls.code, 'Carol')).status).toBe(403);
    expect((await me(base, ann.cookie)).status).toBe(401);
    expect(server.sessions.size).toBe(0);
  });
});

/** A read-only view (/ws/view): what it got, and a way to type into it. */
function view(port: number, cookie: string, query: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/view?${query}`, { headers: { Cookie: cookie }, origin: `http://127.0.0.1:${port}` });
  const got = { text: '', messages: [] as Record<string, unknown>[], closed: null as number | null, status: 0 };
  ws.on('message', (d, binary) => { if (binary) got.text += d.toString(); else got.messages.push(JSON.parse(d.toString()) as Record<string, unknown>); });
  ws.on('close', (code) => { got.closed = code; });
  ws.on('unexpected-response', (_req, res) => { got.status = res.statusCode ?? 0; got.closed = -1; });
  ws.on('error', () => {});
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
    if (!cond()) throw new Error(`viewer: timed out waiting for ${what}; got ${JSON.stringify(got).slice(-400)}`);
  };
  return { ws, got, until };
}

describe('read-only views', () => {
  it('the instructor watches a student\'s terminal; what the viewer types never reaches it', async () => {
    const { server, room, base } = await startClass();
    const teacher = `isolab_teacher=${room.instructorToken}`;
    const ann = await join(base, room.cls.code, 'Ann');
    const bob = await join(base, room.cls.code, 'Bob');
    const a = terminal(server.port, ann.cookie);
    await a.message('hello');
    await a.run('echo before-$((40+2))');
    const annId = (await room.store.students(room.cls.id)).find((s) => s.name === 'Ann')!.id;

    const v = view(server.port, teacher, `student=${annId}`);
    await v.until(() => v.got.text.includes('before-42'), 'the replay');
    expect(v.got.messages[0]).toMatchObject({ type: 'hello', view: true });
    await a.run('echo live-$((6*7))');
    await v.until(() => v.got.text.includes('live-42'), 'live output');

    // Keystrokes, a resize and a check from the viewer: all dropped.
    v.ws.send(Buffer.from('touch ~/viewer-typed; echo VIEWER-$((1+1))\r'), { binary: true });
    v.ws.send(JSON.stringify({ type: 'resize', cols: 20, rows: 5 }));
    v.ws.send(JSON.stringify({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' }));
    expect(await a.run('ls ~; echo done-$((2+3))')).toContain('done-5');
    expect(a.text()).not.toContain('VIEWER-2');
    expect(a.text()).not.toContain('viewer-typed');
    expect(v.got.text).not.toContain('VIEWER-2');
    expect(a.messages.filter((m) => m.type === 'check')).toEqual([]);
    v.ws.close();

    // A student may not watch another student, nor may someone without a cookie.
    const nosy = view(server.port, bob.cookie, `student=${annId}`);
    await nosy.until(() => nosy.got.closed !== null, 'refusal');
    expect(nosy.got.status).toBe(401);
    expect(nosy.got.text).toBe('');
    const stranger = view(server.port, '', 'presenter');
    await stranger.until(() => stranger.got.closed !== null, 'refusal');
    expect(stranger.got.status).toBe(401);
  });

  it('students follow the instructor\'s terminal (presenter mode), read-only', async () => {
    const { server, room, base } = await startClass();
    const teacher = `isolab_teacher=${room.instructorToken}`;
    const bob = await join(base, room.cls.code, 'Bob');
    const early = view(server.port, bob.cookie, 'presenter');
    await early.until(() => early.got.closed !== null, 'the close');
    expect(early.got.closed).toBe(1013);
    expect(early.got.messages).toEqual([{ type: 'error', message: 'the instructor has no terminal open yet' }]);

    const t = terminal(server.port, teacher);
    await t.message('hello');
    const f = view(server.port, bob.cookie, 'presenter');
    await f.until(() => f.got.messages.some((m) => m.type === 'hello'), 'hello');
    await t.run('echo demo-$((400+56))');
    await f.until(() => f.got.text.includes('demo-456'), 'the demo');
    f.ws.send(Buffer.from('echo FOLLOWER-$((3+3))\r'), { binary: true });
    expect(await t.run('echo after-$((1+1))')).toContain('after-2');
    expect(t.text()).not.toContain('FOLLOWER-6');
    f.ws.close();
  });
});

describe('typing in a student\'s terminal, with the student\'s permission', () => {
  it('refused until the student allows; allowed keys reach the terminal; a revoke, a reload or the view closing ends it', async () => {
    const { server, room, base } = await startClass();
    const teacher = `isolab_teacher=${room.instructorToken}`;
    const ann = await join(base, room.cls.code, 'Ann');
    const a = terminal(server.port, ann.cookie, 'ann-session-1');
    await a.message('hello');
    const annId = (await room.store.students(room.cls.id)).find((s) => s.name === 'Ann')!.id;
    const v = view(server.port, teacher, `student=${annId}`);
    await v.until(() => v.got.messages.some((m) => m.type === 'hello'), 'hello');
    expect(v.got.messages[0]).toMatchObject({ type: 'hello', view: true, mayAsk: true });
    const controls = () => a.messages.filter((m) => m.type === 'control');
    const viewStates = () => v.got.messages.filter((m) => m.type === 'control').map((m) => m.state);
    const refusals = () => v.got.messages.filter((m) => m.type === 'error' && /has not allowed you to type/.test(String(m.message))).length;
    const typeFromView = (text: string) => v.ws.send(Buffer.from(text), { binary: true });

    // Not asked: refused, and the student's terminal never sees it.
    typeFromView('echo NOTASKED-$((1+1))\r');
    await v.until(() => refusals() === 1, 'the refusal');
    // Asked: the student's page is told who asks; until it answers, keys are still refused.
    v.ws.send(JSON.stringify({ type: 'ask' }));
    await a.until(() => controls().length === 1 || undefined, 10_000, 'the request');
    expect(controls()[0]).toEqual({ type: 'control', state: 'asked', by: 'Containers 101' });
    await new Promise((r) => setTimeout(r, 1100)); // refusals are answered once a second
    typeFromView('echo PENDING-$((2+2))\r');
    await v.until(() => refusals() === 2, 'the second refusal');
    // Denied.
    a.send({ type: 'control', allow: false });
    await v.until(() => viewStates().join() === 'asked,none', 'the denial');
    await new Promise((r) => setTimeout(r, 1100));
    typeFromView('echo DENIED-$((3+3))\r');
    await v.until(() => refusals() === 3, 'the third refusal');
    expect(await a.run('echo check-$((5+5))')).toBe('check-10');
    for (const word of ['NOTASKED-2', 'PENDING-4', 'DENIED-6']) expect(a.text()).not.toContain(word);

    // Allowed: the instructor's keys reach the terminal, as if the student typed them.
    v.ws.send(JSON.stringify({ type: 'ask' }));
    await a.until(() => controls().length === 3 || undefined, 10_000, 'the second request'); // asked, none, asked
    a.send({ type: 'control', allow: true });
    await v.until(() => viewStates().at(-1) === 'allowed', 'the grant');
    await a.until(() => controls().at(-1)?.state === 'allowed' || undefined, 10_000, 'the grant on the page');
    typeFromView('echo ALLOWED-$((20+22))\r');
    await a.waitFor('ALLOWED-42');
    await v.until(() => v.got.text.includes('ALLOWED-42'), 'the echo in the view');

    // Revoked by the student: refused again.
    a.send({ type: 'control', allow: false });
    await v.until(() => viewStates().at(-1) === 'none', 'the revoke');
    await new Promise((r) => setTimeout(r, 1100));
    const before = refusals();
    typeFromView('echo REVOKED-$((7+7))\r');
    await v.until(() => refusals() === before + 1, 'the refusal after the revoke');
    expect(await a.run('echo check-$((6+6))')).toBe('check-12');
    expect(a.text()).not.toContain('REVOKED-14');

    // A grant belongs to the page that gave it: the student's reload ends it.
    v.ws.send(JSON.stringify({ type: 'ask' }));
    await a.until(() => controls().at(-1)?.state === 'asked' || undefined, 10_000, 'the third request');
    a.send({ type: 'control', allow: true });
    await v.until(() => viewStates().at(-1) === 'allowed', 'the second grant');
    await a.close();
    const a2 = terminal(server.port, ann.cookie, 'ann-session-1');
    await a2.message('hello');
    await new Promise((r) => setTimeout(r, 1100));
    typeFromView('echo RELOADED-$((8+8))\r');
    await v.until(() => viewStates().at(-1) === 'none', 'the grant ended');
    expect(await a2.run('echo check-$((7+7))')).toBe('check-14');
    expect(a2.text()).not.toContain('RELOADED-16');

    // The view closing while allowed tells the student's page it is over.
    v.ws.send(JSON.stringify({ type: 'ask' }));
    await a2.until(() => a2.messages.some((m) => m.type === 'control' && m.state === 'asked') || undefined, 10_000, 'the request');
    a2.send({ type: 'control', allow: true });
    await v.until(() => viewStates().at(-1) === 'allowed', 'the third grant');
    v.ws.close();
    await a2.until(() => a2.messages.filter((m) => m.type === 'control').at(-1)?.state === 'none' || undefined, 10_000, 'the end');
  });

  it('a student following the presenter cannot ask, and an answer nobody asked for changes nothing', async () => {
    const { server, room, base } = await startClass();
    const teacher = `isolab_teacher=${room.instructorToken}`;
    const bob = await join(base, room.cls.code, 'Bob');
    const t = terminal(server.port, teacher);
    await t.message('hello');
    const f = view(server.port, bob.cookie, 'presenter');
    await f.until(() => f.got.messages.some((m) => m.type === 'hello'), 'hello');
    expect(f.got.messages[0]).not.toHaveProperty('mayAsk');
    f.ws.send(JSON.stringify({ type: 'ask' }));
    f.ws.send(Buffer.from('echo FOLLOWER-$((3+3))\r'), { binary: true });
    expect(await t.run('echo after-$((1+1))')).toBe('after-2');
    expect(t.messages.filter((m) => m.type === 'control')).toEqual([]);
    expect(t.text()).not.toContain('FOLLOWER-6');

    const b = terminal(server.port, bob.cookie);
    await b.message('hello');
    b.send({ type: 'control', allow: true }); // nobody asked
    await b.until(() => b.messages.some((m) => m.type === 'control') || undefined, 10_000, 'the answer');
    expect(b.messages.filter((m) => m.type === 'control')).toEqual([{ type: 'control', state: 'none' }]);
    b.send({ type: 'control', allow: 'yes' });
    expect((await b.message('error')).message).toBe('control needs "allow": true or false');
  });
});
