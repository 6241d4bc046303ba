// The whole plan for a container's first process, from a RunConfig and its image.
//
//   without --userns   box (Node) has already unshare()d mnt/pid/uts/ipc/net on its main
//                      thread, so box-init starts as PID 1 of the new PID namespace.
//   with --userns      box unshares only mnt (so the overlay is mounted by real root);
//                      box-init creates the user namespace (single-threaded!), waits for
//                      box to write its uid_map, then creates the rest and forks into the
//                      new PID namespace.

import { CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWUSER, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, SIGKILL } from '../sys/constants.ts';
import { flagsOf, namespacesFromNode } from '../ns/namespaces.ts';
import { buildRootfs, mountOverlay, type RootfsSpec } from '../rootfs/rootfs.ts';
import { capMask, lastCap, resolveCaps, CAPABILITIES } from '../security/capabilities.ts';
import { defaultSeccompProgram } from '../security/seccomp.ts';
import { UserError } from '../sys/errors.ts';
import type { NamespaceName } from '../sys/constants.ts';
import type { RunConfig } from './config.ts';
import { Plan } from './plan.ts';

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  tty: boolean;
}

/** The namespaces box (Node) creates itself before spawning box-init. */
export function namespacesForNode(cfg: RunConfig): NamespaceName[] {
  if (cfg.userns) return cfg.namespaces.includes('mnt') ? ['mnt'] : [];
  return namespacesFromNode(cfg.namespaces);
}

export function containerPlan(cfg: RunConfig, rootfs: RootfsSpec | null, proc: ProcessSpec): Plan {
  const plan = new Plan();
  const has = (n: NamespaceName) => cfg.namespaces.includes(n);
  plan.prctl(PR_SET_PDEATHSIG, SIGKILL, 'PR_SET_PDEATHSIG'); // if box dies mid-start, so do we

  if (cfg.userns) {
    if (rootfs) mountOverlay(plan, rootfs);
    plan.unshare(CLONE_NEWUSER);
    plan.sync('box writes uid_map and gid_map, and puts us in our cgroup');
    // We are in the new user namespace with every capability, but our uid 0 outside is not
    // mapped inside: become the namespace's root (host uid USERNS_BASE).
    plan.setgroups([]).setresgid(0).setresuid(0);
    const rest = cfg.namespaces.filter((n) => n !== 'time');
    if (rest.length) plan.unshare(flagsOf(rest));
    if (has('pid')) plan.fork();
  } else {
    plan.sync('box puts us in our cgroup');
    // The cgroup namespace's root is the cgroup we are in when we unshare it: our own.
    if (has('cgroup')) plan.unshare(CLONE_NEWCGROUP);
    if (rootfs) mountOverlay(plan, rootfs);
  }

  if (rootfs) buildRootfs(plan, rootfs, { newIpcNs: has('ipc') });
  if (has('uts') && cfg.hostname) plan.sethostname(cfg.hostname);

  finishProcess(plan, cfg, proc, { newTimeNs: has('time') });
  return plan;
}

/**
 * The last steps before the user's command, shared by `box run` and `box exec`: terminal,
 * time offsets, user, capabilities, no_new_privs, seccomp, descriptors, directory, exec.
 */
export function finishProcess(plan: Plan, cfg: RunConfig, proc: ProcessSpec, opts: { newTimeNs: boolean }): void {
  if (proc.tty) plan.console().setsid().controllingTty();
  if (opts.newTimeNs) {
    // Offsets must be written before any process enters the namespace; execve then enters it.
    plan.unshare(CLONE_NEWTIME);
    const s = Math.trunc(cfg.timeOffset);
    plan.writeFile('/proc/self/timens_offsets', `monotonic ${s} 0\nboottime ${s} 0\n`);
  }
  // runc's order: keep capabilities across the uid change, shrink the bounding set while we
  // still may, change user, then set the final sets. (setresuid first would empty the
  // permitted set of a non-root user, and the capset after it would fail.)
  const last = lastCap();
  const caps = (cfg.lab ? Object.keys(CAPABILITIES) : resolveCaps(cfg.capAdd, cfg.capDrop))
    .filter((c) => CAPABILITIES[c] <= last); // none the running kernel does not know
  const mask = capMask(caps);
  const switchUser = proc.gid !== 0 || proc.uid !== 0;
  if (switchUser) plan.prctl(PR_SET_KEEPCAPS, 1, 'PR_SET_KEEPCAPS');
  plan.boundingSet(mask, last);
  if (switchUser) {
    plan.setgroups([proc.gid]).setresgid(proc.gid).setresuid(proc.uid);
    plan.prctl(PR_SET_KEEPCAPS, 0, 'PR_SET_KEEPCAPS');
  }
  plan.capset(mask, caps.map((c) => c.replace(/^CAP_/, '')));
  plan.prctl(PR_SET_PDEATHSIG, SIGKILL, 'PR_SET_PDEATHSIG'); // a uid change clears it: set it again
  plan.prctl(PR_SET_NO_NEW_PRIVS, 1, 'PR_SET_NO_NEW_PRIVS');
  if (cfg.seccomp && !cfg.lab) {
    const prog = defaultSeccompProgram(caps);
    plan.seccomp(prog.bytes, `EPERM for ${prog.blocked.length} calls`);
  }
  plan.closeRange(3);
  plan.chdir(proc.cwd);
  for (const e of proc.env) plan.env(e);
  plan.exec(proc.args[0], proc.args);
}

/** The process to run: image config, overridden by the command line, as Docker does. */
export function processSpec(cfg: RunConfig, image: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; WorkingDir?: string; User?: string }): ProcessSpec {
  const entrypoint = cfg.entrypoint ?? image.Entrypoint ?? [];
  const cmd = cfg.command.length ? cfg.command : image.Cmd ?? [];
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
  if (cfg.tty) put(`TERM=${process.env.TERM && process.env.TERM !== 'dumb' ? process.env.TERM : 'xterm'}`);
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
