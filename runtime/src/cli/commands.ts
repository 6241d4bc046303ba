// The commands box knows, each with its help and its handler.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectCgroups } from '../cgroups/index.ts';
import { containerCgroup } from '../container/cgroup.ts';
import { reapStale, removeAnonymousVolumes, removeContainerFiles } from '../container/cleanup.ts';
import {
  containerDir, listIds, lookup, monitorAlive, readState, releaseName, type ContainerState,
} from '../container/state.ts';
import { errnoCode, isNotFound, UserError } from '../sys/errors.ts';
import { ago, formatTable, humanDuration } from './format.ts';
import { healthSuffix } from '../container/health.ts';
import { markStoppedByHand } from '../container/restart.ts';
import { isPaused, pauseContainer, unpauseContainer } from '../container/pause.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, type OptionSpec } from './args.ts';
import { execCommand, EXEC_OPTIONS, monitorCommand, runCommand, runHelp } from './run-command.ts';

export interface Command {
  summary: string;
  help(): string | Promise<string>;
  run(argv: string[], trace: Trace): Promise<number>;
  /** For commands whose arguments may contain --help meant for the container's command. */
  passHelp?(argv: string[]): boolean;
}

const afterCommand = (argv: string[]) => {
  // `box run busybox ls --help`: the --help belongs to ls.
  const i = argv.indexOf('--help');
  return argv.slice(0, i).some((a) => !a.startsWith('-'));
};

export const COMMANDS: Record<string, Command> = {
  run: { summary: 'Run a command in a new container', help: runHelp, run: runCommand, passHelp: afterCommand },
  exec: {
    summary: 'Run a command in a running container',
    help: () => helpText('box exec [OPTIONS] CONTAINER COMMAND [ARG...]', 'Run a command in a running container.', EXEC_OPTIONS),
    run: execCommand,
    passHelp: afterCommand,
  },
  ps: simple('ps [-a]', 'List containers (running ones; -a for all)', [{ name: 'all', short: 'a', help: 'show all containers, not only running ones' }], ps),
  stop: simple('stop [-t SECONDS] CONTAINER...', 'Stop containers: SIGTERM, then SIGKILL after a grace period',
    [{ name: 'time', short: 't', value: true, help: 'seconds to wait before SIGKILL (default 10)' }], stop),
  kill: simple('kill [-s SIGNAL] CONTAINER...', 'Send a signal to the first process of containers (default SIGKILL)',
    [{ name: 'signal', short: 's', value: true, help: 'the signal, e.g. TERM or SIGHUP or 15' }], kill),
  pause: simple('pause CONTAINER...', 'Freeze every process of containers where it stands (the cgroup freezer)', [], pause),
  unpause: simple('unpause CONTAINER...', 'Let paused containers go on', [], unpause),
  rm: simple('rm [-f] [-v] CONTAINER...', 'Remove containers', [
    { name: 'force', short: 'f', help: 'kill a running container first' },
    { name: 'volumes', short: 'v', help: 'remove its anonymous volumes too (named volumes stay)' },
  ], rm),
  logs: simple('logs [-f] CONTAINER', "Print a detached container's output", [{ name: 'follow', short: 'f', help: 'keep printing new output until the container exits' }], logs),
  inspect: simple('inspect [-f FORMAT] CONTAINER|IMAGE...', 'Print what box knows about containers or images, as JSON',
    [{ name: 'format', short: 'f', value: true, help: "print fields only, e.g. -f '{{.State.Pid}}' or '{{json .Namespaces}}'" }], inspect),
  start: lazy('Start stopped containers again, with the same configuration', async () => {
    const m = await import('./start-command.ts');
    return simple('start CONTAINER...', 'Start stopped containers again, with the same configuration', [], m.startCommand);
  }),
  restart: simple('restart [-t SECONDS] CONTAINER...', 'Stop containers, then start them again',
    [{ name: 'time', short: 't', value: true, help: 'seconds to wait before SIGKILL (default 10)' }], restart),
  wait: lazy('Wait until containers stop, and print their exit codes', async () => {
    const m = await import('./start-command.ts');
    return simple('wait CONTAINER...', 'Wait until containers stop, and print their exit codes', [], m.waitCommand);
  }),
  vm: lazy('Run a guest program on KVM, a small virtual machine monitor (list, run, compare)', async () => {
    const m = await import('./vm-command.ts');
    return { summary: '', help: m.vmHelp, run: m.vmCommand };
  }),
  engine: lazy('Start, stop or check the engine, which makes box run start fast (as dockerd does for docker)', async () => {
    const m = await import('../engine/control.ts');
    return { summary: '', help: () => m.ENGINE_HELP, run: m.engineCommand };
  }),
  network: lazy('Manage networks: create, ls, inspect, rm, prune, connect, disconnect', async () => (await import('./network-commands.ts')).networkCommand,
    (argv) => argv.length > 0 && !argv[0].startsWith('-')),
  port: lazy("List a container's published ports", async () => (await import('./network-commands.ts')).portCommand),
  volume: lazy('Manage volumes: create, ls, inspect, rm, prune', async () => (await import('./volume-commands.ts')).volumeCommand,
    (argv) => argv.length > 0 && !argv[0].startsWith('-')),
  info: simple('info', 'Show how box runs here: kernel, cgroup version, root directory', [], info),
  images: lazy('List images', async () => (await import('./image-commands.ts')).imagesCommand),
  image: lazy('Manage images: ls, rm, prune, inspect, history, tag, save, load', async () => (await import('./image-commands.ts')).imageCommand,
    (argv) => argv.length > 0 && !argv[0].startsWith('-')), // `box image prune --help` is prune's help
  tag: lazy('Give an image another name (a tag)', async () => (await import('./image-commands.ts')).tagImageCommand),
  rmi: lazy('Remove images (and the layers no other image uses)', async () => (await import('./image-commands.ts')).rmiCommandEntry),
  history: lazy('Show how an image was made, one row per layer or step', async () => (await import('./image-commands.ts')).historyCommandEntry),
  diff: lazy('List the files a container added (A), changed (C) and deleted (D)', async () => (await import('./image-commands.ts')).diffCommandEntry),
  commit: lazy("Make a new image from a container's changes", async () => (await import('./image-commands.ts')).commitCommandEntry),
  save: lazy('Save images to a tar archive (OCI image layout)', async () => (await import('./image-commands.ts')).saveCommandEntry),
  load: lazy('Load images from a tar archive (box save, docker save, skopeo oci-archive)', async () => (await import('./image-commands.ts')).loadCommandEntry),
  push: lazy('Send an image to a registry', async () => (await import('./registry-commands.ts')).pushCommandEntry),
  pull: lazy('Fetch an image from a registry', async () => (await import('./registry-commands.ts')).pullCommandEntry),
  sign: lazy("Sign an image's manifest digest with this machine's ed25519 key", async () => (await import('./registry-commands.ts')).signCommandEntry),
  verify: lazy('Check that a trusted key signed an image, and that it is unaltered', async () => (await import('./registry-commands.ts')).verifyCommandEntry),
  trust: lazy('Manage the keys whose signatures box trusts: ls, add, rm, key', async () => (await import('./registry-commands.ts')).trustCommandEntry),
  build: lazy('Build an image from a Boxfile (a Dockerfile)', async () => (await import('./build-command.ts')).buildCommand),
  builder: lazy('Manage the build cache: prune', async () => (await import('./build-command.ts')).builderCommand),
  compose: lazy('Run an application of several containers from a Compose file (up, down, ps, logs, config...)', async () => ({ summary: '', help: (await import('./compose-command.ts')).composeHelp, run: (await import('./compose-command.ts')).composeCommand }), () => true),
  cluster: lazy('Run a small Kubernetes-shaped cluster driven by kubectl: up, status, down', async () => ({ summary: '', help: (await import('./cluster-command.ts')).clusterHelp, run: (await import('./cluster-command.ts')).clusterCommand }), () => true),
  __monitor: { summary: '', help: () => '', run: monitorCommand },
  __engine: lazy('', async () => ({ summary: '', help: () => '', run: (await import('../engine/control.ts')).engineMain })),
};

/**
 * A command whose code is loaded when it is used. Most invocations are `box run`, which needs
 * neither the image tools nor the VM monitor; loading them at every start cost ~20 ms.
 */
function lazy(summary: string, load: () => Promise<Command>, passHelp?: Command['passHelp']): Command {
  return {
    summary,
    help: async () => (await load()).help(),
    run: async (argv, trace) => (await load()).run(argv, trace),
    passHelp,
  };
}

function simple(usage: string, summary: string, options: OptionSpec[],
  fn: (opts: Record<string, unknown>, args: string[], trace: Trace) => Promise<number> | number): Command {
  return {
    summary,
    help: () => helpText(`box ${usage}`, `${summary}.`, options),
    run: async (argv, trace) => {
      const { opts, positionals } = parseArgs(argv, options, usage.split(' ')[0]);
      return fn(opts, positionals, trace);
    },
  };
}

export function globalHelp(): string {
  const rows = Object.entries(COMMANDS).filter(([n]) => !n.startsWith('__'))
    .map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n');
  return `Usage: box [--trace] COMMAND [ARGS...]

box is a small, real container runtime: namespaces, cgroups, overlayfs, pivot_root,
capabilities and seccomp, each made with its own system call. --trace prints them.

Commands:
${rows}

Run 'box COMMAND --help' for more on a command.
`;
}

function needOne(args: string[], usage: string): void {
  if (args.length === 0) throw new UserError(`'box ${usage.split(' ')[0]}' needs a container; usage: box ${usage}`);
}

// ---- ps ---------------------------------------------------------------------------------

export function statusText(s: ContainerState): string {
  if (s.status === 'running') return `Up ${humanDuration((Date.now() - Date.parse(s.started ?? s.created)) / 1000)}${isPaused(s) ? ' (Paused)' : healthSuffix(s.health)}`;
  if (s.status === 'restarting') return `Restarting (${s.exitCode}) ${ago(s.finished ?? undefined)}`;
  if (s.status === 'exited') return `Exited (${s.exitCode})${s.oomKilled ? ' OOM' : ''} ${ago(s.finished ?? undefined)}`;
  return 'Created';
}

function allStates(): ContainerState[] {
  return listIds().map(readState).filter((s): s is ContainerState => s !== null)
    .sort((a, b) => b.created.localeCompare(a.created));
}

function ps(opts: Record<string, unknown>, _args: string[], trace: Trace): number {
  reapStale(realSys(trace));
  const rows = allStates().filter((s) => opts.all || s.status === 'running' || s.status === 'restarting').map((s) => {
    const cmd = JSON.stringify(s.command.join(' '));
    const ports = s.status === 'running' ? (s.network?.ports ?? []).map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`).join(', ') : '';
    return [s.id.slice(0, 12), s.image, cmd.length > 22 ? cmd.slice(0, 20) + '…"' : cmd, ago(s.created), statusText(s), ports, s.name];
  });
  process.stdout.write(formatTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows));
  return 0;
}

// ---- stop, kill, rm ---------------------------------------------------------------------

function parseSignal(s: string): NodeJS.Signals | number {
  if (/^\d+$/.test(s)) return Number(s);
  const name = (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in os.constants.signals)) throw new UserError(`unknown signal '${s}'; e.g. TERM, KILL, HUP or 15`);
  return name;
}

export function signalContainer(s: ContainerState, sig: NodeJS.Signals | number): void {
  if (s.status !== 'running' || !s.pid) throw new UserError(`container '${s.name}' is not running`);
  try {
    process.kill(s.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Wait until the container's monitor has recorded its exit (or removed it). */
async function waitExited(id: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = readState(id);
    if (!s || s.status === 'exited') return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** SIGKILL everything in the container's cgroup: PID 1 and any process it left behind. */
export function killAll(s: ContainerState, trace: Trace): void {
  const sys = realSys(trace);
  if (s.pid) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    containerCgroup(sys, s)?.killAll();
  } catch (err) {
    // The container's own box may be removing the same cgroup right now (its command died):
    // a cgroup file gone from under us means the job is done, not failed.
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENODEV') throw err;
  }
}

async function stop(opts: Record<string, unknown>, args: string[], trace: Trace): Promise<number> {
  needOne(args, 'stop CONTAINER');
  const grace = opts.time !== undefined ? Number(opts.time) : 10;
  if (!Number.isFinite(grace) || grace < 0) throw new UserError(`-t '${opts.time}': give the seconds to wait, e.g. -t 5`);
  for (const ref of args) {
    await stopOne(lookup(ref), grace, trace);
    process.stdout.write(`${ref}\n`);
  }
  return 0;
}

/** Stop one container: `signal` (SIGTERM, or its stop signal), then SIGKILL after `graceMs`. */
export async function stopContainer(s: ContainerState, graceMs: number, trace: Trace, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  // By hand: its restart policy lets it be (a file the engine reads; container/restart.ts).
  if (s.status === 'running' || s.status === 'restarting') markStoppedByHand(s.id);
  if (s.status === 'running') {
    signalContainer(s, signal);
    if (!(await waitExited(s.id, graceMs))) {
      killAll(s, trace);
      await waitExited(s.id, 5000);
    }
  }
  if (readState(s.id)?.status === 'restarting') await waitExited(s.id, 5000); // the engine sees the mark within 0.1 s
}

async function stopOne(s: ContainerState, grace: number, trace: Trace): Promise<void> {
  await stopContainer(s, grace * 1000, trace);
}

/** Remove one container, killing it first if it runs (`box rm -f`); with `volumes`, its anonymous volumes too. */
export async function removeContainer(s: ContainerState, trace: Trace, volumes = false): Promise<void> {
  if (s.status === 'running' || s.status === 'restarting') {
    markStoppedByHand(s.id); // no restart: it is going away
    if (s.status === 'running') killAll(s, trace); // restarting: no process (its old pid may be another's now)
    if (!(await waitExited(s.id, 5000))) reapStale(realSys(trace));
  }
  // An --rm container's monitor removes it; otherwise it is ours to remove.
  if (fs.existsSync(containerDir(s.id))) {
    removeContainerFiles(s.id);
    releaseName(s.name, s.id);
  }
  if (volumes) removeAnonymousVolumes(s);
}

async function restart(opts: Record<string, unknown>, args: string[], trace: Trace): Promise<number> {
  needOne(args, 'restart CONTAINER');
  const grace = opts.time !== undefined ? Number(opts.time) : 10;
  if (!Number.isFinite(grace) || grace < 0) throw new UserError(`-t '${opts.time}': give the seconds to wait, e.g. -t 5`);
  const { startOne } = await import('./start-command.ts');
  for (const ref of args) {
    await stopOne(lookup(ref), grace, trace);
    if (await startOne(ref)) process.stdout.write(`${ref}\n`);
  }
  return 0;
}

async function kill(opts: Record<string, unknown>, args: string[]): Promise<number> {
  needOne(args, 'kill CONTAINER');
  const sig = parseSignal((opts.signal as string) ?? 'KILL');
  for (const ref of args) {
    const s = lookup(ref);
    if (s.status === 'running') markStoppedByHand(s.id); // as docker kill: no restart after it
    signalContainer(s, sig);
    process.stdout.write(`${ref}\n`);
  }
  return 0;
}

function pause(_opts: Record<string, unknown>, args: string[], trace: Trace): number {
  needOne(args, 'pause CONTAINER');
  for (const ref of args) {
    pauseContainer(realSys(trace), lookup(ref));
    process.stdout.write(`${ref}\n`);
  }
  return 0;
}

function unpause(_opts: Record<string, unknown>, args: string[], trace: Trace): number {
  needOne(args, 'unpause CONTAINER');
  for (const ref of args) {
    unpauseContainer(realSys(trace), lookup(ref));
    process.stdout.write(`${ref}\n`);
  }
  return 0;
}

async function rm(opts: Record<string, unknown>, args: string[], trace: Trace): Promise<number> {
  needOne(args, 'rm CONTAINER');
  reapStale(realSys(trace));
  let failed = 0;
  for (const ref of args) {
    try {
      const s = lookup(ref);
      if ((s.status === 'running' || s.status === 'restarting') && !opts.force) {
        throw new UserError(`container '${s.name}' is ${s.status}; stop it first (box stop ${s.name}) or use box rm -f`);
      }
      await removeContainer(s, trace, !!opts.volumes);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      process.stderr.write(`box: ${err.message}\n`);
      // With -f, a container that is already gone is what was asked for (docker rm -f does
      // the same): said, but not a failure.
      if (!(opts.force && isNotFound(err))) failed++;
    }
  }
  return failed ? 1 : 0;
}

// ---- logs, inspect, info ----------------------------------------------------------------

async function logs(opts: Record<string, unknown>, args: string[]): Promise<number> {
  needOne(args, 'logs CONTAINER');
  const s = lookup(args[0]);
  const file = path.join(containerDir(s.id), 'container.log');
  if (!fs.existsSync(file)) {
    throw new UserError(`container '${s.name}' has no log: only detached containers (box run -d) keep one`);
  }
  let offset = 0;
  const pump = () => {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(65536);
      let n: number;
      while ((n = fs.readSync(fd, buf, 0, buf.length, offset)) > 0) {
        process.stdout.write(buf.subarray(0, n));
        offset += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  pump();
  if (opts.follow) {
    const live = () => { // through restarts too, while something watches the container
      const now = readState(s.id);
      return !!now && ['running', 'restarting', 'created'].includes(now.status) && monitorAlive(now);
    };
    while (live()) {
      await new Promise((r) => setTimeout(r, 200));
      pump();
    }
    if (fs.existsSync(file)) pump();
  }
  return 0;
}

export function inspectView(s: ContainerState): Record<string, unknown> {
  const c = s.config as Record<string, any>;
  return {
    Id: s.id,
    Name: s.name,
    Created: s.created,
    Image: s.image,
    ImageId: s.imageId,
    State: {
      Status: s.status,
      Running: s.status === 'running',
      Restarting: s.status === 'restarting',
      Pid: s.pid ?? 0,
      ExitCode: s.exitCode,
      OOMKilled: s.oomKilled,
      StartedAt: s.started ?? null,
      FinishedAt: s.finished,
      ...(s.health ? { Health: s.health } : {}),
    },
    RestartCount: s.restartCount ?? 0,
    Config: {
      Hostname: c.hostname,
      Image: s.image,
      Cmd: s.command,
      Env: c.env,
      WorkingDir: c.workdir,
      User: c.user ?? '',
      Labels: c.labels ?? {},
      Tty: c.tty,
      ...(c.healthcheck ? { Healthcheck: c.healthcheck } : {}),
    },
    HostConfig: {
      Memory: c.memoryBytes ?? 0,
      CpuQuota: c.cpus?.quotaUs ?? 0,
      CpuPeriod: c.cpus?.periodUs ?? 0,
      PidsLimit: c.pidsLimit ?? 0,
      CapAdd: c.capAdd,
      CapDrop: c.capDrop,
      ReadonlyRootfs: c.readOnly,
      Binds: (c.volumes ?? []).map((v: any) => `${v.host}:${v.container}${v.readOnly ? ':ro' : ''}`),
      AutoRemove: s.autoRemove,
      Tmpfs: Object.fromEntries((s.mounts ?? []).filter((m) => m.Type === 'tmpfs').map((m) => [m.Destination, m.Mode])),
      UsernsMode: c.userns ? 'private' : '',
      SeccompProfile: !c.seccomp ? 'unconfined' : c.seccompProfile ? 'custom' : 'default',
      RestartPolicy: { Name: c.restart?.name ?? 'no', MaximumRetryCount: c.restart?.maximumRetryCount ?? 0 },
    },
    NetworkSettings: {
      NetworkMode: c.network ?? 'none',
      Networks: Object.fromEntries((s.network?.endpoints ?? []).map((e) => [e.network,
        { NetworkID: e.networkId, IPAddress: e.ip, IPPrefixLen: e.prefix, Gateway: e.gateway, Aliases: e.aliases, Interface: e.veth }])),
      Ports: (s.network?.ports ?? []).map((p) => ({ ContainerPort: `${p.containerPort}/${p.proto}`, HostIp: p.hostIp, HostPort: p.hostPort })),
    },
    Mounts: s.mounts ?? [],
    Namespaces: s.namespaces,
    Cgroup: s.cgroup,
    MonitorPid: s.monitorPid,
  };
}

async function inspect(opts: Record<string, unknown>, args: string[]): Promise<number> {
  needOne(args, 'inspect CONTAINER');
  // A container by that name or id first, then an image, then a volume, as `docker inspect` does.
  const views: Record<string, unknown>[] = [];
  for (const a of args) {
    try {
      views.push(inspectView(lookup(a)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const image = (await import('./image-commands.ts')).inspectImage(a);
      const { getVolume, volumeView } = await import('../volume/store.ts');
      const volume = image ? null : getVolume(a);
      if (!image && !volume) throw err;
      views.push(image ?? volumeView(volume!));
    }
  }
  if (typeof opts.format === 'string') {
    for (const v of views) process.stdout.write(formatTemplate(opts.format, v) + '\n');
  } else {
    process.stdout.write(JSON.stringify(views, null, 2) + '\n');
  }
  return 0;
}

/** The part of Go templates that `docker inspect -f` users reach for: {{.A.B}} and {{json .A}}. */
export function formatTemplate(format: string, value: Record<string, unknown>): string {
  return format.replace(/\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}/g, (_m, json: string | undefined, field: string) => {
    let v: unknown = value;
    for (const key of field.split('.').filter(Boolean)) {
      if (v === null || typeof v !== 'object' || !(key in (v as object))) {
        throw new UserError(`--format: no field '${field}'; the fields are those of \`box inspect\` (e.g. .State.Pid)`);
      }
      v = (v as Record<string, unknown>)[key];
    }
    return json || (v !== null && typeof v === 'object') ? JSON.stringify(v) : String(v);
  });
}

function info(_opts: Record<string, unknown>, _args: string[], trace: Trace): number {
  const sys = realSys(trace);
  let cg: string;
  try {
    cg = detectCgroups(sys).describe();
  } catch (err) {
    cg = `unavailable (${(err as Error).message})`;
  }
  const root = process.env.BOX_ROOT || '/var/lib/box';
  process.stdout.write([
    `kernel:   ${os.release()}`,
    `cgroups:  ${cg}`,
    `root dir: ${root}`,
    `user:     uid ${process.getuid?.()}${process.getuid?.() === 0 ? ' (root)' : ' (box run needs root)'}`,
    `kvm:      ${fs.existsSync('/dev/kvm') ? '/dev/kvm present' : 'no /dev/kvm'}`,
  ].join('\n') + '\n');
  return 0;
}
