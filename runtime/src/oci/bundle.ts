// A bundle's config.json (the OCI runtime spec) turned into box's own shapes: the RunConfig
// and process that container/build-plan.ts already turns into box-init's plan, a RootfsSpec
// whose root is the bundle's directory instead of an overlay of image layers, and the limits
// for the cgroup. What box cannot honour yet is refused here, in one line, before anything
// starts: silently ignoring part of a config would run a container less confined than asked.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_UNBINDABLE, type NamespaceName } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import type { RunConfig } from '../container/config.ts';
import type { ProcessSpec } from '../container/build-plan.ts';
import type { RootfsSpec, Volume } from '../rootfs/rootfs.ts';
import type { Limits } from '../cgroups/types.ts';
import type { SeccompProfile } from '../security/seccomp_profile.ts';
import { CAPABILITIES, capMask, capsFromMask, ownBoundingSet } from '../security/capabilities.ts';
import { readHooks, type Hooks } from './hooks.ts';
import { cgroupPlace, moreLimits, type OciMoreResources } from './resources.ts';
import { readDevices, type OciDevice, type OciDeviceRule } from './devices.ts';
import type { DeviceRule } from '../cgroups/devices.ts';

export interface OciSpec {
  ociVersion?: string;
  process?: {
    terminal?: boolean;
    consoleSize?: { height: number; width: number };
    args?: string[];
    env?: string[];
    cwd?: string;
    user?: { uid?: number; gid?: number; umask?: number; additionalGids?: number[] };
    capabilities?: { bounding?: string[]; effective?: string[]; permitted?: string[]; inheritable?: string[]; ambient?: string[] };
    noNewPrivileges?: boolean;
    rlimits?: { type: string; soft: number; hard: number }[];
    oomScoreAdj?: number;
  };
  root?: { path?: string; readonly?: boolean };
  hostname?: string;
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  annotations?: Record<string, string>;
  hooks?: Record<string, unknown[]>;
  linux?: {
    namespaces?: { type: string; path?: string }[];
    cgroupsPath?: string;
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
    resources?: {
      memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
      cpu?: { quota?: number; period?: number; shares?: number; cpus?: string; mems?: string; realtimeRuntime?: number; realtimePeriod?: number };
      pids?: { limit?: number };
      devices?: OciDeviceRule[];
    } & OciMoreResources;
    devices?: OciDevice[];
    seccomp?: SeccompProfile;
    sysctl?: Record<string, string>;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    rootfsPropagation?: string;
  };
}

export interface IdMapping { containerID: number; hostID: number; size: number }

export interface Bundle {
  dir: string;
  spec: OciSpec;
  cfg: RunConfig;
  proc: ProcessSpec;
  rootfs: RootfsSpec;
  limits: Limits;
  /** What box leaves out of the config, as runc does (kernel memory limits): create shows them as warnings. */
  warnings: string[];
  /** linux.cgroupsPath as box's driver takes it: an absolute parent and a name (else box's own). */
  cgroup: { parent: string; name?: string };
  /** process.rlimits, by number; process.oomScoreAdj. */
  rlimits: { resource: number; name: string; soft: bigint; hard: bigint }[];
  oomScoreAdj?: number;
  /** Namespaces to join rather than create: linux.namespaces[].path, in the order to join them. */
  joins: { path: string; flag: number }[];
  /**
   * A user namespace joined by path: its maps are the namespace's own (box writes none), read
   * here for the ids of its root on the host; setgroups false where its setgroups file says deny.
   */
  userJoin?: { path: string; rootUid: number; rootGid: number; setgroups: boolean };
  hooks: Hooks;
  /** The cgroup's device rules in order, the last match deciding (oci/devices.ts). */
  deviceRules: DeviceRule[];
  /** With a user namespace: uid_map and gid_map as box writes them ("inside outside count" lines). */
  idMaps?: { uid: string; gid: string; rootUid: number; rootGid: number };
}

// The spec's names for namespaces, and box's.
const NS: Record<string, NamespaceName> = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' };
// Joined by path: entered with setns(2) before box builds the root. A pid namespace holds
// only the children of whoever setns's into it, so box-init forks after (oci/runtime.ts); in a
// joined mount namespace box builds the root there, as runc does. A joined user namespace
// already has its id maps: box-init becomes its root, and namespaces made after are its.
const JOINABLE: Record<string, number> = { network: CLONE_NEWNET, ipc: CLONE_NEWIPC, uts: CLONE_NEWUTS, pid: CLONE_NEWPID, mount: CLONE_NEWNS, user: CLONE_NEWUSER };
// The kernel's names, as readlink(/proc/PID/ns/X) shows them ("net:[4026531840]").
const KERNEL_NAME: Record<string, string> = { network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', pid: 'pid', user: 'user' };
// The order of the joins, as runc's: the others first while box-init is still the host's root
// (it may join any namespace), then the user namespace, then the mount namespace, whose
// /proc is another: its path is opened last. A joined mount namespace must be owned by the
// joined user namespace (e.g. made by the same `unshare -U -m`), or setns(2) refuses it.
const JOIN_RANK = (flag: number) => (flag === CLONE_NEWUSER ? 1 : flag === CLONE_NEWNS ? 2 : 0);

// Mount options as runc parses them: flags set or cleared, the rest is the filesystem's data.
const SETS: Record<string, number> = { ro: MS_RDONLY, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC, strictatime: MS_STRICTATIME };
const CLEARS: Record<string, number> = { rw: MS_RDONLY, suid: MS_NOSUID, dev: MS_NODEV, exec: MS_NOEXEC };

export function mountOptions(options: string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o in SETS) flags |= SETS[o];
    else if (o in CLEARS) flags &= ~CLEARS[o];
    else if (/^(size|mode|nr_inodes|uid|gid)=/.test(o)) data.push(o);
  }
  return { flags, data: data.join(',') };
}

// RLIMIT_* by number (asm-generic/resource.h).
const RLIMITS = ['RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME'];

/** The mounts box makes itself (buildRootfs): a config's own entries for these are the same thing. */
const BUILT_IN = new Set(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);

// Kernel parameters that belong to a namespace (runc's list): set in the container's own, they
// change nothing outside it. Any other sysctl is the whole machine's, and is refused.
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

function checkSysctls(file: string, sysctl: Record<string, string>, namespaces: string[]): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const k = key.replaceAll('/', '.');
    if (!/^[\w-]+(\.[\w-]+)*$/.test(k)) throw new UserError(`${file}: linux.sysctl '${key}' is not a sysctl name; e.g. net.ipv4.ip_forward`);
    if (String(value).includes('\n')) throw new UserError(`${file}: linux.sysctl '${key}' has a newline in its value; give one value`);
    const need = IPC_SYSCTLS.has(k) || k.startsWith('fs.mqueue.') ? 'ipc' : k.startsWith('net.') ? 'network' : k === 'kernel.domainname' ? 'uts' : null;
    if (k === 'kernel.hostname') throw new UserError(`${file}: linux.sysctl kernel.hostname conflicts with the config's hostname field; set "hostname" instead`);
    if (!need) throw new UserError(`${file}: linux.sysctl ${k} is not in a separate kernel namespace (it would change the host's); remove it`);
    if (!namespaces.includes(need)) throw new UserError(`${file}: linux.sysctl ${k} is not allowed in the host's ${need} namespace; add {"type": "${need}"} to linux.namespaces`);
  }
}

/**
 * linux.uidMappings and gidMappings, as uid_map and gid_map take them. They need a user
 * namespace, and box's plan becomes the namespace's root (uid and gid 0) after it is made,
 * as runc's init does: 0 must be mapped. A range must not wrap past the 32-bit ids.
 */
function idMappings(file: string, userns: boolean, uids: IdMapping[] | undefined, gids: IdMapping[] | undefined): Bundle['idMaps'] {
  if (!userns) {
    if (uids?.length || gids?.length) throw new UserError(`${file}: linux.uidMappings/gidMappings need a user namespace; add {"type": "user"} to linux.namespaces`);
    return undefined;
  }
  const text = (name: string, maps: IdMapping[] | undefined) => {
    if (!maps?.length) throw new UserError(`${file}: a user namespace needs linux.${name}, e.g. [{"containerID": 0, "hostID": 100000, "size": 65536}]`);
    if (maps.length > 340) throw new UserError(`${file}: linux.${name} has ${maps.length} ranges; the kernel takes at most 340`);
    for (const m of maps) {
      const ok = [m.containerID, m.hostID, m.size].every((n) => Number.isInteger(n) && n >= 0) && m.size > 0 &&
        m.containerID + m.size <= 2 ** 32 && m.hostID + m.size <= 2 ** 32;
      if (!ok) throw new UserError(`${file}: linux.${name} entry ${JSON.stringify(m)} is not a range of ids (containerID, hostID, size > 0, below 2^32)`);
    }
    if (!maps.some((m) => m.containerID === 0)) throw new UserError(`${file}: linux.${name} must map the container's id 0 (box's OCI runtime becomes the namespace's root)`);
    return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n') + '\n';
  };
  const host0 = (maps: IdMapping[]) => maps.find((m) => m.containerID === 0)!.hostID;
  return { uid: text('uidMappings', uids), gid: text('gidMappings', gids), rootUid: host0(uids!), rootGid: host0(gids!) };
}

/**
 * A file of /proc/PID for the user namespace at nsPath: that process's own for a
 * /proc/PID/ns/user path; for another (a bind-mounted namespace file), read by a process that
 * joins it (nsenter). Either way uid_map's outside ids are the parent namespace's: the host's.
 */
function readOfUserns(file: string, nsPath: string, name: string): string {
  const m = /^\/proc\/(\d+)\/(?:task\/\d+\/)?ns\/user$/.exec(nsPath);
  try {
    if (m) return fs.readFileSync(`/proc/${m[1]}/${name}`, 'utf8');
    return execFileSync('nsenter', [`--user=${nsPath}`, '--preserve-credentials', 'cat', `/proc/self/${name}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT' && !m) throw new UserError('nsenter is missing (it reads a joined user namespace\'s id maps); install util-linux');
    throw new UserError(`${file}: cannot read ${name} of the user namespace ${nsPath} (${(e.stderr || e.message).trim().split('\n')[0]}); is its process still running?`);
  }
}

function parseIdMap(text: string): IdMapping[] {
  return text.trim().split('\n').filter(Boolean).map((l) => {
    const [containerID, hostID, size] = l.trim().split(/\s+/).map(Number);
    return { containerID, hostID, size };
  });
}

const sameMaps = (a: IdMapping[], b: IdMapping[]) => {
  const key = (m: IdMapping[]) => JSON.stringify([...m].sort((x, y) => x.containerID - y.containerID).map((r) => [r.containerID, r.hostID, r.size]));
  return key(a) === key(b);
};

/**
 * A user namespace joined by path keeps the maps it has (only one write to uid_map is ever
 * allowed). As runc: the config may repeat them, but maps that differ are an error; box-init
 * becomes the namespace's root after setns(2), so it must map id 0.
 */
function joinedUserns(file: string, nsPath: string, uids: IdMapping[] | undefined, gids: IdMapping[] | undefined): NonNullable<Bundle['userJoin']> {
  // setns(2) into one's own user namespace is EINVAL: say which it is.
  if (fs.readlinkSync('/proc/self/ns/user') === readlinkOrNull(nsPath)) throw new UserError(`${file}: ${nsPath} is the host's own user namespace, not one to join; give a container's, or remove the user namespace`);
  const uid = parseIdMap(readOfUserns(file, nsPath, 'uid_map'));
  const gid = parseIdMap(readOfUserns(file, nsPath, 'gid_map'));
  if ((uids?.length || gids?.length) && !(sameMaps(uid, uids ?? []) && sameMaps(gid, gids ?? []))) {
    throw new UserError(`${file}: linux.uidMappings/gidMappings differ from the maps of the user namespace ${nsPath} it joins; remove them (a joined namespace keeps its own)`);
  }
  const root = (maps: IdMapping[]) => maps.find((m) => m.containerID === 0);
  const u = root(uid), g = root(gid);
  if (!u || !g) throw new UserError(`${file}: the user namespace ${nsPath} does not map id 0 (uid_map: ${uid.length ? 'no 0' : 'empty'}); box becomes its root, as runc: join one that maps it, e.g. made by unshare -U --map-root-user`);
  // "deny" (what unshare --map-root-user writes): setgroups(2) fails there, for good.
  const setgroups = readOfUserns(file, nsPath, 'setgroups').trim() !== 'deny';
  return { path: nsPath, rootUid: u.hostID, rootGid: g.hostID, setgroups };
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** A /proc/PID/ns/X path names its kind in its link ("uts:[4026531838]"): a path of another kind is an error. */
function checkNsKind(file: string, type: string, nsPath: string): void {
  let link: string;
  try {
    link = fs.readlinkSync(nsPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${file}: namespace path ${nsPath} does not exist`);
    return; // not a link: a bind-mounted namespace file, whose kind setns(2) checks
  }
  const kind = /^(\w+):\[/.exec(link)?.[1];
  if (kind && kind !== KERNEL_NAME[type]) throw new UserError(`${file}: namespace path ${nsPath} is a ${kind} namespace, not ${KERNEL_NAME[type]} (type "${type}"); give a /proc/PID/ns/${KERNEL_NAME[type]} path`);
}

/**
 * With a user namespace, box-init builds the root after it has become the namespace's root:
 * an unprivileged id on the host, which must be able to reach root.path (as with runc).
 * Checked here, so the fix is named instead of a mount failing with EACCES.
 */
function checkSearchable(file: string, root: string, uid: number, gid: number): void {
  for (let d = root; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const x = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if (!(st.mode & x)) throw new UserError(`${file}: ${d} is not searchable by the container's root (uid ${uid} on the host) in its user namespace; chmod o+x ${d} (or chown the bundle to ${uid})`);
    if (d === '/') return;
  }
}

const PROPAGATION: Record<string, number> = {
  shared: MS_SHARED, slave: MS_SLAVE, private: MS_PRIVATE, unbindable: MS_UNBINDABLE,
  rshared: MS_SHARED | MS_REC, rslave: MS_SLAVE | MS_REC, rprivate: MS_PRIVATE | MS_REC, runbindable: MS_UNBINDABLE | MS_REC,
};

function rootPropagation(file: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(value in PROPAGATION)) throw new UserError(`${file}: linux.rootfsPropagation '${value}' is not one of ${Object.keys(PROPAGATION).join(', ')}`);
  return PROPAGATION[value];
}

/** A capability list as a mask. A name that is no capability is an error (the spec: it MUST be). */
function capList(names: string[] | undefined, set: string): bigint {
  const unknown = (names ?? []).find((c) => !(c in CAPABILITIES));
  if (unknown) throw new UserError(`process.capabilities.${set}: unknown capability '${unknown}'; names are as in capabilities(7), e.g. CAP_KILL`);
  return capMask(names ?? []);
}

/**
 * The spec (1.1): a capability that cannot be granted MUST be logged as a warning, and the
 * runtime SHOULD NOT fail (runc 1.1 still fails: "unable to apply caps"). No process can give
 * what its own bounding set lacks (capset: EPERM), so such a one is left out, and said.
 */
function ungrantable(requested: bigint): string[] {
  const missing = capsFromMask(requested & ~ownBoundingSet());
  if (missing.length === 0) return [];
  return [`process.capabilities: ${missing.join(', ')} cannot be granted: box's own bounding set lacks ${missing.length > 1 ? 'them' : 'it'} (CapBnd in /proc/self/status); the container runs without`];
}

/**
 * config.json's process (or an exec's process.json) as box's ProcessSpec: its user, groups and
 * umask (022 if absent, as runc), its terminal, and its own capability sets.
 */
export function ociProcess(p: NonNullable<OciSpec['process']>): ProcessSpec {
  const c = p.capabilities ?? {};
  return {
    args: p.args ?? [], env: p.env ?? [], cwd: p.cwd ?? '/', uid: p.user?.uid ?? 0, gid: p.user?.gid ?? 0,
    tty: !!p.terminal, consoleSize: p.terminal ? p.consoleSize : undefined,
    groups: p.user?.additionalGids ?? [],
    umask: p.user?.umask ?? 0o022,
    capSets: {
      effective: capList(c.effective, 'effective'), permitted: capList(c.permitted, 'permitted'),
      inheritable: capList(c.inheritable, 'inheritable'), ambient: capList(c.ambient, 'ambient'),
    },
  };
}

/**
 * `running`: for exec into a container made from it. Its namespaces are joined through its
 * own process then, so the config's namespace paths are neither checked nor read: whoever
 * held them may be gone, while the container keeps the namespaces alive.
 */
export function readBundle(bundleDir: string, { running = false } = {}): Bundle {
  const dir = path.resolve(bundleDir);
  const file = path.join(dir, 'config.json');
  let spec: OciSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8')) as OciSpec;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UserError(e.code === 'ENOENT' ? `${file} does not exist; give the bundle's directory with --bundle (box spec writes a default config.json)`
      : `${file} is not valid JSON (${e.message.split('\n')[0]}); fix it`);
  }
  // The spec's valid values: a version this runtime implements (SemVer 1.x, "1.0.2-dev" as podman sends).
  if (spec.ociVersion !== undefined && !/^1\.\d+\.\d+(-[\w.]+)?$/.test(spec.ociVersion)) {
    throw new UserError(`${file}: ociVersion '${spec.ociVersion}' is not a version of the runtime spec box implements (1.x.y)`);
  }
  const p = spec.process;
  if (!p?.args?.length) throw new UserError(`${file}: process.args is empty; give the command to run, e.g. "args": ["sh"]`);
  if (!spec.root?.path) throw new UserError(`${file}: root.path is missing; name the root filesystem's directory, e.g. "rootfs"`);
  const root = path.resolve(dir, spec.root.path);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${file}: root.path ${root} is not a directory`);
  const hooks = readHooks(file, spec.hooks);
  const rlimits = (p.rlimits ?? []).map((r) => {
    const resource = RLIMITS.indexOf(r.type);
    if (resource < 0) throw new UserError(`${file}: unknown rlimit '${r.type}'; e.g. RLIMIT_NOFILE`);
    return { resource, name: r.type, soft: BigInt(r.soft), hard: BigInt(r.hard) };
  });

  const namespaces: NamespaceName[] = [];
  const joins: Bundle['joins'] = [];
  let userns = false;
  for (const ns of spec.linux?.namespaces ?? []) {
    const name = NS[ns.type];
    if (!name && ns.type !== 'user') throw new UserError(`${file}: unknown namespace type '${ns.type}' in linux.namespaces`);
    if (ns.path) {
      if (!(ns.type in JOINABLE)) throw new UserError(`${file}: joining a ${ns.type} namespace by path is not supported; only network, ipc, uts, pid, mount and user`);
      if (!running) checkNsKind(file, ns.type, ns.path);
      joins.push({ path: ns.path, flag: JOINABLE[ns.type] });
    } else if (ns.type === 'user') userns = true;
    else namespaces.push(name);
  }
  joins.sort((a, b) => JOIN_RANK(a.flag) - JOIN_RANK(b.flag));
  const joinsMount = joins.some((j) => j.flag === CLONE_NEWNS);
  const userPath = joins.find((j) => j.flag === CLONE_NEWUSER)?.path;
  // A mount namespace joined by path belongs to the user namespace that made it: root in a new
  // user namespace has no CAP_SYS_ADMIN over it, and every mount of the root would fail (EPERM).
  if (joinsMount && userns) throw new UserError(`${file}: a mount namespace joined by path cannot be used from a new user namespace (mounts there need CAP_SYS_ADMIN in the user namespace that owns it); join that user namespace by path too, or make a new mount namespace`);

  // Without a UTS namespace, new or joined, sethostname(2) would rename the host (runc's rule and words).
  if (spec.hostname && !namespaces.includes('uts') && !joins.some((j) => j.flag === CLONE_NEWUTS)) {
    throw new UserError(`${file}: unable to set hostname without a private UTS namespace; add {"type": "uts"} to linux.namespaces or remove "hostname"`);
  }
  // No mount namespace, new or joined: runc's chroot (oci/host-mountns.ts). What would need one is refused, as runc does.
  const hostMountNs = !namespaces.includes('mnt') && !joinsMount;
  if (hostMountNs) {
    const without = `without a mount namespace of its own; add {"type": "mount"} to linux.namespaces`;
    if (userns || userPath) throw new UserError(`${file}: a user namespace cannot be used ${without} (its root may not mount in the host's)`);
    if (spec.linux?.maskedPaths?.length || spec.linux?.readonlyPaths?.length) throw new UserError(`${file}: linux.maskedPaths and readonlyPaths cannot be applied ${without} (runc: "unable to restrict sys entries without a private MNT namespace")`);
    if (spec.linux?.rootfsPropagation) throw new UserError(`${file}: linux.rootfsPropagation cannot be set ${without} (it would change the host's mounts)`);
  }
  for (const list of ['maskedPaths', 'readonlyPaths'] as const) {
    const rel = spec.linux?.[list]?.find((p) => !p.startsWith('/'));
    if (rel !== undefined) throw new UserError(`${file}: linux.${list} '${rel}' is not an absolute path; write it as the container sees it, e.g. /proc/kcore`);
  }
  const userJoin = userPath && !running ? joinedUserns(file, userPath, spec.linux?.uidMappings, spec.linux?.gidMappings) : undefined;
  const idMaps = userPath ? undefined : idMappings(file, userns, spec.linux?.uidMappings, spec.linux?.gidMappings);
  const nsRoot = idMaps ? { uid: idMaps.rootUid, gid: idMaps.rootGid } : userJoin ? { uid: userJoin.rootUid, gid: userJoin.rootGid } : undefined;
  if (nsRoot) checkSearchable(file, root, nsRoot.uid, nsRoot.gid);
  // runc skips setgroups(2) where the namespace denies it; supplementary groups cannot be set there.
  if (userJoin && !userJoin.setgroups && p.user?.additionalGids?.length) {
    throw new UserError(`${file}: process.user.additionalGids cannot be set: the user namespace ${userJoin.path} denies setgroups(2) (its setgroups file says deny); remove them`);
  }
  checkSysctls(file, spec.linux?.sysctl ?? {}, (spec.linux?.namespaces ?? []).map((n) => n.type));
  const devices = readDevices(file, spec.linux?.devices, spec.linux?.resources?.devices, userns);

  const volumes: Volume[] = [];
  const tmpfs: NonNullable<RootfsSpec['tmpfs']> = [];
  for (const [order, m] of (spec.mounts ?? []).entries()) {
    const opts = m.options ?? [];
    const dest = path.posix.normalize(m.destination);
    if (BUILT_IN.has(dest) && m.type !== 'bind') continue;
    if (m.type === 'bind' || opts.includes('bind') || opts.includes('rbind')) {
      // As runc: "bind" alone binds only the source's own mount, "rbind" the mounts below it too;
      // each propagation option is a mount(2) after the bind; ro, nosuid, nodev, noexec a remount.
      const { flags } = mountOptions(opts);
      volumes.push({
        host: path.resolve(dir, m.source ?? ''), container: dest, readOnly: (flags & MS_RDONLY) !== 0, order,
        recursive: !opts.includes('bind') || opts.includes('rbind'),
        propagation: opts.filter((o) => o in PROPAGATION).map((o) => PROPAGATION[o]),
        flags: flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC),
      });
    } else if (m.type === 'tmpfs') {
      const { flags, data } = mountOptions(opts);
      tmpfs.push({ path: dest, options: data, flags, order });
    } else {
      throw new UserError(`${file}: mount of type '${m.type}' at ${m.destination} is not supported; use bind or tmpfs`);
    }
  }

  const caps = p.capabilities?.bounding ?? [];
  const cfg: RunConfig = {
    image: root, command: p.args, detach: true, interactive: false, tty: false, autoRemove: false,
    namespaces, userns, lab: false, timeOffset: 0, chroot: false, readOnly: !!spec.root.readonly,
    volumes: [], env: p.env ?? [], hostname: spec.hostname,
    // The spec lists the capabilities to keep: all others dropped.
    capAdd: caps, capDrop: ['ALL'],
    seccomp: !!spec.linux?.seccomp, seccompProfile: spec.linux?.seccomp,
    noNewPrivs: !!p.noNewPrivileges, devices: [],
  };
  capList(p.capabilities?.bounding, 'bounding');
  const proc = ociProcess(p);
  if (userJoin && !userJoin.setgroups) proc.keepGroups = true;
  const rootfs: RootfsSpec = {
    rootfs: root, given: true, lowerDirs: [root], upperDir: path.join(root, '.box-no-upper'), workDir: '',
    readOnly: !!spec.root.readonly, volumes, tmpfs, chroot: false, devices: [], nodes: devices.nodes,
    // The config's lists, as runc: none given, nothing masked (engines send runc's defaults).
    maskPaths: true, maskedPaths: spec.linux?.maskedPaths ?? [], readonlyPaths: spec.linux?.readonlyPaths ?? [],
    sysctl: spec.linux?.sysctl, rootPropagation: rootPropagation(file, spec.linux?.rootfsPropagation), hostMountNs,
  };
  const r = spec.linux?.resources;
  const more = moreLimits(r);
  const limits: Limits = {
    ...more.limits,
    memoryBytes: r?.memory?.limit && r.memory.limit > 0 ? r.memory.limit : undefined,
    cpuQuotaUs: r?.cpu?.quota && r.cpu.quota > 0 ? r.cpu.quota : undefined,
    cpuPeriodUs: r?.cpu?.period || undefined,
    pidsMax: r?.pids?.limit && r.pids.limit > 0 ? r.pids.limit : undefined,
    // 0 is the spec's "not set" for shares, as for the others; an empty cpus/mems string too.
    cpuShares: r?.cpu?.shares || undefined,
    cpusetCpus: r?.cpu?.cpus || undefined,
    cpusetMems: r?.cpu?.mems || undefined,
    cpuRealtime: r?.cpu?.realtimeRuntime || r?.cpu?.realtimePeriod
      ? { runtimeUs: r.cpu.realtimeRuntime || undefined, periodUs: r.cpu.realtimePeriod || undefined }
      : undefined,
    memoryReservation: r?.memory?.reservation && r.memory.reservation > 0 ? r.memory.reservation : undefined,
    memorySwap: r?.memory?.swap || undefined,
    swappiness: r?.memory?.swappiness ?? undefined,
    disableOomKiller: r?.memory?.disableOOMKiller || undefined,
  };
  const cgroup = cgroupPlace(file, spec.linux?.cgroupsPath);
  const warnings = [...more.warnings, ...ungrantable(capMask(Object.values(p.capabilities ?? {}).flat()))];
  return { dir, spec, cfg, proc, rootfs, limits, warnings, joins, userJoin, cgroup, rlimits, oomScoreAdj: p.oomScoreAdj, hooks, idMaps, deviceRules: devices.rules };
}
