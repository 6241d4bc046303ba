// /containers/...: create, start, stop, kill, remove, list, inspect, wait, logs, attach, on
// box's own functions. A container made through the API is run detached and kept by the
// engine's supervisor (its output goes to its log, container/log.ts, which logs and attach read), so
// docker's `run` is create + attach + start + wait, as the docker CLI does it.

import fs from 'node:fs';
import type net from 'node:net';
import type http from 'node:http';
import type { Writable } from 'node:stream';
import { runConfigFrom } from '../../container/run-flags.ts';
import { killAll, signalContainer, stopContainer } from '../../container/kill.ts';
import { statusText } from '../../container/status.ts';
import { removeAnonymousVolumes, removeContainerFiles, reapStale } from '../../container/cleanup.ts';
import type { RunConfig } from '../../container/config.ts';
import { isPaused, pauseContainer, unpauseContainer } from '../../container/pause.ts';
import { markStoppedByHand, clearStoppedByHand, configForRestart } from '../../container/restart.ts';
import {
  claimName, claimRandomName, containerDir, containersDir, listIds, lookup, newId, processStart, readState, releaseName, writeState,
  type ContainerState,
} from '../../container/state.ts';
import { resolveImage } from '../../image/index.ts';
import { parseSeccompProfile } from '../../security/seccomp_file.ts';
import { DEFAULT_NETWORK, findNetwork } from '../../net/store.ts';
import { isNotFound, UserError } from '../../sys/errors.ts';
import { realSys } from '../../sys/sys.ts';
import { nullTrace, Trace } from '../../sys/trace.ts';
import type { Supervisor } from '../supervisor.ts';
import { pumpLog } from './attach.ts';
import { endOf, JSON_LOG, logPathOf } from '../../container/log.ts';
import { hasTerminal, keepTerminal, resizeTerminal, typeInto } from './tty.ts';
import { statsHandler } from './stats.ts';
import { emitEvent } from './events.ts';
import type { PendingConnect } from './networks.ts';
import { connectContainer } from '../../container/network.ts';
import { ApiError, apiError, commonHeaders, send, type Call, type Route } from './http.ts';

let supervisor: Supervisor | null = null;
/** daemon.ts hands the engine's supervisor over: API containers are kept by it. */
export function useSupervisor(s: Supervisor): void {
  supervisor = s;
}

/** Exit codes of containers started here, also after an --rm container's files are gone. */
const exits = new Map<string, { next: Promise<number>; resolve: (code: number) => void }>();
function exitSlot(id: string) {
  let slot = exits.get(id);
  if (!slot) {
    let resolve!: (code: number) => void;
    const next = new Promise<number>((r) => { resolve = r; });
    slot = { next, resolve };
    exits.set(id, slot);
  }
  return slot;
}

/** A container by name, id or id prefix, or the API's 404. */
export function find(ref: string): ContainerState {
  try {
    return lookup(ref.replace(/^\//, ''));
  } catch (err) {
    if (isNotFound(err)) throw new ApiError(404, `No such container: ${ref}`);
    throw err;
  }
}

const ID = '([^/]+)';
export const containerRoutes: Route[] = [
  ['GET', /^\/containers\/json$/, list],
  ['POST', /^\/containers\/create$/, create],
  ['GET', new RegExp(`^/containers/${ID}/json$`), ({ res, params }) => send(res, 200, inspectContainer(find(params[0])))],
  ['POST', new RegExp(`^/containers/${ID}/start$`), start],
  ['POST', new RegExp(`^/containers/${ID}/stop$`), stop],
  ['POST', new RegExp(`^/containers/${ID}/restart$`), async (call) => { await stop(call, true); await start(call); }],
  ['POST', new RegExp(`^/containers/${ID}/kill$`), kill],
  ['DELETE', new RegExp(`^/containers/${ID}$`), remove],
  ['POST', new RegExp(`^/containers/${ID}/wait$`), wait],
  ['GET', new RegExp(`^/containers/${ID}/logs$`), logs],
  ['GET', new RegExp(`^/containers/${ID}/top$`), top],
  ['GET', new RegExp(`^/containers/${ID}/stats$`), (call) => statsHandler(call)],
  ['POST', new RegExp(`^/containers/${ID}/pause$`), ({ res, params }) => freezeCall(res, params[0], 'pause')],
  ['POST', new RegExp(`^/containers/${ID}/unpause$`), ({ res, params }) => freezeCall(res, params[0], 'unpause')],
  ['POST', new RegExp(`^/containers/${ID}/resize$`), ({ res, params, query }) => {
    const s = find(params[0]);
    const cols = Number(query.get('w')), rows = Number(query.get('h'));
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 65535 || rows > 65535) {
      throw new ApiError(400, 'resize needs h and w, whole numbers of rows and columns (1 to 65535)');
    }
    if (!resizeTerminal(s.id, cols, rows)) throw new ApiError(409, `Container ${s.id} has no terminal to resize (it was not made with -t, or it is not running)`);
    res.writeHead(200, commonHeaders()).end();
  }],
];

/** docker pause / unpause: the cgroup freezer (container/pause.ts). */
function freezeCall(res: http.ServerResponse, ref: string, what: 'pause' | 'unpause'): void {
  const s = find(ref);
  if (s.status !== 'running') throw new ApiError(409, `Container ${s.id} is not running`);
  if (what === 'pause' && isPaused(s)) throw new ApiError(409, `Container ${s.id} is already paused`);
  if (what === 'unpause' && !isPaused(s)) throw new ApiError(409, `Container ${s.id} is not paused`);
  (what === 'pause' ? pauseContainer : unpauseContainer)(realSys(nullTrace), s);
  emitEvent('container', what, s.id, { name: s.name, image: s.image });
  res.writeHead(204, commonHeaders()).end();
}

/** docker top: the host's processes in the container's PID namespace (the kernel's /proc/PID/ns/pid link names it). */
function top({ res, params }: Call): void {
  const s = find(params[0]);
  if (s.status !== 'running' || !s.namespaces.pid) throw new ApiError(409, `Container ${s.id} is not running`);
  const rows: string[][] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/ns/pid`) !== s.namespaces.pid) continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      rows.push([uid, pid, ppid, cmd]);
    } catch {
      /* it exited meanwhile */
    }
  }
  send(res, 200, { Titles: ['UID', 'PID', 'PPID', 'CMD'], Processes: rows });
}

// ---- create -----------------------------------------------------------------------------

/** Docker's ThrottleDevice: a device path and a rate per second. */
interface BlkioRate { Path: string; Rate: number }

interface CreateBody {
  Hostname?: string; User?: string; Env?: string[]; Cmd?: string[] | null; Entrypoint?: string[] | null; Image?: string;
  WorkingDir?: string; Tty?: boolean; OpenStdin?: boolean; Labels?: Record<string, string>; ExposedPorts?: Record<string, object>;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
  HostConfig?: {
    Binds?: string[] | null; Memory?: number; NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number; PidsLimit?: number | null;
    BlkioWeight?: number; BlkioDeviceReadBps?: BlkioRate[] | null; BlkioDeviceWriteBps?: BlkioRate[] | null; BlkioDeviceReadIOps?: BlkioRate[] | null; BlkioDeviceWriteIOps?: BlkioRate[] | null;
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number }; AutoRemove?: boolean; NetworkMode?: string;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null; PublishAllPorts?: boolean;
    ReadonlyRootfs?: boolean; CapAdd?: string[] | null; CapDrop?: string[] | null; Tmpfs?: Record<string, string>;
    VolumesFrom?: string[] | null; Devices?: unknown[] | null; SecurityOpt?: string[] | null; Init?: boolean | null; DnsSearch?: string[] | null; DnsOptions?: string[] | null;
    Mounts?: { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean; TmpfsOptions?: { SizeBytes?: number } }[] | null;
  } & Record<string, unknown>;
  NetworkingConfig?: { EndpointsConfig?: Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null }> };
}

/**
 * What the docker CLI can ask that box does not do, by the HostConfig key and the flag a user
 * typed: refused in one line, never ignored (an ignored --mount would lose what is written
 * there; an ignored --privileged or --pid host would run something else than asked).
 */
const NOT_TAKEN: Record<string, string> = {
  Privileged: '--privileged', PidMode: '--pid', IpcMode: '--ipc', UTSMode: '--uts', UsernsMode: '--userns', CgroupnsMode: '--cgroupns',
  Ulimits: '--ulimit', Sysctls: '--sysctl', ExtraHosts: '--add-host', Dns: '--dns', ShmSize: '--shm-size', GroupAdd: '--group-add',
  Links: '--link', DeviceCgroupRules: '--device-cgroup-rule', DeviceRequests: '--gpus', CgroupParent: '--cgroup-parent',
  MemorySwap: '--memory-swap', MemoryReservation: '--memory-reservation', KernelMemory: '--kernel-memory', CpuShares: '--cpu-shares',
  CpusetCpus: '--cpuset-cpus', CpusetMems: '--cpuset-mems', OomKillDisable: '--oom-kill-disable', OomScoreAdj: '--oom-score-adj',
  BlkioWeight: '--blkio-weight', BlkioWeightDevice: '--blkio-weight-device', BlkioDeviceReadBps: '--device-read-bps',
  BlkioDeviceWriteBps: '--device-write-bps', BlkioDeviceReadIOps: '--device-read-iops', BlkioDeviceWriteIOps: '--device-write-iops',
  CpuRealtimePeriod: '--cpu-rt-period', CpuRealtimeRuntime: '--cpu-rt-runtime', StorageOpt: '--storage-opt', Runtime: '--runtime',
  VolumeDriver: '--volume-driver', Isolation: '--isolation',
};

export function refuseNotTaken(b: CreateBody): void {
  const h = b.HostConfig ?? {};
  const set = (v: unknown) => v !== undefined && v !== null && v !== 0 && v !== '' && v !== false
    && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);
  const no = (flag: string) => new ApiError(400, `box's engine does not take ${flag} yet; leave it out (runtime/src/engine/api/README.md lists what it takes)`);
  for (const [key, flag] of Object.entries(NOT_TAKEN)) if (set(h[key])) throw no(flag);
  if (set(h.MemorySwappiness) && h.MemorySwappiness !== -1) throw no('--memory-swappiness');
  const driver = (h.LogConfig as { Type?: string } | undefined)?.Type;
  if (driver && driver !== 'json-file') throw no(`--log-driver ${driver}`);
}

/** The create body as box run's own flags, so box's parser checks them and says what is wrong. */
export function runArgsFrom(b: CreateBody, name: string | null): string[] {
  const h = b.HostConfig ?? {};
  const a: string[] = ['-d'];
  if (name) a.push('--name', name);
  for (const e of b.Env ?? []) a.push('-e', e);
  for (const v of h.Binds ?? []) a.push('-v', v);
  for (const v of h.VolumesFrom ?? []) a.push('--volumes-from', v);
  for (const [path, opts] of Object.entries(h.Tmpfs ?? {})) a.push('--tmpfs', opts ? `${path}:${opts}` : path);
  if (b.WorkingDir) a.push('-w', b.WorkingDir);
  if (b.User) a.push('-u', b.User);
  if (b.Hostname) a.push('--hostname', b.Hostname);
  if (h.Memory) a.push('--memory', `${Math.ceil(h.Memory / 1024)}k`);
  if (h.NanoCpus) a.push('--cpus', String(h.NanoCpus / 1e9));
  else if (h.CpuQuota && h.CpuPeriod) a.push('--cpus', String(h.CpuQuota / h.CpuPeriod));
  if (h.PidsLimit && h.PidsLimit > 0) a.push('--pids-limit', String(h.PidsLimit));
  if (h.BlkioWeight) a.push('--blkio-weight', String(h.BlkioWeight));
  const rates: [BlkioRate[] | null | undefined, string][] = [
    [h.BlkioDeviceReadBps, '--device-read-bps'], [h.BlkioDeviceWriteBps, '--device-write-bps'], [h.BlkioDeviceReadIOps, '--device-read-iops'], [h.BlkioDeviceWriteIOps, '--device-write-iops'],
  ];
  for (const [list, flag] of rates) for (const r of list ?? []) a.push(flag, `${r.Path}:${r.Rate}`);
  const rp = h.RestartPolicy;
  if (rp?.Name && rp.Name !== 'no') a.push('--restart', rp.MaximumRetryCount ? `${rp.Name}:${rp.MaximumRetryCount}` : rp.Name);
  if (h.AutoRemove) a.push('--rm');
  if (h.ReadonlyRootfs) a.push('--read-only');
  if (h.Init) a.push('--init');
  for (const d of (h.Devices ?? []) as { PathOnHost?: string; PathInContainer?: string; CgroupPermissions?: string }[]) {
    if ((d.PathInContainer && d.PathInContainer !== d.PathOnHost) || (d.CgroupPermissions && d.CgroupPermissions !== 'rwm')) {
      throw new ApiError(400, `--device ${d.PathOnHost}:${d.PathInContainer}:${d.CgroupPermissions}: box's engine passes a device at its own path with rwm only, e.g. --device /dev/kvm`);
    }
    a.push('--device', d.PathOnHost ?? '');
  }
  for (const d of h.DnsSearch ?? []) a.push('--dns-search', d);
  for (const o of h.DnsOptions ?? []) a.push('--dns-option', o);
  // A seccomp profile comes inline (the CLI reads the file): createContainer parses it.
  for (const o of h.SecurityOpt ?? []) if (!/^seccomp[=:]\s*\{/.test(o)) a.push('--security-opt', o);
  for (const m of h.Mounts ?? []) {
    const parts = [`type=${m.Type ?? 'volume'}`, ...(m.Source ? [`source=${m.Source}`] : []), `target=${m.Target ?? ''}`];
    if (m.ReadOnly) parts.push('readonly');
    if (m.TmpfsOptions?.SizeBytes) parts.push(`tmpfs-size=${m.TmpfsOptions.SizeBytes}`);
    a.push('--mount', parts.join(','));
  }
  for (const c of h.CapAdd ?? []) a.push('--cap-add', c);
  for (const c of h.CapDrop ?? []) a.push('--cap-drop', c);
  const mode = h.NetworkMode && h.NetworkMode !== 'default' ? h.NetworkMode : 'bridge';
  a.push('--network', mode);
  const endpoint = b.NetworkingConfig?.EndpointsConfig?.[mode];
  for (const alias of endpoint?.Aliases ?? []) a.push('--network-alias', alias);
  if (endpoint?.IPAMConfig?.IPv4Address) a.push('--ip', endpoint.IPAMConfig.IPv4Address);
  for (const [port, binds] of Object.entries(h.PortBindings ?? {})) {
    const [ctr, proto] = port.split('/');
    for (const bind of binds ?? [{}]) {
      const host = bind.HostPort ? `${bind.HostIp ? `${bind.HostIp}:` : ''}${bind.HostPort}:` : '';
      a.push('-p', `${host}${ctr}${proto && proto !== 'tcp' ? `/${proto}` : ''}`);
    }
  }
  if (h.PublishAllPorts) a.push('-P');
  if (b.Healthcheck?.Test?.[0] === 'NONE') a.push('--no-healthcheck');
  a.push(b.Image ?? '');
  return a;
}

async function create({ res, query, json }: Call): Promise<void> {
  const b = await json<CreateBody>();
  if (!b.Image) throw new ApiError(400, 'Config.Image is required: the image to create the container from');
  const name = query.get('name');
  if (name && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new ApiError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  let image;
  try {
    image = resolveImage(b.Image);
  } catch (err) {
    throw new ApiError(404, `No such image: ${b.Image}`);
  }
  refuseNotTaken(b);
  const cfg: RunConfig = runConfigFrom(runArgsFrom(b, name?.replace(/^\//, '') ?? null));
  const inline = (b.HostConfig?.SecurityOpt ?? []).find((o) => /^seccomp[=:]\s*\{/.test(o));
  if (inline) {
    cfg.seccomp = true;
    cfg.seccompProfile = parseSeccompProfile(inline.slice('seccomp='.length));
  }
  // An unknown network refuses the create (dockerd makes the container and fails its start,
  // which leaves a container that can never run). 400, not 404: on a 404 the CLI pulls the image.
  const mode = cfg.network;
  if (mode && mode !== DEFAULT_NETWORK && mode !== 'host' && mode !== 'none' && !mode.startsWith('container:') && !findNetwork(mode)) {
    throw new ApiError(400, `network ${mode} not found; docker network create ${mode} makes it, docker network ls lists them`);
  }
  if (b.Cmd) cfg.command = b.Cmd;
  cfg.tty = !!b.Tty; // the engine keeps the terminal (tty.ts)
  if (b.Entrypoint) cfg.entrypoint = b.Entrypoint;
  if (b.Healthcheck?.Test && b.Healthcheck.Test[0] !== 'NONE') cfg.healthcheck = b.Healthcheck as RunConfig['healthcheck'];
  const extra = { labels: b.Labels ?? {}, exposedPorts: b.ExposedPorts ?? {}, api: true, openStdin: !!b.OpenStdin };

  // A state in 'created', as dockerd keeps one: listed by ps -a, started by its id later.
  const id = newId();
  if (cfg.name) {
    try {
      claimName(cfg.name, id);
    } catch (err) {
      if (!/already in use/.test((err as Error).message)) throw new ApiError(400, (err as Error).message);
      // dockerd's words: box's own ("box rm NAME") would send a docker user to the wrong tool.
      const holder = (() => { try { return lookup(cfg.name!).id; } catch { return '?'; } })();
      throw new ApiError(409, `Conflict. The container name "/${cfg.name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
  }
  const cname = cfg.name ?? claimRandomName(id);
  fs.mkdirSync(containersDir(), { recursive: true, mode: 0o711 });
  fs.mkdirSync(containerDir(id), { mode: 0o711 });
  fs.writeFileSync(`${containerDir(id)}/${JSON_LOG}`, '', { mode: 0o600 });
  const state: ContainerState = {
    id, name: cname, image: b.Image, imageId: image.id,
    command: [...(cfg.entrypoint ?? image.config.Entrypoint ?? []), ...(cfg.command.length ? cfg.command : image.config.Cmd ?? [])],
    created: new Date().toISOString(), status: 'created', pid: null, monitorPid: process.pid,
    monitorStart: processStart(process.pid) ?? '', exitCode: null, oomKilled: false, finished: null, autoRemove: cfg.autoRemove, cgroup: null, namespaces: {},
    config: { ...cfg, ...extra } as unknown as Record<string, unknown>,
  };
  writeState(state);
  exitSlot(id);
  emitEvent('container', 'create', id, { name: cname, image: b.Image });
  send(res, 201, { Id: id, Warnings: [] });
}

// ---- start, stop, kill, rm --------------------------------------------------------------

/**
 * The trace of a start (the runtime's system calls): with BOX_API_DEBUG into engine.log,
 * after the requests that led to it, so one file shows what the client asked and what the
 * runtime did (the engine lesson reads it there); with BOX_TRACE_FILE (a lab's panel) there too.
 */
function startTrace(s: ContainerState): Trace {
  const sinkPath = process.env.BOX_TRACE_FILE;
  if (!process.env.BOX_API_DEBUG && !sinkPath) return nullTrace;
  return new Trace({ echo: !!process.env.BOX_API_DEBUG, sinkPath, command: ['POST', `/containers/${s.name}/start`] });
}

async function start({ res, params }: Call): Promise<void> {
  const s = find(params[0]);
  if (s.status === 'running') return send(res, 304, undefined);
  if (!supervisor) throw new ApiError(500, 'the engine has no supervisor');
  const cfg = s.status === 'created' ? (s.config as unknown as RunConfig) : configForRestart(s);
  clearStoppedByHand(s.id);
  const slot = exitSlot(s.id);
  // docker run -i attaches with stdin=1 before it starts: that connection feeds the pipe.
  const input = (s.config as { openStdin?: boolean }).openStdin ? stdinAttaches.get(s.id) : undefined;
  stdinAttaches.delete(s.id);
  let running;
  try {
    running = await supervisor.start({ ...cfg, detach: true }, s, startTrace(s), !!input && !cfg.tty);
  } catch (err) {
    if (s.autoRemove) discardFailedStart(s);
    throw err;
  }
  // Networks beyond its own, asked for while it was only created (networks.ts): joined now.
  // A failure stops it again, as a start that cannot attach its networks fails in dockerd.
  for (const p of (s.config as { connectOnStart?: PendingConnect[] }).connectOnStart ?? []) {
    try {
      await connectContainer(nullTrace, p.network, s.id, { ip: p.ip, aliases: p.aliases });
    } catch (err) {
      killAll(readState(s.id) ?? s, nullTrace);
      throw err;
    }
  }
  if (running.pty) keepTerminal(s.id, running.pty, running.exited);
  if (input && running.pty) typeInto(s.id, input);
  else if (input && running.child.stdin) feedStdin(input, running.child.stdin);
  running.exited.then((code) => {
    exits.delete(s.id);
    slot.resolve(code);
    emitEvent('container', 'die', s.id, { name: s.name, image: s.image, exitCode: String(code) });
    if (s.autoRemove) emitEvent('container', 'destroy', s.id, { name: s.name, image: s.image });
  });
  emitEvent('container', 'start', s.id, { name: s.name, image: s.image });
  res.writeHead(204, commonHeaders()).end();
}

/**
 * A `--rm` container whose start failed (its command not found, a bind source missing) goes,
 * as dockerd removes an AutoRemove container then: `docker run --rm` leaves nothing behind.
 * The start already undid what it had made (cgroup, mounts, network); its files remain.
 */
function discardFailedStart(s: ContainerState): void {
  const code = readState(s.id)?.exitCode ?? 125;
  exits.get(s.id)?.resolve(code);
  exits.delete(s.id);
  if (!fs.existsSync(containerDir(s.id))) return;
  removeContainerFiles(realSys(nullTrace), s.id);
  releaseName(s.name, s.id);
  emitEvent('container', 'destroy', s.id, { name: s.name, image: s.image });
}

async function stop({ res, params, query }: Call, quiet = false): Promise<void> {
  const s = find(params[0]);
  const t = query.get('t');
  if (s.status !== 'running' && s.status !== 'restarting') {
    if (!quiet) res.writeHead(304, commonHeaders()).end();
    return;
  }
  await stopContainer(s, (t !== null ? Number(t) : 10) * 1000, nullTrace);
  emitEvent('container', 'stop', s.id, { name: s.name, image: s.image });
  if (!quiet) res.writeHead(204, commonHeaders()).end();
}

async function kill({ res, params, query }: Call): Promise<void> {
  const s = find(params[0]);
  if (s.status !== 'running') throw new ApiError(409, `Container ${s.id} is not running`);
  const sig = query.get('signal') ?? 'SIGKILL';
  const name = /^\d+$/.test(sig) ? Number(sig) : (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  markStoppedByHand(s.id);
  try {
    signalContainer(s, name);
  } catch (err) {
    throw new ApiError(400, `Invalid signal: ${sig}`);
  }
  emitEvent('container', 'kill', s.id, { name: s.name, image: s.image, signal: String(sig) });
  res.writeHead(204, commonHeaders()).end();
}

async function remove({ res, params, query }: Call): Promise<void> {
  const s = find(params[0]);
  const force = ['1', 'true'].includes(query.get('force') ?? '');
  reapStale(realSys(nullTrace));
  if (s.status === 'running' || s.status === 'restarting') {
    if (!force) throw new ApiError(409, `You cannot remove a running container ${s.id}. Stop the container before attempting removal or force remove`);
    markStoppedByHand(s.id);
    if (s.status === 'running') killAll(s, nullTrace);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && readState(s.id) && readState(s.id)!.status !== 'exited') await new Promise((r) => setTimeout(r, 20));
  }
  if (fs.existsSync(containerDir(s.id))) {
    removeContainerFiles(realSys(nullTrace), s.id);
    releaseName(s.name, s.id);
  }
  if (['1', 'true'].includes(query.get('v') ?? '')) removeAnonymousVolumes(s);
  emitEvent('container', 'destroy', s.id, { name: s.name, image: s.image });
  res.writeHead(204, commonHeaders()).end();
}

// ---- wait, logs, list, inspect ----------------------------------------------------------

async function wait({ res, params, query }: Call): Promise<void> {
  const s = find(params[0]);
  const condition = query.get('condition') ?? 'not-running';
  // Headers first, as dockerd does: the CLI then knows the wait is in place and starts the container.
  res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
  res.flushHeaders();
  let code: number;
  const slot = exits.get(s.id);
  if (condition === 'not-running' && s.status !== 'running' && s.status !== 'restarting' && s.status !== 'created') {
    code = s.exitCode ?? 0;
  } else if (slot) {
    code = await slot.next;
  } else {
    code = await pollExit(s.id, s.exitCode ?? 0);
  }
  if (condition === 'removed') {
    while (fs.existsSync(containerDir(s.id))) await new Promise((r) => setTimeout(r, 50));
  }
  // Error is left out when there is none (dockerd's omitempty; the description has no null for it).
  res.end(JSON.stringify({ StatusCode: code }) + '\n');
}

async function pollExit(id: string, last: number): Promise<number> {
  for (;;) {
    const s = readState(id);
    if (!s) return last;
    if (s.status === 'exited') return s.exitCode ?? 0;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function logs({ res, params, query }: Call): Promise<void> {
  const s = find(params[0]);
  const tty = !!(s.config as { tty?: boolean }).tty;
  const tail = query.get('tail');
  res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream', ...commonHeaders() });
  const yes = (k: string) => ['1', 'true'].includes(query.get(k) ?? '');
  const streams = (['stdout', 'stderr'] as const).filter(yes);
  if (streams.length) {
    // since/until: Unix seconds (with a fraction), as the CLI sends --since 10m or a date.
    const seconds = (k: string) => (query.get(k) && Number(query.get(k)) > 0 ? Number(query.get(k)) * 1000 : undefined);
    await pumpLog(s.id, res, {
      follow: yes('follow'), tty, streams: [...streams],
      tail: tail && tail !== 'all' ? Number(tail) : undefined,
      since: seconds('since'), until: seconds('until'), timestamps: yes('timestamps'),
    });
  }
  res.end();
}

/**
 * Attached connections waiting to be a created container's stdin (docker run -i attaches
 * before it starts the container). Only the first start takes one, as dockerd's StdinOnce.
 */
const stdinAttaches = new Map<string, net.Socket>();

/**
 * The client's raw bytes into the container's stdin pipe. Its CloseWrite (shutdown(SHUT_WR)
 * on the connection) arrives as 'end', and ending the pipe gives the container end-of-file.
 */
function feedStdin(socket: net.Socket, stdin: Writable): void {
  stdin.on('error', () => {}); // the container may exit without reading it all (EPIPE)
  socket.pipe(stdin);
}

/** The attach of `docker run` (hijacked: the connection becomes the container's output stream). */
export function attachUpgrade(req: http.IncomingMessage, socket: net.Socket, path: string): void {
  try {
    const m = /^\/containers\/([^/]+)\/attach$/.exec(path);
    if (!m) throw new ApiError(501, `box's engine does not implement ${req.method} ${path} as an upgraded connection`);
    const s = find(decodeURIComponent(m[1]));
    const q = new URL(req.url ?? '/', 'http://box').searchParams;
    // Without stdin the client half-closes its side at once (CloseWrite); the output must
    // still flow the other way, so the socket may stay half open.
    socket.allowHalfOpen = true;
    const tty = !!(s.config as { tty?: boolean }).tty;
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${tty ? 'raw' : 'multiplexed'}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n`
      + `Api-Version: ${commonHeaders()['Api-Version']}\r\n\r\n`);
    const stream = q.get('stream') === '1' || q.get('stream') === 'true';
    const wantsStdin = q.get('stdin') === '1' || q.get('stdin') === 'true';
    if (wantsStdin && (s.config as { openStdin?: boolean }).openStdin && s.status === 'created') {
      stdinAttaches.set(s.id, socket);
      socket.once('close', () => { if (stdinAttaches.get(s.id) === socket) stdinAttaches.delete(s.id); });
    } else if (wantsStdin && hasTerminal(s.id)) {
      typeInto(s.id, socket); // docker attach to a running container's terminal
    }
    // logs=1 replays what it wrote so far; without it (docker attach) only what comes next.
    const replay = q.get('logs') === '1' || q.get('logs') === 'true';
    pumpLog(s.id, socket, { follow: stream, tty, cursor: replay ? undefined : endOf(s.id), waitStart: stream && s.status === 'exited' }).finally(() => socket.end());
  } catch (err) {
    const e = apiError(err);
    const body = JSON.stringify({ message: e.message });
    socket.end(`HTTP/1.1 ${e.status} ${e.status === 404 ? 'Not Found' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
}

function dockerState(s: ContainerState): string {
  return isPaused(s) ? 'paused' : s.status;
}

function portsOf(s: ContainerState) {
  if (s.status !== 'running') return [];
  return (s.network?.ports ?? []).map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto }));
}

function labelsOf(s: ContainerState): Record<string, string> {
  return ((s.config as { labels?: Record<string, string> }).labels) ?? {};
}

async function list({ res, query }: Call): Promise<void> {
  reapStale(realSys(nullTrace));
  const all = ['1', 'true'].includes(query.get('all') ?? '');
  const filters = query.get('filters') ? JSON.parse(query.get('filters')!) as Record<string, string[] | Record<string, boolean>> : {};
  const values = (k: string) => {
    const f = filters[k];
    return !f ? null : Array.isArray(f) ? f : Object.keys(f).filter((x) => f[x]);
  };
  const states = listIds().map(readState).filter((s): s is ContainerState => s !== null)
    .sort((a, b) => b.created.localeCompare(a.created))
    .filter((s) => all || values('status') || s.status === 'running' || s.status === 'restarting')
    .filter((s) => !values('status') || values('status')!.includes(dockerState(s)))
    .filter((s) => !values('name') || values('name')!.some((n) => s.name.includes(n.replace(/^\//, ''))))
    .filter((s) => !values('id') || values('id')!.some((i) => s.id.startsWith(i)))
    .filter((s) => !values('label') || values('label')!.every((l) => {
      const [k, v] = l.split('=');
      return k in labelsOf(s) && (v === undefined || labelsOf(s)[k] === v);
    }))
    .filter((s) => !values('exited') || (s.status === 'exited' && values('exited')!.includes(String(s.exitCode))));
  send(res, 200, states.map((s) => ({
    Id: s.id,
    Names: [`/${s.name}`],
    Image: s.image,
    ImageID: `sha256:${s.imageId.replace(/^sha256:/, '')}`,
    Command: s.command.join(' '),
    Created: Math.floor(Date.parse(s.created) / 1000),
    Ports: portsOf(s),
    Labels: labelsOf(s),
    State: dockerState(s),
    Status: statusText(s),
    HostConfig: { NetworkMode: (s.config as { network?: string }).network ?? 'none' },
    NetworkSettings: { Networks: networksOf(s) },
    Mounts: mountsOf(s),
  })));
}

function networksOf(s: ContainerState) {
  return Object.fromEntries((s.network?.endpoints ?? []).map((e) => [e.network, {
    NetworkID: e.networkId, EndpointID: e.veth ?? '', Gateway: e.gateway ?? '', IPAddress: e.ip ?? '', IPPrefixLen: e.prefix ?? 0,
    Aliases: e.aliases ?? null, MacAddress: '', IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
  }]));
}

function mountsOf(s: ContainerState) {
  return (s.mounts ?? []).map((m) => ({ ...m })) as Record<string, unknown>[];
}

/** GET /containers/{id}/json: the fields docker inspect, compose and the CLI read. */
export function inspectContainer(s: ContainerState): Record<string, unknown> {
  const c = s.config as Record<string, any>;
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of Object.keys(c.exposedPorts ?? {})) ports[p] = null;
  if (s.status === 'running') {
    for (const p of s.network?.ports ?? []) (ports[`${p.containerPort}/${p.proto}`] ??= [])!.push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  return {
    Id: s.id,
    Created: s.created,
    Path: s.command[0] ?? '',
    Args: s.command.slice(1),
    State: {
      Status: isPaused(s) ? 'paused' : s.status,
      Running: s.status === 'running',
      Paused: isPaused(s),
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: false,
      Pid: s.pid ?? 0,
      ExitCode: s.exitCode ?? 0,
      Error: '',
      StartedAt: s.started ?? '0001-01-01T00:00:00Z',
      FinishedAt: s.finished ?? '0001-01-01T00:00:00Z',
      ...(s.health ? { Health: s.health } : {}),
    },
    Image: `sha256:${s.imageId.replace(/^sha256:/, '')}`,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: logPathOf(s.id),
    Name: `/${s.name}`,
    RestartCount: s.restartCount ?? 0,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: (c.volumes ?? []).map((v: any) => `${v.host}:${v.container}${v.readOnly ? ':ro' : ''}`),
      NetworkMode: c.network ?? 'none',
      PortBindings: Object.fromEntries((c.publish ?? []).map((p: any) => [`${p.containerPort}/${p.proto ?? 'tcp'}`, [{ HostIp: p.hostIp ?? '', HostPort: p.hostPort ? String(p.hostPort) : '' }]])),
      RestartPolicy: { Name: c.restart?.name ?? 'no', MaximumRetryCount: c.restart?.maximumRetryCount ?? 0 },
      AutoRemove: s.autoRemove,
      CapAdd: c.capAdd ?? null,
      CapDrop: c.capDrop ?? null,
      ReadonlyRootfs: !!c.readOnly,
      Memory: c.memoryBytes ?? 0,
      NanoCpus: c.cpus ? Math.round((c.cpus.quotaUs / c.cpus.periodUs) * 1e9) : 0,
      CpuQuota: c.cpus?.quotaUs ?? 0,
      CpuPeriod: c.cpus?.periodUs ?? 0,
      PidsLimit: c.pidsLimit ?? null,
      LogConfig: { Type: 'json-file', Config: {} },
    },
    Mounts: mountsOf(s),
    Config: {
      Hostname: c.hostname ?? s.name.slice(0, 63),
      Domainname: '',
      User: c.user ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.exposedPorts ?? {},
      Tty: !!c.tty,
      OpenStdin: !!(c as { openStdin?: boolean }).openStdin,
      StdinOnce: !!(c as { openStdin?: boolean }).openStdin,
      Env: c.env ?? [],
      Cmd: c.command?.length ? c.command : s.command,
      Healthcheck: c.healthcheck,
      Image: s.image,
      Volumes: {},
      WorkingDir: c.workdir ?? '',
      Entrypoint: c.entrypoint ?? [],
      OnBuild: null,
      Labels: c.labels ?? {},
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: ports,
      SandboxKey: s.namespaces?.net ?? '',
      IPAddress: s.network?.endpoints?.find((e) => e.network === 'bridge')?.ip ?? '',
      Gateway: s.network?.endpoints?.find((e) => e.network === 'bridge')?.gateway ?? '',
      Networks: networksOf(s),
    },
  };
}
