// `npm start`: build the site if it is stale, then serve it and the lab terminals.
// Every failure is one line on stderr and a non-zero exit: 2 for a bad command line,
// 1 for anything else.

import fs from 'node:fs';
import path from 'node:path';
import { parseOptions, UsageError } from './options.ts';
import { buildSite, siteStaleness } from './build.ts';
import { CLOSE_DEADLINE_MS, startLabServer } from './app.ts';
import { boxDriver, hostShellDriver, REPO } from './sandbox.ts';
import type { LabServer } from './app.ts';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { openClassStore } from './store.ts';
import { Classroom } from './class.ts';

function fail(message: string, code: number): never {
  process.stderr.write(`isolab: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) fail(e.message, 2);
    throw e;
  }

  const dist = path.join(REPO, 'dist');
  if (options.build) {
    const s = siteStaleness(REPO);
    if (s.stale) {
      console.log(`isolab: building the site (${s.reason})…`);
      try { await buildSite(REPO); } catch (e) { fail((e as Error).message, 1); }
    }
  } else if (!fs.existsSync(path.join(dist, 'index.html'))) {
    fail('dist/ has no built site; run without --no-build (or `npm run build`) first', 1);
  }

  const driver = options.unsafeHostShell ? hostShellDriver() : boxDriver(undefined, undefined, { diskSize: options.diskSize, memory: options.sandboxMemory, cpus: options.sandboxCpus });
  if (options.unsafeHostShell) {
    console.warn('isolab: WARNING: --unsafe-host-shell: every terminal is a plain shell on THIS HOST, not a sandbox');
  }

  let classroom: Classroom | undefined;
  if (options.className) {
    const dataDir = options.dataDir ?? path.join(os.homedir(), '.local', 'share', 'isolab');
    try {
      const store = await openClassStore(options.classDb, dataDir, (line) => console.error(line));
      classroom = await Classroom.open(store, options.className, randomBytes(32).toString('hex'), options.maxStudents);
    } catch (e) {
      fail(`the class database (${options.classDb ? 'see --class-db' : dataDir}): ${(e as Error).message}`, 1);
    }
  }

  let server: LabServer;
  try {
    server = await startLabServer({
      host: options.host,
      port: options.port,
      token: options.token,
      dist,
      repo: REPO,
      driver,
      maxSandboxes: options.maxSandboxes,
      maxPerClient: options.maxPerClient,
      maxPerAddress: options.maxPerAddress,
      maxPerStudent: options.maxPerStudent,
      warmSandboxes: options.warmSandboxes,
      graceMs: options.graceSeconds * 1000,
      idleMs: options.idleMinutes * 60_000,
      log: (line) => console.error(line),
      classroom,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') fail(`port ${options.port} is in use; pick another with --port`, 1);
    if (err.code === 'EADDRNOTAVAIL') fail(`${options.host} is not an address of this machine; check --host`, 1);
    if (err.code === 'EACCES') fail(`not allowed to listen on port ${options.port}; use a port above 1023`, 1);
    fail(err.message, 1);
  }

  console.log(`isolab: the lab is at ${server.url}`);
  if (classroom) {
    const base = server.url.replace(/\/\?token=.*$/, '');
    console.log(`isolab: class "${classroom.cls.name}": students open ${base}/join/ and type the code ${classroom.cls.code}`);
    console.log(`isolab: the instructor's page (keep it to yourself) is ${base}/teach/?teacher=${classroom.instructorToken}`);
  }
  console.log('isolab: press Ctrl-C to stop (every sandbox it made is removed)');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) { fail(`${signal} again: exiting without waiting for sandboxes to be removed`, 130); }
    stopping = true;
    console.log(`isolab: ${signal}: removing ${server.sessions.size} sandbox(es) and stopping…`);
    // close() is bounded; this is the last word should anything in it still hang.
    setTimeout(() => fail('stopping took too long; exiting (run `box ps` to see what is left)', 1), CLOSE_DEADLINE_MS + 15_000).unref();
    server.close().then(
      () => process.exit(0),
      (e) => fail(`stopping: ${(e as Error).message}`, 1),
    );
  };
  // A bug of ours that escaped every handler: log it and keep serving. Stopping here would
  // end every reader's session, and a reader who found the bug could do it again and again
  // (issue 12: one frame did). The handlers of one socket close that socket on their own.
  process.on('uncaughtException', (e) => {
    process.stderr.write(`isolab: internal error (the lab goes on): ${e.stack ?? e}\n`);
  });
  process.on('unhandledRejection', (e) => {
    process.stderr.write(`isolab: internal error (the lab goes on): ${(e as Error)?.stack ?? e}\n`);
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
}

main().catch((e) => fail((e as Error).message, 1));
