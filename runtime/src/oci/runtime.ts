// runc's lifecycle on box's start path: create builds the container up to the point just
// before execve and leaves it waiting; start lets it exec; kill signals it; delete removes
// what is left.
//
// No box process stays with the container (box run's monitor does): `box create` starts
// box-init, answers its sync points and exits, as runc create does. box-init forks into the
// new PID namespace and its first process exits at once (op `detach`), as runc init's parent
// does: the container's PID 1 is then the child of whoever is the subreaper above us, and
// podman's conmon, waiting for it, learns the exit code. It is the pid in the state and in
// --pid-file; nothing of box's stands between it and its caller.
//
// The wait between create and start is a fifo, exec.fifo, as runc's: box-init opens it for
// writing, which blocks in the kernel until a reader opens it, and `box start` is that reader.
// A fifo needs no listener process and no protocol, and it outlives `box create`. Its
// existence is also the state: the pid alive and the fifo there is "created"; the fifo gone,
// "running"; the pid gone, "stopped" (state.ts).

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { detectCgroups } from '../cgroups/index.ts';
import type { Cgroup } from '../cgroups/types.ts';
import { containerPlan } from '../container/build-plan.ts';
import { SyncPoint } from '../init/sync-point.ts';
import { spawnInit } from '../container/init-stage.ts';
import { applyDeviceRules } from '../cgroups/devices.ts';
import { Plan } from '../init/plan.ts';
import { CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, PR_SET_PDEATHSIG } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { readBundle } from './bundle.ts';
import { runHooks, runHooksWarn, type HookState } from './hooks.ts';
import { detachRoot, mountsAt } from './host-mountns.ts';
import { checkId, containerDir, fifoPath, OCI_VERSION, readOciState, writeOciState, type OciState } from './state.ts';


const cgroupName = (id: string) => `box-oci-${id}`;

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
  /** --console-socket: a unix socket to send the terminal's master to (process.terminal). */
  consoleSocket?: string;
  /** --preserve-fds N: our descriptors 3..3+N-1 stay open in the container's process. */
  preserveFds?: number;
}

/**
 * runc's rule: a terminal needs somewhere to send its master, since create returns while the
 * container lives on (conmon gives a socket); a socket without a terminal is a mistake.
 */
export function checkConsole(file: string, terminal: boolean, consoleSocket: string | undefined): void {
  if (terminal && !consoleSocket) throw new UserError(`${file}: process.terminal is true but no --console-socket was given; give a unix socket to receive the terminal, or set "terminal": false`);
  if (!terminal && consoleSocket) throw new UserError(`--console-socket given but ${file} has "terminal": false; set process.terminal to true or drop --console-socket`);
  if (consoleSocket && !fs.statSync(consoleSocket, { throwIfNoEntry: false })?.isSocket()) throw new UserError(`--console-socket ${consoleSocket} is not a unix socket; give the path of a listening one`);
}

/**
 * --preserve-fds N: a count. Whether 3..3+N-1 are the caller's cannot be checked from here:
 * Node opens descriptors of its own (epoll, eventfd, a signal pipe) at the lowest free numbers
 * before any of our code runs; as with runc, the caller must have them open.
 */
export function checkPreserveFds(n: number | undefined): void {
  if (n === undefined) return;
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new UserError(`--preserve-fds ${n}: give a count of descriptors after stdio, e.g. 1 for fd 3`);
}

/**
 * No PR_SET_PDEATHSIG: the process outlives box, and its parent is then whoever adopts it
 * (the caller's subreaper, conmon), whose exit must not kill it. runc sets none either.
 */
export function dropDeathSignal(plan: Plan): void {
  const at = (k: number) => plan.ops[k].args[0] === 'prctl' && plan.ops[k].args[1] === String(PR_SET_PDEATHSIG);
  for (let k = plan.ops.length - 1; k >= 0; k--) if (at(k)) plan.ops.splice(k, 1);
}

/** `box create`: returns once the container waits before exec; the container keeps our stdio. */
export async function createContainer(sys: Sys, o: CreateOptions): Promise<void> {
  checkId(o.id);
  if (process.getuid?.() !== 0) throw new UserError('box create needs root (it makes namespaces, mounts and cgroups): run it with sudo');
  const b = readBundle(o.bundle); // a bad config fails here, in one line, before anything exists
  checkConsole(path.join(b.dir, 'config.json'), b.proc.tty, o.consoleSocket);
  checkPreserveFds(o.preserveFds);
  b.proc.preserveFds = o.preserveFds;
  const dir = containerDir(o.root, o.id);
  fs.mkdirSync(o.root, { recursive: true, mode: 0o700 });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`container "${o.id}" already exists; box delete ${o.id} first`);
    throw err;
  }
  let cgroup: Cgroup | null = null;
  let containerPid = 0;
  // Without a mount namespace its mounts are the host's: the ones at its root now are not its.
  const hostMounts = b.rootfs.hostMountNs ? { root: b.rootfs.rootfs, before: mountsAt(b.rootfs.rootfs) } : undefined;
  try {
    const fifo = fifoPath(o.root, o.id);
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    // In a user namespace box-init reopens it as the container's root, an unprivileged id here (as runc).
    const nsRoot = b.idMaps ? { uid: b.idMaps.rootUid, gid: b.idMaps.rootGid } : b.userJoin ? { uid: b.userJoin.rootUid, gid: b.userJoin.rootGid } : null;
    if (nsRoot) fs.chownSync(fifo, nsRoot.uid, nsRoot.gid);
    cgroup = detectCgroups(sys, { parent: b.cgroup.parent }).create(b.cgroup.name ?? cgroupName(o.id));
    // What this cgroup version has no file for, and runc leaves out too, is said on stderr as runc's warnings are.
    for (const w of [...b.warnings, ...cgroup.setLimits(b.limits)]) process.stderr.write(`box: warning: ${w}\n`);
    // The config's device rules, then the harmless nodes and its linux.devices (oci/devices.ts):
    // engines send "deny all" first, so what else the container makes (podman grants
    // CAP_MKNOD) cannot be opened.
    applyDeviceRules(sys, cgroup, b.deviceRules);
    // The stop before exec: still root with every capability, in the container's namespaces.
    const plan = containerPlan(b.cfg, b.rootfs, b.proc, {}, undefined, (p) => p.sync(SyncPoint.Created).waitExecFifo());
    closeFdsBeforeFilter(plan);
    const createHooks = ['prestart', 'createRuntime', 'createContainer'].some((h) => b.hooks[h as keyof typeof b.hooks]?.length);
    if (createHooks) {
      // a bundle's root is always pivoted (or, without a mount namespace, chrooted) into
      const pivot = plan.ops.findIndex((op) => op.args[0] === 'pivot_root' || op.args[0] === 'chroot');
      if (pivot < 0) throw new Error('OCI create: the plan has no pivot_root or chroot to run the create hooks before');
      plan.ops.splice(pivot, 0, ...new Plan().sync(SyncPoint.Hooks).ops);
    }
    // The container outlives us, and its parent will be the subreaper that adopts it.
    dropDeathSignal(plan);
    // Into the cgroup first: every process box-init forks from here on is born in it (conmon
    // finds the cgroup to watch for OOM kills from /proc/PID/cgroup of the container's pid).
    // Joined namespaces and the fifo next, while the host's paths are visible and we are its root.
    const first = new Plan().sync(SyncPoint.JoinCgroup).execFifo(fifo);
    if (o.consoleSocket) first.consoleSocket(o.consoleSocket);
    // rlimits and oom_score_adj first, as the host's root with every capability (CAP_SYS_RESOURCE
    // may raise a hard limit; inside a user namespace it could not). A fork inherits both.
    // (runc sets rlimits later and, on this host, fails podman's RLIMIT_NPROC with EPERM.)
    for (const r of b.rlimits) first.rlimit(r.resource, r.name, r.soft, r.hard);
    if (b.oomScoreAdj !== undefined) first.writeFile('/proc/self/oom_score_adj', String(b.oomScoreAdj));
    for (const j of b.joins) {
      first.setns(j.path, j.flag);
      // The config's hostname in a joined UTS namespace too, as runc (box's plan sets it only in a new one).
      if (j.flag === CLONE_NEWUTS && b.cfg.hostname) first.sethostname(b.cfg.hostname);
      // In a joined user namespace box-init still has the host's ids (unmapped there): become
      // its root, as runc does, so that what it makes next (namespaces, mounts) is the
      // namespace's. Its maps are its own: box writes none.
      if (j.flag === CLONE_NEWUSER) {
        if (b.userJoin!.setgroups) first.setgroups([]);
        first.setresgid(0).setresuid(0);
      }
    }
    // setns into a PID namespace moves only our future children there: fork, as runc does.
    const joinsPid = b.joins.some((j) => j.flag === CLONE_NEWPID);
    if (joinsPid) first.fork();
    plan.ops.unshift(...first.ops);
    detachContainer(plan);
    const cg = cgroup;
    let created: () => void = () => {};
    const waiting = new Promise<void>((resolve) => { created = resolve; });
    const init = spawnInit({
      plan, trace: sys.trace, stdio: [0, 1, 2], preserveFds: o.preserveFds,
      onProcess: (pid) => {
        try {
          cg.addProcess(pid);
        } catch (err) {
          // Gone already (a step failed: a mount the kernel refused): box-init's own report says why, not this.
          if (!exited(pid)) throw err;
        }
      },
      onSync: async (pid, point) => {
        // A user namespace: box-init waits, just made, for its id maps (the host's root writes them).
        if (point === SyncPoint.IdMap && b.idMaps) {
          sys.writeFile(`/proc/${pid}/uid_map`, b.idMaps.uid);
          sys.writeFile(`/proc/${pid}/gid_map`, b.idMaps.gid);
        }
        if (point === SyncPoint.JoinCgroup) cg.addProcess(pid);
        if (point === SyncPoint.Hooks) {
          const state: HookState = { ociVersion: OCI_VERSION, id: o.id, status: 'creating', pid, bundle: b.dir, annotations: b.spec.annotations ?? {} };
          await runHooks('prestart', b.hooks, state, sys.trace);
          await runHooks('createRuntime', b.hooks, state, sys.trace);
          await runHooks('createContainer', b.hooks, state, sys.trace, pid);
        }
        if (point !== SyncPoint.Created) return;
        // The state's pid is what callers look at the container through (/proc/PID/ns/...,
        // conmon's waitpid): the container's process, its PID 1 in a new PID namespace.
        containerPid = pid;
        writeOciState(o.root, {
          ociVersion: OCI_VERSION, id: o.id, status: 'created', pid, bundle: b.dir, rootfs: b.rootfs.rootfs,
          created: new Date().toISOString(), owner: '', annotations: b.spec.annotations ?? {},
          cgroup: cg.name, cgroupParent: b.cgroup.parent, initPid: pid, hooks: b.hooks, hostMounts,
        });
        created();
      },
    });
    // Either the sync point (created) or a failure before it.
    await Promise.race([waiting, init.started.then(() => { throw new UserError('the container ran before box start'); })]).catch((err) => {
      // A memory limit smaller than box-init itself: the kernel kills it before the sync point.
      if (cg.stats().oomKills) throw new UserError('the OOM killer killed the container during create: its memory limit (linux.resources.memory.limit) is below what it needs to start; give it 6m or more');
      throw err;
    });
    if (o.pidFile) fs.writeFileSync(o.pidFile, String(containerPid)); // runc writes the pid without a newline
    // Let it go on to the fifo, and leave: it is the caller's (or the subreaper's) child now.
    for (const p of init.pipes) p.destroy();
    init.child.unref();
  } catch (err) {
    if (containerPid) {
      try {
        process.kill(containerPid, 'SIGKILL');
      } catch { /* gone */ }
    }
    if (cgroup) {
      cgroup.killAll();
      cgroup.destroy();
    }
    if (hostMounts) detachRoot(hostMounts.root, hostMounts.before);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * box-init's fork into the new (or joined) PID namespace becomes `detach`: its first process,
 * our child, exits at once, and the container's process is orphaned to the caller's subreaper
 * (conmon), which alone can then reap it and learn its exit status. Node reaps every child it
 * spawned the moment it ends, so our child must not be the pid we give. Without a PID
 * namespace it detaches right after joining the cgroup.
 */
function detachContainer(plan: Plan): void {
  const forks = plan.ops.flatMap((op, k) => (op.args[0] === 'fork' ? [k] : []));
  if (forks.length > 1) throw new Error('OCI create: the plan forks more than once');
  if (forks.length) plan.ops.splice(forks[0], 1, ...new Plan().detach().ops);
  else plan.ops.splice(1, 0, ...new Plan().detach().ops);
}

/** Whether a process has exited (a zombie not yet reaped, or gone). */
function exited(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** `box start`: open exec.fifo for reading, which releases box-init's open and so the exec. */
export async function startContainer(sys: Sys, root: string, id: string): Promise<void> {
  const st = readOciState(root, id);
  if (st.status !== 'created') throw new UserError(`cannot start container "${id}": it is ${st.status}, not created`);
  const hooks = st.hooks ?? {};
  await stopIfFails(sys, root, id, runHooks('startContainer', hooks, hookState(st, 'created'), sys.trace, st.initPid ?? st.pid));
  const fifo = fifoPath(root, id);
  // O_NONBLOCK: open at once even if box-init is gone, rather than wait forever.
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (n === 1) break;
      if (readOciState(root, id).status !== 'created') throw new UserError(`cannot start container "${id}": its process is gone`);
      await new Promise((r) => setTimeout(r, 5)); // box-init has not reopened its end yet
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(fifo, { force: true }); // from now on the state is "running"
  await stopIfFails(sys, root, id, runHooks('poststart', hooks, hookState(st, 'running'), sys.trace));
}

/** The spec: a failed startContainer or poststart hook stops the container (delete then runs poststop). */
async function stopIfFails(sys: Sys, root: string, id: string, hooks: Promise<void>): Promise<void> {
  try {
    await hooks;
  } catch (err) {
    // The process may have ended already (a `true`): then nothing is left to stop, and the
    // hook's failure is the error to report, not "not running".
    if (readOciState(root, id).status !== 'stopped') killContainer(sys, root, id, 'KILL', true);
    throw err;
  }
}

function hookState(st: OciState, status: string): HookState {
  return { ociVersion: st.ociVersion, id: st.id, status, pid: st.pid, bundle: st.bundle, annotations: st.annotations ?? {} };
}

/**
 * A config's seccomp profile need not allow close_range(2) (runtime-tools' default does not),
 * and box-init marks its descriptors close-on-exec after the filter: do it just before the
 * filter instead. CLOSE_RANGE_CLOEXEC only marks them, so box-init's reports still flow.
 */
export function closeFdsBeforeFilter(plan: Plan): void {
  const close = plan.ops.findLastIndex((op) => op.args[0] === 'close_range');
  const filter = plan.ops.findIndex((op) => op.args[0] === 'seccomp');
  if (close < 0 || filter < 0 || filter > close) return;
  const [op] = plan.ops.splice(close, 1);
  plan.ops.splice(filter, 0, op);
}

/** The container's cgroup, where create made it. */
export function openCgroup(sys: Sys, st: OciState): Cgroup | null {
  return st.cgroup ? detectCgroups(sys, { parent: st.cgroupParent }).open(st.cgroup) : null;
}

export function parseSignal(sig: string | undefined): NodeJS.Signals | number {
  if (!sig) return 'SIGTERM';
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals)) throw new UserError(`unknown signal '${sig}'; e.g. TERM, KILL or 9`);
  return name;
}

/** `box kill ID [SIGNAL]` (default TERM); --all: every process in its cgroup. */
export function killContainer(sys: Sys, root: string, id: string, signal: string | undefined, all: boolean): void {
  const sig = parseSignal(signal);
  const st = readOciState(root, id);
  if (st.status !== 'created' && st.status !== 'running' && st.status !== 'paused') throw new UserError(`container "${id}" is not running`);
  // The process in the container (PID 1 there). (initPid: a state written when box-init's
  // reaper stood in front of it and was the state's pid.)
  const first = st.initPid ?? st.pid;
  const pids = all ? openCgroup(sys, st)?.pids() ?? [first] : [first];
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

/** `box delete [--force] ID`: a stopped container's state and cgroup; --force kills a live one first. */
export async function deleteContainer(sys: Sys, root: string, id: string, force: boolean): Promise<void> {
  const st = readOciState(root, id);
  // The spec: deleting a container that is not stopped (created included) is an error.
  if (st.status !== 'stopped' && !force) {
    throw new UserError(`cannot delete container "${id}": it is ${st.status}; stop it first or use --force`);
  }
  const cg = openCgroup(sys, st);
  if (cg) {
    cg.killAll();
    cg.destroy();
  }
  // In case the cgroup was gone already: its process too.
  if (st.status !== 'stopped') {
    try {
      process.kill(st.pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  if (st.hostMounts) detachRoot(st.hostMounts.root, st.hostMounts.before);
  fs.rmSync(containerDir(root, id), { recursive: true, force: true });
  await runHooksWarn('poststop', st.hooks ?? {}, hookState(st, 'stopped'), sys.trace);
}

export { readOciState };
