// A bundle's config.json (the OCI runtime spec) turned into box's own shapes: the RunConfig
// and process that container/build-plan.ts already turns into box-init's plan, a RootfsSpec
// whose root is the bundle's directory instead of an overlay of image layers, and the limits
// for the cgroup. What box cannot honour yet is refused here, in one line, before anything
// starts: silently ignoring part of a config would run a container less confined than asked.

import fs from 'node:fs';
import path from 'node:path';
import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_UNBINDABLE, type NamespaceName } from '../sys/constants.ts';
import { UserError } from '../sys/errors.ts';
import type { RunConfig } from '../container/config.ts';
import type { ProcessSpec } from '../container/build-plan.ts';
import type { RootfsSpec, Volume } from '../rootfs/rootfs.ts';
import type { Limits } from '../cgroups/types.ts';
import type { SeccompProfile } from '../security/seccomp_profile.ts';
import { CAPABILITIES, capMask } from '../security/capabilities.ts';
import { readHooks, type Hooks } from './hooks.ts';
import { cgroupPlace, moreLimits, type OciMoreResources } from './resources.ts';

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
    } & OciMoreResources;
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
  /** Namespaces to join rather than create: linux.namespaces[].path. */
  joins: { path: string; flag: number }[];
  hooks: Hooks;
  /** With a user namespace: uid_map and gid_map as box writes them ("inside outside count" lines). */
  idMaps?: { uid: string; gid: string; rootUid: number; rootGid: number };
}

// The spec's names for namespaces, and box's.
const NS: Record<string, NamespaceName> = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup' };
// Joined by path: entered with setns(2) before box builds the root. A pid namespace holds
// only the children of whoever setns's into it, so box-init forks after (oci/runtime.ts); in a
// joined mount namespace box builds the root there, as runc does (not a user namespace: its
// id maps are box's to write).
const JOINABLE: Record<string, number> = { network: CLONE_NEWNET, ipc: CLONE_NEWIPC, uts: CLONE_NEWUTS, pid: CLONE_NEWPID, mount: CLONE_NEWNS };

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

export function readBundle(bundleDir: string): Bundle {
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
    if (ns.type === 'user') {
      if (ns.path) throw new UserError(`${file}: joining a user namespace by path is not supported; remove its path to make a new one`);
      userns = true;
      continue;
    }
    const name = NS[ns.type];
    if (!name) throw new UserError(`${file}: unknown namespace type '${ns.type}' in linux.namespaces`);
    if (ns.path) {
      if (!(ns.type in JOINABLE)) throw new UserError(`${file}: joining a ${ns.type} namespace by path is not supported; only network, ipc, uts, pid and mount`);
      if (!fs.existsSync(ns.path)) throw new UserError(`${file}: namespace path ${ns.path} does not exist`);
      joins.push({ path: ns.path, flag: JOINABLE[ns.type] });
    } else namespaces.push(name);
  }
  const joinsMount = joins.some((j) => j.flag === CLONE_NEWNS);
  if (!namespaces.includes('mnt') && !joinsMount) throw new UserError(`${file}: linux.namespaces must include a mount namespace, new or joined by path: box builds the root in one`);
  if (joinsMount && userns) throw new UserError(`${file}: joining a mount namespace by path together with a new user namespace is not supported; drop one of them`);
  // The mount namespace last: the other paths (/proc/PID/ns/...) are the host's until then.
  joins.sort((a, b) => Number(a.flag === CLONE_NEWNS) - Number(b.flag === CLONE_NEWNS));

  for (const list of ['maskedPaths', 'readonlyPaths'] as const) {
    const rel = spec.linux?.[list]?.find((p) => !p.startsWith('/'));
    if (rel !== undefined) throw new UserError(`${file}: linux.${list} '${rel}' is not an absolute path; write it as the container sees it, e.g. /proc/kcore`);
  }
  const idMaps = idMappings(file, userns, spec.linux?.uidMappings, spec.linux?.gidMappings);
  if (idMaps) checkSearchable(file, root, idMaps.rootUid, idMaps.rootGid);
  checkSysctls(file, spec.linux?.sysctl ?? {}, (spec.linux?.namespaces ?? []).map((n) => n.type));

  const volumes: Volume[] = [];
  const tmpfs: NonNullable<RootfsSpec['tmpfs']> = [];
  for (const [order, m] of (spec.mounts ?? []).entries()) {
    const opts = m.options ?? [];
    const dest = path.posix.normalize(m.destination);
    if (BUILT_IN.has(dest) && m.type !== 'bind') continue;
    if (m.type === 'bind' || opts.includes('bind') || opts.includes('rbind')) {
      volumes.push({ host: path.resolve(dir, m.source ?? ''), container: dest, readOnly: opts.includes('ro'), order });
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
  const rootfs: RootfsSpec = {
    rootfs: root, given: true, lowerDirs: [root], upperDir: path.join(root, '.box-no-upper'), workDir: '',
    readOnly: !!spec.root.readonly, volumes, tmpfs, chroot: false, devices: [],
    // The config's lists, as runc: none given, nothing masked (engines send runc's defaults).
    maskPaths: true, maskedPaths: spec.linux?.maskedPaths ?? [], readonlyPaths: spec.linux?.readonlyPaths ?? [],
    sysctl: spec.linux?.sysctl, rootPropagation: rootPropagation(file, spec.linux?.rootfsPropagation),
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
  return { dir, spec, cfg, proc, rootfs, limits, warnings: more.warnings, joins, cgroup, rlimits, oomScoreAdj: p.oomScoreAdj, hooks, idMaps };
}
