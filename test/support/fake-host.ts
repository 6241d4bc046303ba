// A fake Host (runtime/src/container/host.ts) for unit tests of startContainer and
// execInContainer: the real cgroup v1 driver over a temporary directory laid out like this
// lab host's /sys/fs/cgroup (one hierarchy per controller; its writes go to the fake Sys), an
// image of one small layer, a network that records what it is asked, the real table of
// user-namespace id ranges in a temporary directory (not the host's /run/box), and in place
// of a filesystem of the container's own (mkfs, mount) a plain directory.
// (No devices hierarchy: on v1 the device rules are file writes a test can read, but a new
// directory here lacks cgroupfs's devices.deny, so they are skipped as on a host without the
// controller; on v2 they are an eBPF program that only the kernel can take.) Everything it does is noted in the fake Sys's trace, so a
// test reads one ordered list of what the start asked of the machine.

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

/** A host under `dir` (a temporary directory the test removes). */
export function fakeHost(sys: FakeSys, dir: string): FakeHost {
  const note = (text: string) => sys.trace.record({ kind: 'note', text });
  const cgroupRoot = path.join(dir, 'cgroup');
  const controllers = ['memory', 'cpu,cpuacct', 'pids', 'freezer'];
  for (const c of controllers) fs.mkdirSync(path.join(cgroupRoot, c), { recursive: true });
  const mountinfo = controllers.map((c, i) => `${30 + i} 25 0:${30 + i} / ${path.join(cgroupRoot, c)} rw,nosuid shared:${30 + i} - cgroup cgroup rw,${c}`);
  const procSelfCgroup = controllers.map((c, i) => `${i + 1}:${c}:/`);
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
    cgroups: (sub) => detectCgroups(sys, { root: cgroupRoot, sub, mountinfo: mountinfo.join('\n'), procSelfCgroup: procSelfCgroup.join('\n') }),
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
