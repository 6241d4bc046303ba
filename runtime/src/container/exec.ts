// `box exec`: run another process in a running container. box-init joins each of the
// container's namespaces with setns(2) (it is single-threaded, so it may join a user
// namespace too, which Node cannot), box puts it in the container's cgroup, and it forks
// so that its child is inside the container's PID namespace.

import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { containerCgroup } from './cgroup.ts';
import { realHost, type Host } from './host.ts';
import { NAMESPACES, type NamespaceName } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import type { Sys } from '../sys/sys.ts';
import type { RunConfig } from './config.ts';
import { finishProcess, parseUser, type ProcessSpec } from './build-plan.ts';
import { spawnInit } from './init-stage.ts';
import { Plan } from '../init/plan.ts';
import { SyncPoint } from '../init/sync-point.ts';
import { adoptConsole, type Pty } from './pty.ts';
import { signalNumber } from './run.ts';
import { lookup, type ContainerState } from './state.ts';

export interface ExecOptions {
  interactive: boolean;
  tty: boolean;
  env: string[];
  workdir?: string;
  user?: string;
  /** Where stdin, stdout, stderr go without a tty (default: box's own). */
  stdio?: (number | 'inherit' | 'ignore' | 'pipe')[];
  /** As startContainer's: someone else takes the terminal's master (the engine's client). */
  takeConsole?: (pid: number, fd: number) => Promise<void>;
}

// The user namespace first: joining it gives the capabilities needed to join the rest.
// The mount namespace last: joining it changes our root, and the /proc paths we open.
const JOIN_ORDER: NamespaceName[] = ['user', 'ipc', 'uts', 'net', 'cgroup', 'time', 'pid', 'mnt'];

/**
 * box-init's plan for `box exec`: stop at JoinCgroup (box puts it in the container's cgroup),
 * hold the container's root, join each namespace the container does not share with us
 * (`mine`: our own namespace of that type), enter the root, fork into its PID namespace, then
 * the same lock-down as box run (finishProcess).
 */
export function execPlan(state: ContainerState, command: string[], opts: ExecOptions, mine: (ns: NamespaceName) => string | null): Plan {
  const cfg = state.config as unknown as RunConfig;
  const plan = new Plan();
  plan.sync(SyncPoint.JoinCgroup);
  // The container's root as its first process sees it (after pivot_root or chroot), opened
  // before we join its mount namespace, whose own root may be the host's (--chroot).
  plan.rootFd(`/proc/${state.pid}/root`);
  for (const ns of JOIN_ORDER) {
    const theirs = state.namespaces[ns];
    if (!theirs || theirs === mine(ns)) continue; // shared with us: nothing to join
    plan.setns(`/proc/${state.pid}/ns/${ns}`, NAMESPACES[ns]);
    if (ns === 'user') plan.setgroups([]).setresgid(0).setresuid(0);
  }
  plan.enterRoot();
  if (state.namespaces.pid && state.namespaces.pid !== mine('pid')) plan.fork();

  const { uid, gid } = parseUser(opts.user ?? cfg.user ?? '');
  const env = [...((cfg.env as string[]) ?? []), ...opts.env];
  if (opts.tty && !env.some((e) => e.startsWith('TERM='))) env.push(`TERM=${invocation().env.TERM || 'xterm'}`);
  const proc: ProcessSpec = { args: command, env, cwd: opts.workdir ?? (cfg.workdir as string) ?? '/', uid, gid, tty: opts.tty };
  finishProcess(plan, cfg, proc, { newTimeNs: false });
  return plan;
}

/**
 * Run `command` in the running container `ref`. As startContainer: system calls through `sys`,
 * its cgroup through `host` (host.ts), so a unit test runs it whole with fakes.
 */
export async function execInContainer(sys: Sys, ref: string, command: string[], opts: ExecOptions, host: Host = realHost(sys)):
  Promise<{ running: { pty: Pty | null; state: ContainerState }; exited: Promise<number>; child: ChildProcess; output: Output }> {
  const state = lookup(ref);
  const link = (path: string) => { try { return sys.readlink(path); } catch { return null; } };
  // Its first process's PID namespace link is there as long as that process lives (not a zombie's).
  if (state.status !== 'running' || !state.pid || link(`/proc/${state.pid}/ns/pid`) === null) {
    throw new UserError(`container '${state.name}' is not running; start a new one with box run`);
  }
  const plan = execPlan(state, command, opts, (ns) => link(`/proc/self/ns/${ns}`));

  let pty: Pty | null = null;
  const cgroup = containerCgroup(sys, state, host.cgroups);
  const init = spawnInit({
    plan,
    trace: sys.trace,
    spawn: sys.spawn,
    stdio: opts.tty ? ['ignore', 'ignore', 'ignore'] : opts.stdio ?? [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
    onSync: (pid) => cgroup?.addProcess(pid),
    onConsole: opts.takeConsole ?? ((pid, fd) => {
      pty = adoptConsole(sys, pid, fd);
    }),
  });
  const exited = new Promise<number>((resolve) => {
    init.child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal ?? 'SIGKILL')));
  });
  // Taken now, before any await: once a child has exited, Node resumes its unread output
  // pipes (child_process flushStdio), dropping the data and the 'end' a reader attached
  // later waits for. A quick `echo` can exit before init.started resolves.
  const output = { stdout: keep(init.child.stdout), stderr: keep(init.child.stderr) };
  const pid = await init.started;
  return { running: { pty, state: { ...state, pid } }, exited, child: init.child, output };
}

/** The process's stdout and stderr with stdio 'pipe' (null otherwise), buffered until read. */
export interface Output {
  stdout: Readable | null;
  stderr: Readable | null;
}

function keep(stream: Readable | null): Readable | null {
  return stream ? stream.pipe(new PassThrough()) : null;
}
