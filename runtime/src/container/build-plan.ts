// The whole plan for a container's first process, from a RunConfig and its image. box-init
// (C, single-threaded) makes the namespaces itself, then forks: unshare(CLONE_NEWPID) moves
// only its children into the new PID namespace, so its child is the container's PID 1, and
// box-init stays outside as a small reaper that mirrors the child's exit.
//
// Why not unshare() from Node's main thread? It works (libuv forks from that thread, so the
// child would be inside, and setns() takes the thread back), but it needs koffi, and loading
// koffi was a sixth of box run's start time; box-init makes the same calls for free. And a
// user namespace needs a single-threaded process anyway.
//
//   1. unshare the namespaces (with --userns: first mnt, so the overlay is mounted by real
//      root; then user; box writes uid_map; then the rest, now owned by the user namespace);
//   2. mount the overlay (before the fork: the child shares the mount namespace);
//   3. fork: box joins the child to the container's cgroup while the child mounts /proc,
//      /dev, /sys and pivot_roots (the kernel's first cgroup.procs write is slow on v1);
//   4. wait until box has done so, then unshare the cgroup namespace, whose root is the
//      cgroup we are in at that moment;
//   5. hostname, and the last steps shared with box exec (finishProcess).

import { MS_REC, MS_SLAVE, CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWTIME, CLONE_NEWUSER, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, SIGKILL } from '../sys/constants.ts';
import { flagsOf } from '../ns/namespaces.ts';
import { bindVolumes, buildRootfs, mountOverlay, type RootfsSpec } from '../rootfs/rootfs.ts';
import { CAPABILITIES, capsFromMask, ownBoundingSet } from '../security/capabilities.ts';
import { securityPlan } from '../security/plan.ts';
import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import type { NamespaceName } from '../sys/constants.ts';
import type { RunConfig } from './config.ts';
import { Plan } from '../init/plan.ts';
import { SyncPoint } from '../init/sync-point.ts';

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  tty: boolean;
  /** The terminal's rows and columns (an OCI process.consoleSize). */
  consoleSize?: { height: number; width: number };
  /**
   * An OCI process's own capability sets (masks, bit N = capability N). Without them the
   * effective and permitted sets are the bounding set, and nothing is inheritable or ambient.
   */
  capSets?: { effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint };
  /** Supplementary groups (OCI process.user.additionalGids); without them, [gid] when the user changes. */
  groups?: number[];
  /**
   * Leave the supplementary groups as they are: setgroups(2) is denied in the user namespace
   * (an OCI config's joined one whose setgroups file says "deny"); runc skips it there too.
   */
  keepGroups?: boolean;
  /** umask(2) for the command (OCI: process.user.umask, 022 if absent); without it, box-init's own. */
  umask?: number;
  /** Descriptors 3..3+N-1 the command keeps (runc's --preserve-fds N); box-init's pipes come after them. */
  preserveFds?: number;
}


/** The network, as far as box-init is concerned (the rest is net/: veths, addresses, routes). */
export interface PlanNet {
  /** --network container:NAME: join that container's network namespace (/proc/PID/ns/net). */
  joinNetns?: string;
  /** Bring lo up (--network none, as Docker; a bridge network's lo comes up with eth0). */
  loUp?: boolean;
}

/** For oci/runtime.ts: ops to add just before the process's security steps (create's wait before exec). */
export type BeforeSecurity = (plan: Plan) => void;

export function containerPlan(cfg: RunConfig, rootfs: RootfsSpec | null, proc: ProcessSpec, net: PlanNet = {}, owner?: number, beforeSecurity?: BeforeSecurity): Plan {
  const plan = new Plan();
  const has = (n: NamespaceName) => cfg.namespaces.includes(n);
  plan.prctl(PR_SET_PDEATHSIG, SIGKILL, 'PR_SET_PDEATHSIG'); // if box dies mid-start, so do we
  // First, while we are still the host's root: joining a namespace needs CAP_SYS_ADMIN over
  // the user namespace that owns it.
  if (net.joinNetns) plan.setns(net.joinNetns, CLONE_NEWNET);
  // cgroup: made after we join the container's cgroup (step 4); time: just before execve.
  const now = cfg.namespaces.filter((n) => n !== 'cgroup' && n !== 'time');

  if (cfg.userns) {
    if (rootfs) {
      plan.unshare(CLONE_NEWNS);
      if (rootfs.given) plan.mount(null, '/', null, MS_REC | MS_SLAVE); // an OCI bundle's root, as below
      else mountOverlay(plan, rootfs);
      bindVolumes(plan, rootfs); // as real root: locked once the user namespace owns the copy
    }
    // The namespace's owner is whoever creates it, and per-user counts (inotify instances,
    // user namespaces) are charged up the chain to the owner's uid: made by root, every
    // container would share (and could exhaust) root's. So create it as the container's own
    // uid `owner`, keeping CAP_SYS_ADMIN for hosts that allow only it to (Debian's
    // unprivileged_userns_clone=0, Ubuntu's AppArmor rule).
    if (owner !== undefined) {
      plan.prctl(PR_SET_KEEPCAPS, 1, 'PR_SET_KEEPCAPS');
      plan.setgroups([]).setresgid(owner).setresuid(owner);
      plan.capset(1n << BigInt(CAPABILITIES.CAP_SYS_ADMIN), ['SYS_ADMIN']);
    }
    plan.unshare(CLONE_NEWUSER);
    if (owner !== undefined) plan.prctl(PR_SET_PDEATHSIG, SIGKILL, 'PR_SET_PDEATHSIG'); // the uid change cleared it
    plan.sync(SyncPoint.IdMap);
    // We are in the new user namespace with every capability, but our uid 0 outside is not
    // mapped inside: become the namespace's root (uid `base` of the range box maps).
    plan.setgroups([]).setresgid(0).setresuid(0);
    if (now.length) plan.unshare(flagsOf(now));
  } else {
    if (now.length) plan.unshare(flagsOf(now));
    // An OCI bundle's root (oci/bundle.ts) is a directory as it is, no overlay: make every
    // mount a slave before buildRootfs binds it, as runc does (not when it has no mount
    // namespace of its own: that would change the host's). A slave's mounts reach no other
    // namespace, but the host's still come in: a bind of a shared host directory sees what is
    // mounted there later (a config's "rshared"/"rslave" bind; box run makes all private).
    if (rootfs?.given) {
      if (!rootfs.hostMountNs) plan.mount(null, '/', null, MS_REC | MS_SLAVE);
    } else if (rootfs) mountOverlay(plan, rootfs);
  }
  if (has('pid')) plan.fork();

  if (rootfs) buildRootfs(plan, rootfs, { newIpcNs: has('ipc'), volumesBound: cfg.userns });
  plan.sync(SyncPoint.Cgroup);
  if (has('cgroup')) plan.unshare(CLONE_NEWCGROUP);
  // A lab sandbox makes cgroups of its own. On cgroup v2 a cgroup that holds processes may not
  // hand controllers down ("no internal processes"), so now that the namespace's root is the
  // sandbox's cgroup, box moves the sandbox's processes into a leaf below it.
  if (cfg.lab) plan.sync(SyncPoint.Leaf);
  if (has('uts') && cfg.hostname) plan.sethostname(cfg.hostname);
  // A new network namespace has only lo, and it is down (as after `unshare --net`). A lab
  // sandbox brings it up, so the reader's own servers on 127.0.0.1 work.
  if ((cfg.lab || net.loUp) && has('net')) plan.linkUp('lo');

  finishProcess(plan, cfg, proc, { newTimeNs: has('time'), beforeSecurity });
  return plan;
}

/**
 * The last steps before the user's command, shared by `box run` and `box exec`: terminal,
 * time offsets, user, capabilities, no_new_privs, seccomp, descriptors, directory, exec.
 */
export function finishProcess(plan: Plan, cfg: RunConfig, proc: ProcessSpec, opts: { newTimeNs: boolean; beforeSecurity?: BeforeSecurity }): void {
  if (proc.tty) plan.console(proc.consoleSize).setsid().controllingTty();
  if (opts.newTimeNs) {
    // Offsets must be written before any process enters the namespace; execve then enters it.
    plan.unshare(CLONE_NEWTIME);
    const s = Math.trunc(cfg.timeOffset);
    plan.writeFile('/proc/self/timens_offsets', `monotonic ${s} 0\nboottime ${s} 0\n`);
  }
  // Still root with every capability here: an OCI container waits on exec.fifo at this point.
  opts.beforeSecurity?.(plan);
  // What to lock down is the security module's decision (capabilities, no_new_privs, the
  // seccomp filter; a lab sandbox is "privileged" inside its user namespace, whose
  // capabilities do not reach the host). Here it becomes system calls, in runc's order: keep
  // capabilities across the uid change, shrink the bounding set while we still may, change
  // user, set the final sets, no_new_privs, and the filter last. (setresuid first would empty
  // a non-root user's permitted set, and the capset after it would fail.)
  const sec = securityPlan({
    capAdd: cfg.capAdd, capDrop: cfg.capDrop, privileged: cfg.lab,
    // lab: only its loop device is guarded (lab-seccomp.ts)
    seccomp: cfg.lab ? 'lab' : cfg.seccomp ? (cfg.seccompProfile ?? 'default') : 'unconfined',
    noNewPrivs: cfg.noNewPrivs,
  });
  // No process can give a capability its own bounding set lacks (capset: EPERM): `--cap-add
  // ALL` means all that box itself may have.
  const ours = ownBoundingSet();
  const keep = sec.bounding & ours;
  const names = sec.caps.filter((c) => (keep >> BigInt(CAPABILITIES[c])) & 1n);
  const switchUser = proc.gid !== 0 || proc.uid !== 0;
  // Without no_new_privs the kernel lets only a holder of CAP_SYS_ADMIN install a filter, so
  // then it goes first, while we still have it (runc does the same); the filter allows the
  // calls that follow (prctl, capset, setresuid, close_range, execve).
  const filterFirst = !!sec.seccomp && !sec.noNewPrivs;
  const filterNote = sec.seccomp && (sec.seccomp.summary ?? `${sec.seccomp.allowed.length} calls allowed, ${sec.seccomp.defaultAction} for the rest`);
  if (filterFirst) plan.seccomp(sec.seccomp!.bytes, filterNote!);
  if (switchUser) plan.prctl(PR_SET_KEEPCAPS, 1, 'PR_SET_KEEPCAPS');
  plan.boundingSet(keep, sec.lastCap);
  if (proc.groups && !proc.keepGroups) plan.setgroups(proc.groups);
  if (switchUser) {
    if (!proc.groups && !proc.keepGroups) plan.setgroups([proc.gid]);
    plan.setresgid(proc.gid).setresuid(proc.uid);
    plan.prctl(PR_SET_KEEPCAPS, 0, 'PR_SET_KEEPCAPS');
  }
  if (proc.capSets) setOwnCapSets(plan, proc.capSets, keep, sec.lastCap);
  else plan.capset(keep, names.map((c) => c.replace(/^CAP_/, '')));
  plan.prctl(PR_SET_PDEATHSIG, SIGKILL, 'PR_SET_PDEATHSIG'); // a uid change clears it: set it again
  if (sec.noNewPrivs) plan.prctl(PR_SET_NO_NEW_PRIVS, 1, 'PR_SET_NO_NEW_PRIVS');
  if (sec.seccomp && !filterFirst) plan.seccomp(sec.seccomp.bytes, filterNote!);
  if (proc.umask !== undefined) plan.umask(proc.umask);
  plan.closeRange(3 + (proc.preserveFds ?? 0));
  plan.chdir(proc.cwd);
  for (const e of proc.env) plan.env(e);
  if (cfg.init) plan.init();
  plan.exec(proc.args[0], proc.args);
}

/**
 * An OCI process's sets, as runc sets them: capset(2) with effective, permitted and
 * inheritable, then each ambient one raised. None can hold what the bounding set lost; the
 * kernel raises an ambient capability only if it is permitted and inheritable already.
 */
function setOwnCapSets(plan: Plan, sets: NonNullable<ProcessSpec['capSets']>, bounding: bigint, last: number): void {
  const names = (m: bigint) => capsFromMask(m).map((c) => c.replace(/^CAP_/, '')).join('|') || '(none)';
  const permitted = sets.permitted & bounding;
  const inheritable = sets.inheritable & bounding;
  plan.capsetAll({ effective: sets.effective & permitted, permitted, inheritable }, names);
  const ambient = sets.ambient & permitted & inheritable;
  if (ambient) plan.ambient(ambient, last, names(ambient));
}

/** The process to run: image config, overridden by the command line, as Docker does. */
export function processSpec(cfg: RunConfig, image: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; WorkingDir?: string; User?: string }): ProcessSpec {
  const entrypoint = cfg.entrypoint ?? image.Entrypoint ?? [];
  // An entrypoint given on the command line clears the image's Cmd too (Docker's merge: the
  // image's Cmd was written as arguments for the image's own entrypoint); an empty one
  // (--entrypoint "") only removes the entrypoint.
  const cmd = cfg.command.length ? cfg.command : cfg.entrypoint?.length ? [] : image.Cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new UserError(`no command given and the image '${cfg.image}' has no default; add one: box run ${cfg.image} sh`);
  const env = new Map<string, string>();
  const put = (kv: string) => {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  };
  put('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  for (const kv of image.Env ?? []) put(kv);
  put(`HOSTNAME=${cfg.hostname ?? ''}`);
  put('HOME=/root');
  if (cfg.tty) {
    const term = invocation().env.TERM;
    put(`TERM=${term && term !== 'dumb' ? term : 'xterm'}`);
  }
  for (const kv of cfg.env) put(kv);
  const { uid, gid } = parseUser(cfg.user ?? image.User ?? '');
  return {
    args,
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd: cfg.workdir ?? (image.WorkingDir || '/'),
    uid,
    gid,
    tty: cfg.tty,
  };
}

/** `--user 1000` or `1000:1000`. Names would need the image's /etc/passwd: numbers only for now. */
export function parseUser(user: string): { uid: number; gid: number } {
  if (!user || user === 'root') return { uid: 0, gid: 0 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new UserError(`--user '${user}': give a numeric uid or uid:gid, e.g. --user 1000:1000`);
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}
