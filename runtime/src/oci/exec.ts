// `box exec` with runc's options: another process in an OCI container, described by a
// process.json (--process FILE, the shape of config.json's "process") or by the arguments
// after the id. As box's own exec (container/exec.ts): box-init joins the container's
// namespaces through /proc/PID/ns of its first process, box puts it in the cgroup, and it
// forks into the PID namespace. With --detach we leave once it runs, as runc does, and the
// caller's subreaper (conmon) waits for the pid we write to --pid-file: box-init detaches
// (forks, and its first process exits) so that this pid is not Node's child, which Node would
// reap itself the moment it ended; joined into a PID namespace, the detached child is the
// container's process itself, as runc's, with no reaper in between.

import fs from 'node:fs';
import { checkConsole, checkPreserveFds, closeFdsBeforeFilter, dropDeathSignal, openCgroup } from './runtime.ts';
import { finishProcess, type ProcessSpec } from '../container/build-plan.ts';
import { spawnInit } from '../container/init-stage.ts';
import { Plan } from '../init/plan.ts';
import { SyncPoint } from '../init/sync-point.ts';
import { joinNamespaces, setgroupsAllowed } from './join.ts';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { ociProcess, readBundle, type OciSpec } from './bundle.ts';
import { readOciState } from './state.ts';

export interface OciExecOptions {
  root: string;
  id: string;
  /** --process FILE: the process as JSON; else `args`. */
  processFile?: string;
  args: string[];
  detach: boolean;
  pidFile?: string;
  cwd?: string;
  env: string[];
  /** -t: a terminal (with the arguments form; a process.json says it with "terminal"). */
  tty?: boolean;
  consoleSocket?: string;
  preserveFds?: number;
}

export async function ociExec(sys: Sys, o: OciExecOptions): Promise<number> {
  const st = readOciState(o.root, o.id);
  if (st.status !== 'running') throw new UserError(`cannot exec in container "${o.id}": it is ${st.status}, not running`);
  const first = st.initPid ?? st.pid;
  const b = readBundle(st.bundle, { running: true });
  let p: NonNullable<OciSpec['process']>;
  if (o.processFile) {
    try {
      p = JSON.parse(fs.readFileSync(o.processFile, 'utf8'));
    } catch (err) {
      throw new UserError(`--process ${o.processFile}: cannot read it as JSON (${(err as Error).message.split('\n')[0]})`);
    }
  } else p = { args: o.args, env: b.proc.env, cwd: o.cwd ?? b.proc.cwd, terminal: o.tty };
  if (!p.args?.length) throw new UserError('give the command to run: box exec ID COMMAND..., or --process FILE');
  checkConsole(o.processFile ?? 'exec', !!p.terminal, o.consoleSocket);
  checkPreserveFds(o.preserveFds);
  const keepGroups = !setgroupsAllowed(first);
  if (keepGroups && p.user?.additionalGids?.length) throw new UserError(`process.user.additionalGids cannot be set: the container's user namespace denies setgroups(2); remove them`);

  const plan = new Plan();
  if (o.consoleSocket) plan.consoleSocket(o.consoleSocket);
  plan.sync(SyncPoint.JoinCgroup);
  plan.rootFd(`/proc/${first}/root`);
  const otherPidNs = joinNamespaces(plan, first);
  plan.enterRoot();
  if (o.detach) plan.detach();
  else if (otherPidNs) plan.fork();
  const proc: ProcessSpec = {
    ...ociProcess({ capabilities: o.processFile ? undefined : b.spec.process?.capabilities, ...p }),
    env: [...(p.env ?? b.proc.env), ...o.env], cwd: o.cwd ?? p.cwd ?? '/', preserveFds: o.preserveFds,
    keepGroups,
  };
  const cfg = {
    ...b.cfg,
    capAdd: p.capabilities?.bounding ?? b.cfg.capAdd,
    noNewPrivs: p.noNewPrivileges ?? b.cfg.noNewPrivs,
  };
  finishProcess(plan, cfg, proc, { newTimeNs: false });
  // Detached, its parent is the caller's subreaper once box-init's first process has gone: a
  // death signal would kill it when that one exits (runc sets none unless configured).
  if (o.detach) dropDeathSignal(plan);
  closeFdsBeforeFilter(plan);

  const cgroup = openCgroup(sys, st);
  const init = spawnInit({ plan, trace: sys.trace, stdio: [0, 1, 2], preserveFds: o.preserveFds, onSync: (pid) => cgroup?.addProcess(pid) });
  const exited = new Promise<number>((resolve) => init.child.once('exit', (code, sig) => resolve(code ?? 128 + (sig === 'SIGKILL' ? 9 : 15))));
  const pid = await init.started; // detached: the process itself; else box-init, our child, which we wait for
  if (o.pidFile) fs.writeFileSync(o.pidFile, String(o.detach ? pid : init.child.pid));
  if (!o.detach) return exited;
  for (const p of init.pipes) p.destroy();
  init.child.unref();
  return 0;
}
