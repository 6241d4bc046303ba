// `box engine start|stop|status`: the engine's life cycle, as `systemctl start docker` would
// manage dockerd. The engine is this same program (bundle or sources) run as `box __engine`,
// in a session of its own, its output in $BOX_ROOT/engine.log.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { processStart } from '../container/state.ts';
import { boxRoot } from '../image/paths.ts';
import { clientBinary } from '../init/build.ts';
import { inHome } from '../home.ts';
import type { RunConfig } from '../container/config.ts';
import { spawnDetached } from '../sys/detached.ts';
import { ExitStatusError, UserError } from '../sys/errors.ts';
import { engineSocket, enginePidFile, serveEngine } from './daemon.ts';
import { encodeRequest } from './protocol.ts';

export const ENGINE_HELP = `Usage: box engine start|stop|status

The engine is a long-lived box that starts containers for the box command, as dockerd does
for docker. While it runs, 'box run' (in the foreground) and 'box exec' are a small C client
that hands the command line to the engine over ${'$'}BOX_ROOT/engine.sock and starts in about a
millisecond instead of Node's ~25 ms; everything else runs as without it. It also keeps the
containers that need a process watching them: 'box run -d --restart ...' and containers with a
health check start it on demand.

  start    start the engine (nothing to do if it is running)
  stop     stop it: containers it started are stopped and cleaned up (the ones with
           --restart always or unless-stopped run again at the next start)
  status   say whether it runs, since when, and how many containers it served
`;

export async function engineCommand(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (rest.length) throw new UserError(`'box engine ${what}' takes no arguments; see 'box engine --help'`);
  if (what === 'start') return start();
  if (what === 'stop') return stop();
  if (what === 'status') return status();
  throw new UserError(`'box engine' needs start, stop or status${what ? `, not '${what}'` : ''}; see 'box engine --help'`);
}

/** The hidden `box __engine`: the engine process itself. */
export async function engineMain(): Promise<number> {
  const report = fs.createWriteStream('', { fd: 3 });
  await serveEngine(() => report.end(`ok ${process.pid}\n`));
  // Done: every container is cleaned up. Leave now rather than wait for a stray handle.
  process.exit(0);
}

/** Ask the engine something; null when no engine answers. */
function ask(argv: string[]): Promise<{ said: string; code: number } | null> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(engineSocket());
    let out = '';
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES') reject(new UserError(`${engineSocket()} is root's (mode 0600): ask the engine as root, e.g. sudo box engine status`));
      else resolve(null);
    });
    conn.on('connect', () => conn.write(encodeRequest({
      cwd: '/', rows: 0, cols: 0, stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false, argv, env: { ...process.env } as Record<string, string>,
    })));
    conn.on('data', (d) => (out += d));
    conn.on('end', () => {
      const said = out.split('\n').filter((l) => l.startsWith('say ')).map((l) => l.slice(4)).join('\n');
      const code = /^exit (\d+)$/m.exec(out);
      resolve({ said, code: code ? Number(code[1]) : 125 });
    });
  });
}

function needRoot(): void {
  if (process.getuid?.() !== 0) throw new UserError('the engine needs root (it starts containers): run it with sudo');
}

async function start(): Promise<number> {
  needRoot();
  const running = await ask(['__engine', 'status']);
  if (running) {
    process.stdout.write(`box: the engine is already running\n${running.said}\n`);
    return 0;
  }
  const pid = await spawnEngine();
  process.stdout.write(`box: engine started (pid ${pid}), listening on ${engineSocket()}; 'box engine stop' stops it\n`);
  return 0;
}

/**
 * `quiet`: what the command prints on stdout (`run -d`: the container's id) is dropped, its
 * errors still reach stderr; for code that starts containers and prints its own lines
 * (`box compose up`).
 *
 * A command that needs the engine (a restart policy, a health check: something must watch the
 * container after box exits, as dockerd does): start the engine if none runs, saying so in
 * one line, then hand the command to it through its C client, which relays stdio, the
 * terminal and signals exactly as when the engine was already running.
 */
export async function runThroughEngine(argv: string[], why: string, opts: { quiet?: boolean } = {}): Promise<number> {
  await ensureEngine(why);
  const stdio = opts.quiet ? (['ignore', 'ignore', 'inherit'] as const) : 'inherit';
  const client = spawn(clientBinary, argv, { stdio: stdio as never, env: { ...process.env, BOX_ENGINE_RELAY: '1' } });
  // The terminal's signals reach the client too (same process group): it forwards them.
  const ignore = () => {};
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const sig of signals) process.on(sig, ignore);
  const code = await new Promise<number>((resolve) => {
    client.once('error', (err) => {
      process.stderr.write(`box: cannot run ${clientBinary} (npm run build:box builds it): ${err.message}\n`);
      resolve(127);
    });
    client.once('exit', (c, sig) => resolve(c ?? 128 + (sig ? os.constants.signals[sig] : 0)));
  });
  for (const sig of signals) process.off(sig, ignore);
  return code;
}

/** Start the engine if none answers, and say so in one line on stderr. */
export async function ensureEngine(why: string): Promise<void> {
  if (process.env.BOX_ENGINE_RELAY) {
    // We are the CLI the client fell back to: the engine did not take the command.
    throw new UserError(`the engine did not take the command (started with another BOX_ROOT or environment?); see ${path.join(boxRoot(), 'engine.log')}`);
  }
  needRoot();
  if (!(await ask(['__engine', 'status']))) {
    const pid = await spawnEngine();
    process.stderr.write(`box: started the engine (pid ${pid}) ${why}; 'box engine stop' stops it\n`);
  }
}

/**
 * For code that starts containers in-process (`box compose`): `box run -d RUNARGS...` served
 * by the engine, so that it keeps the container (its restart policy, its health check). The
 * engine is started on demand. Resolves with the container's id; a failure is a UserError
 * with the engine's one-line message.
 */
export async function runDetachedInEngine(runArgs: string[], why = 'to keep the containers'): Promise<string> {
  const args = runArgs[0] === '-d' || runArgs[0] === '--detach' ? runArgs : ['-d', ...runArgs];
  return throughClient(['run', ...args], why);
}

/**
 * The same with a RunConfig made in code (as cli/run-command.ts runConfigFrom makes one, with
 * `restart` and `healthcheck` set): the engine starts it detached and keeps it, whatever it
 * needs. Resolves with the container's id.
 */
export async function runKeptInEngine(cfg: RunConfig, why = 'to keep the containers'): Promise<string> {
  return throughClient(['__run-kept', JSON.stringify(cfg)], why);
}

/** Run box-client with `argv`, its output captured: what it printed, or its one-line error. */
async function throughClient(argv: string[], why: string): Promise<string> {
  await ensureEngine(why);
  const client = spawn(clientBinary, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BOX_ENGINE_RELAY: '1' } });
  let out = '';
  let err = '';
  client.stdout.on('data', (d) => (out += d));
  client.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number>((resolve) => {
    client.once('error', () => resolve(127));
    client.once('close', (c) => resolve(c ?? 125));
  });
  if (code !== 0) throw new ExitStatusError(err.trim().split('\n')[0]?.replace(/^box: /, '') || `the engine could not run the container (exit ${code})`, code);
  return out.trim();
}

/** Start `box __engine` in a session of its own; its pid once it listens. */
async function spawnEngine(): Promise<string> {
  fs.mkdirSync(boxRoot(), { recursive: true, mode: 0o711 });
  const log = fs.openSync(path.join(boxRoot(), 'engine.log'), 'a', 0o600);
  const env = { ...process.env };
  for (const k of ['BOX_TRACE_FILE', 'BOX_TRACE_INVOCATION', 'BOX_ENGINE', 'BOX_ENGINE_RELAY']) delete env[k]; // per request, not per engine
  // runtime/bin/box, not process.argv[1]: the caller may be code that uses box, not box itself.
  env.BOX_ENGINE = 'off';
  const engine = spawnDetached(inHome('runtime/bin/box'), ['__engine'], { output: log, env, cwd: '/' });
  fs.closeSync(log);
  const line = await engine.report;
  if (!line.startsWith('ok ')) {
    throw new UserError(`the engine did not start; see ${path.join(boxRoot(), 'engine.log')}`);
  }
  return line.slice(3);
}

function enginePid(): number | null {
  try {
    const pid = Number(fs.readFileSync(enginePidFile(), 'utf8').trim());
    // The pid file may be stale and the number reused: make sure it is an engine.
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').includes('__engine') ? pid : null;
  } catch {
    return null;
  }
}

async function stop(): Promise<number> {
  needRoot();
  const pid = enginePid();
  if (pid === null) {
    fs.rmSync(engineSocket(), { force: true }); // a stale socket would only slow the client
    process.stdout.write('box: the engine is not running\n');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300; i++) {
    if (processStart(pid) === null) { // gone, or a zombie its new parent has not reaped yet
      process.stdout.write(`box: engine stopped (pid ${pid})\n`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new UserError(`the engine (pid ${pid}) did not stop within 15 s; see ${path.join(boxRoot(), 'engine.log')}, or kill -9 ${pid}`);
}

async function status(): Promise<number> {
  const answer = await ask(['__engine', 'status']);
  if (!answer) {
    process.stdout.write(`box: the engine is not running; 'box engine start' starts it\n`);
    return 1;
  }
  process.stdout.write(`${answer.said}\n`);
  return answer.code;
}
