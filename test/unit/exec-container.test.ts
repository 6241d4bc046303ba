// `execInContainer` whole, without root: a container started by startContainer with the same
// fakes (test/support/fake-sys.ts, fake-host.ts), then `box exec` into it. Asserted: the new
// box-init stops first and box puts it in the container's cgroup, it joins exactly the
// namespaces the container does not share with us (read from the state's links), forks into
// its PID namespace, and its exit status is the exec's. test/integration/exec-output.test.ts
// and runtime.test.ts run the same for real, as root.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execInContainer } from '../../runtime/src/container/exec.ts';
import { startContainer } from '../../runtime/src/container/run.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { SyncPoint } from '../../runtime/src/init/sync-point.ts';
import { fakeSys } from '../support/fake-sys.ts';
import { fakeHost } from '../support/fake-host.ts';

let dir: string;
const saved = process.env.BOX_ROOT;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-exec-'));
  process.env.BOX_ROOT = path.join(dir, 'root');
});
afterAll(() => {
  if (saved === undefined) delete process.env.BOX_ROOT;
  else process.env.BOX_ROOT = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

const quiet = ['ignore', 'ignore', 'ignore'] as ('ignore')[];
const CGROUPS = ['memory', 'cpu,cpuacct', 'pids', 'freezer'];

/** A running container `name` on a fresh fake machine. */
async function running(name: string, flags: string[] = []) {
  const sys = fakeSys({ '/proc/self/uid_map': '         0          0 4294967295\n' });
  const host = fakeHost(sys, fs.mkdtempSync(path.join(dir, 'host-')));
  const run = await startContainer(sys, runConfigFrom(['-d', '--name', name, ...flags, 'busybox', 'sleep', '1000']), 'log', undefined, { host });
  return { sys, host, run, container: sys.inits[0]! };
}

describe('execInContainer, run whole against a fake Sys and Host', () => {
  it('box exec web ps: into the cgroup at the first stop, then every namespace the container does not share (mnt last), a fork into its PID namespace', async () => {
    const { sys, host, run, container } = await running('web');
    const mark = sys.trace.events.length;
    const exec = await execInContainer(sys, 'web', ['ps'], { interactive: false, tty: false, env: ['X=1'], stdio: quiet }, host);
    const init = sys.inits[1]!;

    expect(init.ops[0]).toEqual(['sync', String(SyncPoint.JoinCgroup)]);
    // The container unshared mnt, pid, net, ipc, uts and cgroup; it shares our user and time namespaces: those are not joined.
    expect(init.ops.filter((op) => op[0] === 'setns').map((op) => op[1])).toEqual(
      ['ipc', 'uts', 'net', 'cgroup', 'pid', 'mnt'].map((ns) => `/proc/${container.commandPid}/ns/${ns}`));
    expect(init.ops.map((op) => op[0]).filter((op) => ['rootfd', 'enterroot', 'fork'].includes(op))).toEqual(['rootfd', 'enterroot', 'fork']);
    expect(init.ops.at(-1)).toEqual(['exec', 'ps', 'ps']);
    expect(init.ops.filter((op) => op[0] === 'env').map((op) => op[1])).toContain('X=1');

    // What box did for it: spawn, and at the stop, box-init (not yet forked) into each of the container's cgroup directories.
    const rel = (p: string) => p.replaceAll(`${host.cgroupRoot}/`, '').replace(/box-[0-9a-f]{12}/, 'box-<id>');
    expect(sys.trace.events.slice(mark).flatMap((e) => e.who === 'init' ? (e.kind === 'note' ? [e.text] : [])
      : e.kind === 'write' ? [`write ${rel(e.path)} ${e.value}`] : e.kind === 'syscall' ? [`${e.call} ${e.args}`] : e.kind === 'note' ? [e.text] : [])).toEqual([
      `spawn box-init (fork + execve): pid ${init.pid}`,
      ...CGROUPS.map((c) => `write ${c}/box/box-<id>/cgroup.procs ${init.pid}`),
      "sync: box puts us in the container's cgroup",
    ]);
    expect(exec.running.state.pid).toBe(init.commandPid); // the forked child, inside the container's PID namespace

    init.exit(7);
    expect(await exec.exited).toBe(7);
    container.exit(0);
    expect(await run.exited).toBe(0);
  });

  it('a container that shares our PID namespace (--ns without pid): no fork, the command is box-init\'s own process', async () => {
    const { sys, host, run, container } = await running('nopid', ['--ns', 'mnt,uts']);
    const exec = await execInContainer(sys, 'nopid', ['true'], { interactive: false, tty: false, env: [], stdio: quiet }, host);
    const init = sys.inits[1]!;
    expect(init.ops.filter((op) => op[0] === 'setns').map((op) => op[1].split('/').pop())).toEqual(['uts', 'mnt']);
    expect(init.ops.map((op) => op[0])).not.toContain('fork');
    expect(exec.running.state.pid).toBe(init.pid);
    init.exit(0);
    expect(await exec.exited).toBe(0);
    container.exit(0);
    await run.exited;
  });

  it('a container whose process is gone: one line naming it, and no box-init started', async () => {
    const { sys, host, run, container } = await running('gone');
    sys.live.delete(container.commandPid); // PID 1 died; its box has not recorded the exit yet
    await expect(execInContainer(sys, 'gone', ['ps'], { interactive: false, tty: false, env: [] }, host))
      .rejects.toThrow(/^container 'gone' is not running; start a new one with box run$/);
    expect(sys.inits).toHaveLength(1); // only the container's own
    container.exit(0);
    await run.exited;
  });
});
