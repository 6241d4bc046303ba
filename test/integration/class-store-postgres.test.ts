// The class store's tests (test/support/class-store-suite.ts, the same ones SQLite passes) on a
// real PostgreSQL this file starts itself: a cluster of its own in a temp directory, on
// 127.0.0.1 at a free port, removed afterwards. And `npm start --class --class-db postgres://`.

import { afterAll, beforeAll } from 'vitest';
import { ClassStore, openClassStore } from '../../src/server/store.ts';
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
});
