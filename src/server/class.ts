// A class: a name, a join code the instructor reads out, and an instructor's token.
// A student who gives the code and a display name becomes a student of the class (no
// account); the server remembers it in a signed cookie, so the student needs no lab token.
//
// The code is 10 characters from 31 unambiguous ones (no 0/O, 1/I/L): 31^10 ≈ 8e14. With at
// most JOIN_RATE.burst wrong tries at once and then one every 2 s per address, guessing it in
// a two-hour class has a chance of about 1 in 10^11. Right codes cost nothing, so thirty
// students behind one NAT address join at once.

import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ClassRow, ClassStore, StudentRow } from './store.ts';
import { tokenMatches } from './auth.ts';

export const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const CODE_LENGTH = 10;
export const STUDENT_COOKIE = 'isolab_student';
/** Join attempts per remote address: a few at once, then one every 2 s. */
export const JOIN_RATE = { burst: 5, perSecond: 0.5 } as const;
/** A display name: 1 to 40 characters, no control characters. */
export const MAX_NAME = 40;

export function newJoinCode(): string {
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return s;
}

/** What a student typed: spaces and dashes dropped, upper case. */
export function normalizeCode(typed: string): string {
  return typed.replace(/[\s-]/g, '').toUpperCase();
}

/** The display name as kept, or null when it is empty, too long or has control characters. */
export function cleanName(typed: unknown): string | null {
  if (typeof typed !== 'string') return null;
  const name = typed.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (name.length === 0 || [...name].length > MAX_NAME || /[\p{Cc}\p{Cf}]/u.test(name)) return null;
  return name;
}

/** Per-address token buckets for join attempts (the map forgets full buckets). */
export class JoinLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  constructor(now: () => number = Date.now) { this.now = now; }

  /** True: this attempt may go on. False: wait `retryMs(address)`. */
  take(address: string): boolean {
    const t = this.now();
    const b = this.buckets.get(address) ?? { tokens: JOIN_RATE.burst, at: t };
    b.tokens = Math.min(JOIN_RATE.burst, b.tokens + ((t - b.at) / 1000) * JOIN_RATE.perSecond);
    b.at = t;
    if (this.buckets.size > 10_000) this.sweep();
    if (b.tokens < 1) { this.buckets.set(address, b); return false; }
    b.tokens -= 1;
    this.buckets.set(address, b);
    return true;
  }

  /** May this address try now? (Only failed tries are taken: a class behind one NAT joins freely.) */
  canTry(address: string): boolean {
    const b = this.buckets.get(address);
    return !b || b.tokens + ((this.now() - b.at) / 1000) * JOIN_RATE.perSecond >= 1;
  }

  retryMs(address: string): number {
    const b = this.buckets.get(address);
    return b ? Math.max(0, Math.ceil(((1 - b.tokens) / JOIN_RATE.perSecond) * 1000)) : 0;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) / 1000) * JOIN_RATE.perSecond >= JOIN_RATE.burst) this.buckets.delete(k);
  }
}

export type JoinResult =
  | { ok: true; student: StudentRow; cookie: string }
  | { ok: false; status: number; message: string };

/** The class this server runs, and who may do what in it. */
export class Classroom {
  readonly limiter: JoinLimiter;
  /** The lesson each student's page is on (class-http.ts /api/class/at); kept in memory only. */
  readonly presence = new Map<number, string>();
  /** 'student' (id): something about a student changed (the instructor's page listens). */
  readonly events = new EventEmitter().setMaxListeners(100);
  /** Signs student cookies; new each start, so a restart asks students to join again (progress stays). */
  private readonly secret = randomBytes(32);

  readonly store: ClassStore;
  readonly cls: ClassRow;
  /**
   * The students who joined through this server since it started: the only ones its cookies
   * can name (the secret is this process's), so a cookie is checked without the database.
   */
  private readonly joined = new Map<number, StudentRow>();
  readonly instructorToken: string;

  constructor(store: ClassStore, cls: ClassRow, instructorToken: string, now: () => number = Date.now) {
    this.store = store;
    this.cls = cls;
    this.instructorToken = instructorToken;
    this.limiter = new JoinLimiter(now);
  }

  /** Open the class of this name again (same code) or a new one. */
  static async open(store: ClassStore, name: string, instructorToken: string, maxStudents = Infinity): Promise<Classroom> {
    const cls = await store.openOrCreateClass(name, newJoinCode());
    const room = new Classroom(store, cls, instructorToken);
    room.maxStudents = maxStudents;
    return room;
  }

  /** Past this many students a new name is refused (a name that joined before may come back). */
  maxStudents = Infinity;

  get closed(): boolean { return this.cls.closedAt !== null; }

  async join(address: string, code: unknown, name: unknown): Promise<JoinResult> {
    if (!this.limiter.canTry(address)) {
      return { ok: false, status: 429, message: `too many tries; wait ${Math.max(1, Math.ceil(this.limiter.retryMs(address) / 1000))} s and try again` };
    }
    if (typeof code !== 'string' || !tokenMatches(this.cls.code, normalizeCode(code)) || this.closed) {
      this.limiter.take(address); // only a wrong code costs a try: guessing is what is limited
      return { ok: false, status: 403, message: 'that is not the code of an open class here; check it with your instructor' };
    }
    const clean = cleanName(name);
    if (!clean) return { ok: false, status: 400, message: `the name must be 1 to ${MAX_NAME} characters` };
    const known = await this.store.students(this.cls.id);
    if (!known.some((s) => s.name === clean) && known.length >= this.maxStudents) {
      return { ok: false, status: 409, message: `the class is full (${this.maxStudents} students); ask your instructor` };
    }
    const student = await this.store.joinStudent(this.cls.id, clean);
    this.joined.set(student.id, student);
    this.changed(student.id);
    return { ok: true, student, cookie: this.cookieHeader(student.id) };
  }

  private sign(id: number): string {
    return createHmac('sha256', this.secret).update(`${this.cls.id}.${id}`).digest('base64url');
  }

  cookieHeader(studentId: number): string {
    return `${STUDENT_COOKIE}=${studentId}.${this.sign(studentId)}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** The student a cookie value names, if its signature is ours and the class is open. */
  studentOf(cookie: string | undefined): StudentRow | undefined {
    if (!cookie || this.closed) return undefined;
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(cookie);
    if (!m || !tokenMatches(this.sign(Number(m[1])), m[2])) return undefined;
    const s = this.joined.get(Number(m[1]));
    return s && s.classId === this.cls.id ? s : undefined;
  }

  /** A student who joined through this server (the one who can have a terminal here). */
  knows(studentId: number): boolean { return this.joined.has(studentId); }

  isInstructor(token: string | null | undefined): boolean {
    return tokenMatches(this.instructorToken, token);
  }

  changed(studentId: number): void { this.events.emit('student', studentId); }

  async close(): Promise<void> {
    await this.store.closeClass(this.cls.id);
    (this.cls as { closedAt: number | null }).closedAt = Date.now();
  }
}
