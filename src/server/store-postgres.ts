// The class store's PostgreSQL driver (the `pg` client and its pool), for a class larger than
// one machine: every lab server keeps its students' progress in the same database.
// `?` placeholders become PostgreSQL's $1, $2, … (no statement of the store has a literal '?').

import pg from 'pg';
import type { SqlDb, SqlRow, SqlValue } from './store-db.ts';

/** Any number, the same on every server: pg_advisory_xact_lock's key for "migrating the class store". */
const MIGRATION_LOCK = 0x150_1ab;

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch { return 'postgres://…'; }
}

interface Queryable { query(sql: string, params?: SqlValue[]): Promise<{ rows: SqlRow[] }> }

class PgQueries implements SqlDb {
  readonly dialect = 'postgres';
  protected readonly q: Queryable;
  constructor(q: Queryable) { this.q = q; }
  async all(sql: string, params: SqlValue[] = []): Promise<SqlRow[]> { return (await this.q.query(numbered(sql), params)).rows; }
  async get(sql: string, params: SqlValue[] = []): Promise<SqlRow | undefined> { return (await this.q.query(numbered(sql), params)).rows[0]; }
  async run(sql: string, params: SqlValue[] = []): Promise<void> { await this.q.query(numbered(sql), params); }
  // No parameters: the simple query protocol, which takes several statements at once.
  async exec(script: string): Promise<void> { await this.q.query(script); }
  migrationTransaction<T>(_fn: (tx: SqlDb) => Promise<T>): Promise<T> { throw new Error('no nested transactions'); }
  async close(): Promise<void> {}
}

export class PostgresDb extends PgQueries {
  private readonly pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super(pool);
    this.pool = pool;
  }

  /** A pool on `url` (postgres://user@host:port/db; the password best in $PGPASSWORD), tried once now. */
  static async connect(url: string, log: (line: string) => void = () => {}): Promise<PostgresDb> {
    const pool = new pg.Pool({ connectionString: url, max: 5, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    // An idle client whose server went away must not bring the lab down; the next query reconnects.
    pool.on('error', (e) => log(`isolab: class database: ${e.message}`));
    try {
      (await pool.connect()).release();
    } catch (e) {
      await pool.end().catch(() => {});
      throw new Error(`cannot reach PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}`);
    }
    return new PostgresDb(pool);
  }

  override async migrationTransaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const r = await fn(new PgQueries(client));
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  override async close(): Promise<void> { await this.pool.end(); }
}
