// `box run`: make the container's directories and cgroup, start box-init in new namespaces,
// wait for the command, and leave nothing behind. The box process that does this is the
// container's monitor: it stays until the container exits (with -d, a detached copy of it).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Cgroup } from '../cgroups/types.ts';
import type { RootfsSpec } from '../rootfs/rootfs.ts';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { mapsEveryId, type IdRange, type RunConfig } from './config.ts';
import { containerPlan, processSpec } from './build-plan.ts';
import { answerSync } from './sync-answers.ts';
import { initLayer, type Prepared } from '../net/endpoint.ts';
import { sharedNetns } from './network.ts';
import { realHost, type Host } from './host.ts';
import { spawnInit } from './init-stage.ts';
import { writeLog } from './log.ts';
import { adoptConsole, type Pty } from './pty.ts';
import {
  boxRoot, claimName, claimRandomName, containerDir, containersDir, lookup, newId, processStart, releaseName, writeState, updateState,
  type ContainerState, type Status,
} from './state.ts';
import { reapStale, removeAnonymousVolumes, removeContainerFiles } from './cleanup.ts';
import { prepareMounts, removeUnused, type PreparedMounts } from '../volume/mounts.ts';
import { parseVolumesFrom, requestsFrom, type MountRequest } from '../volume/spec.ts';
import { restrictDevices } from '../cgroups/devices.ts';
import { delegate, labCgroupMounts } from '../cgroups/lab.ts';
import { deviceFor } from '../rootfs/device-node.ts';
import { labStoreBytes, withLabDisk } from './lab.ts';
import { invocation } from '../sys/invocation.ts';
import { effectiveHealthcheck, startingHealth } from './health.ts';

export interface Running {
  state: ContainerState;
  child: ChildProcess;
  cgroup: Cgroup | null;
  pty: Pty | null;
  /** Resolves with the exit code once the container has exited and been cleaned up. */
  exited: Promise<number>;
}

/** For the engine's restarts and `box start` (engine/supervisor.ts). */
export interface StartAgain {
  /** Start this existing container again: its id, name, directory and upper layer. */
  again?: ContainerState;
  /** As it exits: 'restarting' when its policy will start it again, else 'exited'. */
  nextStatus?: (state: ContainerState, exitCode: number) => Status;
}

export interface StartOptions extends StartAgain {
  /** The image store, cgroups and network (host.ts); default the machine's. Unit tests pass a fake. */
  host?: Host;
}

/**
 * Start a container. `stdio` is where its stdin/stdout/stderr go when there is no tty:
 * 'log' writes its output to its log (log.ts: stdout and stderr apart), 'log+stdin' also gives it a stdin pipe
 * (Running.child.stdin) that the engine feeds from a `docker run -i` client.
 * `takeConsole`, for a caller that hands the terminal to someone else (the engine gives it to
 * its client): called when box-init has opened the terminal's master as `fd`, and box-init
 * waits until it resolves. Without it, box adopts the master itself (Running.pty).
 * Every system call box makes goes through `sys`, everything else that needs root through
 * `host` (host.ts): a unit test runs this whole function with a fake of each.
 */
export async function startContainer(
  sys: Sys,
  cfg: RunConfig,
  stdio: (number | 'inherit' | 'pipe' | 'ignore')[] | 'log' | 'log+stdin',
  takeConsole?: (pid: number, fd: number) => Promise<void>,
  { again, nextStatus, host = realHost(sys) }: StartOptions = {},
): Promise<Running> {
  if (sys.getuid() !== 0) {
    throw new UserError('box run needs root (it makes namespaces, mounts and cgroups): run it with sudo');
  }
  host.warmCgroups(); // first: it waits in the kernel while we do the rest
  reapStale(sys, host);
  const image = await host.image(cfg.image, !!cfg.verify);

  const id = again?.id ?? newId();
  const name = again?.name ?? cfg.name ?? claimRandomName(id);
  if (cfg.name && !again) claimName(name, id);
  cfg = { ...cfg, hostname: cfg.hostname ?? name.slice(0, 63) }; // as Docker: the name (its id there)
  const dir = containerDir(id);
  let cgroup: Cgroup | null = null;
  let pty = null as Pty | null; // set by onConsole, which TypeScript cannot see run
  let net: Prepared | null = null;
  let mounts: PreparedMounts | null = null;
  try {
    const proc = processSpec(cfg, image.config);
    // 0711: others may pass through (root of a user-namespaced container is uid 100000 here
    // and must reach rootfs/), but not list what is inside.
    fs.mkdirSync(containersDir(), { recursive: true, mode: 0o711 });
    fs.chmodSync(containersDir(), 0o711);
    if (!again) fs.mkdirSync(dir, { mode: 0o711 });
    if (cfg.lab) cfg = withLabDisk(sys, cfg, dir); // a loop device of its own, for the disk I/O lesson
    const state: ContainerState = {
      id, name, image: again?.image ?? cfg.image, imageId: image.id, command: proc.args,
      created: again?.created ?? new Date().toISOString(), status: 'created', pid: null,
      monitorPid: process.pid, monitorStart: processStart(process.pid) ?? '',
      exitCode: null, oomKilled: false, finished: null, autoRemove: cfg.autoRemove,
      cgroup: cgroupName(id), ...(cfg.cgroupParent ? { cgroupParent: cfg.cgroupParent } : {}), namespaces: {}, config: { ...cfg, workdir: proc.cwd, env: proc.env },
      restartCount: again?.restartCount ?? 0,
    };
    const healthcheck = effectiveHealthcheck(cfg.healthcheck, image.config.Healthcheck);
    if (healthcheck) Object.assign(state, { health: startingHealth(), config: { ...state.config, healthcheck } });
    writeState(state);
    // Its address and host ports are claimed after the state is written: a box killed in
    // between leaves nothing the next box cannot trace back to a dead container (cleanup.ts).
    const names = { id, name, hostname: cfg.hostname! };
    const request = { network: cfg.network, ip: cfg.ip, aliases: cfg.networkAliases, publish: cfg.publish, publishAll: cfg.publishAll, dnsSearch: cfg.dnsSearch, dnsOptions: cfg.dnsOptions };
    net = await host.network.prepare(request, names, image.config.ExposedPorts);
    if (net) writeState(Object.assign(state, { network: net.net }));

    const uidMap = sys.readFile('/proc/self/uid_map');
    const ids = cfg.userns ? host.claimIdRange(id, uidMap) : null;
    if (ids) state.idRange = ids;
    // With a user namespace, the image's files must be owned by its root: copies shifted up by ids.base.
    const lowerDirs = ids && cfg.namespaces.includes('mnt') ? host.shiftedLayers(image.layerDirs, ids.base) : image.layerDirs;
    if (cfg.namespaces.includes('mnt')) {
      // Volumes named for the first time are made (and filled) here; the state names them at once.
      const view = { lowerDirs, upperDir: path.join(dir, 'upper') };
      mounts = prepareMounts(mountRequests(cfg), view, dir, ids?.base ?? null, (records) => writeState({ ...state, mounts: records }));
      state.mounts = mounts.records;
    }
    const rootfs = mounts ? prepareRootfs(sys, host, dir, lowerDirs, cfg, ids, mounts) : null;
    if (!rootfs) {
      invocation().stderr(`box: note: no mount namespace (--ns without mnt): the command runs in the host's filesystem, not in ${cfg.image}\n`);
    }

    if (rootfs && ids) rootfs.devices = rootfs.devices.map((d) => deviceFor(sys, d, ids.base, dir));
    cgroup = makeCgroup(sys, host, cfg, cgroupName(id), ids);
    if (rootfs && cfg.lab && cgroup) {
      rootfs.cgroupMounts = labCgroupMounts(sys, cgroup);
      rootfs.tmpfs = [...rootfs.tmpfs ?? [], { path: '/var/lib/box', options: `mode=755,size=${labStoreBytes(cfg)}` }];
    }
    if (rootfs && net) rootfs.lowerDirs = [...rootfs.lowerDirs, initLayer(dir, net.files, rootfs.lowerDirs)];
    // Its user namespace is owned by its own uid. Not when nested in a sandbox: there box may
    // move into a cgroup (v1) only processes of its own uid, and all of them are the sandbox's.
    const plan = containerPlan(cfg, rootfs, proc, { joinNetns: sharedNetns(cfg), loUp: cfg.network === 'none' },
      ids && mapsEveryId(uidMap) ? ids.base : undefined);

    // 'log': stdout and stderr are two pipes that we copy into the log, each line tagged by its stream (log.ts).
    const logged = stdio === 'log' || stdio === 'log+stdin';
    const childStdio = cfg.tty ? ['ignore' as const, 'ignore' as const, 'ignore' as const]
      : logged ? [stdio === 'log+stdin' ? 'pipe' as const : 'ignore' as const, 'pipe' as const, 'pipe' as const] : stdio as (number | 'inherit' | 'pipe' | 'ignore')[];
    const init = spawnInit({
      plan,
      trace: sys.trace,
      spawn: sys.spawn,
      stdio: childStdio,
      // Without a user namespace: join the container's process as soon as we know it. With
      // one: join box-init at its uid_map stop, while it still has our credentials (on
      // cgroup v1 only root of the first user namespace, or the same uid, may move a process)
      // and before it forks, so that the container's PID 1 is born in the cgroup.
      onProcess: ids ? undefined : (pid) => cgroup?.addProcess(pid),
      // At each stop: cgroup and id maps, network, the lab's leaf (sync-answers.ts says the order).
      onSync: (pid, point) => answerSync({
        sys, cgroup, ids, reaperPid: () => init.child.pid!,
        plugNetwork: net ? (p) => host.network.plug(p, net!.net) : undefined,
      }, pid, point),
      onConsole: takeConsole ?? ((pid, fd) => {
        pty = adoptConsole(sys, pid, fd);
      }),
    });
    // Now, before any await: Node drops a child's unread pipes once it has exited.
    const logWritten = logged && !cfg.tty ? writeLog(id, init.child.stdout, init.child.stderr) : Promise.resolve();
    // Listen for the exit now: a quick command (`true`) may be gone before `started` resolves.
    const exitCode = new Promise<number>((resolve) => {
      init.child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal ?? 'SIGKILL')));
    });

    const pid = await init.started;
    state.pid = pid;
    state.status = 'running';
    state.started = new Date().toISOString();
    state.namespaces = readNamespaces(sys, pid);
    writeState(state);

    const exited = exitCode.then(async (code) => {
      // Its last output is in the log before anyone is told it exited (docker run reads it
      // there). The pipes end as PID 1's exit takes its namespace's processes along; one
      // that escaped it (a shared PID namespace) is not waited for long.
      await Promise.race([logWritten, new Promise((r) => setTimeout(r, 2000).unref())]);
      if (net) host.network.release(id, net);
      return finish(sys, state, cgroup, code, nextStatus?.(state, code) ?? 'exited');
    });
    return { state, child: init.child, cgroup, pty, exited };
  } catch (err) {
    pty?.close();
    if (net) host.network.release(id, net, { unplug: true });
    if (cgroup) destroyCgroup(cgroup);
    if (again) {
      updateState(id, { status: 'exited', pid: null, exitCode: 125, finished: new Date().toISOString() }); // as it was, not removed
    } else {
      removeContainerFiles(sys, id);
      releaseName(name, id);
      // Anonymous volumes made for this start go with it; named ones stay (Docker keeps them too).
      if (mounts) removeUnused(mounts.anonymous, () => []);
    }
    throw err;
  }
}

/** After the command exits: record the exit, kill stragglers, remove the cgroup. */
function finish(sys: Sys, state: ContainerState, cgroup: Cgroup | null, exitCode: number, status: Status): number {
  let oomKilled = false;
  if (cgroup) {
    try {
      oomKilled = (cgroup.stats().oomKills ?? 0) > 0 && exitCode === 137;
    } catch {
      /* stats are a nicety here */
    }
    destroyCgroup(cgroup);
  }
  if (state.autoRemove) {
    removeContainerFiles(sys, state.id);
    releaseName(state.name, state.id);
    removeAnonymousVolumes(state);
  } else {
    updateState(state.id, { status, exitCode, oomKilled, finished: new Date().toISOString() });
  }
  state.exitCode = exitCode;
  state.oomKilled = oomKilled;
  return exitCode;
}

function destroyCgroup(cgroup: Cgroup): void {
  try {
    cgroup.killAll();
    cgroup.destroy();
  } catch (err) {
    invocation().stderr(`box: warning: could not remove cgroup ${cgroup.name}: ${(err as Error).message}\n`);
  }
}

/**
 * What to mount, in the order asked: host binds (-v /host:/ctr, the lab's), the mounts of
 * --volumes-from (unless this run mounts something else at that path), volumes and tmpfs.
 */
function mountRequests(cfg: RunConfig): MountRequest[] {
  const own: MountRequest[] = [
    ...cfg.volumes.map((v): MountRequest => ({ type: 'bind', source: v.host, target: v.container, readOnly: v.readOnly })),
    ...cfg.mounts ?? [],
  ];
  const from = (cfg.volumesFrom ?? []).flatMap((spec) => {
    const { container, mode } = parseVolumesFrom(spec);
    return requestsFrom(lookup(container).mounts ?? [], mode);
  }).filter((r) => !own.some((o) => o.target === r.target));
  return [...own, ...from];
}

/** The overlay's three directories over the image's layers (`lowerDirs`, shifted already for a user namespace). */
function prepareRootfs(sys: Sys, host: Host, dir: string, lowerDirs: string[], cfg: RunConfig, ids: IdRange | null, mounts: PreparedMounts): RootfsSpec {
  // With --storage-opt size (every lab sandbox), everything the container writes lands on a
  // filesystem of that size (disk.ts).
  const writable = cfg.diskBytes ? host.mountDisk(dir, cfg.diskBytes) : dir;
  const spec: RootfsSpec = {
    rootfs: path.join(dir, 'rootfs'),
    upperDir: path.join(writable, 'upper'),
    workDir: path.join(writable, 'work'),
    lowerDirs,
    readOnly: cfg.readOnly,
    volumes: mounts.binds,
    tmpfs: mounts.tmpfs,
    chroot: cfg.chroot,
    maskPaths: !cfg.lab,
    devices: cfg.devices,
  };
  for (const d of [spec.rootfs, spec.upperDir, spec.workDir]) fs.mkdirSync(d, { recursive: true, mode: 0o755 }); // there already on a restart
  if (ids) {
    reachableByUsernsRoot(spec.rootfs);
    // Root inside is ids.base outside: it must own the upper layer to write to it.
    for (const d of [spec.upperDir, spec.workDir]) sys.chown(d, ids!.base, ids!.base);
  }
  return spec;
}

/** Recorded in state.json before the cgroup exists, so a box killed in between leaves no unknown cgroup. */
const cgroupName = (id: string) => `box-${id.slice(0, 12)}`;

/**
 * Root of a user-namespaced container is an ordinary uid on the host, so every directory on
 * the way to its rootfs must let others pass (x). box's own root directory may be fixed;
 * anything above it is the user's to change, so say which.
 */
function reachableByUsernsRoot(rootfs: string): void {
  const ownRoot = path.resolve(boxRoot());
  for (let dir = path.dirname(rootfs); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if (!(mode & 0o001)) {
      if (dir.startsWith(ownRoot)) fs.chmodSync(dir, (mode & 0o7777) | 0o001);
      else throw new UserError(`--userns: ${dir} is not searchable by others (mode ${(mode & 0o777).toString(8)}); chmod o+x ${dir}, or set BOX_ROOT elsewhere`);
    }
    if (dir === '/') break;
  }
}

function makeCgroup(sys: Sys, host: Host, cfg: RunConfig, name: string, ids: IdRange | null): Cgroup | null {
  const driver = host.cgroups(cfg.cgroupParent);
  const cg = driver.create(name);
  try {
    cg.setLimits({
      memoryBytes: cfg.memoryBytes,
      cpuQuotaUs: cfg.cpus?.quotaUs,
      cpuPeriodUs: cfg.cpus?.periodUs,
      pidsMax: cfg.pidsLimit,
      blockIO: cfg.blockIO,
    });
    restrictDevices(sys, cg, cfg.devices);
    if (cfg.lab && ids) {
      delegate(sys, cg, ids.base);
    }
  } catch (err) {
    cg.destroy();
    throw err;
  }
  return cg;
}

/** Which namespaces `pid` is in: the links' text, "pid:[4026532201]" (what `box inspect` shows, and box exec compares). */
export function readNamespaces(sys: Sys, pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ns of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']) {
    try {
      out[ns] = sys.readlink(`/proc/${pid}/ns/${ns}`);
    } catch {
      /* gone already, or not supported */
    }
  }
  return out;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 0;
}
