// A fake Host (runtime/src/container/host.ts) for unit tests of startContainer and
// execInContainer: the real cgroup driver over a temporary directory laid out like this
// lab host's /sys/fs/cgroup (v1: one hierarchy per controller), or like a unified host's
// (v2: one hierarchy; its writes go to the fake Sys in both), an
// image of one small layer, a network that records what it is asked, the real table of
// user-namespace id ranges in a temporary directory (not the host's /run/box), and in place
// of a filesystem of the container's own (mkfs, mount) a plain directory.
// (No devices hierarchy on v1: there the device rules are file writes, but a new directory
// here lacks cgroupfs's devices.deny, so they are skipped as on a host without the
// controller. On v2 they are an eBPF program, which the fake Sys records as attached.)
// Everything it does is noted in the fake Sys's trace, so a test reads one ordered list of
// what the start asked of the machine. The mount table it describes is the fake Sys's
// /proc/self/mountinfo too (a lab start reads it there).

import fs from 'node:fs';
import path from 'node:path';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { claimIdRange } from '../../runtime/src/container/id-ranges.ts';
import type { Host } from '../../runtime/src/container/host.ts';
import type { FakeSys } from './fake-sys.ts';

export interface FakeHost extends Host {
  /** Where the temporary hierarchies are mounted: box's cgroups are made under <cgroupRoot>/<controller>/box. */
  readonly cgroupRoot: string;
}

/** The controllers the v2 tree's root offers (its cgroup.controllers). */
export const V2_TREE_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

/** A host under `dir` (a temporary directory the test removes), with cgroup v1 (this lab host's layout) or v2. */
export function fakeHost(sys: FakeSys, dir: string, { cgroupVersion = 1 }: { cgroupVersion?: 1 | 2 } = {}): FakeHost {
  const note = (text: string) => sys.trace.record({ kind: 'note', text });
  const cgroupRoot = path.join(dir, 'cgroup');
  let mountinfo: string[], procSelfCgroup: string[];
  if (cgroupVersion === 2) {
    fs.mkdirSync(cgroupRoot, { recursive: true });
    fs.writeFileSync(path.join(cgroupRoot, 'cgroup.controllers'), `${V2_TREE_CONTROLLERS.join(' ')}\n`);
    fs.writeFileSync(path.join(cgroupRoot, 'cgroup.subtree_control'), '');
    mountinfo = [`30 25 0:30 / ${cgroupRoot} rw,nosuid,nodev,noexec,relatime shared:30 - cgroup2 cgroup2 rw,nsdelegate`];
    procSelfCgroup = ['0::/'];
  } else {
    const controllers = ['memory', 'cpu,cpuacct', 'pids', 'freezer'];
    for (const c of controllers) fs.mkdirSync(path.join(cgroupRoot, c), { recursive: true });
    mountinfo = controllers.map((c, i) => `${30 + i} 25 0:${30 + i} / ${path.join(cgroupRoot, c)} rw,nosuid shared:${30 + i} - cgroup cgroup rw,${c}`);
    procSelfCgroup = controllers.map((c, i) => `${i + 1}:${c}:/`);
  }
  sys.files.set('/proc/self/mountinfo', `${mountinfo.join('\n')}\n`);
  const layer = path.join(dir, 'layer');
  fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(layer, 'bin'), { recursive: true });
  return {
    cgroupRoot,
    async image(ref, verify) {
      note(`image ${ref}${verify ? ' (verified)' : ''}`);
      return {
        ref: `${ref}:latest`, id: `sha256:${'ab'.repeat(32)}`, manifestDigest: `sha256:${'cd'.repeat(32)}`,
        layerDirs: [layer], config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
      };
    },
    cgroups(sub) {
      const driver = detectCgroups(sys, { root: cgroupRoot, sub, mountinfo: mountinfo.join('\n'), procSelfCgroup: procSelfCgroup.join('\n') });
      if (driver.version !== 2) return driver;
      // The kernel fills a new v2 cgroup's cgroup.controllers from its parent's
      // subtree_control (which the driver wrote through the Sys): the fake Sys answers it so.
      return {
        ...driver,
        create(name) {
          const cg = driver.create(name);
          sys.files.set(path.join(cg.paths[0]!, 'cgroup.controllers'), driver.available().join(' '));
          return cg;
        },
      };
    },
    warmCgroups: () => note('cgroup migration warmed'),
    network: {
      async prepare(req, names) {
        note(`network: prepare ${req.network} for ${names.name}`);
        if (req.network === 'none') return null;
        const net = { mode: req.network ?? 'bridge', endpoints: [], ports: [] };
        return { net, held: [], files: [{ container: '/etc/hostname', text: `${names.hostname}\n` }] };
      },
      plug: (pid) => note(`network: plug into ${pid}`),
      release: (id, _prepared, opts) => note(`network: release ${id}${opts?.unplug ? ' (unplug)' : ''}`),
      releaseDead: (s) => note(`network: release dead ${s.id}`),
      prune: () => note('network: prune'),
    },
    claimIdRange(id, uidMap) {
      const ids = claimIdRange(id, uidMap, path.join(dir, 'id-ranges'));
      note(`userns: ids ${ids.base}+${ids.size}`);
      return ids;
    },
    shiftedLayers(layerDirs, base) {
      note(`userns: layers shifted by ${base}`); // the copies are made with lchown, root's to make
      return layerDirs;
    },
    mountDisk(cdir, bytes) {
      const mnt = path.join(cdir, 'disk');
      fs.mkdirSync(mnt, { mode: 0o700 });
      note(`disk: ${bytes} bytes, mounted at <container>/disk`);
      return mnt;
    },
  };
}
