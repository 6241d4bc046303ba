// What box does at each of box-init's stops, box exec's plan, and the lab sandbox's cgroup and device steps,
// run against a fake Sys (test/support/fake-sys.ts) and the real cgroup v2 driver over a
// temporary directory: no root. The same steps run for real in test/integration/runtime.test.ts
// (--userns, a lab's loop device) and lab-attacks.test.ts (the leaf and the delegation).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { delegate, labCgroupMounts, moveToLeaf } from '../../runtime/src/cgroups/lab.ts';
import { answerSync } from '../../runtime/src/container/sync-answers.ts';
import { execPlan } from '../../runtime/src/container/exec.ts';
import { withLabDisk } from '../../runtime/src/container/lab.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import type { ContainerState } from '../../runtime/src/container/state.ts';
import { SyncPoint } from '../../runtime/src/init/sync-point.ts';
import { deviceFor } from '../../runtime/src/rootfs/device-node.ts';
import { makedev } from '../../runtime/src/sys/sys.ts';
import { fakeSys } from '../support/fake-sys.ts';

const temps: string[] = [];
afterAll(() => { for (const t of temps) fs.rmSync(t, { recursive: true, force: true }); });

/** A cgroup v2 host in a temporary directory, a fake Sys, and the container's cgroup made in it. */
function v2Host() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-steps-'));
  temps.push(root);
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu io memory pids');
  fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), 'cpu io memory pids');
  const sys = fakeSys();
  const driver = detectCgroups(sys, { root, mountinfo: `29 23 0:26 / ${root} rw shared:4 - cgroup2 cgroup2 rw\n`, procSelfCgroup: '0::/\n' });
  const cg = driver.create('box-lab');
  sys.files.set(path.join(cg.paths[0], 'cgroup.controllers'), 'cpu io memory pids');
  sys.trace.events.length = 0;
  return { root, sys, cg };
}

/** The calls and writes the fake saw, in order, paths relative to the host's cgroup root. */
function steps(sys: ReturnType<typeof fakeSys>, root: string): string[] {
  const rel = (s: string) => s.replaceAll(`${root}/`, '');
  return sys.trace.events.flatMap((e) => e.kind === 'write' ? [`write ${rel(e.path)} ${e.value.trim()}`]
    : e.kind === 'syscall' ? [`${e.call} ${rel(e.args)}`] : []);
}

const ids = { base: 200000, size: 65536 };

describe('answering box-init at its stops', () => {
  it('IdMap: the cgroup is joined before uid_map and gid_map are written', () => {
    const { root, sys, cg } = v2Host();
    answerSync({ sys, cgroup: cg, ids }, 4242, SyncPoint.IdMap);
    expect(steps(sys, root)).toEqual([
      'write box/box-lab/cgroup.procs 4242',
      'write /proc/4242/uid_map 0 200000 65536',
      'write /proc/4242/gid_map 0 200000 65536',
    ]);
  });

  it('IdMap without a user namespace, and Cgroup without a network: nothing is done', () => {
    const { root, sys, cg } = v2Host();
    answerSync({ sys, cgroup: cg, ids: null }, 4242, SyncPoint.IdMap);
    answerSync({ sys, cgroup: cg, ids: null }, 4242, SyncPoint.Cgroup);
    expect(steps(sys, root)).toEqual([]);
  });

  it('Cgroup: the network is plugged into the waiting process, and only there', () => {
    const { sys, cg } = v2Host();
    const plugged: number[] = [];
    for (const point of Object.values(SyncPoint)) {
      answerSync({ sys, cgroup: cg, ids: null, plugNetwork: (pid) => plugged.push(pid) }, 77, point);
    }
    expect(plugged).toEqual([77]);
  });

  it('Leaf: the reaper and PID 1 go into <cgroup>/init, controllers are handed down, the leaf is the sandbox root\'s', () => {
    const { root, sys, cg } = v2Host();
    answerSync({ sys, cgroup: cg, ids, reaperPid: () => 100 }, 101, SyncPoint.Leaf);
    expect(steps(sys, root)).toEqual([
      'mkdir "box/box-lab/init", 0755',
      'write box/box-lab/init/cgroup.procs 100',
      'write box/box-lab/init/cgroup.procs 101',
      'write box/box-lab/cgroup.subtree_control +memory +cpu +pids +io',
      'lchown "box/box-lab/init", 200000, 200000',
      'lchown "box/box-lab/init/cgroup.procs", 200000, 200000',
      'lchown "box/box-lab/init/cgroup.threads", 200000, 200000',
      'lchown "box/box-lab/init/cgroup.subtree_control", 200000, 200000',
    ]);
  });

  it('Leaf: a failed mkdir stops the step before any process moves (the start fails, nothing half-moved)', () => {
    const { root, sys, cg } = v2Host();
    sys.fail('mkdir', 28 /* ENOSPC */);
    expect(() => moveToLeaf(sys, cg, [100, 101], ids.base)).toThrow(/mkdir.*ENOSPC/);
    expect(steps(sys, root).filter((s) => s.startsWith('write'))).toEqual([]);
  });
});

describe('a lab sandbox\'s cgroup', () => {
  it('is delegated: the directory and the files that create and move are its root\'s, and the nesting is capped', () => {
    const { root, sys, cg } = v2Host();
    delegate(sys, cg, ids.base);
    expect(steps(sys, root)).toEqual([
      'lchown "box/box-lab", 200000, 200000',
      'lchown "box/box-lab/cgroup.procs", 200000, 200000',
      'lchown "box/box-lab/tasks", 200000, 200000',
      'lchown "box/box-lab/cgroup.subtree_control", 200000, 200000',
      'lchown "box/box-lab/cgroup.threads", 200000, 200000',
      'write box/box-lab/cgroup.max.descendants 256',
      'write box/box-lab/cgroup.max.depth 8',
    ]);
    expect(sys.owners.has(path.join(cg.paths[0], 'memory.max'))).toBe(false); // its limits stay root's
  });

  it('appears inside as the v2 hierarchy itself', () => {
    const { sys, cg } = v2Host();
    expect(labCgroupMounts(sys, cg)).toEqual([{ name: '', host: cg.paths[0] }]);
  });
});

describe('a device node of a user-namespaced container\'s own', () => {
  it('has the host device\'s type and numbers, mode 0600, owned by the container\'s root, in its 0700 directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-dev-'));
    temps.push(dir);
    const sys = fakeSys();
    const node = deviceFor(sys, '/dev/null', ids.base, dir); // /dev/null is character device 1:3 on Linux
    expect(node).toBe(path.join(dir, 'devices', 'null'));
    expect(sys.made.get(path.join(dir, 'devices'))).toEqual({ kind: 'dir', mode: 0o700 });
    expect(sys.made.get(node)).toEqual({ kind: 'c', mode: 0o600, dev: [1, 3] });
    expect(sys.owners.get(node)).toEqual([ids.base, ids.base]);
    expect(sys.owners.get(path.join(dir, 'devices'))).toEqual([ids.base, ids.base]);
  });

  it('refuses what is not a device node, before making anything', () => {
    const sys = fakeSys();
    expect(() => deviceFor(sys, '/etc/hostname', ids.base, '/nonexistent')).toThrow(/--device \/etc\/hostname: not a device node/);
    expect(sys.made.size).toBe(0);
  });

  it('makedev encodes numbers as glibc does (large minors and majors included)', () => {
    expect(makedev(1, 3)).toBe(0x103n);
    expect(makedev(7, 0)).toBe(0x700n);
    expect(makedev(259, 65536)).toBe(0x10010300n); // minor's bits above 8 go to 20 and up
    expect(makedev(4096, 0)).toBe(1n << 44n); // major's bits above 12 go to 44 and up
    // and as the kernel reports them: each device node in /dev, decoded as deviceFor does, encodes back to its st_rdev
    const nodes = fs.readdirSync('/dev').map((n) => fs.statSync(path.join('/dev', n), { throwIfNoEntry: false }))
      .filter((st): st is fs.Stats => !!st && (st.isCharacterDevice() || st.isBlockDevice()));
    expect(nodes.length).toBeGreaterThan(0);
    for (const st of nodes) {
      const [major, minor] = [Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)];
      expect(makedev(major, minor)).toBe(BigInt(st.rdev));
    }
  });
});

describe('box exec\'s plan', () => {
  const base = runConfigFrom(['-e', 'A=1', 'busybox']);
  const state = {
    id: 'c0ffee', name: 'web', pid: 4321, status: 'running',
    namespaces: { user: 'user:[1]', ipc: 'ipc:[2]', uts: 'uts:[3]', net: 'net:[4]', cgroup: 'cgroup:[5]', pid: 'pid:[6]', mnt: 'mnt:[7]' },
    config: { ...base, env: ['PATH=/bin', 'A=1'], workdir: '/srv' },
  } as unknown as ContainerState;
  const ours = (shared: string[]) => (ns: string) => (shared.includes(ns) ? (state.namespaces as Record<string, string>)[ns] : `${ns}:[99]`);

  it('stops for the cgroup first, holds the root, joins user first and mnt last, skips what we share, forks into the PID namespace', () => {
    const plan = execPlan(state, ['ps'], { interactive: false, tty: false, env: ['B=2'] }, ours(['net']));
    const ops = plan.ops.map((op) => op.args[0] === 'setns' ? `setns ${op.args[1]}` : op.args[0]);
    expect(plan.ops[0].args).toEqual(['sync', String(SyncPoint.JoinCgroup)]);
    expect(ops.slice(1, ops.indexOf('fork') + 1)).toEqual([
      'rootfd',
      'setns /proc/4321/ns/user', 'setgroups', 'setresgid', 'setresuid',
      'setns /proc/4321/ns/ipc', 'setns /proc/4321/ns/uts', 'setns /proc/4321/ns/cgroup',
      'setns /proc/4321/ns/pid', 'setns /proc/4321/ns/mnt',
      'enterroot', 'fork',
    ]);
    const last = plan.ops.at(-1)!;
    expect(last.args.slice(0, 3)).toEqual(['exec', 'ps', 'ps']);
    expect(plan.ops.filter((op) => op.args[0] === 'env').map((op) => op.args[1])).toEqual(['PATH=/bin', 'A=1', 'B=2']);
    expect(plan.ops.some((op) => op.args[0] === 'chdir' && op.args[1] === '/srv')).toBe(true);
  });

  it('sharing the PID namespace: no fork; sharing the user namespace: no credential change', () => {
    const plan = execPlan(state, ['ps'], { interactive: false, tty: false, env: [] }, ours(['pid', 'user']));
    const ops = plan.ops.map((op) => op.args[0]);
    expect(ops).not.toContain('fork');
    expect(plan.ops.filter((op) => op.args[0] === 'setns').map((op) => op.args[1])).not.toContain('/proc/4321/ns/user');
    expect(ops).not.toContain('setresuid'); // root in its user namespace already, and no --user
  });
});

describe('a lab sandbox\'s loop device', () => {
  const cfg = runConfigFrom(['--lab', 'busybox']);

  it('is recorded (backing file\'s identity) before it is attached, so a box killed in between leaves a trace', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-loop-'));
    temps.push(dir);
    const sys = fakeSys();
    let recordedFirst: unknown = null;
    const attach = sys.attachLoop;
    sys.attachLoop = (file) => {
      recordedFirst = JSON.parse(fs.readFileSync(path.join(dir, 'loops.json'), 'utf8'));
      return attach(file);
    };
    const withDisk = withLabDisk(sys, cfg, dir);
    const st = fs.statSync(path.join(dir, 'lab-disk.img'));
    expect(recordedFirst).toEqual([{ backing: expect.stringMatching(new RegExp(`^\\d+:\\d+:${st.ino}$`)) }]);
    expect(withDisk.devices).toEqual([...cfg.devices, '/dev/loop0']);
    expect(sys.attached.get('/dev/loop0')).toBe(path.join(dir, 'lab-disk.img'));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'loops.json'), 'utf8'))[0].device).toBe('/dev/loop0');
    expect(st.size).toBe(64 * 1024 * 1024); // sparse: its size, not its blocks
  });

  it('when the attach fails: the sandbox starts without one, and its file and record are gone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-loop-'));
    temps.push(dir);
    const sys = fakeSys();
    sys.fail('attachLoop', 19 /* ENODEV: no loop driver */);
    expect(withLabDisk(sys, cfg, dir)).toBe(cfg);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(sys.attached.size).toBe(0);
  });
});
