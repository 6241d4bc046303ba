// The class's HTTP side for students: join with the code and a name, read one's own progress,
// say a lesson was read. In a class, a student's signed cookie (class.ts) stands in for the
// lab token; the join page and the assets it needs are open to everyone, nothing else is.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { originAllowed, parseCookies } from './auth.ts';
import { STUDENT_COOKIE } from './class.ts';
import type { Classroom } from './class.ts';
import type { StudentRow } from './store.ts';

export const CLASS_API = '/api/class/';
/** Bodies are a code and a name, or a lesson id: a kibibyte is plenty. */
const MAX_BODY = 1024;
const LESSON_ID = /^[a-z]{2}\/[a-z0-9-]{1,80}$/;

/** The student this request's cookie names, in this class. */
export function requestStudent(req: IncomingMessage, classroom: Classroom | undefined): StudentRow | undefined {
  return classroom?.studentOf(parseCookies(req.headers.cookie).get(STUDENT_COOKIE));
}

/** The join page (both languages) and what it loads. */
export function openInClass(pathname: string): boolean {
  return /^\/(?:[a-z]{2}\/)?join\/?$/.test(pathname) || pathname.startsWith('/_astro/') || pathname.startsWith('/fonts/')
    || pathname === '/favicon.svg' || pathname === '/favicon.ico';
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** A small JSON object body, or a string saying what is wrong with it. */
export function readJson(req: IncomingMessage): Promise<Record<string, unknown> | string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { resolve(`the request body is over ${MAX_BODY} bytes`); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('error', () => resolve('the request was cut off'));
    req.on('end', () => {
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        resolve(v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : 'the body must be a JSON object');
      } catch {
        resolve('the body must be JSON');
      }
    });
  });
}

const own = (o: Record<string, unknown>, k: string): unknown => Object.hasOwn(o, k) ? o[k] : undefined;

/** /api/class/join, /api/class/me, /api/class/read, /api/class/at. */
export async function handleClassApi(req: IncomingMessage, res: ServerResponse, pathname: string, classroom: Classroom): Promise<void> {
  const route = pathname.slice(CLASS_API.length);
  if (req.method === 'POST' && !originAllowed(req)) { json(res, 403, { error: 'the request must come from a page of this server (Origin)' }); return; }
  if (route === 'join' && req.method === 'POST') {
    const body = await readJson(req);
    if (typeof body === 'string') { json(res, 400, { error: body }); return; }
    const r = await classroom.join(req.socket.remoteAddress ?? '', own(body, 'code'), own(body, 'name'));
    if (!r.ok) { json(res, r.status, { error: r.message }); return; }
    json(res, 200, { class: classroom.cls.name, name: r.student.name }, { 'Set-Cookie': r.cookie });
    return;
  }
  const student = requestStudent(req, classroom);
  if (!student) { json(res, 401, { error: classroom.closed ? 'the class is closed' : 'join the class first' }); return; }
  if (route === 'me' && req.method === 'GET') {
    json(res, 200, { class: classroom.cls.name, name: student.name, progress: await classroom.store.progress(student.id) });
    return;
  }
  if ((route === 'read' || route === 'at') && req.method === 'POST') {
    const body = await readJson(req);
    const lesson = typeof body === 'string' ? undefined : own(body, 'lesson');
    if (typeof lesson !== 'string' || !LESSON_ID.test(lesson)) { json(res, 400, { error: 'lesson must be a lesson id such as "en/pid-namespaces"' }); return; }
    // 'at': the page the student opened (the roster's "current lesson"); 'read': read to the end.
    if (route === 'at') classroom.presence.set(student.id, lesson);
    else await classroom.store.markLessonRead(student.id, lesson);
    classroom.changed(student.id);
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    return;
  }
  json(res, 404, { error: `no such class request: ${req.method} ${pathname}` });
}
