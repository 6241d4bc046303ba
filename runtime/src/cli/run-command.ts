// `box run` and `box exec`: the flags become a RunConfig (container/run-flags.ts), then start
// the container, connect the user's terminal to it, and exit with the command's exit code.

import fs from 'node:fs';
import type { RunConfig } from '../container/config.ts';
import { startContainer, type Running } from '../container/run.ts';
import { execInContainer } from '../container/exec.ts';
import { EXIT_STATUS, UserError, type ErrorCode } from '../sys/errors.ts';
import { spawnDetached } from '../sys/detached.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText } from '../container/args.ts';
import type { Pty } from '../container/pty.ts';
import { needsEngine } from '../container/restart.ts';
import { resolveImage } from '../image/index.ts';
import { readState } from '../container/state.ts';
import { execConfigFrom, oomNotice, RUN_OPTIONS, runConfigFrom } from '../container/run-flags.ts';

export function runHelp(): string {
  return helpText('box run [OPTIONS] IMAGE [COMMAND [ARG...]]', 'Run a command in a new container.', RUN_OPTIONS);
}

export async function runCommand(argv: string[], trace: Trace): Promise<number> {
  const cfg = runConfigFrom(argv);
  // A restart policy or a health check needs a process that outlives this one: the engine.
  // (Not as a user: startContainer says that root is needed, before any image is read.)
  const why = needsEngine(cfg, cfg.lab || process.getuid?.() !== 0 ? undefined : resolveImage(cfg.image).config.Healthcheck);
  if (why) return (await import('../engine/control.ts')).runThroughEngine(['run', ...argv], why);
  if (cfg.detach) return runDetached(cfg);
  const sys = realSys(trace);
  const stdio: ('inherit' | 'ignore')[] = [cfg.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
  const running = await startContainer(sys, cfg, stdio);
  return attach(running, () => running.exited, cfg.memoryBytes);
}

/** Connect our terminal (or signals) to a started container and wait for it. */
export async function attach(running: Pick<Running, 'pty' | 'state'>, exited: () => Promise<number>, memoryBytes?: number): Promise<number> {
  const { pty, state } = running;
  const forward = (sig: NodeJS.Signals) => {
    try {
      if (state.pid) process.kill(state.pid, sig);
    } catch {
      /* it exited meanwhile */
    }
  };
  const signals: NodeJS.Signals[] = pty ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const s of signals) process.on(s, forward);
  const stopTerminal = pty ? connectTerminal(pty) : () => {};
  const code = await exited();
  await stopTerminal();
  for (const s of signals) process.off(s, forward);
  if (state.oomKilled) process.stderr.write(`${oomNotice(memoryBytes)}\n`);
  return code;
}

function connectTerminal(pty: Pty): () => Promise<void> {
  const stdin = process.stdin;
  const isTty = stdin.isTTY;
  if (isTty) stdin.setRawMode(true);
  const resize = () => {
    if (process.stdout.isTTY) pty.resize(process.stdout.columns, process.stdout.rows);
  };
  resize();
  process.stdout.on('resize', resize);
  stdin.on('data', (d) => pty.master.write(d));
  stdin.resume();
  pty.master.on('data', (d) => process.stdout.write(d));
  const drained = new Promise<void>((resolve) => {
    pty.master.once('close', resolve);
    pty.master.once('error', () => resolve()); // EIO: the last slave end closed
  });
  return async () => {
    await Promise.race([drained, new Promise((r) => setTimeout(r, 200))]);
    process.stdout.off('resize', resize);
    if (isTty) stdin.setRawMode(false);
    stdin.pause();
    pty.close();
  };
}

/**
 * `box run -d`: a detached box process (the monitor) starts the container and stays with it,
 * writing its output to a log; we wait until it says the container runs, then print the id.
 */
async function runDetached(cfg: RunConfig): Promise<number> {
  process.stdout.write(`${await startDetached(cfg)}\n`);
  return 0;
}

/** Start a detached container through its monitor (`again`: the id of a stopped one, `box start`); its id once it runs. */
export async function startDetached(cfg: RunConfig, again?: string): Promise<string> {
  // The monitor is this same program: the bundle or the sources, whichever is running.
  const line = await spawnDetached(process.execPath, [...process.execArgv, process.argv[1], '__monitor'], {
    output: 'ignore',
    env: { ...process.env, BOX_MONITOR_CONFIG: JSON.stringify(cfg), ...(again ? { BOX_MONITOR_AGAIN: again } : {}) }, // again: `box start`
  }).report;
  if (line.startsWith('ok ')) return line.slice(3);
  // `err CODE message`: the code keeps Docker's status (127: command not found) across the monitor.
  const err = /^err (\S+) ([^]*)$/.exec(line);
  if (err) throw new UserError(err[2]!, err[1]! in EXIT_STATUS ? (err[1] as ErrorCode) : 'failed');
  throw new UserError('the container did not start (its monitor exited)');
}

/** The detached monitor: start, report, wait. Its stdout and stderr go nowhere. */
export async function monitorCommand(_argv: string[], trace: Trace): Promise<number> {
  const cfg = JSON.parse(process.env.BOX_MONITOR_CONFIG ?? '{}') as RunConfig;
  const again = process.env.BOX_MONITOR_AGAIN ? readState(process.env.BOX_MONITOR_AGAIN) ?? undefined : undefined;
  delete process.env.BOX_MONITOR_CONFIG;
  delete process.env.BOX_MONITOR_AGAIN;
  const report = fs.createWriteStream('', { fd: 3 });
  let running: Running;
  try {
    running = await startContainer(realSys(trace), cfg, 'log', undefined, { again });
  } catch (err) {
    report.end(`err ${err instanceof UserError ? err.code : 'failed'} ${(err as Error).message}\n`);
    return 1;
  }
  report.end(`ok ${running.state.id}\n`);
  return running.exited;
}

export async function execCommand(argv: string[], trace: Trace): Promise<number> {
  const { ref, command, opts } = execConfigFrom(argv);
  const { running, exited } = await execInContainer(realSys(trace), ref, command, opts);
  return attach(running, () => exited);
}
