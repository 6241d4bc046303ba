// The lab server's command line: `npm start -- [--host H] [--port N] ...`.
// Parsing is pure (no I/O) so every refusal can be unit-tested; main.ts prints the
// message of a UsageError on one line and exits with status 2.

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

export interface ServerOptions {
  host: string;
  port: number;
  maxSandboxes: number;
  /** Most sandboxes one browser may have (counted by its client id cookie). */
  maxPerClient: number;
  /** Most sandboxes one remote address may have: higher, since a class may share one NAT address. */
  maxPerAddress: number;
  /** Sandboxes kept made ahead, handed to the next readers (0: none). */
  warmSandboxes: number;
  /** A sandbox whose reader has typed nothing for this long is removed. */
  idleMinutes: number;
  /** A sandbox whose tab went away (reload, blip) is kept this long for it to come back. */
  graceSeconds: number;
  token: string;
  /** True when the token came from --token (required for a non-loopback --host). */
  tokenGiven: boolean;
  build: boolean;
  /** Development only: terminals are plain shells on this host, with no isolation at all. */
  unsafeHostShell: boolean;
  /** Each sandbox's disk limit (box run --storage-opt size=...), e.g. "1g"; undefined: box's default. */
  diskSize?: string;
  /** --class: open (or reopen) the class of this name; students join with its code. */
  className?: string;
  /** Where the class database lives (default $ISOLAB_DATA_DIR, else ~/.local/share/isolab). */
  dataDir?: string;
  /** --class-db: a postgres:// URL (several lab servers, one database) or a SQLite file; default class.db in dataDir. */
  classDb?: string;
  /** In a class: most students who may join, and most sandboxes one student may have at once. */
  maxStudents: number;
  maxPerStudent: number;
  /** What each sandbox gets (box run --memory / --cpus). */
  sandboxMemory: string;
  sandboxCpus: string;
}

export class UsageError extends Error {}

/**
 * --max-sandboxes in a class unless given: the issue's class of 30 typing and 100 reading
 * students (at 25-30 MiB a sandbox, about 3.6 GiB: README, "A class larger than one machine").
 */
export const CLASS_MAX_SANDBOXES = 130;

export const USAGE = `usage: npm start -- [options]
  --host <addr>          address to listen on (default 127.0.0.1; a non-loopback one needs --token)
  --port <n>             port (default 4321; 0 picks a free one)
  --token <secret>       access token (default: 32 random bytes, printed in the URL)
  --max-sandboxes <n>    most terminals at once; past it a page is told the lab is full (default 8;
                         with --class 130)
  --max-per-client <n>   most terminals one browser may have open (default 3)
  --max-per-address <n>  most terminals one network address may have; a class behind one NAT
                         shares an address, so keep it above the class size (default 40; with
                         --class as many as --max-sandboxes)
  --warm-sandboxes <n>   sandboxes kept made ahead, so a reader's first prompt needs no wait;
                         they count against --max-sandboxes (default 1; 0 makes none)
  --idle-minutes <n>     remove a sandbox after this long without input (default 60)
  --grace-seconds <n>    keep a closed tab's sandbox this long so a reload resumes it (default 60)
  --disk-size <size>     what each sandbox may write, e.g. 512m or 2g (default 1g; or $ISOLAB_DISK_SIZE)
  --class <name>         hold a class: students join with a code and a name, no token; the
                         instructor's page gets a token of its own (a restart reopens the class)
  --data-dir <dir>       where the class's progress is kept (default $ISOLAB_DATA_DIR or
                         ~/.local/share/isolab)
  --class-db <where>     the class's database: postgres://user@host:port/db (the password in
                         $PGPASSWORD) for several lab servers, or a SQLite file (default
                         class.db in the data directory; or $ISOLAB_CLASS_DB)
  --max-students <n>     most students who may join the class (default 200)
  --max-per-student <n>  most terminals one student may have open, all devices together (default 3)
  --sandbox-memory <s>   memory of each sandbox, e.g. 512m or 1g (default 512m)
  --sandbox-cpus <n>     CPUs of each sandbox, e.g. 0.5 or 2 (default 1)
  --no-build             serve dist/ as it is, even when the site sources are newer
  --unsafe-host-shell    DEVELOPMENT ONLY: terminals are plain shells on this host, not sandboxes`;

/** 127.0.0.0/8, ::1 and "localhost" only reach this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1].startsWith('127.');
}

function integer(flag: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got ${value === undefined ? 'nothing' : `"${value}"`}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag} must be from ${min} to ${max}, got ${n}`);
  return n;
}

/** "512m", "2g": a size box's --storage-opt takes, at least 16m, at most 1t. */
function diskSize(flag: string, value: string | undefined): string {
  const m = value === undefined ? null : /^(\d+)([kmgt]?)$/i.exec(value);
  const bytes = m ? Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()) : 0;
  if (!m || bytes < 16 * 1024 ** 2 || bytes > 1024 ** 4) {
    throw new UsageError(`${flag} needs a size from 16m to 1t such as 512m or 2g, got ${value === undefined ? 'nothing' : `"${value}"`}`);
  }
  return value!.toLowerCase();
}

export function parseOptions(argv: readonly string[], env: Record<string, string | undefined> = process.env): ServerOptions {
  const o: ServerOptions = {
    host: '127.0.0.1',
    port: 4321,
    maxSandboxes: 8,
    maxPerClient: 3,
    maxPerAddress: 40,
    warmSandboxes: 1,
    idleMinutes: 60,
    graceSeconds: 60,
    token: '',
    tokenGiven: false,
    build: true,
    unsafeHostShell: false,
    diskSize: env.ISOLAB_DISK_SIZE ? diskSize('ISOLAB_DISK_SIZE', env.ISOLAB_DISK_SIZE) : undefined,
    dataDir: env.ISOLAB_DATA_DIR || undefined,
    classDb: env.ISOLAB_CLASS_DB || undefined,
    maxStudents: 200,
    maxPerStudent: 3,
    sandboxMemory: '512m',
    sandboxCpus: '1',
  };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    // Accept both "--port 80" and "--port=80".
    let flag = argv[i];
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const next = (): string | undefined => value ?? argv[++i];
    switch (flag) {
      case '--host': {
        const h = next();
        if (!h) throw new UsageError('--host needs an address, e.g. --host 127.0.0.1');
        o.host = h;
        break;
      }
      case '--port': o.port = integer('--port', next(), 0, 65535); break;
      case '--max-sandboxes': o.maxSandboxes = integer('--max-sandboxes', next(), 1, 1000); given.add(flag); break;
      case '--max-per-client': o.maxPerClient = integer('--max-per-client', next(), 1, 1000); break;
      case '--max-per-address': o.maxPerAddress = integer('--max-per-address', next(), 1, 1000); given.add(flag); break;
      case '--warm-sandboxes': o.warmSandboxes = integer('--warm-sandboxes', next(), 0, 100); break;
      case '--idle-minutes': o.idleMinutes = integer('--idle-minutes', next(), 1, 7 * 24 * 60); break;
      case '--grace-seconds': o.graceSeconds = integer('--grace-seconds', next(), 0, 24 * 3600); break;
      case '--token': {
        const t = next();
        if (!t || !/^[\x21-\x7e]{16,256}$/.test(t) || /[;,"\\]/.test(t)) {
          throw new UsageError('--token needs 16 to 256 printable characters without spaces, ; , " or \\');
        }
        o.token = t;
        o.tokenGiven = true;
        break;
      }
      case '--disk-size': o.diskSize = diskSize('--disk-size', next()); break;
      case '--class': {
        const name = next()?.trim();
        if (!name || name.length > 80 || /[\p{Cc}]/u.test(name)) throw new UsageError('--class needs a class name of 1 to 80 characters, e.g. --class "Containers, week 3"');
        o.className = name;
        break;
      }
      case '--data-dir': {
        const d = next();
        if (!d) throw new UsageError('--data-dir needs a directory, e.g. --data-dir /var/lib/isolab');
        o.dataDir = d;
        break;
      }
      case '--class-db': {
        const d = next();
        if (!d) throw new UsageError('--class-db needs a postgres:// URL or a SQLite file, e.g. --class-db postgres://isolab@db:5432/isolab');
        o.classDb = d;
        break;
      }
      case '--max-students': o.maxStudents = integer('--max-students', next(), 1, 10_000); break;
      case '--max-per-student': o.maxPerStudent = integer('--max-per-student', next(), 1, 100); break;
      case '--sandbox-memory': {
        const v = next();
        const m = v === undefined ? null : /^(\d+)([mg])$/i.exec(v);
        const mib = m ? Number(m[1]) * (m[2].toLowerCase() === 'g' ? 1024 : 1) : 0;
        if (!m || mib < 64 || mib > 64 * 1024) throw new UsageError(`--sandbox-memory needs a size from 64m to 64g such as 512m or 1g, got ${v === undefined ? 'nothing' : `"${v}"`}`);
        o.sandboxMemory = v!.toLowerCase();
        break;
      }
      case '--sandbox-cpus': {
        const v = next();
        if (v === undefined || !/^\d+(\.\d+)?$/.test(v) || Number(v) < 0.1 || Number(v) > 64) throw new UsageError(`--sandbox-cpus needs a number of CPUs from 0.1 to 64 such as 0.5 or 2, got ${v === undefined ? 'nothing' : `"${v}"`}`);
        o.sandboxCpus = v;
        break;
      }
      case '--no-build': o.build = false; break;
      case '--unsafe-host-shell': o.unsafeHostShell = true; break;
      case '--help': case '-h': throw new UsageError(USAGE);
      default: throw new UsageError(`unknown option "${argv[i]}" (see --help)`);
    }
  }
  if (!isLoopback(o.host) && !o.tokenGiven) {
    throw new UsageError(`refusing to listen on ${o.host} without --token: anyone who can reach it would get a root shell in a sandbox; pass --token <secret> or use --host 127.0.0.1`);
  }
  if (o.unsafeHostShell && !isLoopback(o.host)) {
    throw new UsageError('--unsafe-host-shell gives every terminal a plain shell on this host: it is allowed on a loopback --host only');
  }
  if (o.className !== undefined) {
    // A class holds more than a reader's few tabs: 8 sandboxes would queue the ninth student,
    // and a classroom behind one NAT address is one address (--max-per-student bounds each student).
    if (!given.has('--max-sandboxes')) o.maxSandboxes = CLASS_MAX_SANDBOXES;
    if (!given.has('--max-per-address')) o.maxPerAddress = o.maxSandboxes;
  }
  if (!o.tokenGiven) o.token = randomBytes(32).toString('hex');
  return o;
}
