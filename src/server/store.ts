// The class store: classes, their students, and each student's progress (lessons read,
// exercises passed and when, the last failing check). SQLite through Node's built-in
// node:sqlite, in one file under the server's data directory, so a restart keeps it.
// The schema grows by numbered migrations; `schema_version` says which ones ran.

import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface ClassRow { id: number; name: string; code: string; createdAt: number; closedAt: number | null }
export interface StudentRow { id: number; classId: number; name: string; createdAt: number }
export interface ExerciseRow { lesson: string; exercise: string; passedAt: number | null; lastPass: boolean; lastDetail: string; lastAt: number }
export interface Progress { lessonsRead: { lesson: string; at: number }[]; exercises: ExerciseRow[] }

/** Each entry runs once, in order, inside one transaction with its version bump. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE classes (
     id INTEGER PRIMARY KEY, name TEXT NOT NULL, code TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL, closed_at INTEGER);
   CREATE TABLE students (
     id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id),
     name TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (class_id, name));
   CREATE TABLE lessons_read (
     student_id INTEGER NOT NULL REFERENCES students(id), lesson TEXT NOT NULL,
     at INTEGER NOT NULL, PRIMARY KEY (student_id, lesson));
   CREATE TABLE exercises (
     student_id INTEGER NOT NULL REFERENCES students(id), lesson TEXT NOT NULL, exercise TEXT NOT NULL,
     passed_at INTEGER, last_pass INTEGER NOT NULL, last_detail TEXT NOT NULL, last_at INTEGER NOT NULL,
     PRIMARY KEY (student_id, lesson, exercise));`,
];

export class ClassStore {
  readonly db: DatabaseSync;

  /** `file` ':memory:' for tests; otherwise its directory is made (mode 0700: names of students). */
  constructor(file: string, now: () => number = Date.now) {
    this.now = now;
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(file);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
    this.migrate();
  }

  private readonly now: () => number;

  get version(): number {
    const row = this.db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    return row?.version ?? 0;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    if (this.db.prepare('SELECT count(*) AS n FROM schema_version').get()!.n === 0) {
      this.db.exec('INSERT INTO schema_version (version) VALUES (0)');
    }
    const from = this.version;
    if (from > MIGRATIONS.length) {
      throw new Error(`the class database has schema version ${from}, newer than this server knows (${MIGRATIONS.length}); update the server`);
    }
    for (let v = from; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.prepare('UPDATE schema_version SET version = ?').run(v + 1);
      });
    }
  }

  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  createClass(name: string, code: string): ClassRow {
    const at = this.now();
    const r = this.db.prepare('INSERT INTO classes (name, code, created_at) VALUES (?, ?, ?)').run(name, code, at);
    return { id: Number(r.lastInsertRowid), name, code, createdAt: at, closedAt: null };
  }

  /** The open class with this code, or undefined. */
  openClassByCode(code: string): ClassRow | undefined {
    const r = this.db.prepare('SELECT * FROM classes WHERE code = ? AND closed_at IS NULL').get(code);
    return r ? toClass(r) : undefined;
  }

  /** The newest open class of this name (a restarted server takes its class back). */
  openClassByName(name: string): ClassRow | undefined {
    const r = this.db.prepare('SELECT * FROM classes WHERE name = ? AND closed_at IS NULL ORDER BY id DESC LIMIT 1').get(name);
    return r ? toClass(r) : undefined;
  }

  closeClass(id: number): void {
    this.db.prepare('UPDATE classes SET closed_at = ? WHERE id = ? AND closed_at IS NULL').run(this.now(), id);
  }

  /** The student of this name in this class, made on first join (the same name on another device is the same student). */
  joinStudent(classId: number, name: string): StudentRow {
    this.db.prepare('INSERT INTO students (class_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (class_id, name) DO NOTHING')
      .run(classId, name, this.now());
    return toStudent(this.db.prepare('SELECT * FROM students WHERE class_id = ? AND name = ?').get(classId, name)!);
  }

  student(id: number): StudentRow | undefined {
    const r = this.db.prepare('SELECT * FROM students WHERE id = ?').get(id);
    return r ? toStudent(r) : undefined;
  }

  students(classId: number): StudentRow[] {
    return this.db.prepare('SELECT * FROM students WHERE class_id = ? ORDER BY name').all(classId).map(toStudent);
  }

  markLessonRead(studentId: number, lesson: string): void {
    this.db.prepare('INSERT INTO lessons_read (student_id, lesson, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
      .run(studentId, lesson, this.now());
  }

  /** A check's answer: the first pass is kept as passed_at; the latest answer is kept too. */
  recordCheck(studentId: number, lesson: string, exercise: string, pass: boolean, detail: string): void {
    const at = this.now();
    this.db.prepare(`INSERT INTO exercises (student_id, lesson, exercise, passed_at, last_pass, last_detail, last_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (student_id, lesson, exercise) DO UPDATE SET
        passed_at = coalesce(passed_at, excluded.passed_at), last_pass = excluded.last_pass,
        last_detail = excluded.last_detail, last_at = excluded.last_at`)
      .run(studentId, lesson, exercise, pass ? at : null, pass ? 1 : 0, detail.slice(0, 2000), at);
  }

  progress(studentId: number): Progress {
    const lessonsRead = this.db.prepare('SELECT lesson, at FROM lessons_read WHERE student_id = ? ORDER BY at, lesson').all(studentId)
      .map((r) => ({ lesson: String(r.lesson), at: Number(r.at) }));
    const exercises = this.db.prepare('SELECT * FROM exercises WHERE student_id = ? ORDER BY lesson, exercise').all(studentId)
      .map((r) => ({
        lesson: String(r.lesson), exercise: String(r.exercise), passedAt: r.passed_at === null ? null : Number(r.passed_at),
        lastPass: r.last_pass === 1, lastDetail: String(r.last_detail), lastAt: Number(r.last_at),
      }));
    return { lessonsRead, exercises };
  }

  /** Every check answer of a class's students (the instructor's roster and matrix). */
  classExercises(classId: number): (ExerciseRow & { studentId: number })[] {
    return this.db.prepare(`SELECT e.* FROM exercises e JOIN students s ON s.id = e.student_id
      WHERE s.class_id = ? ORDER BY e.student_id, e.lesson, e.exercise`).all(classId).map((r) => ({
      studentId: Number(r.student_id), lesson: String(r.lesson), exercise: String(r.exercise),
      passedAt: r.passed_at === null ? null : Number(r.passed_at), lastPass: r.last_pass === 1,
      lastDetail: String(r.last_detail), lastAt: Number(r.last_at),
    }));
  }

  /** How many lessons each of a class's students has read. */
  classLessonsRead(classId: number): Map<number, number> {
    const rows = this.db.prepare(`SELECT l.student_id AS id, count(*) AS n FROM lessons_read l JOIN students s ON s.id = l.student_id
      WHERE s.class_id = ? GROUP BY l.student_id`).all(classId);
    return new Map(rows.map((r) => [Number(r.id), Number(r.n)]));
  }

  close(): void { this.db.close(); }
}

type Row = Record<string, unknown>;
function toClass(r: Row): ClassRow {
  return { id: Number(r.id), name: String(r.name), code: String(r.code), createdAt: Number(r.created_at), closedAt: r.closed_at === null ? null : Number(r.closed_at) };
}
function toStudent(r: Row): StudentRow {
  return { id: Number(r.id), classId: Number(r.class_id), name: String(r.name), createdAt: Number(r.created_at) };
}
