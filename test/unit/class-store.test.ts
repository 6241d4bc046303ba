import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassStore, MIGRATIONS } from '../../src/server/store.ts';
import { CODE_ALPHABET, CODE_LENGTH, Classroom, JOIN_RATE, JoinLimiter, cleanName, newJoinCode, normalizeCode } from '../../src/server/class.ts';

const dirs: string[] = [];
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-store-'));
  dirs.push(d);
  return path.join(d, 'data', 'class.db');
}
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

describe('ClassStore', () => {
  it('runs every migration once and records the version', () => {
    const file = tmpFile();
    const a = new ClassStore(file);
    expect(a.version).toBe(MIGRATIONS.length);
    a.close();
    const b = new ClassStore(file); // a second open runs nothing again (CREATE TABLE would fail)
    expect(b.version).toBe(MIGRATIONS.length);
    b.close();
  });

  it('refuses a database newer than it knows', () => {
    const file = tmpFile();
    new ClassStore(file).close();
    const raw = new DatabaseSync(file);
    raw.exec(`UPDATE schema_version SET version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => new ClassStore(file)).toThrow(/newer than this server knows/);
  });

  it('keeps classes, students and progress across a reopen (a server restart)', () => {
    const file = tmpFile();
    let t = 1000;
    const s = new ClassStore(file, () => t);
    const cls = s.createClass('Lab 1', 'ABCDEFGHJK');
    const ann = s.joinStudent(cls.id, 'Ann');
    expect(s.joinStudent(cls.id, 'Ann').id).toBe(ann.id); // same name: same student
    const bob = s.joinStudent(cls.id, 'Bob');
    s.markLessonRead(ann.id, 'en/pid-namespaces');
    t = 2000;
    s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', false, 'PID is 42');
    t = 3000;
    s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', true, 'ok');
    t = 4000;
    s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', false, 'broke it again');
    s.close();

    const r = new ClassStore(file);
    expect(r.openClassByCode('ABCDEFGHJK')?.name).toBe('Lab 1');
    expect(r.openClassByName('Lab 1')?.id).toBe(cls.id);
    expect(r.students(cls.id).map((x) => x.name)).toEqual(['Ann', 'Bob']);
    const p = r.progress(ann.id);
    expect(p.lessonsRead).toEqual([{ lesson: 'en/pid-namespaces', at: 1000 }]);
    expect(p.exercises).toEqual([{ lesson: 'en/pid-namespaces', exercise: 'pid-one', passedAt: 3000, lastPass: false, lastDetail: 'broke it again', lastAt: 4000 }]);
    expect(r.progress(bob.id)).toEqual({ lessonsRead: [], exercises: [] });
    r.closeClass(cls.id);
    expect(r.openClassByCode('ABCDEFGHJK')).toBeUndefined();
    r.close();
  });
});

describe('join codes and names', () => {
  it('makes codes of the unambiguous alphabet', () => {
    const codes = new Set(Array.from({ length: 200 }, newJoinCode));
    expect(codes.size).toBe(200);
    for (const c of codes) expect(c).toMatch(new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`));
    expect(normalizeCode(' abcd-efgh jk ')).toBe('ABCDEFGHJK');
  });

  it('cleans names and refuses empty, long or control-character ones', () => {
    expect(cleanName('  Ann   Lee ')).toBe('Ann Lee');
    expect(cleanName('김민수')).toBe('김민수');
    expect(cleanName('')).toBeNull();
    expect(cleanName('x'.repeat(41))).toBeNull();
    expect(cleanName('a\u202eb')).toBeNull();
    expect(cleanName(42)).toBeNull();
  });

  it('rate-limits join attempts per address', () => {
    let t = 0;
    const l = new JoinLimiter(() => t);
    for (let i = 0; i < JOIN_RATE.burst; i++) expect(l.take('10.0.0.1')).toBe(true);
    expect(l.take('10.0.0.1')).toBe(false);
    expect(l.take('10.0.0.2')).toBe(true);
    expect(l.retryMs('10.0.0.1')).toBeGreaterThan(0);
    t += 2000;
    expect(l.take('10.0.0.1')).toBe(true);
  });
});

describe('Classroom', () => {
  it('joins with the right code, refuses a wrong one, and knows a student only by its own signed cookie', () => {
    const store = new ClassStore(':memory:');
    const room = Classroom.open(store, 'Lab', 'i'.repeat(32));
    expect(room.join('a', 'WRONGCODE2', 'Ann')).toMatchObject({ ok: false, status: 403 });
    expect(room.join('b', room.cls.code.toLowerCase(), '')).toMatchObject({ ok: false, status: 400 });
    const ok = room.join('c', room.cls.code, 'Ann');
    if (!ok.ok) throw new Error(ok.message);
    const value = /isolab_student=([^;]+)/.exec(ok.cookie)![1];
    expect(room.studentOf(value)?.name).toBe('Ann');
    const other = room.join('c', room.cls.code, 'Bob');
    if (!other.ok) throw new Error(other.message);
    // Another student's id with Ann's signature is nobody.
    expect(room.studentOf(value.replace(/^\d+/, String(other.student.id)))).toBeUndefined();
    expect(room.studentOf('1.' + 'A'.repeat(43))).toBeUndefined();
    expect(Classroom.open(store, 'Lab', 'x'.repeat(32)).cls.code).toBe(room.cls.code); // reopened, same code
    expect(room.isInstructor('i'.repeat(32))).toBe(true);
    expect(room.isInstructor('i'.repeat(31))).toBe(false);
    room.close();
    expect(room.studentOf(value)).toBeUndefined();
    expect(room.join('d', room.cls.code, 'Ann')).toMatchObject({ ok: false, status: 403 });
  });
});

describe('npm start --class', () => {
  it('takes a class name and a data directory, and refuses an empty name', async () => {
    const { parseOptions, UsageError } = await import('../../src/server/options.ts');
    expect(parseOptions(['--class', 'Week 3'], {})).toMatchObject({ className: 'Week 3', dataDir: undefined });
    expect(parseOptions(['--class=Week 3', '--data-dir', '/srv/isolab'], {}).dataDir).toBe('/srv/isolab');
    expect(parseOptions([], { ISOLAB_DATA_DIR: '/var/lib/isolab' }).dataDir).toBe('/var/lib/isolab');
    expect(() => parseOptions(['--class', ' '], {})).toThrow(UsageError);
    expect(() => parseOptions(['--class'], {})).toThrow(/--class needs a class name/);
  });
});

describe('class limits', () => {
  it('npm start takes the class and sandbox limits and refuses nonsense', async () => {
    const { parseOptions } = await import('../../src/server/options.ts');
    expect(parseOptions([], {})).toMatchObject({ maxStudents: 200, maxPerStudent: 3, sandboxMemory: '512m', sandboxCpus: '1' });
    expect(parseOptions(['--max-students', '30', '--max-per-student', '2', '--sandbox-memory', '1G', '--sandbox-cpus', '0.5'], {}))
      .toMatchObject({ maxStudents: 30, maxPerStudent: 2, sandboxMemory: '1g', sandboxCpus: '0.5' });
    expect(() => parseOptions(['--sandbox-memory', '10m'], {})).toThrow(/--sandbox-memory needs a size from 64m/);
    expect(() => parseOptions(['--sandbox-cpus', 'all'], {})).toThrow(/--sandbox-cpus needs a number/);
    expect(() => parseOptions(['--max-students', '0'], {})).toThrow(/--max-students must be from 1/);
  });

  it('each sandbox gets the memory and CPUs asked for', async () => {
    const { boxRunCommand } = await import('../../src/server/sandbox.ts');
    const args = boxRunCommand('box', 'lab-x', undefined, { memory: '1g', cpus: '0.5' }).args;
    expect(args[args.indexOf('--memory') + 1]).toBe('1g');
    expect(args[args.indexOf('--cpus') + 1]).toBe('0.5');
    const plain = boxRunCommand('box', 'lab-x').args;
    expect(plain[plain.indexOf('--memory') + 1]).toBe('512m');
  });

  it('refuses a new name past the class size; one who joined before comes back', () => {
    const room = Classroom.open(new ClassStore(':memory:'), 'Small', 'i'.repeat(32), 2);
    expect(room.join('a', room.cls.code, 'Ann').ok).toBe(true);
    expect(room.join('b', room.cls.code, 'Bob').ok).toBe(true);
    expect(room.join('c', room.cls.code, 'Carol')).toMatchObject({ ok: false, status: 409, message: 'the class is full (2 students); ask your instructor' });
    expect(room.join('d', room.cls.code, 'Ann').ok).toBe(true);
  });
});

describe('join attempts', () => {
  it('only wrong codes count against an address: a class behind one NAT joins at once', () => {
    const room = Classroom.open(new ClassStore(':memory:'), 'NAT', 'i'.repeat(32));
    for (let i = 0; i < 30; i++) expect(room.join('10.0.0.1', room.cls.code, `student ${i}`).ok).toBe(true);
    for (let i = 0; i < JOIN_RATE.burst; i++) expect(room.join('10.0.0.1', 'WRONGWRONG', 'x')).toMatchObject({ status: 403 });
    expect(room.join('10.0.0.1', room.cls.code, 'late')).toMatchObject({ status: 429 });
  });
});
