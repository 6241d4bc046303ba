// What `box run` was asked to do, after the CLI has parsed and checked it. The container
// code reads only this; it never sees argv.

import type { NamespaceName } from '../sys/constants.ts';
import type { Volume } from '../rootfs/rootfs.ts';
import type { MountRequest } from '../volume/spec.ts';
import { UserError } from '../sys/errors.ts';
import type { PortSpec } from '../net/ports.ts';
import type { Healthcheck } from './health.ts';
import type { RestartPolicy } from './restart.ts';
import type { SeccompProfile } from '../security/seccomp_profile.ts';
import type { BlockIOLimits } from '../cgroups/types.ts';

export interface RunConfig {
  image: string;
  /** The command after the image name; empty means the image's Cmd. */
  command: string[];
  entrypoint?: string[];
  /** --init: box-init stays as PID 1 in front of the command, reaping and forwarding signals. */
  init?: boolean;
  name?: string;
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  autoRemove: boolean;
  /** Namespaces to create, not counting user (see userns). */
  namespaces: NamespaceName[];
  /** A user namespace mapping root inside to an unprivileged uid range outside. */
  userns: boolean;
  /** A lab sandbox: userns, all capabilities inside it, delegated cgroups, nested containers allowed. */
  lab: boolean;
  /** With the time namespace: seconds added to CLOCK_BOOTTIME and CLOCK_MONOTONIC inside. */
  timeOffset: number;
  chroot: boolean;
  readOnly: boolean;
  /** Host paths bound in (-v /host:/ctr, --mount type=bind, the lab's). */
  volumes: Volume[];
  /** Volumes and tmpfs mounts (-v NAME:/ctr, -v /ctr, --mount, --tmpfs): volume/spec.ts. */
  mounts?: MountRequest[];
  /** --volumes-from CONTAINER[:ro|rw]: that container's binds and volumes, at the same paths. */
  volumesFrom?: string[];
  env: string[];
  workdir?: string;
  hostname?: string;
  user?: string;
  memoryBytes?: number;
  cpus?: { quotaUs: number; periodUs: number };
  pidsLimit?: number;
  /** --blkio-weight, --device-read-bps and the like: the cgroup's block I/O limits (cgroups/blkio.ts). */
  blockIO?: BlockIOLimits;
  /** --cgroup-parent cluster-<id>/node-1: the cgroup goes below this one (a cluster node's limits hold). */
  cgroupParent?: string;
  capAdd: string[];
  capDrop: string[];
  seccomp: boolean;
  /** --security-opt seccomp=FILE: the profile read from it (else box's default) */
  seccompProfile?: SeccompProfile;
  /** no_new_privs: on unless --security-opt no-new-privileges=false */
  noNewPrivs?: boolean;
  devices: string[];
  /** --storage-opt size: the container's writable layer on a filesystem of this many bytes (disk.ts). */
  diskBytes?: number;
  /** --verify: run only an image signed by a trusted key (image/trust.ts) */
  verify?: boolean;
  /** --network: a network's name, none, host or container:NAME; unset: as --ns says (net/README.md) */
  network?: string;
  /** --ip, --network-alias, -p, -P: the container on its network */
  ip?: string;
  networkAliases?: string[];
  publish?: PortSpec[];
  publishAll?: boolean;
  /** --dns-search, --dns-option: the search and options lines of the container's resolv.conf */
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** --label KEY=VALUE: metadata, e.g. com.docker.compose.project (box compose) */
  labels?: Record<string, string>;
  /** --restart: kept by the engine (engine/supervisor.ts) */
  restart?: RestartPolicy;
  /** --health-*: over the image's HEALTHCHECK, field by field (container/health.ts) */
  healthcheck?: Healthcheck;
}

/** Where a user-namespaced container's ids go: root inside is `base` outside, for `size` ids. */
export interface IdRange {
  base: number;
  size: number;
}

/** Does this uid_map map every id (the initial user namespace: "0 0 4294967295")? */
export function mapsEveryId(uidMap: string): boolean {
  const lines = uidMap.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  return lines.length === 1 && lines[0][0] === 0 && lines[0][1] === 0 && lines[0][2] === 4294967295;
}

/**
 * On a host, the first range, 100000..165535, as Docker's userns-remap and /etc/subuid
 * usually do (box run takes a range of its own per container: id-ranges.ts). Inside a user
 * namespace (box in a lab sandbox), only the ids our own uid_map maps exist: take the upper
 * half of the range we have, so nested containers never share ids with us.
 */
export function usernsRange(uidMap: string): IdRange {
  if (mapsEveryId(uidMap)) return { base: 100000, size: 65536 };
  const lines = uidMap.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const ours = lines.find(([inside]) => inside === 0);
  const count = ours ? ours[2] : 0;
  if (count < 2048) {
    throw new UserError(`--userns: this process's user namespace maps only ${count} ids, too few to give a container its own range`);
  }
  const size = Math.min(65536, Math.floor(count / 2));
  return { base: count - size, size };
}
