// Nothing outlives its container, even when box itself is killed (SIGKILL leaves no chance
// to clean up). Mounts live in the container's own mount namespace and vanish with its last
// process; box-init has PR_SET_PDEATHSIG, so the container dies with its box. What remains
// is on disk and in the cgroup tree; the next box finds it here and removes it.

import fs from 'node:fs';
import path from 'node:path';
import { containerCgroup } from './cgroup.ts';
import type { Sys } from '../sys/sys.ts';
import { detachLabDisks } from './lab.ts';
import { realHost, type Host } from './host.ts';
import { removeDisk } from './disk.ts';
import { boxRoot, containerDir, containersUsingVolume, listIds, monitorAlive, pruneNames, readState, releaseName, updateState, type ContainerState } from './state.ts';
import { anonymousVolumes, removeUnused } from '../volume/mounts.ts';

const ORPHAN_AGE_MS = 60_000;

/**
 * A container's directory, and what holds files in there: a lab sandbox's loop device and
 * the filesystem of --storage-opt size (unmounted first, or rm would walk into it). Its user
 * namespace id range is free again once the directory is gone (id-ranges.ts).
 */
export function removeContainerFiles(sys: Sys, id: string): void {
  detachLabDisks(sys, containerDir(id));
  removeDisk(sys, containerDir(id));
  fs.rmSync(containerDir(id), { recursive: true, force: true });
}

/**
 * After its container is gone (--rm, rm -v): the anonymous volumes made for it, unless
 * another container (--volumes-from) still uses one. Named volumes stay, as Docker's do.
 */
export function removeAnonymousVolumes(s: Pick<ContainerState, 'mounts'>): void {
  if (s.mounts?.length) removeUnused(anonymousVolumes(s.mounts), containersUsingVolume);
}

/** Everything a dead box left (its containers' processes, cgroups, networks, files), through `host` (host.ts). */
export function reapStale(sys: Sys, host: Host = realHost(sys)): void {
  const ids = listIds();
  for (const id of ids) {
    const s = readState(id);
    if (!s) {
      // A directory without state: a box killed before it wrote any. Old enough = abandoned.
      try {
        if (Date.now() - fs.statSync(containerDir(id)).mtimeMs > ORPHAN_AGE_MS) {
          removeContainerFiles(sys, id);
        }
      } catch {
        /* raced with another box */
      }
      continue;
    }
    if (s.status === 'exited' || monitorAlive(s)) continue;
    // Its box is gone: kill what is left, and record how it ended.
    if (s.cgroup) {
      const cg = containerCgroup(sys, s, host.cgroups);
      if (cg) {
        cg.killAll();
        cg.destroy();
      }
    }
    host.network.releaseDead(s); // its ports, veths, addresses, names
    if (s.autoRemove) {
      removeContainerFiles(sys, id);
      releaseName(s.name, id);
      removeAnonymousVolumes(s);
    } else {
      updateState(id, { status: 'exited', exitCode: s.exitCode ?? 137, finished: new Date().toISOString() });
    }
  }
  pruneNames();
  // Addresses and names claimed by a box killed before it recorded them in the state.
  host.network.prune();
  // Device nodes of a box before 2026-12 lived in one shared $BOX_ROOT/devices/<uid>/ that
  // host users could traverse: a sandbox's `chmod 666 /dev/kvm` there reached the host. Each
  // container now has its own (<container>/devices); remove the old ones. (A running sandbox
  // that binds one keeps its mount.)
  fs.rmSync(path.join(boxRoot(), 'devices'), { recursive: true, force: true });
}

// Only cgroups named in a state file are touched: another box root (a test's, a lab
// sandbox's) may have live containers whose cgroups this box knows nothing about. A box
// writes state.json before it creates the cgroup, so no cgroup is ever unrecorded.
