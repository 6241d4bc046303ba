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
import { startContainer } from '../../runtime/src/container/run.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { containerDir, containersDir, nameClaimed, readState, updateState } from '../../runtime/src/container/state.ts';
import { SyncPoint } from '../../runtime/src/init/sync-point.ts';
import { fakeSys, type FakeSys } from '../support/fake-sys.ts';
import { fakeHost, type FakeHost } from '../support/fake-host.ts';

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
function machine(): { sys: FakeSys; host: FakeHost } {
  const sys = fakeSys({ '/proc/self/uid_map': '         0          0 4294967295\n' });
  const host = fakeHost(sys, fs.mkdtempSync(path.join(dir, 'host-')));
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
