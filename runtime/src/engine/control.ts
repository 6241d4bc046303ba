// `box engine start|stop|status`: the engine's life cycle, as `systemctl start docker` would
// manage dockerd. The engine is this same program (bundle or sources) run as `box __engine`,
// in a session of its own, its output in $BOX_ROOT/engine.log.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { processStart } from '../container/state.ts';
import { boxRoot } from '../image/paths.ts';
import { clientBinary } from '../init/build.ts';
import { UserError } from '../sys/errors.ts';
import { engineSocket, enginePidFile, serveEngine } from './daemon.ts';
import { encodeRequest } from './protocol.ts';

export const ENGINE_HELP = `Usage: box engine start|stop|status

The engine is a long-lived box that starts containers for the box command, as dockerd does
for docker. While it runs, 'box run' (in the foreground) and 'box exec' are a small C client
that hands the command line to the engine over ${'$'}BOX_ROOT/engine.sock and starts in about a
millisecond instead of Node's ~25 ms; everything else runs as without it.

  start    start the engine (nothing to do if it is running)
  stop     stop it: containers it started are killed and cleaned up
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
 * A command that needs the engine (a restart policy, a health check: something must watch the
 * container after box exits, as dockerd does): start the engine if none runs, saying so in
 * one line, then hand the command to it through its C client, which relays stdio, the
 * terminal and signals exactly as when the engine was already running.
 */
export async function runThroughEngine(argv: string[], why: string): Promise<number> {
  if (process.env.BOX_ENGINE_RELAY) {
    // We are the CLI the client fell back to: the engine did not take the command.
    throw new UserError(`the engine did not take 'box ${argv[0]}' (started with another BOX_ROOT or environment?); see ${path.join(boxRoot(), 'engine.log')}`);
  }
  needRoot();
  if (!(await ask(['__engine', 'status']))) {
    const pid = await spawnEngine();
    process.stderr.write(`box: started the engine (pid ${pid}) ${why}; 'box engine stop' stops it\n`);
  }
  const client = spawn(clientBinary, argv, { stdio: 'inherit', env: { ...process.env, BOX_ENGINE_RELAY: '1' } });
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

/** Start `box __engine` in a session of its own; its pid once it listens. */
async function spawnEngine(): Promise<string> {
  fs.mkdirSync(boxRoot(), { recursive: true, mode: 0o711 });
  const log = fs.openSync(path.join(boxRoot(), 'engine.log'), 'a', 0o600);
  const env = { ...process.env };
  for (const k of ['BOX_TRACE_FILE', 'BOX_TRACE_INVOCATION', 'BOX_ENGINE', 'BOX_ENGINE_RELAY']) delete env[k]; // per request, not per engine
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], '__engine'], {
    detached: true, // a session of its own: the terminal that started it may close
    stdio: ['ignore', log, log, 'pipe'],
    env,
    cwd: '/',
  });
  fs.closeSync(log);
  let out = '';
  const pipe = child.stdio[3] as Readable;
  pipe.setEncoding('utf8');
  for await (const chunk of pipe) out += chunk;
  child.unref();
  if (!out.startsWith('ok ')) {
    throw new UserError(`the engine did not start; see ${path.join(boxRoot(), 'engine.log')}`);
  }
  return out.slice(3).trim();
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
