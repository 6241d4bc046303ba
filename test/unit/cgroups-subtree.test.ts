// A cgroup below box's own directory (DetectOptions.sub, `box run --cgroup-parent`): a cluster
// node's pods sit in box/cluster-<id>/node-1/<pod container>, so that node-1's limits hold for
// all of them. On v2 every level on the way hands the controllers down; on v1 every level
// gets its cpuset; removing the last pod leaves the node's directory (and its limits).
// test/integration/cluster-nodes.test.ts makes the same tree on the real kernel (v1).

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups } from '../../runtime/src/cgroups/index.ts';
import { fakeSys, type FakeSys } from '../support/fake-sys.ts';
import { dirOps, temporaryTrees, writes } from '../support/cgroup-tree.ts';

const tree = temporaryTrees('boxtest-cgsub-');

describe('cgroups below a sub-path (a cluster node)', () => {
  it('v2: each level on the way hands memory, cpu and pids down; the pod cgroup is made last; its removal keeps the node', () => {
    const root = tree({ 'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': '' });
    const sys = fakeSys();
    const opts = { root, mountinfo: `29 23 0:26 / ${root} rw shared:4 - cgroup2 cgroup2 rw\n`, procSelfCgroup: '0::/\n' };
    const node = detectCgroups(sys, { ...opts, sub: 'cluster-ab12' }).create('node-1');
    node.setLimits({ memoryBytes: 1 << 30, cpuQuotaUs: 200_000 });
    const pod = detectCgroups(sys, { ...opts, sub: 'cluster-ab12/node-1' }).create('box-0123');
    expect(pod.paths).toEqual([path.join(root, 'box/cluster-ab12/node-1/box-0123')]);
    expect(dirOps(sys, root)).toEqual(['mkdir box', 'mkdir box/cluster-ab12', 'mkdir box/cluster-ab12/node-1', 'mkdir box/cluster-ab12/node-1/box-0123']);
    const subtree = writes(sys, root).filter(([f]) => f.endsWith('cgroup.subtree_control')).map(([f, v]) => `${path.dirname(f)}: ${v}`);
    expect(subtree).toEqual(expect.arrayContaining(['.: +memory +cpu +pids', 'box: +memory +cpu +pids', 'box/cluster-ab12: +memory +cpu +pids', 'box/cluster-ab12/node-1: +memory +cpu +pids']));
    expect(writes(sys, root)).toEqual(expect.arrayContaining([['box/cluster-ab12/node-1/memory.max', String(1 << 30)], ['box/cluster-ab12/node-1/cpu.max', '200000 100000']]));
    sys.trace.events.length = 0;
    pod.destroy();
    expect(dirOps(sys, root)).toEqual(['rmdir box/cluster-ab12/node-1/box-0123']);
    expect(fs.existsSync(path.join(root, 'box/cluster-ab12/node-1'))).toBe(true);
  });

  it('v1: one directory per hierarchy at every level, each cpuset filled from above; the node stays', () => {
    const root = tree({ 'cpuset/cpuset.cpus': '0-1\n', 'cpuset/cpuset.mems': '0\n', 'memory/memory.limit_in_bytes': '' });
    const sys = fakeSys();
    const mountinfo = [
      `30 23 0:27 / ${root}/memory rw shared:5 - cgroup cgroup rw,memory`,
      `31 23 0:28 / ${root}/cpuset rw shared:6 - cgroup cgroup rw,cpuset`, ''].join('\n');
    const opts = { root, mountinfo, procSelfCgroup: '5:memory:/job\n3:cpuset:/\n' };
    fs.mkdirSync(path.join(root, 'memory/job'));
    const pod = detectCgroups(sys, { ...opts, sub: 'cluster-ab12/node-1' }).create('box-0123');
    expect(pod.paths).toEqual([path.join(root, 'memory/job/box/cluster-ab12/node-1/box-0123'), path.join(root, 'cpuset/box/cluster-ab12/node-1/box-0123')]);
    const cpusets = writes(sys, root).filter(([f]) => f.endsWith('cpuset.cpus')).map(([f]) => path.dirname(f));
    expect(cpusets).toEqual(['cpuset/box', 'cpuset/box/cluster-ab12', 'cpuset/box/cluster-ab12/node-1', 'cpuset/box/cluster-ab12/node-1/box-0123']);
    pod.destroy();
    expect(fs.existsSync(path.join(root, 'memory/job/box/cluster-ab12/node-1'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'memory/job/box/cluster-ab12/node-1/box-0123'))).toBe(false);
  });

  it('refuses a sub-path that climbs out or is absolute, naming the flag', () => {
    const root = tree({ 'cgroup.controllers': 'cpu memory pids' });
    const opts = { root, mountinfo: `29 23 0:26 / ${root} rw shared:4 - cgroup2 cgroup2 rw\n`, procSelfCgroup: '0::/\n' };
    for (const sub of ['../x', '/abs', 'a//b', 'a/../../b']) {
      expect(() => detectCgroups(fakeSys(), { ...opts, sub })).toThrow(/--cgroup-parent: '.*' is not a relative cgroup path/);
    }
  });
});
