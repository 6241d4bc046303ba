// A class on a real lab server (in this process, host-shell terminals: the class's rules are
// the server's, not the sandbox's): students join with the code and a name instead of the
// token, their checks are recorded on the server, each sees only their own terminal and
// progress, a wrong code is refused, attempts are rate-limited, and a restart keeps progress.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeTestDist, makeTestLessons, startInProcess } from '../e2e/harness.ts';
import { LabClient, newSessionId } from '../e2e/lab-client.ts';
import { ClassStore } from '../../src/server/store.ts';
import { Classroom, JOIN_RATE } from '../../src/server/class.ts';
import type { LabServer } from '../../src/server/app.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-class-'));
const dbFile = path.join(tmp, 'data', 'class.db');
const lessonsDir = makeTestLessons();
const dist = makeTestDist();
fs.mkdirSync(path.join(dist, 'join'));
fs.writeFileSync(path.join(dist, 'join', 'index.html'), '<!doctype html><h1>Join the class</h1>');

const open: { server?: LabServer; store?: ClassStore; clients: LabClient[] } = { clients: [] };
afterEach(async () => {
  for (const c of open.clients.splice(0)) await c.close();
  await open.server?.close();
  open.store?.close();
  open.server = undefined;
  open.store = undefined;
});
afterAll(() => {
  for (const d of [tmp, path.dirname(lessonsDir), dist]) fs.rmSync(d, { recursive: true, force: true });
});

async function startClass(): Promise<{ server: LabServer; room: Classroom; base: string }> {
  const store = new ClassStore(dbFile);
  const room = Classroom.open(store, 'Containers 101', 'teacher-token-'.padEnd(40, 'x'));
  const server = await startInProcess({ dist, lessonsDir, classroom: room });
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
    let { server, room, base } = await startClass();
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
    ({ server, room, base } = await startClass());
    expect(room.cls.code).toBe(oldCode);
    expect((await me(base, ann.cookie)).status).toBe(401); // cookies of the old run are not signed by this one
    const again = await join(base, oldCode, 'Ann');
    const after = await me(base, again.cookie);
    expect(after.body.progress?.exercises).toMatchObject([{ exercise: 'make-flag', lastPass: true }]);
    expect(after.body.progress?.exercises[0].passedAt).toBeGreaterThan(0);
    expect(after.body.progress?.lessonsRead.map((r) => r.lesson)).toEqual(['en/test-lesson']);
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
