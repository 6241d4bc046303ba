// An OCI config's blockIO, hugepageLimits and network, and its kernel memory limits, through
// box's runc command line on the real kernel, read back from the cgroup files with cat as a
// user would; bad values refused in one line with nothing left behind. On a v1 host whose
// kernel has hugetlb, net_cls and net_prio but does not mount them (/proc/cgroups hierarchy 0,
// as the lab host), the test mounts them in a private mount namespace of its own (with a
// tmpfs over /sys/fs/cgroup there, and the host's hierarchies mounted again in it) and runs
// box inside it; after, it unmounts them where the kernel would keep an unmounted hierarchy.
// Last, box run's Docker flags for the same throttles (--device-read-bps and the like).
// The unit side: test/unit/cgroups-oci-io.test.ts and test/unit/blkio-flags.test.ts.

import { afterAll, beforeAll, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { box, boxBin, cgroupDirsFor, rootReason, tempBoxRoot, until } from './helpers.ts';
import { hostFact, needs } from '../support/requires.ts';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const t = needs(rootReason, !busybox && 'busybox-static is not installed (apt-get install busybox-static)', !hasUnshare() && 'unshare is not installed (apt-get install util-linux)');
const v1 = fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
const tag = `boxtest-${process.pid}`;

let dir = '';
let root = '';

function hasUnshare(): boolean {
  return spawnSync('unshare', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** runc's command line: box --root ROOT ARGS, stdout and stderr into one file (create's are the container's, which lives on). */
function oci(args: string[]): { code: number; out: string } {
  const out = path.join(dir, 'cli.out');
  const fd = fs.openSync(out, 'w');
  const r = spawnSync(boxBin, ['--root', root, ...args], { stdio: ['ignore', fd, fd], timeout: 30_000 });
  fs.closeSync(fd);
  return { code: r.status ?? 128, out: fs.readFileSync(out, 'utf8') };
}

/** A bundle: busybox as the root filesystem, `sleep 30` as the process, this linux part. */
function bundle(name: string, linux: Record<string, unknown>): string {
  const b = path.join(dir, name);
  fs.mkdirSync(path.join(b, 'rootfs/bin'), { recursive: true });
  fs.copyFileSync(busybox!, path.join(b, 'rootfs/bin/busybox'));
  fs.chmodSync(path.join(b, 'rootfs/bin/busybox'), 0o755);
  for (const a of ['sh', 'sleep', 'cat']) fs.symlinkSync('busybox', path.join(b, 'rootfs/bin', a));
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['sleep', '30'], env: ['PATH=/bin'], cwd: '/' },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }], ...linux },
  }));
  return b;
}

/**
 * A whole disk of this host, by name: a real one if there is one, else a loop device (a qemu
 * guest may have only those). The rules live in the container's own cgroup and go with it.
 */
function hostDiskName(): string | null {
  const all = fs.readdirSync('/sys/block').filter((d) => fs.existsSync(`/dev/${d}`)).sort();
  return all.find((d) => !/^(loop|ram|zram|dm-|sr|md|nbd)/.test(d)) ?? all.find((d) => d.startsWith('loop')) ?? null;
}

/** That disk as "MAJ:MIN", or null. */
function hostDisk(): string | null {
  const disk = hostDiskName();
  return disk ? fs.readFileSync(`/sys/block/${disk}/dev`, 'utf8').trim() : null;
}

/** The cgroup directories of a path under every mounted hierarchy (v1: one per controller; v2: one). */
function cgroupDirs(cgPath: string): string[] {
  const tops = v1 ? fs.readdirSync('/sys/fs/cgroup').map((c) => path.join('/sys/fs/cgroup', c)) : ['/sys/fs/cgroup'];
  return tops.map((top) => path.join(top, cgPath)).filter((d) => fs.existsSync(d));
}

const cat = (file: string) => spawnSync('cat', [file], { encoding: 'utf8' }).stdout.trim();

/** A controller's row of /proc/cgroups: [name, hierarchy, num_cgroups, enabled]. */
function cgroupsRow(name: string): string[] | undefined {
  return fs.readFileSync('/proc/cgroups', 'utf8').split('\n').map((l) => l.split(/\s+/)).find((f) => f[0] === name);
}

/**
 * Those of `names` the kernel has but this mount namespace has not mounted as a v1 hierarchy.
 * Not "hierarchy 0" in /proc/cgroups: a hierarchy unmounted while its cgroups were still dying
 * lives on, unmounted, and `mount -o NAME` then simply attaches to it again.
 */
function unmounted(names: string[]): string[] {
  const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .flatMap((l) => / - cgroup \S+ (\S+)$/.exec(l)?.[1]!.split(',') ?? []);
  return names.filter((n) => cgroupsRow(n)?.[3] === '1' && !mounted.includes(n));
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-ocires-'));
  fs.chmodSync(dir, 0o755);
  root = path.join(dir, 'state');
});
afterAll(() => {
  for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) oci(['delete', '--force', id]);
  fs.rmSync(dir, { recursive: true, force: true });
});

t.describe('linux.resources blockIO, hugepageLimits, network and kernel memory (runc\'s command line)', () => {
  t.it('throttles a disk (v1 blkio.throttle.*, v2 io.max), warns that kernel memory is ignored, keeps a relative cgroupsPath\'s levels', (ctx) => {
    const disk = hostDisk();
    if (!disk) return hostFact(ctx, `no whole disk with a node in /dev to throttle: /sys/block has ${fs.readdirSync('/sys/block').join(' ')}`);
    const [major, minor] = disk!.split(':').map(Number);
    const dev = (rate: number) => [{ major, minor, rate }];
    const b = bundle('io', {
      cgroupsPath: `${tag}/level/io`,
      resources: {
        memory: { kernel: 64 << 20, kernelTCP: 16 << 20 },
        blockIO: { throttleReadBpsDevice: dev(1 << 20), throttleWriteBpsDevice: dev(1 << 19), throttleReadIOPSDevice: dev(100), throttleWriteIOPSDevice: dev(50) },
      },
    });
    const created = oci(['create', '-b', b, 'io']);
    expect(created.out).toBe('box: warning: linux.resources.memory.kernel and kernelTCP are ignored: kernel memory limits are deprecated (Linux 5.4), and runc ignores them too; memory.limit counts kernel memory already\n');
    expect(created.code).toBe(0);
    const pid = (JSON.parse(oci(['state', 'io']).out) as { pid: number }).pid;
    // Under /box-oci, every level of the relative path kept (runtime-tools looks for the whole path).
    const cgPath = `/box-oci/${tag}/level/io`;
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`:${cgPath}\n`);
    const [cg] = cgroupDirs(v1 ? `blkio${cgPath}` : cgPath);
    if (v1) {
      expect(cat(`/sys/fs/cgroup/blkio${cgPath}/blkio.throttle.read_bps_device`)).toBe(`${disk} ${1 << 20}`);
      expect(cat(`/sys/fs/cgroup/blkio${cgPath}/blkio.throttle.write_bps_device`)).toBe(`${disk} ${1 << 19}`);
      expect(cat(`/sys/fs/cgroup/blkio${cgPath}/blkio.throttle.read_iops_device`)).toBe(`${disk} 100`);
      expect(cat(`/sys/fs/cgroup/blkio${cgPath}/blkio.throttle.write_iops_device`)).toBe(`${disk} 50`);
    } else {
      expect(cat(path.join(cg!, 'io.max'))).toBe(`${disk} rbps=${1 << 20} wbps=${1 << 19} riops=100 wiops=50`);
    }
    expect(oci(['delete', '--force', 'io']).code).toBe(0);
    // The levels box made went with the cgroup.
    expect(cgroupDirs(`box-oci/${tag}`)).toEqual([]);
  });

  t.it('refuses what the host cannot do in one line, leaving nothing: a disk it lacks, a weight without BFQ or CFQ', () => {
    const noDisk = bundle('nodisk', { cgroupsPath: `${tag}/nodisk`, resources: { blockIO: { throttleReadBpsDevice: [{ major: 4094, minor: 0, rate: 1 }] } } });
    expect(oci(['create', '-b', noDisk, 'nodisk']).out).toBe(
      "box: linux.resources.blockIO.throttleReadBpsDevice (--device-read-bps): there is no disk 4094:0 on this host (limits apply to whole disks, not partitions); use a MAJ:MIN that 'lsblk -d -o NAME,MAJ:MIN' lists\n",
    );
    const weightFiles = v1 ? ['blkio.weight', 'blkio.bfq.weight'].map((f) => `/sys/fs/cgroup/blkio/${f}`) : [];
    if (v1 && !weightFiles.some((f) => fs.existsSync(f))) {
      // This host's disks use none, mq-deadline or kyber: runc's write of blkio.bfq.weight fails with ENOENT; box says why.
      const weight = bundle('weight', { cgroupsPath: `${tag}/weight`, resources: { blockIO: { weight: 500 } } });
      expect(oci(['create', '-b', weight, 'weight']).out).toMatch(/^box: linux\.resources\.blockIO\.weight \(--blkio-weight\): this host has no proportional I\/O weights \(blkio\.weight and blkio\.bfq\.weight missing: .*\); remove it, or switch the disk to BFQ .*\n$/);
    }
    for (const id of ['nodisk', 'weight']) expect(fs.existsSync(path.join(root, id))).toBe(false);
    expect(cgroupDirs(`box-oci/${tag}`)).toEqual([]);
  });

  t.it('hugepageLimits and network on v1: hugetlb.<size>.limit_in_bytes, net_cls.classid, net_prio.ifpriomap', async (ctx) => {
    // net_cls and net_prio exist on v1 only (v2's driver leaves them out: test/unit/cgroups-oci-io.test.ts).
    if (!v1) return hostFact(ctx, 'cgroup v2: /sys/fs/cgroup/memory/memory.limit_in_bytes does not exist');
    const sizes = fs.readdirSync('/sys/kernel/mm/hugepages').map((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1]).filter(Boolean).map((kb) => {
      const n = Number(kb);
      return n >= 1 << 20 ? `${n >> 20}GB` : n >= 1024 ? `${n >> 10}MB` : `${n}KB`;
    });
    if (sizes.length === 0) return hostFact(ctx, 'this kernel has no huge pages: /sys/kernel/mm/hugepages is empty');
    const extra = unmounted(['hugetlb', 'net_cls', 'net_prio']);
    // Those this test brings to life (no hierarchy yet) it must also leave freed.
    const fresh = extra.filter((n) => cgroupsRow(n)?.[1] === '0');
    const b = bundle('huge', {
      cgroupsPath: `/${tag}-huge`,
      resources: {
        hugepageLimits: sizes.map((pageSize) => ({ pageSize, limit: 1 << 30 })),
        network: { classID: 0x100001, priorities: [{ name: 'lo', priority: 2 }] },
      },
    });
    const bad = bundle('badhuge', { cgroupsPath: `/${tag}-bad`, resources: { hugepageLimits: [{ pageSize: '3MB', limit: 1 << 30 }] } });
    const badIf = bundle('badif', { cgroupsPath: `/${tag}-badif`, resources: { network: { priorities: [{ name: 'nosuchif0', priority: 1 }] } } });
    const cg = (c: string, f: string) => `/sys/fs/cgroup/${c}/${tag}-huge/${f}`;
    // The host's v1 hierarchies mounted again over a private tmpfs, and the missing ones beside them.
    const hostMounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').flatMap((l) => {
      const m = /^\S+ \S+ \S+ \/ (\/sys\/fs\/cgroup\/[^ ]+) .* - cgroup \S+ (\S+)$/.exec(l);
      const opts = m?.[2]!.split(',').filter((o) => o !== 'rw' && !o.startsWith('name=')) ?? [];
      return m && opts.length ? [`mkdir -p ${m[1]} && mount -t cgroup -o ${opts.join(',')} cgroup ${m[1]}`] : [];
    });
    const box = `${boxBin} --root ${root}`;
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=755 boxtest-cgroup /sys/fs/cgroup',
      ...hostMounts,
      ...extra.map((c) => `mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`),
      `${box} create -b ${b} huge`,
      ...sizes.flatMap((s) => [`echo ${s}=$(cat ${cg('hugetlb', `hugetlb.${s}.limit_in_bytes`)})`, `echo ${s}.rsvd=$(cat ${cg('hugetlb', `hugetlb.${s}.rsvd.limit_in_bytes`)})`]),
      `echo classid=$(cat ${cg('net_cls', 'net_cls.classid')})`,
      `echo prio=$(grep '^lo ' ${cg('net_prio', 'net_prio.ifpriomap')})`,
      `${box} delete --force huge`,
      `echo left1=$(ls -d /sys/fs/cgroup/*/${tag}-* 2>/dev/null | wc -l)`,
      'set +e',
      `echo bad=$(${box} create -b ${bad} badhuge 2>&1)`,
      `echo badif=$(${box} create -b ${badIf} badif 2>&1)`,
      `echo left2=$(ls -d /sys/fs/cgroup/*/${tag}-* 2>/dev/null | wc -l)`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    try {
      expect(r.stderr).toBe('');
      const seen = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      for (const s of sizes) {
        expect(seen[s]).toBe(String(1 << 30));
        expect(seen[`${s}.rsvd`]).toBe(String(1 << 30));
      }
      expect(seen.classid).toBe(String(0x100001));
      expect(seen.prio).toBe('lo 2');
      expect(seen.bad).toBe(`box: linux.resources.hugepageLimits: this kernel has no 3MB huge pages; use one of ${pageSizesAsCgroupNames()}`);
      expect(seen.badif).toBe("box: linux.resources.network.priorities: the host has no interface 'nosuchif0'; use one 'ip link' lists");
      expect([seen.left1, seen.left2]).toEqual(['0', '0']);
      for (const id of ['huge', 'badhuge', 'badif']) expect(fs.existsSync(path.join(root, id))).toBe(false);
    } finally {
      await unmountLeftHierarchies(fresh);
    }
  });
});

t.describe('box run --device-read-bps, --device-write-iops, --blkio-weight (Docker\'s flags)', () => {
  t.it('writes the throttles of the disk named by its path; refuses a weight the host has no scheduler for, leaving nothing', (ctx) => {
    const disk = hostDiskName();
    if (!disk) return hostFact(ctx, `no whole disk with a node in /dev: /sys/block has ${fs.readdirSync('/sys/block').join(' ')}`);
    const numbers = fs.readFileSync(`/sys/block/${disk}/dev`, 'utf8').trim();
    const boxRoot = tempBoxRoot('blkio');
    try {
      const r = box(boxRoot, ['run', '-d', '--name', 'io', '--device-read-bps', `/dev/${disk}:1mb`, '--device-write-iops', `/dev/${disk}:50`, 'busybox', 'sleep', '30']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const dirs = cgroupDirsFor(r.stdout.trim());
      if (v1) {
        const blkio = dirs.find((d) => d.startsWith('/sys/fs/cgroup/blkio/'))!;
        expect(cat(path.join(blkio, 'blkio.throttle.read_bps_device'))).toBe(`${numbers} ${1 << 20}`);
        expect(cat(path.join(blkio, 'blkio.throttle.write_iops_device'))).toBe(`${numbers} 50`);
      } else {
        expect(cat(path.join(dirs[0]!, 'io.max'))).toBe(`${numbers} rbps=${1 << 20} wbps=max riops=max wiops=50`);
      }
      expect(box(boxRoot, ['rm', '-f', 'io']).code).toBe(0);
      if (v1 && !['blkio.weight', 'blkio.bfq.weight'].some((f) => fs.existsSync(`/sys/fs/cgroup/blkio/${f}`))) {
        const w = box(boxRoot, ['run', '--name', 'w', '--blkio-weight', '500', 'busybox', 'true']);
        expect(w.stderr).toMatch(/^box: linux\.resources\.blockIO\.weight \(--blkio-weight\): this host has no proportional I\/O weights .*\n$/);
        expect(box(boxRoot, ['inspect', 'w']).code).not.toBe(0); // no container was left
      }
      expect(box(boxRoot, ['run', '--device-read-bps', '/dev/null:1mb', 'busybox', 'true']).stderr).toBe("box: --device-read-bps: /dev/null is not a block device; name a disk, e.g. /dev/vda ('lsblk -d' lists them)\n");
    } finally {
      box(boxRoot, ['rm', '-f', 'io']);
      fs.rmSync(boxRoot, { recursive: true, force: true });
    }
  });
});

/** The huge page sizes of this kernel as hugetlb names its files, smallest first (as box lists them). */
function pageSizesAsCgroupNames(): string {
  const kb = fs.readdirSync('/sys/kernel/mm/hugepages').map((d) => Number(/^hugepages-(\d+)kB$/.exec(d)![1])).sort((a, b) => a - b);
  return kb.map((n) => (n >= 1 << 20 ? `${n >> 20}GB` : `${n >> 10}MB`)).join(', ');
}

/**
 * The kernel keeps a v1 hierarchy after its last unmount when it still had (dying) child
 * cgroups then: it would stay in /proc/cgroups and every /proc/PID/cgroup. Once its children
 * are gone, mounting and unmounting it once more in a private namespace lets the kernel free it.
 */
async function unmountLeftHierarchies(names: string[]): Promise<void> {
  for (const n of names) {
    await until(() => { const f = cgroupsRow(n); return !f || f[1] === '0' || f[2] === '1'; }, 10_000, `${n}'s cgroups to be freed`);
    if (cgroupsRow(n)?.[1] === '0') continue;
    spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `d=$(mktemp -d) && mount -t cgroup -o ${n} cgroup $d && umount $d; rmdir $d`], { stdio: 'ignore' });
  }
  await until(() => names.every((n) => cgroupsRow(n)?.[1] === '0'), 10_000, 'the hierarchies to be freed');
  expect(names.filter((n) => cgroupsRow(n)?.[1] !== '0')).toEqual([]);
}
