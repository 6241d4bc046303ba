// What starting a container asks of the machine beyond single system calls (those are the
// Sys's, sys/sys.ts): the image store, the cgroup hierarchy, the network, the host's table of
// user-namespace id ranges and a filesystem of the container's own. Each needs root or
// changes the host (a cgroup directory, a bridge, nftables rules, /run/box), so startContainer and
// execInContainer take them as a `Host`: `realHost` for box, a fake in unit tests
// (test/unit/start-container.test.ts), as youki passes its Syscall and its cgroup manager.

import { detectCgroups, warmCgroupMigration, type CgroupDriver } from '../cgroups/index.ts';
import { resolveImage, type ResolvedImage } from '../image/index.ts';
import { plug, prepare, pruneNetworks, release, type NetRequest, type NetState, type Prepared, type ContainerNames } from '../net/endpoint.ts';
import type { Sys } from '../sys/sys.ts';
import type { IdRange } from './config.ts';
import { mountDisk } from './disk.ts';
import { claimIdRange } from './id-ranges.ts';
import { shiftedLayers } from './userns-layers.ts';
import { holdsNetwork, portOwner, releaseDead } from './network.ts';
import type { ContainerState } from './state.ts';

export interface Host {
  /** The image `ref` names, its layers unpacked (image/resolve.ts); with `verify`, its signature and every layer checked first. */
  image(ref: string, verify: boolean): Promise<ResolvedImage>;
  /** The cgroup driver (v1 or v2, from the mount table) for box's cgroups, or those under --cgroup-parent `sub`. */
  cgroups(sub?: string): CgroupDriver;
  /** Pay the kernel's first cgroup migration wait early, on a libuv thread (cgroups/warm.ts). */
  warmCgroups(): void;
  /** The container's network (net/endpoint.ts). */
  network: ContainerNetwork;
  /** --userns: a host id range of the container's own (id-ranges.ts: one table for the whole host, under /run/box). */
  claimIdRange(id: string, uidMap: string): IdRange;
  /** --userns: the image's layers with every owner shifted up by `base` (userns-layers.ts: copies made once, with lchown). */
  shiftedLayers(layerDirs: string[], base: number): string[];
  /** --storage-opt size: an ext4 filesystem of that size mounted in `dir` (disk.ts: mkfs.ext4, mount -o loop); where upper/ and work/ go. */
  mountDisk(dir: string, bytes: number): string;
}

/** A container's network, in the order a start uses it. */
export interface ContainerNetwork {
  /** Before the container exists: an address, ports held, names, the /etc files; null without a network of its own. */
  prepare(req: NetRequest, names: ContainerNames, exposed: Record<string, unknown> | undefined): Promise<Prepared | null>;
  /** At box-init's Cgroup stop: veths into the network namespace of `pid`, its published ports. */
  plug(pid: number, net: NetState): void;
  /** After the exit, or a failed start (`unplug`: veths too, a process may still hold them): everything prepare and plug took. */
  release(containerId: string, prepared: Prepared, opts?: { unplug?: boolean }): void;
  /** The reaper: the network of a container whose box died. */
  releaseDead(s: ContainerState): void;
  /** The reaper: addresses and names no live container holds, bridges of removed box roots. */
  prune(): void;
}

/** The real image store, cgroups and network; every change recorded in `sys.trace`. */
export function realHost(sys: Sys): Host {
  const trace = sys.trace;
  return {
    async image(ref, verify) {
      // Content trust: the signature covers the manifest digest, and every layer is re-hashed.
      if (verify) (await import('../image/trust.ts')).verifyImageForRun(ref);
      return resolveImage(ref);
    },
    cgroups: (sub) => detectCgroups(sys, { sub }),
    warmCgroups: warmCgroupMigration,
    network: {
      prepare: (req, names, exposed) => prepare(trace, req, names, exposed, portOwner),
      plug: (pid, net) => plug(trace, pid, net),
      release: (id, p, opts) => release(trace, id, p.net, p.held, opts),
      releaseDead: (s) => releaseDead(trace, s),
      prune: () => pruneNetworks(trace, holdsNetwork),
    },
    claimIdRange: (id, uidMap) => claimIdRange(id, uidMap),
    shiftedLayers,
    mountDisk,
  };
}
