// `box exec`: run another process in a running container. box-init joins each of the
// container's namespaces with setns(2) (it is single-threaded, so it may join a user
// namespace too, which Node cannot), box puts it in the container's cgroup, and it forks
// so that its child is inside the container's PID namespace.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { containerCgroup } from './cgroup.ts';
import { NAMESPACES, type NamespaceName } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import type { Sys } from '../sys/sys.ts';
import type { RunConfig } from './config.ts';
import { finishProcess, parseUser, type ProcessSpec } from './build-plan.ts';
import { spawnInit } from './init-stage.ts';
import { Plan } from './plan.ts';
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

export async function execInContainer(sys: Sys, ref: string, command: string[], opts: ExecOptions):
  Promise<{ running: { pty: Pty | null; state: ContainerState }; exited: Promise<number>; child: ChildProcess }> {
  const state = lookup(ref);
  if (state.status !== 'running' || !state.pid || !fs.existsSync(`/proc/${state.pid}`)) {
    throw new UserError(`container '${state.name}' is not running; start a new one with box run`);
  }
  const cfg = state.config as unknown as RunConfig;
  const mine = (ns: string) => { try { return fs.readlinkSync(`/proc/self/ns/${ns}`); } catch { return null; } };
  const plan = new Plan();
  plan.sync('box puts us in the container\'s cgroup');
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

  let pty: Pty | null = null;
  const cgroup = containerCgroup(sys, state);
  const init = spawnInit({
    plan,
    trace: sys.trace,
    stdio: opts.tty ? ['ignore', 'ignore', 'ignore'] : opts.stdio ?? [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
    onSync: (pid) => cgroup?.addProcess(pid),
    onConsole: opts.takeConsole ?? ((pid, fd) => {
      pty = adoptConsole(sys, pid, fd);
    }),
  });
  const exited = new Promise<number>((resolve) => {
    init.child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal ?? 'SIGKILL')));
  });
  const pid = await init.started;
  return { running: { pty, state: { ...state, pid } }, exited, child: init.child }; // child: its pipes, with stdio 'pipe'
}
