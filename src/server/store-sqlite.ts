// The class store's SQLite driver: Node's built-in node:sqlite, one file under the server's
// data directory. node:sqlite is synchronous; each call is short (a row or a class's rows).

import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { SqlDb, SqlRow, SqlValue } from './store-db.ts';

/**
 * Migrations of this process, one after another. Between BEGIN and COMMIT the migration awaits;
 * a second connection of the same process would then block the one thread in BEGIN waiting for
 * a lock only the first, now unable to run, could release.
 */
let migrating: Promise<unknown> = Promise.resolve();

export class SqliteDb implements SqlDb {
  readonly dialect = 'sqlite';
  readonly db: DatabaseSync;

  /** `file` ':memory:' for tests; otherwise its directory is made (mode 0700: names of students). */
  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(file);
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  }

  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> { return this.db.prepare(sql).all(...params) as SqlRow[]; }
  async get(sql: string, params: SqlValue[] = []): Promise<SqlRow | undefined> { return this.db.prepare(sql).get(...params) as SqlRow | undefined; }
  async run(sql: string, params: SqlValue[] = []): Promise<void> { this.db.prepare(sql).run(...params); }
  async exec(script: string): Promise<void> { this.db.exec(script); }

  migrationTransaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T> {
    const mine = migrating.then(() => this.transaction(fn));
    migrating = mine.catch(() => {});
    return mine;
  }

  private async transaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T> {
    // IMMEDIATE takes the write lock now: another process opening the same file waits (busy_timeout).
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = await fn(this);
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async close(): Promise<void> { this.db.close(); }
}
