// `startContainer` whole, without root: a fake Sys (test/support/fake-sys.ts) whose box-init
// answers the plan as box-init.c would (fake-init.ts), and a fake Host (fake-host.ts: the real
// cgroup v1 driver over a temporary tree, an image of one layer, a network that records).
// Asserted: what the start asks of the machine, in order, what the state says while it runs,
// and that an exit or a failure half-way leaves nothing behind, as youki tests its container
// builder with its recording Syscall. The same runs for real, as root, in
// test/integration/runtime.test.ts and the other run*.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapStale } from '../../runtime/src/container/cleanup.ts';
import { withLabDisk } from '../../runtime/src/container/lab.ts';
import { removeContainer } from '../../runtime/src/container/remove.ts';
import { startContainer } from '../../runtime/src/container/run.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { containerDir, containersDir, nameClaimed, readState, updateState } from '../../runtime/src/container/state.ts';
import { SyncPoint } from '../../runtime/src/init/sync-point.ts';
import { fakeSys, type FakeSys } from '../support/fake-sys.ts';
import { fakeHost, type FakeHost } from '../support/fake-host.ts';
import { runDeviceProgram } from '../support/ebpf-device-run.ts';

let dir: string;
const saved = process.env.BOX_ROOT;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-start-'));
  fs.chmodSync(dir, 0o711); // --userns: root inside is another uid outside, and must pass through to the rootfs
  process.env.BOX_ROOT = path.join(dir, 'root');
});
afterAll(() => {
  if (saved === undefined) delete process.env.BOX_ROOT;
  else process.env.BOX_ROOT = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh fake machine: root, a cgroup tree and a store of its own. */
function machine(cgroupVersion: 1 | 2 = 1): { sys: FakeSys; host: FakeHost } {
  const sys = fakeSys({ '/proc/self/uid_map': '         0          0 4294967295\n' });
  const host = fakeHost(sys, fs.mkdtempSync(path.join(dir, 'host-')), { cgroupVersion });
  return { sys, host };
}

/**
 * What box asked of the machine, in order: its writes, calls and notes (cgroup paths relative
 * to the tree, the container's id as <id>), and of box-init's reports only the fork, the
 * stops and an error (the rest is the plan, tested in runtime-plan.test.ts).
 */
function asked(sys: FakeSys, host: FakeHost): string[] {
  const rel = (s: string) => s.replaceAll(`${host.cgroupRoot}/`, '').replace(/[0-9a-f]{64}/g, '<id>').replace(/box-[0-9a-f]{12}/g, 'box-<id>');
  return sys.trace.events.flatMap((e) => {
    if (e.who === 'init') {
      if (e.kind === 'note') return [e.text];
      if (e.kind === 'syscall' && e.errno) return [`box-init: ${e.call} ${e.args} = ${e.errno}`];
      return e.kind === 'syscall' && e.call === 'fork' ? [`box-init: fork = ${e.result}`] : [];
    }
    if (e.kind === 'write') return [`write ${rel(e.path)} ${e.value.trim()}`];
    if (e.kind === 'syscall') return [`${e.call} ${rel(e.args)}`];
    return e.kind === 'note' ? [rel(e.text)] : [];
  });
}

const CGROUPS = ['memory', 'cpu,cpuacct', 'pids', 'freezer'];
const quiet = ['ignore', 'ignore', 'ignore'] as ('ignore')[];

describe('startContainer, run whole against a fake Sys and Host', () => {
  it('box run --rm --memory 64m: cgroup made, limit written, box-init spawned with the plan, its stop answered, state written, all removed at the exit', async () => {
    const { sys, host } = machine();
    const cfg = runConfigFrom(['--rm', '--memory', '64m', '--name', 'web', 'busybox', 'echo', 'hello']);
    const running = await startContainer(sys, cfg, quiet, undefined, { host });
    const { id } = running.state;
    const init = sys.inits[0]!;
    const pid1 = init.commandPid; // box-init's child: PID 1 of the new PID namespace

    // The plan box-init got: its own death tied to box's first, the stop, the user's command last.
    expect(init.ops[0]).toEqual(['prctl', '1', '9']); // PR_SET_PDEATHSIG, SIGKILL
    expect(init.ops.filter((op) => op[0] === 'sync')).toEqual([['sync', String(SyncPoint.Cgroup)]]);
    expect(init.ops.at(-1)).toEqual(['exec', 'echo', 'echo', 'hello']);
    expect(init.log.filter((l) => /^(SYNC|answered|exec)/.test(l))).toEqual([
      `SYNC ${init.ops.findIndex((op) => op[0] === 'sync')} 2`, `answered ${init.ops.findIndex((op) => op[0] === 'sync')}`, 'exec',
    ]);

    // While it runs: the state a `box ps` or `box exec` reads.
    const state = readState(id)!;
    expect(state).toMatchObject({ name: 'web', status: 'running', pid: pid1, cgroup: `box-${id.slice(0, 12)}`, exitCode: null, monitorPid: process.pid });
    expect(state.namespaces).toEqual({ // what box-init unshared is the container's own; the user namespace is the host's
      cgroup: `cgroup:[${init.pid}]`, ipc: `ipc:[${init.pid}]`, mnt: `mnt:[${init.pid}]`, net: `net:[${init.pid}]`,
      pid: `pid:[${init.pid}]`, time: 'time:[1]', user: 'user:[1]', uts: `uts:[${init.pid}]`,
    });
    expect(fs.readFileSync(path.join(containerDir(id), 'init/etc/hostname'), 'utf8')).toBe('web\n'); // the network's /etc files, under the image
    expect(nameClaimed('web')).toBe(true);

    init.exit(0);
    expect(await running.exited).toBe(0);
    expect(asked(sys, host)).toEqual([
      'cgroup migration warmed',
      'network: prune', // the reaper first: what a killed box left
      'image busybox',
      'network: prepare bridge for web',
      ...CGROUPS.flatMap((c) => [`mkdir ${c}/box`, `mkdir ${c}/box/box-<id>`]),
      'write memory/box/box-<id>/memory.limit_in_bytes 67108864',
      `spawn box-init (fork + execve): pid ${init.pid}`,
      `box-init: fork = ${pid1}`,
      ...CGROUPS.map((c) => `write ${c}/box/box-<id>/cgroup.procs ${pid1}`), // PID 1 joins its cgroup before it goes on
      `network: plug into ${pid1}`, // the host's pid of PID 1, not the 1 box-init reported
      'sync: box has put the container in its cgroup',
      // the exit
      'network: release <id>',
      ...CGROUPS.map((c) => `rmdir ${c}/box/box-<id>`),
      ...CGROUPS.map((c) => `rmdir ${c}/box`), // box's own directory too, empty now
    ]);
    expect(fs.existsSync(containerDir(id))).toBe(false); // --rm: its directory, state and layers
    expect(nameClaimed('web')).toBe(false);
    for (const c of CGROUPS) expect(fs.existsSync(path.join(host.cgroupRoot, c, 'box'))).toBe(false);
  });

  it('--userns: a range of its own, the upper layer its root\'s, and at the IdMap stop the cgroup joined before uid_map and gid_map are written', async () => {
    const { sys, host } = machine();
    const running = await startContainer(sys, runConfigFrom(['--rm', '--userns', '--name', 'u', 'busybox', 'id']), quiet, undefined, { host });
    const init = sys.inits[0]!;
    const [base, size] = [running.state.idRange!.base, running.state.idRange!.size];
    expect(size).toBe(65536);
    expect(init.ops.filter((op) => op[0] === 'sync').map((op) => Number(op[1]))).toEqual([SyncPoint.IdMap, SyncPoint.Cgroup]);
    init.exit(0);
    expect(await running.exited).toBe(0);
    const steps = asked(sys, host);
    expect(steps.slice(steps.indexOf('network: prepare bridge for u') + 1)).toEqual([
      `userns: ids ${base}+${size}`,
      `userns: layers shifted by ${base}`,
      `lchown "${containerDir(running.state.id).replace(/[0-9a-f]{64}/, '<id>')}/upper", ${base}, ${base}`, // root inside must write its layer
      `lchown "${containerDir(running.state.id).replace(/[0-9a-f]{64}/, '<id>')}/work", ${base}, ${base}`,
      ...CGROUPS.flatMap((c) => [`mkdir ${c}/box`, `mkdir ${c}/box/box-<id>`]),
      `spawn box-init (fork + execve): pid ${init.pid}`,
      // IdMap: box-init itself joins the cgroup while it still has our credentials, before it forks PID 1 there
      ...CGROUPS.map((c) => `write ${c}/box/box-<id>/cgroup.procs ${init.pid}`),
      `write /proc/${init.pid}/uid_map 0 ${base} ${size}`,
      `write /proc/${init.pid}/gid_map 0 ${base} ${size}`,
      'sync: box writes uid_map and gid_map',
      `box-init: fork = ${init.commandPid}`, // born in the cgroup: no write for it
      `network: plug into ${init.commandPid}`,
      'sync: box has put the container in its cgroup',
      'network: release <id>',
      ...CGROUPS.map((c) => `rmdir ${c}/box/box-<id>`),
      ...CGROUPS.map((c) => `rmdir ${c}/box`),
    ]);
  });

  it('without --rm, the exit is recorded: status exited and the code, the container kept for box start', async () => {
    const { sys, host } = machine();
    const running = await startContainer(sys, runConfigFrom(['busybox', 'sh', '-c', 'exit 3']), quiet, undefined, { host });
    sys.inits[0]!.exit(3);
    expect(await running.exited).toBe(3);
    expect(readState(running.state.id)).toMatchObject({ status: 'exited', exitCode: 3, pid: running.state.pid });
    expect(fs.existsSync(path.join(containerDir(running.state.id), 'upper'))).toBe(true);
    expect(asked(sys, host).filter((s) => s.startsWith('rmdir'))).toHaveLength(2 * CGROUPS.length); // the cgroup still goes
  });

  it('box-init fails half-way (sethostname, after the stop): the error in one line, and everything undone', async () => {
    const { sys, host } = machine();
    sys.initFails('sethostname', 1 /* EPERM */);
    const before = new Set(fs.existsSync(containersDir()) ? fs.readdirSync(containersDir()) : []);
    const cfg = runConfigFrom(['--name', 'half', 'busybox', 'true']);
    await expect(startContainer(sys, cfg, quiet, undefined, { host })).rejects.toThrow(/^container setup failed: sethostname.*EPERM/);
    const init = sys.inits[0]!;
    expect(init.log.slice(-2)).toEqual([`ERR ${init.ops.findIndex((op) => op[0] === 'sethostname')} 1`, 'exit 1']);
    const steps = asked(sys, host);
    const from = steps.indexOf('sync: box has put the container in its cgroup');
    expect(from).toBeGreaterThan(0); // it got that far: cgroup joined, network plugged
    expect(steps.slice(from + 1)).toEqual([
      'box-init: sethostname "half", 4 = EPERM', // its ERR line
      'network: release <id> (unplug)', // its veths too: the namespace may outlive box-init for a moment
      ...CGROUPS.map((c) => `rmdir ${c}/box/box-<id>`),
      ...CGROUPS.map((c) => `rmdir ${c}/box`),
    ]);
    expect(fs.readdirSync(containersDir()).filter((d) => !before.has(d))).toEqual([]); // its directory, state and layers
    expect(nameClaimed('half')).toBe(false);
    expect(sys.live.size).toBe(0);
  });

  it('box fails at a stop (the network cannot be plugged): box-init is killed, and everything undone', async () => {
    const { sys, host } = machine();
    const plug = host.network.plug;
    host.network.plug = (pid, net) => {
      plug(pid, net);
      throw new Error('bridge box0 is gone');
    };
    const before = new Set(fs.existsSync(containersDir()) ? fs.readdirSync(containersDir()) : []);
    await expect(startContainer(sys, runConfigFrom(['--name', 'cut', 'busybox', 'true']), quiet, undefined, { host })).rejects.toThrow('bridge box0 is gone');
    const init = sys.inits[0]!;
    if (init.child.exitCode === null && init.child.signalCode === null) await new Promise((r) => init.child.once('close', r));
    expect(init.log.slice(-3)).toEqual([`SYNC ${init.ops.findIndex((op) => op[0] === 'sync')} 2`, 'killed SIGKILL', 'signal SIGKILL']);
    const steps = asked(sys, host);
    expect(steps.slice(steps.indexOf(`network: plug into ${init.commandPid}`) - 1)).toEqual([
      `write freezer/box/box-<id>/cgroup.procs ${init.commandPid}`,
      `network: plug into ${init.commandPid}`, // fails
      `kill ${init.pid}, SIGKILL`, // box-init, and with it PID 1 (PR_SET_PDEATHSIG)
      'network: release <id> (unplug)',
      ...CGROUPS.map((c) => `rmdir ${c}/box/box-<id>`),
      ...CGROUPS.map((c) => `rmdir ${c}/box`),
    ]);
    expect(fs.readdirSync(containersDir()).filter((d) => !before.has(d))).toEqual([]);
    expect(nameClaimed('cut')).toBe(false);
  });

  it('without root: one line, and nothing asked of the machine', async () => {
    const { sys, host } = machine();
    sys.uid = 1000;
    await expect(startContainer(sys, runConfigFrom(['busybox', 'true']), quiet, undefined, { host }))
      .rejects.toThrow(/^box run needs root .*: run it with sudo$/);
    expect(sys.trace.events).toEqual([]);
    expect(sys.inits).toEqual([]);
  });
});

describe('on cgroup v2: the device rules are an eBPF program, attached to the container\'s cgroup', () => {
  it('box run --rm --memory 64m on a unified host: controllers handed down, the program loaded and attached with BPF_F_ALLOW_MULTI, its fd closed', async () => {
    const { sys, host } = machine(2);
    const running = await startContainer(sys, runConfigFrom(['--rm', '--memory', '64m', '--name', 'v2', 'busybox', 'true']), quiet, undefined, { host });
    const init = sys.inits[0]!;
    const cg = path.join(host.cgroupRoot, 'box', `box-${running.state.id.slice(0, 12)}`);
    init.exit(0);
    expect(await running.exited).toBe(0);
    const fd = [...sys.programs.keys()][0];
    const on = '+memory +cpu +pids +io +cpuset'; // hugetlb is offered, but handed down only for a hugepage limit
    expect(asked(sys, host).slice(4)).toEqual([
      `write cgroup.subtree_control ${on}`, // v2: a cgroup has only the controllers its parent hands down
      'mkdir box',
      `write box/cgroup.subtree_control ${on}`,
      'mkdir box/box-<id>',
      'write box/box-<id>/memory.max 67108864',
      expect.stringMatching(/^bpf BPF_PROG_LOAD, \{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=\d+, license="Apache-2.0", \.\.\.\}, 128$/),
      `bpf BPF_PROG_ATTACH, {target_fd="box/box-<id>", attach_bpf_fd=${fd}, attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI}, 32`,
      `close ${fd}`, // the attachment holds the program on
      `spawn box-init (fork + execve): pid ${init.pid}`,
      `box-init: fork = ${init.commandPid}`,
      `write box/box-<id>/cgroup.procs ${init.commandPid}`, // one hierarchy: one write
      `network: plug into ${init.commandPid}`,
      'sync: box has put the container in its cgroup',
      'network: release <id>',
      'rmdir box/box-<id>', // the program goes with it
      'rmdir box',
    ]);
    expect(sys.openFds.size).toBe(0);
    // What the kernel would hold: one program, on this container's cgroup, and what it answers.
    expect(sys.cgroupPrograms.map((p) => ({ dir: p.dir, allowMulti: p.allowMulti }))).toEqual([{ dir: cg, allowMulti: true }]);
    const prog = sys.cgroupPrograms[0]!.insns;
    expect(runDeviceProgram(prog, 'c', 1, 3, 'rw')).toBe(1); // /dev/null: opened
    expect(runDeviceProgram(prog, 'b', 8, 0, 'r')).toBe(0); // /dev/sda: refused (EPERM)
    expect(runDeviceProgram(prog, 'b', 8, 0, 'w')).toBe(0);
    expect(runDeviceProgram(prog, 'b', 8, 0, 'm')).toBe(1); // made, as Docker allows; opening it is what is refused
    expect(runDeviceProgram(prog, 'c', 10, 232, 'rw')).toBe(0); // /dev/kvm: not without --device
  });

  it('--device /dev/kvm adds its rule, from the numbers the Sys stats; a path that is no device fails in one line before anything is made', async () => {
    const { sys, host } = machine(2);
    const running = await startContainer(sys, runConfigFrom(['--rm', '--device', '/dev/kvm', 'busybox', 'true']), quiet, undefined, { host });
    sys.inits[0]!.exit(0);
    await running.exited;
    expect(runDeviceProgram(sys.cgroupPrograms[0]!.insns, 'c', 10, 232, 'rw')).toBe(1);
    expect(runDeviceProgram(sys.cgroupPrograms[0]!.insns, 'b', 8, 0, 'r')).toBe(0);

    const other = machine(2);
    const before = new Set(fs.readdirSync(containersDir()));
    await expect(startContainer(other.sys, runConfigFrom(['--device', '/dev/nope', 'busybox', 'true']), quiet, undefined, { host: other.host }))
      .rejects.toThrow(/^--device \/dev\/nope: no such device on this host$/);
    expect(other.sys.programs.size).toBe(0);
    expect(other.sys.inits).toEqual([]);
    expect(fs.readdirSync(containersDir()).filter((d) => !before.has(d))).toEqual([]);
    expect(fs.existsSync(path.join(other.host.cgroupRoot, 'box'))).toBe(false);
  });

  it('the kernel refuses the program (bpf EPERM, as inside a user namespace): the start goes on, the sandbox\'s own rules still hold', async () => {
    const { sys, host } = machine(2);
    sys.fail('bpf', 1 /* EPERM */);
    const running = await startContainer(sys, runConfigFrom(['--rm', 'busybox', 'true']), quiet, undefined, { host });
    sys.inits[0]!.exit(0);
    expect(await running.exited).toBe(0);
    expect(sys.cgroupPrograms).toEqual([]);
    expect(asked(sys, host).filter((s) => s.startsWith('bpf') || s.startsWith('close'))).toEqual([
      expect.stringMatching(/^bpf BPF_PROG_LOAD/), // refused: nothing to attach or close
    ]);
  });
});

describe('a --lab sandbox, started whole', () => {
  it('its loop device attached, a node of its own made with the loop\'s numbers, its cgroup delegated and mounted inside; box rm detaches the loop', async () => {
    const { sys, host } = machine();
    // applyLab adds /dev/kvm where the host has it: named here so that the test does not depend on it.
    const cfg = { ...runConfigFrom(['--lab', '--name', 'lab', 'busybox', 'sh']), devices: ['/dev/kvm'] };
    const running = await startContainer(sys, cfg, quiet, undefined, { host });
    const { id } = running.state;
    const init = sys.inits[0]!;
    const cdir = containerDir(id);
    const base = running.state.idRange!.base;
    const cgs = CGROUPS.map((c) => path.join(host.cgroupRoot, c, 'box', `box-${id.slice(0, 12)}`));

    // The disk: attached through the Sys over the sandbox's own image file.
    expect([...sys.attached]).toEqual([['/dev/loop0', path.join(cdir, 'lab-disk.img')]]);
    expect(running.state.config.devices).toEqual(['/dev/kvm', '/dev/loop0']);
    // Nodes of its own, with the numbers the Sys gave, owned by its root, in its 0700 directory.
    expect(sys.made.get(path.join(cdir, 'devices'))).toEqual({ kind: 'dir', mode: 0o700 });
    expect(sys.made.get(path.join(cdir, 'devices', 'kvm'))).toEqual({ kind: 'c', mode: 0o600, dev: [10, 232] });
    expect(sys.made.get(path.join(cdir, 'devices', 'loop0'))).toEqual({ kind: 'b', mode: 0o600, dev: [7, 0] });
    for (const n of ['devices', 'devices/kvm', 'devices/loop0']) expect(sys.owners.get(path.join(cdir, n))).toEqual([base, base]);
    // ...and those nodes, not the host's, bound into its /dev.
    const binds = init.ops.filter((op) => op[0] === 'mount' && (op[2]?.endsWith('/rootfs/dev/kvm') || op[2]?.endsWith('/rootfs/dev/loop0'))).map((op) => op[1]);
    expect(binds).toEqual([path.join(cdir, 'devices', 'kvm'), path.join(cdir, 'devices', 'loop0')]);
    // Delegation: each of its cgroup directories and the files that move processes are its root's; the limits stay root's.
    for (const cg of cgs) {
      for (const f of ['', 'cgroup.procs', 'tasks']) expect(sys.owners.get(path.join(cg, f))).toEqual([base, base]);
    }
    expect([...sys.owners.keys()].some((p) => p.endsWith('memory.limit_in_bytes'))).toBe(false);
    // Its cgroup directories appear inside as /sys/fs/cgroup/<hierarchy>, named by their mount points.
    const cgroupBinds = init.ops.filter((op) => op[0] === 'mount' && /\/rootfs\/sys\/fs\/cgroup\/[^/]+$/.test(op[2] ?? ''));
    expect(cgroupBinds.map((op) => [op[1], path.basename(op[2]!)])).toEqual(cgs.map((cg, i) => [cg, CGROUPS[i]]));
    // The stops a sandbox has: id maps, cgroup, and its leaf (nothing to do on v1).
    expect(init.ops.filter((op) => op[0] === 'sync').map((op) => Number(op[1]))).toEqual([SyncPoint.IdMap, SyncPoint.Cgroup, SyncPoint.Leaf]);

    init.exit(0);
    expect(await running.exited).toBe(0);
    expect(sys.attached.size).toBe(1); // kept with the container, for box start
    await removeContainer(readState(id)!, sys.trace, false, sys);
    expect(asked(sys, host).slice(-1)).toEqual(['detachLoop "/dev/loop0"']);
    expect(sys.attached.size).toBe(0);
    expect(fs.existsSync(cdir)).toBe(false);
  });
});

describe('a --lab sandbox on cgroup v2, started whole', () => {
  it('its cgroup delegated with a budget, the device program attached, the v2 hierarchy bound inside, and at the Leaf stop its processes moved to init/ and the controllers handed down', async () => {
    const { sys, host } = machine(2);
    const cfg = { ...runConfigFrom(['--rm', '--lab', '--name', 'lab2', 'busybox', 'sh']), devices: ['/dev/kvm'] };
    const running = await startContainer(sys, cfg, quiet, undefined, { host });
    const init = sys.inits[0]!;
    const base = running.state.idRange!.base;
    const cg = path.join(host.cgroupRoot, 'box', `box-${running.state.id.slice(0, 12)}`);
    expect(init.ops.filter((op) => op[0] === 'sync').map((op) => Number(op[1]))).toEqual([SyncPoint.IdMap, SyncPoint.Cgroup, SyncPoint.Leaf]);
    // The whole v2 hierarchy of its own appears as /sys/fs/cgroup inside.
    expect(init.ops.filter((op) => op[0] === 'mount' && (op[2] ?? '').endsWith('/rootfs/sys/fs/cgroup') && op[1] === cg)).toHaveLength(1);
    init.exit(0);
    expect(await running.exited).toBe(0);
    const steps = asked(sys, host);
    // What it asked of its cgroup after making it, in order (the removal apart).
    const cgroupSteps = steps.filter((s) => s.includes('box/box-<id>') && !/^(mkdir|rmdir) box/.test(s));
    expect(cgroupSteps).toEqual([
      expect.stringMatching(/^bpf BPF_PROG_ATTACH, \{target_fd="box\/box-<id>"/), // its device rules: the host's root attaches them
      ...['', '/cgroup.procs', '/tasks', '/cgroup.subtree_control', '/cgroup.threads'].map((f) => `lchown "box/box-<id>${f}", ${base}, ${base}`),
      'write box/box-<id>/cgroup.max.descendants 256', // a budget: every memory cgroup takes one of the kernel's 65,535 ids
      'write box/box-<id>/cgroup.max.depth 8',
      `write box/box-<id>/cgroup.procs ${init.pid}`, // IdMap: box-init joins while it has our credentials
      'mkdir "box/box-<id>/init", 0755', // Leaf: its processes into a leaf, so that the sandbox's cgroup may hand controllers down
      `write box/box-<id>/init/cgroup.procs ${init.pid}`,
      `write box/box-<id>/init/cgroup.procs ${init.commandPid}`,
      'write box/box-<id>/cgroup.subtree_control +memory +cpu +pids +io',
      ...['', '/cgroup.procs', '/cgroup.threads', '/cgroup.subtree_control'].map((f) => `lchown "box/box-<id>/init${f}", ${base}, ${base}`),
    ]);
    expect(sys.cgroupPrograms.map((p) => p.dir)).toEqual([cg]);
    expect(runDeviceProgram(sys.cgroupPrograms[0]!.insns, 'c', 10, 232, 'rw')).toBe(1); // its /dev/kvm
    expect(runDeviceProgram(sys.cgroupPrograms[0]!.insns, 'b', 7, 0, 'rw')).toBe(1); // its own loop device
    expect(runDeviceProgram(sys.cgroupPrograms[0]!.insns, 'b', 8, 0, 'r')).toBe(0); // not the host's disk
    expect(sys.attached.size).toBe(0); // --rm: the loop detached with it
  });
});

describe('the reaper, through the same seam', () => {
  it('a --rm container whose box was SIGKILLed: the next box kills its cgroup, releases its network, detaches its loop device, removes its files', async () => {
    const { sys, host } = machine();
    const running = await startContainer(sys, runConfigFrom(['--rm', '--name', 'orphan', 'busybox', 'sleep', '1000']), quiet, undefined, { host });
    const { id } = running.state;
    // A lab sandbox's loop device, attached and recorded as a lab start does (lab.ts).
    const cfg = withLabDisk(sys, runConfigFrom(['busybox']), containerDir(id));
    expect(cfg.devices).toEqual(['/dev/loop0']);
    // Its box dies: the state names a monitor that is no longer that process (pid reused, start time differs).
    updateState(id, { monitorStart: '0' });
    sys.trace.events.length = 0;

    reapStale(sys, host);
    const steps = asked(sys, host);
    expect(steps).toEqual([
      ...CGROUPS.map((c) => `rmdir ${c}/box/box-<id>`), // killed first (none left here), then removed
      ...CGROUPS.map((c) => `rmdir ${c}/box`),
      'network: release dead <id>', // its ports, veths, address and names
      'detachLoop "/dev/loop0"', // before its directory goes: the image file is the loop's backing
      'network: prune', // addresses and names no live container holds
    ]);
    expect(sys.attached.size).toBe(0);
    expect(fs.existsSync(containerDir(id))).toBe(false);
    expect(nameClaimed('orphan')).toBe(false);
  });
});
