// The class store's tests, written once and run on each database it supports: SQLite
// (test/unit/class-store.test.ts) and a real PostgreSQL (test/integration/class-store-postgres.test.ts).

import { describe, expect, it } from 'vitest';
import { ClassStore, MIGRATIONS } from '../../src/server/store.ts';
import { Classroom, JOIN_RATE } from '../../src/server/class.ts';

/** One empty database for one test. */
export interface StoreBackend {
  /** A store on this database (opening it runs the migrations); `now` fakes the clock. */
  open(now?: () => number): Promise<ClassStore>;
  /** Set schema_version behind the store's back (a database from a newer server). */
  setVersion(v: number): Promise<void>;
  /** SQL behind the store's back. */
  exec(sql: string): Promise<void>;
}

export function classStoreSuite(name: string, fresh: () => Promise<StoreBackend>): void {
  describe(`ClassStore on ${name}`, () => {
    it('runs every migration once and records the version', async () => {
      const db = await fresh();
      const a = await db.open();
      expect(await a.version()).toBe(MIGRATIONS.length);
      await a.close();
      const b = await db.open(); // a second open runs nothing again (CREATE TABLE would fail)
      expect(await b.version()).toBe(MIGRATIONS.length);
      await b.close();
    });

    it('two servers opening a new database at once: one migrates, the other waits and finds it done', async () => {
      const db = await fresh();
      const [a, b] = await Promise.all([db.open(), db.open()]);
      expect([await a.version(), await b.version()]).toEqual([MIGRATIONS.length, MIGRATIONS.length]);
      const cls = await a.createClass('Shared', 'SHAREDCODE');
      expect((await b.openClassByCode('SHAREDCODE'))?.id).toBe(cls.id);
      await a.close();
      await b.close();
    });

    it('lab servers opening the same class at once get one class, one code; a closed one is opened anew', async () => {
      const db = await fresh();
      const stores = await Promise.all([db.open(), db.open(), db.open()]);
      const rooms = await Promise.all(stores.map((s) => Classroom.open(s, 'Week 3', 'i'.repeat(32))));
      expect(new Set(rooms.map((r) => r.cls.code)).size).toBe(1);
      expect(new Set(rooms.map((r) => r.cls.id)).size).toBe(1);
      await rooms[0].close();
      const next = await Classroom.open(stores[1], 'Week 3', 'i'.repeat(32));
      expect(next.cls.id).not.toBe(rooms[0].cls.id);
      expect(next.cls.code).not.toBe(rooms[0].cls.code);
      for (const s of stores) await s.close();
    });

    it('migrates a version-1 database: of two open classes of one name the older is closed', async () => {
      const db = await fresh();
      await (await db.open()).close();
      await db.exec(`DROP INDEX classes_open_name;
        INSERT INTO classes (name, code, created_at) VALUES ('Dup', 'DUPCODE222', 1), ('Dup', 'DUPCODE333', 2), ('Other', 'OTHERCODE2', 3)`);
      await db.setVersion(1);
      const s = await db.open();
      expect(await s.version()).toBe(MIGRATIONS.length);
      expect((await s.openClassByName('Dup'))?.code).toBe('DUPCODE333');
      expect(await s.openClassByCode('DUPCODE222')).toBeUndefined();
      expect((await s.openClassByName('Other'))?.code).toBe('OTHERCODE2');
      await s.close();
    });

    it('refuses a database newer than it knows', async () => {
      const db = await fresh();
      await (await db.open()).close();
      await db.setVersion(MIGRATIONS.length + 1);
      await expect(db.open()).rejects.toThrow(/newer than this server knows/);
    });

    it('keeps classes, students and progress across a reopen (a server restart)', async () => {
      const db = await fresh();
      let t = 1000;
      const s = await db.open(() => t);
      const cls = await s.createClass('Lab 1', 'ABCDEFGHJK');
      // A time past 2^31 ms (any date after 1970-01-25) must come back whole.
      expect(cls.createdAt).toBe(1000);
      const ann = await s.joinStudent(cls.id, 'Ann');
      expect((await s.joinStudent(cls.id, 'Ann')).id).toBe(ann.id); // same name: same student
      const bob = await s.joinStudent(cls.id, 'Bob');
      await s.markLessonRead(ann.id, 'en/pid-namespaces');
      await s.markLessonRead(ann.id, 'en/pid-namespaces'); // twice: read once
      t = 2000;
      await s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', false, 'PID is 42');
      t = 3000;
      await s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', true, 'ok');
      t = 1_765_000_000_000;
      await s.recordCheck(ann.id, 'en/pid-namespaces', 'pid-one', false, 'broke it again');
      await s.close();

      const r = await db.open();
      expect((await r.openClassByCode('ABCDEFGHJK'))?.name).toBe('Lab 1');
      expect((await r.openClassByName('Lab 1'))?.id).toBe(cls.id);
      expect((await r.students(cls.id)).map((x) => x.name)).toEqual(['Ann', 'Bob']);
      expect((await r.student(bob.id))?.name).toBe('Bob');
      const p = await r.progress(ann.id);
      expect(p.lessonsRead).toEqual([{ lesson: 'en/pid-namespaces', at: 1000 }]);
      expect(p.exercises).toEqual([{ lesson: 'en/pid-namespaces', exercise: 'pid-one', passedAt: 3000, lastPass: false, lastDetail: 'broke it again', lastAt: 1_765_000_000_000 }]);
      expect(await r.progress(bob.id)).toEqual({ lessonsRead: [], exercises: [] });
      expect(await r.classExercises(cls.id)).toEqual([{ studentId: ann.id, ...p.exercises[0] }]);
      expect(await r.classLessonsRead(cls.id)).toEqual(new Map([[ann.id, 1]]));
      await r.closeClass(cls.id);
      expect(await r.openClassByCode('ABCDEFGHJK')).toBeUndefined();
      expect(await r.openClassByName('Lab 1')).toBeUndefined();
      await r.close();
    });

    it('refuses a second class with the same code and a student in no class', async () => {
      const db = await fresh();
      const s = await db.open();
      await s.createClass('A', 'SAMECODE22');
      await expect(s.createClass('B', 'SAMECODE22')).rejects.toThrow(/unique|UNIQUE/);
      await expect(s.joinStudent(999_999, 'Nobody')).rejects.toThrow(/foreign key|FOREIGN KEY/i);
      await s.close();
    });
  });

  describe(`Classroom on ${name}`, () => {
    it('joins with the right code, refuses a wrong one, and knows a student only by its own signed cookie', async () => {
      const store = await (await fresh()).open();
      const room = await Classroom.open(store, 'Lab', 'i'.repeat(32));
      expect(await room.join('a', 'WRONGCODE2', 'Ann')).toMatchObject({ ok: false, status: 403 });
      expect(await room.join('b', room.cls.code.toLowerCase(), '')).toMatchObject({ ok: false, status: 400 });
      const ok = await room.join('c', room.cls.code, 'Ann');
      if (!ok.ok) throw new Error(ok.message);
      const value = /isolab_student=([^;]+)/.exec(ok.cookie)![1];
      expect(room.studentOf(value)?.name).toBe('Ann');
      const other = await room.join('c', room.cls.code, 'Bob');
      if (!other.ok) throw new Error(other.message);
      // Another student's id with Ann's signature is nobody.
      expect(room.studentOf(value.replace(/^\d+/, String(other.student.id)))).toBeUndefined();
      expect(room.studentOf('1.' + 'A'.repeat(43))).toBeUndefined();
      expect((await Classroom.open(store, 'Lab', 'x'.repeat(32))).cls.code).toBe(room.cls.code); // reopened, same code
      expect(room.isInstructor('i'.repeat(32))).toBe(true);
      expect(room.isInstructor('i'.repeat(31))).toBe(false);
      await room.close();
      expect(room.studentOf(value)).toBeUndefined();
      expect(await room.join('d', room.cls.code, 'Ann')).toMatchObject({ ok: false, status: 403 });
      await store.close();
    });

    it('refuses a new name past the class size; one who joined before comes back', async () => {
      const store = await (await fresh()).open();
      const room = await Classroom.open(store, 'Small', 'i'.repeat(32), 2);
      expect((await room.join('a', room.cls.code, 'Ann')).ok).toBe(true);
      expect((await room.join('b', room.cls.code, 'Bob')).ok).toBe(true);
      expect(await room.join('c', room.cls.code, 'Carol')).toMatchObject({ ok: false, status: 409, message: 'the class is full (2 students); ask your instructor' });
      expect((await room.join('d', room.cls.code, 'Ann')).ok).toBe(true);
      await store.close();
    });

    it('only wrong codes count against an address: a class behind one NAT joins at once', async () => {
      const store = await (await fresh()).open();
      const room = await Classroom.open(store, 'NAT', 'i'.repeat(32));
      const joins = await Promise.all(Array.from({ length: 30 }, (_, i) => room.join('10.0.0.1', room.cls.code, `student ${i}`)));
      expect(joins.every((j) => j.ok)).toBe(true);
      expect(await store.students(room.cls.id)).toHaveLength(30);
      for (let i = 0; i < JOIN_RATE.burst; i++) expect(await room.join('10.0.0.1', 'WRONGWRONG', 'x')).toMatchObject({ status: 403 });
      expect(await room.join('10.0.0.1', room.cls.code, 'late')).toMatchObject({ status: 429 });
      await store.close();
    });
  });
}
