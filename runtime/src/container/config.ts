// What `box run` was asked to do, after the CLI has parsed and checked it. The container
// code reads only this; it never sees argv.

import type { NamespaceName } from '../sys/constants.ts';
import type { Volume } from '../rootfs/rootfs.ts';

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
  volumes: Volume[];
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
  devices: string[];
}

/** The first host uid/gid of a user-namespaced container's range: root inside is this uid outside. */
export const USERNS_BASE = 100000;
export const USERNS_SIZE = 65536;
