// A throwaway PostgreSQL for tests: Debian's server binaries (apt-get install postgresql),
// a new cluster in a temp directory (initdb), listening on 127.0.0.1 at a free port and on a
// socket in that directory, with a random password; stopped and removed by stop(). The
// package's own cluster (if any) is neither used nor touched.
// As root, the cluster runs as the `postgres` user the package made (PostgreSQL refuses root).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The newest installed server's bin directory, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
}

const isRoot = process.getuid?.() === 0;
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch { return undefined; }
}

/** '' when a cluster can be started here, else why not. */
export function postgresMissing(): string {
  if (!postgresBin()) return 'PostgreSQL is not installed (apt-get install postgresql)';
  if (isRoot && !postgresUser()) return 'running as root, and there is no postgres user to run PostgreSQL as (apt-get install postgresql makes it)';
  return '';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  /** postgres://… for a database of this cluster. */
  url(database: string): string;
  /** A new, empty database. */
  createDatabase(): Promise<string>;
  /** A superuser's query on the `postgres` database. */
  admin(sql: string, database?: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-pg-'));
  const data = path.join(dir, 'data');
  const user = isRoot ? postgresUser()! : undefined;
  // initdb and pg_ctl as the postgres user when we are root.
  const as = (cmd: string, args: string[]) => user
    ? run('/usr/sbin/runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { cwd: dir })
    : run(path.join(bin, cmd), args, { cwd: dir });
  if (user) fs.chownSync(dir, user.uid, user.gid);
  fs.chmodSync(dir, 0o700);
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, password, { mode: 0o600 });
  if (user) fs.chownSync(pwfile, user.uid, user.gid);

  let started = false;
  const stop = async () => {
    if (started) await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']).catch(() => {});
    started = false;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await as('initdb', ['-D', data, '-U', 'isolab', '--pwfile', pwfile, '-A', 'scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    const port = await freePort();
    started = true;
    // -F: no fsync (a throwaway); the socket in our directory, not /var/run/postgresql.
    await as('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', '-o',
      `-F -p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}`, 'start']);
    const url = (db: string) => `postgres://isolab:${password}@127.0.0.1:${port}/${db}`;
    const admin = async (sql: string, database = 'postgres') => {
      const c = new pg.Client({ connectionString: url(database) });
      await c.connect();
      try { await c.query(sql); } finally { await c.end(); }
    };
    let n = 0;
    return {
      url,
      admin,
      async createDatabase() {
        const name = `isolab_test_${++n}`;
        await admin(`CREATE DATABASE ${name}`);
        return name;
      },
      stop,
    };
  } catch (e) {
    const log = fs.existsSync(path.join(dir, 'log')) ? fs.readFileSync(path.join(dir, 'log'), 'utf8').slice(-2000) : '';
    await stop();
    throw new Error(`starting a test PostgreSQL failed: ${(e as Error).message}\n${log}`);
  }
}
