// What the class store needs of a SQL database, so the same queries and the same migrations
// run on SQLite (one server, the default) and on PostgreSQL (several lab servers, one class).
// Statements are written once with `?` placeholders; a driver renders them for its database.

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlDb {
  /** 'sqlite' or 'postgres': the migrations' few words that differ (store.ts DIALECT). */
  readonly dialect: 'sqlite' | 'postgres';
  all(sql: string, params?: SqlValue[]): Promise<SqlRow[]>;
  get(sql: string, params?: SqlValue[]): Promise<SqlRow | undefined>;
  run(sql: string, params?: SqlValue[]): Promise<void>;
  /** Several statements, no parameters (a migration). */
  exec(script: string): Promise<void>;
  /**
   * `fn` inside one transaction that holds the migration lock: a second server starting at the
   * same moment waits, then finds the migrations done. Rolled back if `fn` throws.
   */
  migrationTransaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
