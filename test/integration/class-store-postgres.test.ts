// The class store's tests (test/support/class-store-suite.ts, the same ones SQLite passes) on a
// real PostgreSQL this file starts itself: a cluster of its own in a temp directory, on
// 127.0.0.1 at a free port, removed afterwards. And `--class-db postgres://`: two lab servers
// (in this process, host-shell terminals) holding one class on it.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ClassStore, openClassStore } from '../../src/server/store.ts';
import { Classroom } from '../../src/server/class.ts';
import { makeTestDist, makeTestLessons, startInProcess } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { PostgresDb } from '../../src/server/store-postgres.ts';
import { classStoreSuite } from '../support/class-store-suite.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { needs } from '../support/requires.ts';
import { describe, expect, it } from 'vitest';

needs(postgresMissing()).describe('the class store on PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => { server = await startPostgres(); }, 120_000);
  afterAll(async () => { await server?.stop(); }, 120_000);

  classStoreSuite('PostgreSQL', async () => {
    const db = await server.createDatabase();
    return {
      open: async (now) => ClassStore.open(await PostgresDb.connect(server.url(db)), now),
      setVersion: (v) => server.admin(`UPDATE schema_version SET version = ${v}`, db),
      exec: (sql) => server.admin(sql, db),
    };
  });

  describe('choosing it', () => {
    it('--class-db postgres://… opens this database; a wrong password is one line without the password', async () => {
      const db = await server.createDatabase();
      const store = await openClassStore(server.url(db), '/nonexistent');
      expect(store.db.dialect).toBe('postgres');
      await store.createClass('Via URL', 'VIAURLCODE');
      await store.close();
      const again = await openClassStore(server.url(db), '/nonexistent');
      expect((await again.openClassByName('Via URL'))?.code).toBe('VIAURLCODE');
      await again.close();
      const wrong = server.url(db).replace(/:[^:@/]+@/, ':not-the-password@');
      await expect(openClassStore(wrong, '/nonexistent')).rejects.toThrow(/^cannot reach PostgreSQL at postgres:\/\/isolab:\*\*\*@127\.0\.0\.1:\d+\/isolab_test_\d+: password authentication failed/);
    });
  });
  describe('two lab servers, one class', () => {
    it('share the join code and the progress: a check passed on one is seen by the other, and after a restart', async () => {
      const db = await server.createDatabase();
      const lessonsDir = makeTestLessons();
      const dist = makeTestDist();
      fs.mkdirSync(path.join(dist, 'join'));
      fs.writeFileSync(path.join(dist, 'join', 'index.html'), '<!doctype html><h1>Join the class</h1>');
      const started: { close(): Promise<void> }[] = [];
      const clients: LabClient[] = [];
      const lab = async () => {
        const store = await openClassStore(server.url(db), '/nonexistent');
        const room = await Classroom.open(store, 'Two servers', 'teacher-'.padEnd(40, 't'));
        const srv = await startInProcess({ dist, lessonsDir, classroom: room });
        started.push({ close: async () => { await srv.close(); await store.close(); } });
        return { room, srv, base: `http://127.0.0.1:${srv.port}` };
      };
      const join = async (base: string, code: string, name: string) => {
        const res = await fetch(`${base}/api/class/join`, {
          method: 'POST', headers: { 'Content-Type': 'application/json', Origin: base }, body: JSON.stringify({ code, name }),
        });
        expect(res.status).toBe(200);
        return (res.headers.get('set-cookie') ?? '').split(';')[0];
      };
      const me = async (base: string, cookie: string) =>
        (await (await fetch(`${base}/api/class/me`, { headers: { Cookie: cookie } })).json()) as { progress: { exercises: { exercise: string; lastPass: boolean }[] } };
      try {
        const [a, b] = await Promise.all([lab(), lab()]);
        expect(b.room.cls.code).toBe(a.room.cls.code);

        const annOnA = await join(a.base, a.room.cls.code, 'Ann');
        const t = new LabClient(a.srv.port, { token: null, cookie: annOnA });
        clients.push(t);
        await t.message('hello');
        await t.run('touch ~/isolab-flag');
        t.send({ type: 'check', lesson: 'en/test-lesson', exercise: 'make-flag' });
        expect((await t.message('check')).pass).toBe(true);

        // Ann's phone reaches the other server: her progress is there.
        const annOnB = await join(b.base, b.room.cls.code, 'Ann');
        await expect.poll(async () => (await me(b.base, annOnB)).progress.exercises, { timeout: 10_000 }).toMatchObject([{ exercise: 'make-flag', lastPass: true }]);
        // B's instructor sees it in the roster; the connection is A's.
        const roster = await (await fetch(`${b.base}/api/teach/roster`, { headers: { Cookie: `isolab_teacher=${'teacher-'.padEnd(40, 't')}` } })).json() as { students: { name: string; connected: boolean; passed: Record<string, number> }[] };
        expect(roster.students).toMatchObject([{ name: 'Ann', connected: false, passed: { 'test-lesson/make-flag': expect.any(Number) } }]);
        // A cookie of one server means nothing to the other (each signs its own).
        expect((await fetch(`${b.base}/api/class/me`, { headers: { Cookie: annOnA } })).status).toBe(401);

        for (const c of clients.splice(0)) await c.close();
        for (const s of started.splice(0)) await s.close();
        const c = await lab();
        expect(c.room.cls.code).toBe(a.room.cls.code);
        const again = await join(c.base, c.room.cls.code, 'Ann');
        expect((await me(c.base, again)).progress.exercises).toMatchObject([{ exercise: 'make-flag', lastPass: true }]);
      } finally {
        for (const c of clients) await c.close();
        for (const s of started) await s.close();
        fs.rmSync(dist, { recursive: true, force: true });
        fs.rmSync(path.dirname(lessonsDir), { recursive: true, force: true });
      }
    }, 60_000);
  });
});
