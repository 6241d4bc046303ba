// The kernel panel finds a sandbox's cgroups from the sandbox's own process (/proc/PID/cgroup),
// whoever made it: here a container made through a running `box engine`, whose cgroup sits
// under the engine's cgroup, not under this process's (the panel used to look only there and
// plotted nothing while an engine ran). Real engine, real cgroups.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { cgroupLayoutOfPid, readUsage, sandboxCgroupLayout } from '../../src/server/panel-stats.ts';
import { spawn } from 'node:child_process';
import { box, boxBin, inspect, rootReason, tempBoxRoot } from './helpers.ts';
import { removeEngineCgroups, startEngineInOwnCgroup } from '../support/engine-cgroup.ts';

needs(rootReason).describe('the panel finds cgroups from a process, with an engine running', () => {
  let root: string;
  // The engine starts in a cgroup of its own (as one started by systemd or another shell is),
  // so the containers it makes are not under this process's cgroup.
  const engineGroups: string[] = [];
  beforeAll(() => {
    root = tempBoxRoot('panel-engine');
    const r = startEngineInOwnCgroup(boxBin, root, `isolab-engine-test-${process.pid}`);
    engineGroups.push(...r.groups);
    expect(r.status, r.stderr).toBe(0);
  });
  afterAll(async () => {
    box(root, ['rm', '-f', 'hog']);
    expect(box(root, ['engine', 'stop']).code).toBe(0);
    fs.rmSync(root, { recursive: true, force: true });
    await removeEngineCgroups(engineGroups);
  });

  it("reads the memory of a container the engine made, under the engine's cgroup", async () => {
    // 24 MB held in memory by dd's buffer while sleep never reads it. In the foreground, as a
    // reader's terminal runs it: the client relays, the engine makes the container.
    const client = spawn(boxBin, ['run', '--rm', '--name', 'hog', '--memory', '64m', 'busybox', 'sh', '-c', 'dd if=/dev/zero bs=24M count=1 2>/dev/null | sleep 1000'],
      { env: { ...process.env, BOX_ROOT: root }, stdio: 'ignore' });
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      pid = (inspect(root, 'hog')?.State?.Pid as number | undefined) ?? 0;
      if (!pid) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pid).toBeGreaterThan(0);
    expect(box(root, ['engine', 'status']).stdout).toMatch(/1 running/); // the engine made it
    client.on('error', () => {});
    const layout = cgroupLayoutOfPid(pid);
    expect(layout).not.toBeNull();
    const memDir = layout!.dirs.memory!;
    // The directory is the container's own cgroup: its process is in it, and its limit is 64 MiB.
    expect(fs.readFileSync(path.join(memDir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    const limitFile = layout!.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    expect(fs.readFileSync(path.join(memDir, limitFile), 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    // ...under the engine's cgroup, where looking from this process by name (the old way) fails.
    expect(memDir.startsWith(engineGroups.find((d) => /memory|^\/sys\/fs\/cgroup\/isolab/.test(d))! + '/')).toBe(true);
    const cgroupName = (inspect(root, 'hog').Cgroup as string | undefined) ?? '';
    expect(cgroupName).toMatch(/^box-[0-9a-f]{12}$/);
    const byName = cgroupName ? sandboxCgroupLayout(cgroupName) : null;
    expect(byName?.dirs.memory).not.toBe(memDir);
    // The panel's reader sees the hog's memory there.
    let used = 0;
    for (let i = 0; i < 50 && used < 20e6; i++) {
      used = readUsage(layout!, '').memory ?? 0;
      if (used < 20e6) await new Promise((r) => setTimeout(r, 200));
    }
    expect(used).toBeGreaterThan(20e6);
  }, 120_000);
});
