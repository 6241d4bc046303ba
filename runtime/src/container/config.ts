// What `box run` was asked to do, after the CLI has parsed and checked it. The container
// code reads only this; it never sees argv.

import type { NamespaceName } from '../sys/constants.ts';
import type { Volume } from '../rootfs/rootfs.ts';
import type { MountRequest } from '../volume/spec.ts';
import { UserError } from '../sys/errors.ts';
import type { Healthcheck } from './health.ts';
import type { RestartPolicy } from './restart.ts';

export interface RunConfig {
  image: string;
  /** The command after the image name; empty means the image's Cmd. */
  command: string[];
  entrypoint?: string[];
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
  capAdd: string[];
  capDrop: string[];
  seccomp: boolean;
  /** no_new_privs: on unless --security-opt no-new-privileges=false */
  noNewPrivs?: boolean;
  devices: string[];
  /** --verify: run only an image signed by a trusted key (image/trust.ts) */
  verify?: boolean;
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

/**
 * On a host, 100000..165535, as Docker's userns-remap and /etc/subuid usually do. Inside a
 * user namespace (box in a lab sandbox), only the ids our own uid_map maps exist: take the
 * upper half of the range we have, so nested containers never share ids with us.
 */
export function usernsRange(uidMap: string): IdRange {
  const lines = uidMap.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const whole = lines.length === 1 && lines[0][0] === 0 && lines[0][1] === 0 && lines[0][2] === 4294967295;
  if (whole) return { base: 100000, size: 65536 };
  const ours = lines.find(([inside]) => inside === 0);
  const count = ours ? ours[2] : 0;
  if (count < 2048) {
    throw new UserError(`--userns: this process's user namespace maps only ${count} ids, too few to give a container its own range`);
  }
  const size = Math.min(65536, Math.floor(count / 2));
  return { base: count - size, size };
}
