// `box run` and `box exec` flags, Docker's, turned into a RunConfig or ExecOptions: what the
// CLI parses from its command line and the engine from the one box-client sends it. No
// terminal, no process: only checks, each bad flag a one-line UserError before anything starts.

import { parseCpus, parseSize } from '../cgroups/index.ts';
import type { RunConfig } from './config.ts';
import type { ExecOptions } from './exec.ts';
import { applyLab } from './lab.ts';
import { parseStorageOpts } from './disk.ts';
import { DEFAULT_NAMESPACES, parseNamespaceList } from '../ns/namespaces.ts';
import { UserError } from '../sys/errors.ts';
import { parseSecurityOpts } from '../security/plan.ts';
import { parseArgs, parseDuration, parseEnv, type OptionSpec } from './args.ts';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom, type MountRequest } from '../volume/spec.ts';
import type { Volume } from '../rootfs/rootfs.ts';
import { parsePublish } from '../net/ports.ts';
import { parseRestartPolicy } from './restart.ts';
import { healthcheckFromFlags } from './health.ts';
import { BLKIO_OPTIONS, blockIOFrom } from './blkio-flags.ts';

/** Docker's smallest --memory (6 MiB). */
const MIN_MEMORY = 6 * 1024 * 1024;

export const RUN_OPTIONS: OptionSpec[] = [
  { name: 'detach', short: 'd', help: 'run in the background and print the container id' },
  { name: 'interactive', short: 'i', help: 'keep stdin open' },
  { name: 'tty', short: 't', help: 'give the container a terminal (with -i: an interactive shell)' },
  { name: 'rm', help: 'remove the container when it exits' },
  { name: 'name', value: true, help: 'a name for the container' },
  { name: 'label', short: 'l', value: true, repeat: true, help: 'metadata on the container: --label KEY=VALUE (box compose finds its containers by theirs)' },
  { name: 'hostname', value: true, help: 'the hostname inside (default: the name)' },
  { name: 'env', short: 'e', value: true, repeat: true, help: 'set an environment variable: -e K=V' },
  { name: 'volume', short: 'v', value: true, repeat: true, help: 'a volume or host path: -v NAME:/path[:ro], -v /host:/path[:ro], -v /path (anonymous)' },
  { name: 'mount', value: true, repeat: true, help: 'Docker\'s long form: --mount type=volume|bind|tmpfs,source=…,target=…[,readonly]' },
  { name: 'tmpfs', value: true, repeat: true, help: 'a tmpfs (memory) mount: --tmpfs /path[:size=64m,mode=1777]' },
  { name: 'volumes-from', value: true, repeat: true, help: "another container's volumes and binds: --volumes-from NAME[:ro|rw]" },
  { name: 'workdir', short: 'w', value: true, help: 'working directory inside' },
  { name: 'user', short: 'u', value: true, help: 'uid[:gid] to run as' },
  { name: 'entrypoint', value: true, help: "override the image's entrypoint" },
  { name: 'init', help: 'run an init as PID 1 that forwards signals and reaps processes (box-init stays, as Docker\'s tini)' },
  { name: 'read-only', help: 'mount the root filesystem read-only' },
  { name: 'chroot', help: 'enter the root with chroot(2) instead of pivot_root(2) (see the lesson: not isolation)' },
  { name: 'ns', value: true, help: 'create exactly these namespaces: pid,mnt,uts,ipc,net,cgroup,time (default all but time)' },
  { name: 'userns', help: 'add a user namespace: root inside is an unprivileged uid outside (100000 + 65536*N, its own)' },
  { name: 'time-offset', value: true, help: 'with --ns time: shift boot and monotonic clocks, e.g. 2d' },
  { name: 'memory', short: 'm', value: true, help: 'memory limit, e.g. 64m' },
  { name: 'cpus', value: true, help: 'CPU limit in CPUs, e.g. 0.5' },
  { name: 'pids-limit', value: true, help: 'most processes the container may have' },
  ...BLKIO_OPTIONS,
  { name: 'cgroup-parent', value: true, help: 'put the container\'s cgroup below this one, a path relative to box\'s (e.g. a cluster node\'s); its limits hold for all below' },
  { name: 'cap-add', value: true, repeat: true, help: 'add a capability (e.g. NET_ADMIN, or ALL)' },
  { name: 'cap-drop', value: true, repeat: true, help: 'drop a capability (e.g. CHOWN, or ALL)' },
  { name: 'security-opt', value: true, repeat: true, help: 'seccomp=unconfined turns the seccomp filter off, seccomp=FILE uses a Docker-format JSON profile; no-new-privileges=false lets setuid programs gain privileges' },
  { name: 'device', value: true, repeat: true, help: 'pass a host device through, e.g. /dev/kvm' },
  { name: 'storage-opt', value: true, repeat: true, help: 'size=1g: what the container writes goes to a filesystem of this size (--lab: 1g unless given)' },
  { name: 'verify', help: 'refuse the image unless a trusted key signed it (box sign, box trust)' },
  { name: 'network', value: true, help: 'connect to a network: bridge (the default), a name (box network create), none, host or container:NAME' },
  { name: 'ip', value: true, help: "the container's address on its network, e.g. --ip 172.18.0.10" },
  { name: 'network-alias', value: true, repeat: true, help: 'another name the container answers to on its network' },
  { name: 'publish', short: 'p', value: true, repeat: true, help: 'publish a port: -p [IP:]HOST_PORT:CONTAINER_PORT[/udp], or -p CONTAINER_PORT for a free host port' },
  { name: 'dns-search', value: true, repeat: true, help: "a search domain for the container's resolv.conf (a short name is tried in it), e.g. default.svc.cluster.local" },
  { name: 'dns-option', value: true, repeat: true, help: "an options entry for the container's resolv.conf, e.g. ndots:1 (default on a network with names: ndots:0)" },
  { name: 'publish-all', short: 'P', help: "publish every port the image EXPOSEs, each on a free host port" },
  { name: 'lab', help: 'a lab sandbox: user namespace, host /usr read-only, box inside, delegated cgroup' },
  { name: 'restart', value: true, help: 'no, on-failure[:N], always or unless-stopped (the engine keeps it; without -d box run exits with the first run, restarts go to box logs)' },
  { name: 'health-cmd', value: true, help: 'a command that exits 0 while the container is healthy (run by the engine)' },
  { name: 'health-interval', value: true, help: 'time between health checks, e.g. 30s (default 30s)' },
  { name: 'health-timeout', value: true, help: 'a check that runs longer fails, e.g. 5s (default 30s)' },
  { name: 'health-retries', value: true, help: 'failures in a row that make it unhealthy (default 3)' },
  { name: 'health-start-period', value: true, help: 'failures in this time after the start do not count, e.g. 10s' },
  { name: 'no-healthcheck', help: "turn off the image's HEALTHCHECK" },
];

/** { key: value }, or nothing when the value is undefined (a RunConfig without the key at all). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]?: V });
}

function list(v: unknown): string[] {
  return (v as string[] | undefined) ?? [];
}

export function runConfigFrom(argv: string[]): RunConfig {
  const { opts, positionals } = parseArgs(argv, RUN_OPTIONS, 'run', 1);
  const [image, ...command] = positionals;
  if (!image) throw new UserError(`'box run' needs an image, e.g. box run busybox echo hello`);
  const security = parseSecurityOpts(list(opts['security-opt']));
  const namespaces = opts.ns ? parseNamespaceList(opts.ns as string) : [...DEFAULT_NAMESPACES];
  if (opts['time-offset'] !== undefined && !namespaces.includes('time')) {
    throw new UserError(`--time-offset needs the time namespace: add --ns ${[...namespaces, 'time'].join(',')}`);
  }
  if (opts.detach && opts.tty && opts.interactive) {
    throw new UserError(`-d with -it: box cannot attach later yet; run either -d or -it`);
  }
  const pids = opts['pids-limit'] as string | undefined;
  if (pids !== undefined && !/^[1-9]\d*$/.test(pids)) {
    throw new UserError(`--pids-limit '${pids}': give a whole number of processes above 0, e.g. --pids-limit 20`);
  }
  const cfg: RunConfig = {
    image,
    command,
    entrypoint: opts.entrypoint !== undefined ? [opts.entrypoint as string].filter(Boolean) : undefined,
    ...(opts.init ? { init: true } : {}),
    name: opts.name as string | undefined,
    detach: !!opts.detach,
    interactive: !!opts.interactive,
    tty: !!opts.tty,
    autoRemove: !!opts.rm,
    namespaces,
    userns: !!opts.userns,
    lab: !!opts.lab,
    timeOffset: opts['time-offset'] !== undefined ? parseDuration(opts['time-offset'] as string, '--time-offset') : 0,
    chroot: !!opts.chroot,
    readOnly: !!opts['read-only'],
    ...mountsFrom(opts),
    env: list(opts.env).map(parseEnv).filter((e): e is string => e !== null),
    workdir: opts.workdir as string | undefined,
    hostname: opts.hostname as string | undefined,
    user: opts.user as string | undefined,
    memoryBytes: opts.memory !== undefined ? parseSize(opts.memory as string, '--memory') : undefined,
    cpus: opts.cpus !== undefined ? parseCpus(opts.cpus as string, '--cpus') : undefined,
    pidsLimit: pids !== undefined ? Number(pids) : undefined,
    ...optional('blockIO', blockIOFrom(opts)),
    cgroupParent: opts['cgroup-parent'] as string | undefined,
    capAdd: list(opts['cap-add']),
    capDrop: list(opts['cap-drop']),
    seccomp: security.seccomp !== 'unconfined',
    seccompProfile: typeof security.seccomp === 'object' ? security.seccomp : undefined,
    noNewPrivs: security.noNewPrivs,
    devices: list(opts.device),
    diskBytes: parseStorageOpts(list(opts['storage-opt']), parseSize),
    verify: !!opts.verify,
    ...networkOptions(opts, namespaces, !!opts.ns),
    ...keptOptions(opts),
    labels: labelsFrom(list(opts.label)),
  };
  // Docker's floor (dockerd's linuxMinMemory): below it the runtime and the shell alone are
  // over the limit, and the container dies by the OOM killer before its command runs.
  if (cfg.memoryBytes !== undefined && cfg.memoryBytes < MIN_MEMORY) {
    throw new UserError(`--memory ${opts.memory}: the smallest limit is 6m (below it the container is OOM-killed before its command runs), as with Docker`);
  }
  if (cfg.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(cfg.hostname)) {
    throw new UserError(`--hostname '${cfg.hostname}': use letters, digits, '-' and '.', up to 63 characters`);
  }
  if (cfg.workdir !== undefined && !cfg.workdir.startsWith('/')) {
    throw new UserError(`--workdir '${cfg.workdir}': give an absolute path, e.g. -w /tmp`);
  }
  return cfg.lab ? applyLab(cfg) : cfg;
}

/**
 * --network and its friends. Without --network, a container joins the default `bridge`, as
 * with Docker; but `--ns LIST` (the lessons' one-namespace-at-a-time mode) keeps what it says:
 * a new network namespace with only lo, down, or the host's network without `net`.
 */
function networkOptions(opts: Record<string, unknown>, namespaces: RunConfig['namespaces'], explicitNs: boolean): Partial<RunConfig> {
  const given = opts.network as string | undefined;
  const publish = list(opts.publish).map(parsePublish);
  const net: Partial<RunConfig> = {
    network: given ?? (explicitNs || opts.lab ? undefined : 'bridge'),
    ip: opts.ip as string | undefined,
    networkAliases: list(opts['network-alias']),
    publish,
    publishAll: !!opts['publish-all'],
    dnsSearch: list(opts['dns-search']),
    dnsOptions: list(opts['dns-option']),
  };
  for (const d of [...net.dnsSearch!, ...net.dnsOptions!]) if (!/^[A-Za-z0-9._:-]+$/.test(d)) throw new UserError(`--dns-search/--dns-option '${d}': give a domain such as example.com, or an option such as ndots:1`);
  const mode = net.network;
  const shared = mode === 'host' || mode?.startsWith('container:');
  if (opts.lab && given) throw new UserError(`--lab with --network: a lab sandbox has a network namespace of its own and no way out`);
  if ((publish.length || net.publishAll || net.ip || net.networkAliases!.length) && (mode === undefined || mode === 'none' || shared)) {
    const flag = publish.length ? '-p' : net.publishAll ? '-P' : net.ip ? '--ip' : '--network-alias';
    throw new UserError(`${flag} needs a bridge network, and this container has ${mode ?? 'no network (--ns)'}; use --network bridge or a network of yours`);
  }
  if (mode !== undefined && !shared && !namespaces.includes('net')) {
    throw new UserError(`--network ${mode} needs a network namespace: add net to --ns`);
  }
  if (shared) {
    const i = namespaces.indexOf('net');
    if (i >= 0) namespaces.splice(i, 1); // the host's, or another container's
  }
  return net;
}

/** -v, --mount and --tmpfs: host binds go to `volumes` (as before volumes existed), the rest to `mounts`. */
function mountsFrom(opts: Record<string, unknown>): { volumes: Volume[]; mounts: MountRequest[]; volumesFrom: string[] } {
  const requests = [...list(opts.volume).map(parseVolumeFlag), ...list(opts.mount).map(parseMountFlag), ...list(opts.tmpfs).map(parseTmpfsFlag)];
  const volumesFrom = list(opts['volumes-from']);
  volumesFrom.forEach(parseVolumesFrom); // checked now, looked up at start
  return {
    volumes: requests.flatMap((r) => (r.type === 'bind' ? [{ host: r.source, container: r.target, readOnly: r.readOnly }] : [])),
    mounts: requests.filter((r) => r.type !== 'bind'),
    volumesFrom,
  };
}

/** --label KEY=VALUE (KEY alone: an empty value, as Docker). */
function labelsFrom(specs: string[]): Record<string, string> | undefined {
  if (!specs.length) return undefined;
  return Object.fromEntries(specs.map((l) => {
    const eq = l.indexOf('=');
    if (eq === 0) throw new UserError(`--label '${l}': the key is missing; use --label KEY=VALUE`);
    return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
  }));
}

/** --restart and --health-*: what the engine keeps (container/restart.ts, container/health.ts). */
function keptOptions(opts: Record<string, unknown>): Pick<RunConfig, 'restart' | 'healthcheck'> {
  const restart = opts.restart !== undefined ? parseRestartPolicy(opts.restart as string) : undefined;
  if (restart && restart.name !== 'no') {
    if (opts.rm) throw new UserError(`--restart ${opts.restart} and --rm conflict: a container removed when it exits cannot be restarted; give one of them`);
  }
  const healthcheck = healthcheckFromFlags({
    cmd: opts['health-cmd'] as string | undefined,
    interval: opts['health-interval'] as string | undefined,
    timeout: opts['health-timeout'] as string | undefined,
    startPeriod: opts['health-start-period'] as string | undefined,
    retries: opts['health-retries'] as string | undefined,
    none: !!opts['no-healthcheck'],
  });
  return { ...(restart && restart.name !== 'no' ? { restart } : {}), ...(healthcheck ? { healthcheck } : {}) };
}

/** What box says when the kernel's OOM killer ended the container. */
export function oomNotice(memoryBytes?: number): string {
  const limit = memoryBytes ? ` of ${formatBytes(memoryBytes)}` : '';
  return `box: the container was killed by the kernel's OOM killer: it ran out of memory (limit${limit}); exit code 137`;
}

function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

export const EXEC_OPTIONS: OptionSpec[] = [
  { name: 'interactive', short: 'i', help: 'keep stdin open' },
  { name: 'tty', short: 't', help: 'give the process a terminal' },
  { name: 'env', short: 'e', value: true, repeat: true, help: 'set an environment variable: -e K=V' },
  { name: 'workdir', short: 'w', value: true, help: 'working directory inside' },
  { name: 'user', short: 'u', value: true, help: 'uid[:gid] to run as' },
];

/** `box exec` flags as the container, the command and ExecOptions (the CLI's and the engine's). */
export function execConfigFrom(argv: string[]): { ref: string; command: string[]; opts: ExecOptions } {
  const { opts, positionals } = parseArgs(argv, EXEC_OPTIONS, 'exec', 1);
  const [ref, ...command] = positionals;
  if (!ref || command.length === 0) throw new UserError(`'box exec' needs a container and a command, e.g. box exec web ps`);
  return {
    ref,
    command,
    opts: {
      interactive: !!opts.interactive,
      tty: !!opts.tty,
      env: list(opts.env).map(parseEnv).filter((e): e is string => e !== null),
      workdir: opts.workdir as string | undefined,
      user: opts.user as string | undefined,
    },
  };
}
