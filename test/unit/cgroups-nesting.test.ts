// The budget of cgroups a delegated cgroup (a lab sandbox's) may make below it: on v2 the
// kernel's cgroup.max.descendants and cgroup.max.depth; v1 has no such files, and the driver
// says so. test/integration/lab-attacks.test.ts makes the cgroups from inside a real sandbox
// (and the qemu guest of cgroups-v2-vm.test.ts runs the lab tests on a v2-only kernel).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { fakeSys } from '../../runtime/src/sys/fake.ts';

const temps: string[] = [];
afterAll(() => { for (const t of temps) fs.rmSync(t, { recursive: true, force: true }); });

function host(files: Record<string, string>, mountinfo: string, procSelfCgroup: string) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-nest-'));
  temps.push(root);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  const sys = fakeSys();
  const driver = detectCgroups(sys, { root, mountinfo: mountinfo.replaceAll('ROOT', root), procSelfCgroup });
  return { root, sys, driver };
}

describe('limitNesting', () => {
  it('v2: writes cgroup.max.descendants and cgroup.max.depth of the cgroup', () => {
    const { root, sys, driver } = host({
      'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': 'cpu memory pids',
    }, '29 23 0:26 / ROOT rw shared:4 - cgroup2 cgroup2 rw\n', '0::/\n');
    const cg = driver.create('lab');
    sys.trace.events.length = 0;
    expect(cg.limitNesting(256, 8)).toBe(true);
    const writes = sys.trace.events.flatMap((e) => (e.kind === 'write' ? [[path.relative(root, e.path), e.value]] : []));
    expect(writes).toEqual([['box/lab/cgroup.max.descendants', '256'], ['box/lab/cgroup.max.depth', '8']]);
  });

  it('v1: has no such limit, writes nothing and says so', () => {
    const { sys, driver } = host({ 'memory/memory.limit_in_bytes': '' },
      '30 23 0:27 / ROOT/memory rw shared:5 - cgroup cgroup rw,memory\n', '5:memory:/\n');
    const cg = driver.create('lab');
    sys.trace.events.length = 0;
    expect(cg.limitNesting(256, 8)).toBe(false);
    expect(sys.trace.events.filter((e) => e.kind === 'write')).toEqual([]);
  });
});
