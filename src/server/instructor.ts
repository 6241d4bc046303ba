// The instructor's side of a class: the roster (who is connected, on which lesson, what passed,
// the last failing check and its hint), the per-exercise matrix, a CSV of it, resetting a
// student's sandbox and closing the class. Live over Server-Sent Events.
//
// The instructor holds a token of its own (printed at start, /teach/?teacher=…), traded for an
// HttpOnly cookie like the lab token. It opens /teach/ and /api/teach/ and nothing else: not a
// terminal, not a student's page, not the lab token's site.

import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { localLocation, originAllowed, parseCookies, requestUrl } from './auth.ts';
import { readFrontmatter } from './checks.ts';
import type { Classroom } from './class.ts';
import { json, readJson } from './class-http.ts';
import type { SessionManager } from './sessions.ts';

export const TEACH_COOKIE = 'isolab_teacher';
export const TEACH_API = '/api/teach/';
/** Roster frames at most this often; a change sooner waits for the next turn. */
const ROSTER_EVERY_MS = 250;
/** A comment line now and then keeps proxies from closing a quiet event stream. */
const HEARTBEAT_MS = 15_000;

/** /teach/ in every language. */
export function isTeachPage(pathname: string): boolean {
  return /^\/(?:[a-z]{2}\/)?teach\/?$/.test(pathname);
}

/** One exercise of the course, shared by every language of its lesson (keyed by the lesson's slug). */
export interface CourseExercise {
  slug: string;
  exercise: string;
  chapter: number;
  /** The lesson's title and the hint and reasons, per language. */
  titles: Record<string, string>;
  hints: Record<string, string>;
  reasons: Record<string, Record<string, string>>;
}

/** Every exercise of every lesson, in chapter order (read once: lessons do not change during a class). */
export function readCourse(repo: string, lessonsDir: string): CourseExercise[] {
  const bySlug = new Map<string, CourseExercise[]>();
  for (const lang of fs.existsSync(lessonsDir) ? fs.readdirSync(lessonsDir) : []) {
    if (!/^[a-z]{2}$/.test(lang)) continue;
    for (const file of fs.readdirSync(path.join(lessonsDir, lang))) {
      const m = /^([a-z0-9][a-z0-9-]*)\.mdx?$/.exec(file);
      if (!m) continue;
      let fm: Record<string, unknown>;
      try { fm = readFrontmatter(repo, fs.readFileSync(path.join(lessonsDir, lang, file), 'utf8')); } catch { continue; }
      const list = Array.isArray(fm.exercises) ? fm.exercises as Record<string, unknown>[] : [];
      const known = bySlug.get(m[1]) ?? [];
      for (const e of list) {
        if (!e || typeof e.id !== 'string') continue;
        let row = known.find((k) => k.exercise === e.id);
        if (!row) {
          row = { slug: m[1], exercise: e.id, chapter: Number(fm.chapter) || 0, titles: {}, hints: {}, reasons: {} };
          known.push(row);
        }
        row.titles[lang] = String(fm.title ?? m[1]);
        if (typeof e.hint === 'string') row.hints[lang] = e.hint;
        if (e.reasons && typeof e.reasons === 'object') row.reasons[lang] = e.reasons as Record<string, string>;
      }
      bySlug.set(m[1], known);
    }
  }
  return [...bySlug.values()].flat().sort((a, b) => a.chapter - b.chapter || a.slug.localeCompare(b.slug));
}

export interface RosterStudent {
  id: number;
  name: string;
  connected: boolean;
  /** The lesson the student's page is on ("en/pid-namespaces"), or ''. */
  lesson: string;
  lessonsRead: number;
  /** "slug/exercise" -> when it first passed (ms since the epoch). */
  passed: Record<string, number>;
  lastFail: { lesson: string; exercise: string; at: number; why: string; hint: string } | null;
}

export interface Roster {
  class: { name: string; code: string; closed: boolean };
  exercises: { key: string; slug: string; exercise: string; title: string }[];
  students: RosterStudent[];
}

function slugOf(lesson: string): [string, string] {
  const [lang = 'en', slug = ''] = lesson.split('/');
  return [lang, slug];
}

export async function buildRoster(classroom: Classroom, sessions: SessionManager, course: CourseExercise[]): Promise<Roster> {
  const { store, cls } = classroom;
  const connected = new Set(sessions.all().filter((s) => s.attachment !== null).map((s) => s.client.student));
  const [reads, rows, list] = await Promise.all([store.classLessonsRead(cls.id), store.classExercises(cls.id), store.students(cls.id)]);
  const students = list.map((st): RosterStudent => {
    const mine = rows.filter((r) => r.studentId === st.id);
    const passed: Record<string, number> = {};
    for (const r of mine) {
      if (r.passedAt === null) continue;
      const key = `${slugOf(r.lesson)[1]}/${r.exercise}`;
      passed[key] = Math.min(passed[key] ?? Infinity, r.passedAt);
    }
    // The latest answer that failed and has not passed since.
    const failing = mine.filter((r) => !r.lastPass).sort((a, b) => b.lastAt - a.lastAt)[0];
    let lastFail: RosterStudent['lastFail'] = null;
    if (failing) {
      const [lang, slug] = slugOf(failing.lesson);
      const ex = course.find((c) => c.slug === slug && c.exercise === failing.exercise);
      const keys = [...failing.lastDetail.matchAll(/^fail: ([a-z0-9-]+)\s*$/gm)].map((m) => m[1]);
      const key = keys[keys.length - 1];
      const reasons = ex?.reasons[lang] ?? {};
      const why = key !== undefined && Object.hasOwn(reasons, key) ? reasons[key] : failing.lastDetail.slice(-300);
      lastFail = { lesson: failing.lesson, exercise: failing.exercise, at: failing.lastAt, why, hint: ex?.hints[lang] ?? ex?.hints.en ?? '' };
    }
    return {
      id: st.id, name: st.name, connected: connected.has(st.id), lesson: classroom.presence.get(st.id) ?? '',
      lessonsRead: reads.get(st.id) ?? 0, passed, lastFail,
    };
  });
  return {
    class: { name: cls.name, code: cls.code, closed: classroom.closed },
    exercises: course.map((c) => ({ key: `${c.slug}/${c.exercise}`, slug: c.slug, exercise: c.exercise, title: c.titles.en ?? Object.values(c.titles)[0] ?? c.slug })),
    students,
  };
}

/** A CSV cell: quoted when needed, and never read as a formula by a spreadsheet. */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function rosterCsv(roster: Roster): string {
  const head = ['name', 'connected', 'lesson', 'lessons read', 'exercises passed', ...roster.exercises.map((e) => e.key)];
  const lines = [head, ...roster.students.map((s) => [
    s.name, s.connected ? 'yes' : 'no', s.lesson, String(s.lessonsRead), String(Object.keys(s.passed).length),
    ...roster.exercises.map((e) => (s.passed[e.key] ? new Date(s.passed[e.key]).toISOString() : '')),
  ])];
  return lines.map((l) => l.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

export interface TeachContext {
  classroom: Classroom;
  sessions: SessionManager;
  course: CourseExercise[];
  log: (line: string) => void;
}

function teachCookie(token: string): string {
  return `${TEACH_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** Is this the instructor (their cookie)? */
export function isTeacher(req: IncomingMessage, classroom: Classroom): boolean {
  return classroom.isInstructor(parseCookies(req.headers.cookie).get(TEACH_COOKIE));
}

/**
 * /teach/ and /api/teach/. Returns false when the request is not the instructor's (the caller
 * answers 401); `serve` sends the page itself.
 */
export async function handleTeach(req: IncomingMessage, res: ServerResponse, ctx: TeachContext, serve: () => void): Promise<boolean> {
  const url = requestUrl(req.url)!;
  const given = url.searchParams.get('teacher');
  if (given !== null) {
    if (!ctx.classroom.isInstructor(given)) return false;
    url.searchParams.delete('teacher');
    res.writeHead(303, { 'Set-Cookie': teachCookie(given), Location: localLocation(url.pathname + url.search), 'Cache-Control': 'no-store' });
    res.end();
    return true;
  }
  if (!isTeacher(req, ctx.classroom)) return false;
  if (isTeachPage(url.pathname)) { serve(); return true; }
  const route = url.pathname.slice(TEACH_API.length);
  const { classroom, sessions, course } = ctx;
  if (req.method === 'POST' && !originAllowed(req)) { json(res, 403, { error: 'the request must come from a page of this server (Origin)' }); return true; }
  if (route === 'roster' && req.method === 'GET') { json(res, 200, await buildRoster(classroom, sessions, course)); return true; }
  if (route === 'roster.csv' && req.method === 'GET') {
    const name = classroom.cls.name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-|-$/g, '') || 'class';
    res.writeHead(200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${name}.csv"`, 'Cache-Control': 'no-store' });
    res.end('\uFEFF' + rosterCsv(await buildRoster(classroom, sessions, course))); // the BOM: spreadsheets then read UTF-8 names right
    return true;
  }
  if (route === 'events' && req.method === 'GET') { streamRoster(req, res, ctx); return true; }
  if (route === 'reset' && req.method === 'POST') {
    const body = await readJson(req);
    const id = typeof body === 'string' ? undefined : body.student;
    if (typeof id !== 'number' || !(await classroom.store.students(classroom.cls.id)).some((s) => s.id === id)) {
      json(res, 400, { error: 'student must be the id of a student of this class' });
      return true;
    }
    const n = sessions.endMatching((s) => s.client.student === id, { code: 'srvInstructorReset' });
    ctx.log(`isolab: class: the instructor reset ${n} sandbox(es) of student ${id}`);
    classroom.changed(id);
    json(res, 200, { reset: n });
    return true;
  }
  if (route === 'close' && req.method === 'POST') {
    await classroom.close();
    const n = sessions.endMatching((s) => s.client.student !== undefined, { code: 'srvClassClosed' });
    ctx.log(`isolab: class "${classroom.cls.name}" closed; ${n} sandbox(es) removed`);
    classroom.changed(0);
    json(res, 200, { closed: true });
    return true;
  }
  json(res, 404, { error: `no such instructor request: ${req.method} ${url.pathname}` });
  return true;
}

/** Server-Sent Events: the whole roster whenever it changed (a student's check, join, connection). */
function streamRoster(req: IncomingMessage, res: ServerResponse, ctx: TeachContext): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  let sending = false;
  const send = async () => {
    timer = undefined;
    if (sending) { soon(); return; } // one query at a time; the change is looked at next turn
    sending = true;
    try {
      const text = JSON.stringify(await buildRoster(ctx.classroom, ctx.sessions, ctx.course));
      if (text === last || res.destroyed) return;
      last = text;
      res.write(`event: roster\ndata: ${text}\n\n`);
    } catch (e) {
      ctx.log(`isolab: class: the roster: ${(e as Error).message}`); // the database away for a moment: the next turn tries again
    } finally { sending = false; }
  };
  const soon = () => { timer ??= setTimeout(() => void send(), ROSTER_EVERY_MS); };
  void send();
  // Connections come and go without an event of their own: look once a second.
  const poll = setInterval(soon, 1000);
  const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  ctx.classroom.events.on('student', soon);
  const stop = () => {
    clearInterval(poll);
    clearInterval(beat);
    clearTimeout(timer);
    ctx.classroom.events.off('student', soon);
  };
  req.socket.setTimeout(0);
  res.on('close', stop);
  res.on('error', stop);
}
