// An OCI config's blockIO, hugepageLimits and network (and its kernel memory limits) on both
// cgroup drivers, without a kernel: a temporary tree laid out like the hierarchy and a fake
// Sys recording every write. test/integration/oci-runtime.test.ts and oci-resources.test.ts
// run the v1 driver on the real kernel; what is refused here is refused there in the same words.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { blkioWeightToIoWeight } from '../../runtime/src/cgroups/blkio.ts';
import { cgroupPlace, moreLimits } from '../../runtime/src/oci/resources.ts';
import { fakeSys } from '../support/fake-sys.ts';
import { dirOps, put, temporaryTrees, writes } from '../support/cgroup-tree.ts';

const tree = temporaryTrees('boxtest-cgio-');
const v2Line = (mp: string) => `29 23 0:26 / ${mp} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate`;
const v1Line = (id: number, mp: string, opts: string) => `${id} 25 0:${id} / ${mp} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opts}`;
const ENODEV = 19;

/** A v1 host with these hierarchies mounted; `files` appear in each new cgroup of that hierarchy (as the kernel makes them). */
function v1Host(ctrls: string[], files: Record<string, string[]> = {}) {
  const layout: Record<string, string> = {};
  for (const c of ctrls) layout[`${c}/tasks`] = '';
  const root = tree(layout);
  const mountinfo = ctrls.map((c, i) => v1Line(30 + i, path.join(root, c), c)).join('\n');
  const procSelfCgroup = ctrls.map((c, i) => `${i + 1}:${c}:/`).join('\n');
  const sys = fakeSys();
  const driver = detectCgroups(sys, { root, mountinfo, procSelfCgroup });
  const cg = driver.create('web');
  for (const [c, names] of Object.entries(files)) for (const f of names) put(path.join(root, c, 'box/web'), f, '');
  sys.trace.events.length = 0;
  return { root, sys, cg, driver };
}

function v2Host(files: string[]) {
  const root = tree({ 'cgroup.controllers': 'cpu io memory pids hugetlb', 'cgroup.subtree_control': '' });
  const sys = fakeSys();
  const cg = detectCgroups(sys, { root, mountinfo: v2Line(root), procSelfCgroup: '0::/\n' }).create('web');
  for (const f of files) put(cg.paths[0]!, f, f === 'io.bfq.weight' ? 'default 100\n' : '');
  sys.trace.events.length = 0;
  return { root, sys, cg, d: 'box/web' };
}

const throttle = [
  { major: 8, minor: 0, kind: 'rbps' as const, rate: 1048576 }, { major: 8, minor: 0, kind: 'wbps' as const, rate: 524288 },
  { major: 8, minor: 0, kind: 'riops' as const, rate: 100 }, { major: 8, minor: 0, kind: 'wiops' as const, rate: 50 },
];

describe('cgroup v1: blockIO, hugetlb, network', () => {
  it('throttles go to the four blkio.throttle files as "MAJ:MIN RATE", in runc\'s order', () => {
    const { root, sys, cg } = v1Host(['blkio']);
    expect(cg.setLimits({ blockIO: { throttle } })).toEqual([]);
    expect(writes(sys, root)).toEqual([
      ['blkio/box/web/blkio.throttle.read_bps_device', '8:0 1048576'],
      ['blkio/box/web/blkio.throttle.write_bps_device', '8:0 524288'],
      ['blkio/box/web/blkio.throttle.read_iops_device', '8:0 100'],
      ['blkio/box/web/blkio.throttle.write_iops_device', '8:0 50'],
    ]);
  });

  it('a weight goes to blkio.weight with CFQ, else to BFQ\'s blkio.bfq.weight, as runc picks', () => {
    const cfq = v1Host(['blkio'], { blkio: ['blkio.weight', 'blkio.weight_device', 'blkio.leaf_weight', 'blkio.leaf_weight_device'] });
    cfq.cg.setLimits({ blockIO: { weight: 500, leafWeight: 300, weightDevices: [{ major: 8, minor: 0, weight: 400, leafWeight: 200 }] } });
    expect(writes(cfq.sys, cfq.root).map(([p, v]) => [path.basename(p), v])).toEqual([
      ['blkio.weight', '500'], ['blkio.leaf_weight', '300'], ['blkio.weight_device', '8:0 400'], ['blkio.leaf_weight_device', '8:0 200'],
    ]);
    const bfq = v1Host(['blkio'], { blkio: ['blkio.bfq.weight', 'blkio.bfq.weight_device'] });
    bfq.cg.setLimits({ blockIO: { weight: 500, weightDevices: [{ major: 8, minor: 0, weight: 400 }] } });
    expect(writes(bfq.sys, bfq.root).map(([p, v]) => [path.basename(p), v])).toEqual([['blkio.bfq.weight', '500'], ['blkio.bfq.weight_device', '8:0 400']]);
  });

  it('refuses a weight where neither scheduler gives one, and a leaf weight without CFQ, before any write', () => {
    const { root, sys, cg } = v1Host(['memory', 'blkio']);
    expect(() => cg.setLimits({ memoryBytes: 1 << 26, blockIO: { weight: 500, throttle } })).toThrow(
      /^linux\.resources\.blockIO\.weight \(--blkio-weight\): this host has no proportional I\/O weights \(blkio\.weight and blkio\.bfq\.weight missing: .*BFQ.*\); remove it, or switch the disk to BFQ/,
    );
    expect(() => cg.setLimits({ blockIO: { leafWeight: 300 } })).toThrow('linux.resources.blockIO.leafWeight: this kernel has no leaf weights (blkio.leaf_weight was the CFQ scheduler\'s, removed in Linux 5.0); remove leafWeight');
    expect(() => cg.setLimits({ blockIO: { weight: 5 } })).toThrow('linux.resources.blockIO.weight (--blkio-weight): 5 is out of range; use 10 to 1000');
    expect(() => cg.setLimits({ blockIO: { throttle: [{ major: -1, minor: 0, kind: 'rbps', rate: 1 }] } })).toThrow(/throttleReadBpsDevice \(--device-read-bps\): -1:0 is not a device number/);
    expect(writes(sys, root)).toEqual([]);
  });

  it('a device the kernel does not have (ENODEV) is named in one line', () => {
    const { root, sys, cg } = v1Host(['blkio']);
    sys.fail(`write:${path.join(root, 'blkio/box/web/blkio.throttle.read_bps_device')}`, ENODEV);
    expect(() => cg.setLimits({ blockIO: { throttle: [{ major: 8, minor: 0, kind: 'rbps', rate: 1 }] } })).toThrow(
      "linux.resources.blockIO.throttleReadBpsDevice (--device-read-bps): there is no disk 8:0 on this host (limits apply to whole disks, not partitions); use a MAJ:MIN that 'lsblk -d -o NAME,MAJ:MIN' lists",
    );
  });

  it('hugetlb.<size>.limit_in_bytes and its .rsvd twin; a size the kernel lacks is refused, naming the ones it has', () => {
    const { root, sys, cg } = v1Host(['hugetlb'], { hugetlb: ['hugetlb.2MB.limit_in_bytes', 'hugetlb.2MB.rsvd.limit_in_bytes', 'hugetlb.1GB.limit_in_bytes', 'hugetlb.1GB.rsvd.limit_in_bytes'] });
    expect(() => cg.setLimits({ hugepages: [{ pageSize: '2MB', bytes: 1 << 30 }, { pageSize: '3MB', bytes: 1 << 30 }] })).toThrow(
      'linux.resources.hugepageLimits: this kernel has no 3MB huge pages; use one of 2MB, 1GB',
    );
    expect(() => cg.setLimits({ hugepages: [{ pageSize: '../../x', bytes: 1 }] })).toThrow("page size '../../x' is not a size as the kernel names them; use e.g. 2MB or 1GB");
    expect(writes(sys, root)).toEqual([]);
    cg.setLimits({ hugepages: [{ pageSize: '2MB', bytes: 1 << 30 }] });
    expect(writes(sys, root)).toEqual([['hugetlb/box/web/hugetlb.2MB.limit_in_bytes', String(1 << 30)], ['hugetlb/box/web/hugetlb.2MB.rsvd.limit_in_bytes', String(1 << 30)]]);
  });

  it('net_cls.classid and one net_prio.ifpriomap line per interface', () => {
    const { root, sys, cg } = v1Host(['net_cls', 'net_prio']);
    cg.setLimits({ netClassId: 0x100001, netPriorities: [{ iface: 'lo', priority: 2 }, { iface: 'eth0', priority: 5 }] });
    expect(writes(sys, root)).toEqual([
      ['net_cls/box/web/net_cls.classid', '1048577'],
      ['net_prio/box/web/net_prio.ifpriomap', 'lo 2'],
      ['net_prio/box/web/net_prio.ifpriomap', 'eth0 5'],
    ]);
    expect(() => cg.setLimits({ netPriorities: [{ iface: 'eth0 1\nlo', priority: 1 }] })).toThrow(/is not an interface name; use one 'ip link' lists/);
  });

  it('a controller the host has but has not mounted is refused, naming the mount to make (runc: "cannot set hugetlb limit")', () => {
    const { root, sys, cg, driver } = v1Host(['memory', 'blkio']);
    expect(driver.available()).toEqual(['memory', 'blkio']);
    expect(() => cg.setLimits({ memoryBytes: 1 << 26, hugepages: [{ pageSize: '2MB', bytes: 1 << 21 }] })).toThrow(
      "linux.resources.hugepageLimits needs the cgroup v1 'hugetlb' controller, which is not mounted; mount it with 'mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb'",
    );
    expect(() => cg.setLimits({ netClassId: 1 })).toThrow("linux.resources.network.classID needs the cgroup v1 'net_cls' controller, which is not mounted");
    expect(writes(sys, root)).toEqual([]);
  });
});

describe('cgroup v2: io, hugetlb; network left out', () => {
  it('io.max lines per throttle; the weight converted into io.weight (runc\'s 10..1000 -> 1..10000) without BFQ', () => {
    const { root, sys, cg, d } = v2Host(['io.weight', 'io.max']);
    expect(cg.setLimits({ blockIO: { weight: 500, leafWeight: 300, weightDevices: [{ major: 8, minor: 0, weight: 400 }], throttle } })).toEqual([
      'linux.resources.blockIO.weightDevice is left out: cgroup v2 has per-device weights only with the BFQ scheduler (io.bfq.weight), as runc',
      'linux.resources.blockIO.leafWeight is left out: cgroup v2 has no leaf weights (they were v1 CFQ\'s), as runc',
    ]);
    expect(writes(sys, root)).toEqual([
      [`${d}/io.weight`, '4950'],
      [`${d}/io.max`, '8:0 rbps=1048576'],
      [`${d}/io.max`, '8:0 wbps=524288'],
      [`${d}/io.max`, '8:0 riops=100'],
      [`${d}/io.max`, '8:0 wiops=50'],
    ]);
    expect([10, 100, 1000].map(blkioWeightToIoWeight)).toEqual([1, 910, 10000]);
  });

  it('with BFQ the weight goes to io.bfq.weight as it is, and per-device weights too', () => {
    const { root, sys, cg, d } = v2Host(['io.weight', 'io.bfq.weight']);
    expect(cg.setLimits({ blockIO: { weight: 500, weightDevices: [{ major: 8, minor: 0, weight: 400 }] } })).toEqual([]);
    expect(writes(sys, root)).toEqual([[`${d}/io.bfq.weight`, '500'], [`${d}/io.bfq.weight`, '8:0 400']]);
  });

  it('refuses a weight with neither io.weight nor io.bfq.weight; hugetlb.<size>.max; net_cls/net_prio left out with a warning', () => {
    const { root, sys, cg, d } = v2Host(['hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max']);
    expect(() => cg.setLimits({ blockIO: { weight: 500 } })).toThrow(/blockIO\.weight \(--blkio-weight\): this host has no proportional I\/O weights \(io\.weight and io\.bfq\.weight missing/);
    expect(() => cg.setLimits({ hugepages: [{ pageSize: '1GB', bytes: 1 << 30 }] })).toThrow('linux.resources.hugepageLimits: this kernel has no 1GB huge pages; use one of 2MB');
    expect(writes(sys, root)).toEqual([]);
    const left = cg.setLimits({ hugepages: [{ pageSize: '2MB', bytes: 1 << 30 }], netClassId: 1, netPriorities: [{ iface: 'lo', priority: 1 }] });
    expect(writes(sys, root)).toEqual([[`${d}/hugetlb.2MB.max`, String(1 << 30)], [`${d}/hugetlb.2MB.rsvd.max`, String(1 << 30)]]);
    expect(left).toEqual([
      'linux.resources.network.classID is left out: cgroup v2 has no net_cls controller (match the cgroup\'s path instead: nftables "socket cgroupv2"), as runc',
      'linux.resources.network.priorities is left out: cgroup v2 has no net_prio controller, as runc',
    ]);
  });
});

describe('oci/resources.ts: the config\'s parts into Limits', () => {
  it('blockIO lists in runc\'s order, 0 as "not set"; hugepageLimits; network', () => {
    const { limits, warnings } = moreLimits({
      blockIO: {
        weight: 0, leafWeight: 300, weightDevice: [{ major: 8, minor: 0, weight: 500 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 4 }], throttleReadBpsDevice: [{ major: 8, minor: 16, rate: 1 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 1 << 30 }],
      network: { classID: 0x100001, priorities: [{ name: 'eth0', priority: 5 }] },
    });
    expect(warnings).toEqual([]);
    expect(limits).toEqual({
      blockIO: {
        weight: undefined, leafWeight: 300, weightDevices: [{ major: 8, minor: 0, weight: 500, leafWeight: undefined }],
        throttle: [{ major: 8, minor: 16, kind: 'rbps', rate: 1 }, { major: 8, minor: 0, kind: 'wiops', rate: 4 }],
      },
      hugepages: [{ pageSize: '2MB', bytes: 1 << 30 }],
      netClassId: 0x100001,
      netPriorities: [{ iface: 'eth0', priority: 5 }],
    });
    expect(moreLimits({ blockIO: {}, network: { classID: 0 } }).limits).toEqual({ blockIO: undefined, hugepages: undefined, netClassId: undefined, netPriorities: undefined });
  });

  it('kernel and kernelTCP: ignored with runc\'s warning', () => {
    expect(moreLimits({ memory: { kernel: 1 << 26, kernelTCP: 1 << 20 } }).warnings).toEqual([
      'linux.resources.memory.kernel and kernelTCP are ignored: kernel memory limits are deprecated (Linux 5.4), and runc ignores them too; memory.limit counts kernel memory already',
    ]);
  });

  it('cgroupsPath: absolute as it is, relative under /box-oci keeping every level, none in /box-oci; no escaping', () => {
    expect(cgroupPlace('c.json', '/libpod_parent/libpod-1')).toEqual({ parent: '/libpod_parent', name: 'libpod-1' });
    expect(cgroupPlace('c.json', '/cgrouptest')).toEqual({ parent: '/', name: 'cgrouptest' });
    expect(cgroupPlace('c.json', 'testdir/cgrouptest/container')).toEqual({ parent: '/box-oci/testdir/cgrouptest', name: 'container' });
    expect(cgroupPlace('c.json', undefined)).toEqual({ parent: '/box-oci' });
    expect(() => cgroupPlace('c.json', '../../etc')).toThrow("c.json: linux.cgroupsPath '../../etc' is not a cgroup path box can use");
    expect(() => cgroupPlace('c.json', 'system.slice:box:1')).toThrow('is a systemd slice path');
  });
});

describe('a parent several levels deep (a relative cgroupsPath)', () => {
  it('is made level by level, and its empty levels go with the last cgroup', () => {
    const root = tree({ 'memory/tasks': '' });
    const sys = fakeSys();
    const opts = { root, mountinfo: v1Line(30, path.join(root, 'memory'), 'memory'), procSelfCgroup: '1:memory:/user.slice\n', parent: '/box-oci/testdir/cgrouptest' };
    const cg = detectCgroups(sys, opts).create('container');
    expect(cg.paths).toEqual([path.join(root, 'memory/box-oci/testdir/cgrouptest/container')]);
    const other = detectCgroups(sys, { ...opts, parent: '/box-oci/testdir/other' }).create('c2');
    cg.destroy();
    other.destroy();
    expect(dirOps(sys, root)).toEqual([
      'mkdir memory/box-oci', 'mkdir memory/box-oci/testdir', 'mkdir memory/box-oci/testdir/cgrouptest', 'mkdir memory/box-oci/testdir/cgrouptest/container',
      'mkdir memory/box-oci/testdir/other', 'mkdir memory/box-oci/testdir/other/c2',
      // testdir still holds "other": the climb stops there, and goes on with the last one.
      'rmdir memory/box-oci/testdir/cgrouptest/container', 'rmdir memory/box-oci/testdir/cgrouptest',
      'rmdir memory/box-oci/testdir/other/c2', 'rmdir memory/box-oci/testdir/other', 'rmdir memory/box-oci/testdir', 'rmdir memory/box-oci',
    ]);
  });
});
