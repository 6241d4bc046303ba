// End to end, the cgroup lessons and the security lesson as a reader meets them: the real lab
// server, the real site in headless Chromium, one real `box --lab` sandbox per lesson. The main
// demo of each from its Run buttons, read back from the xterm.js buffer; each exercise checked
// before it is done (fail, with its hint) and after it is done by typing the task (pass).
// The lessons' main path is cgroup v1 (the lab host's); on a v2 host the typed commands and the
// files read are v2's.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsMissing } from './harness.ts';
import { PROMPT, T, startLessonLab } from './lesson-page.ts';
import type { LessonLab } from './lesson-page.ts';
import { untilAboveZero } from './lesson-steps.ts';
import { needs } from '../support/requires.ts';

const missing = await browserTestsMissing();

/** The sandbox sees the host's cgroup version. */
const V2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
/** A controller's directory for cgroup NAME (relative to the sandbox's own cgroup). */
const cgdir = (controller: string, name: string) => (V2 ? `/sys/fs/cgroup/${name}` : `/sys/fs/cgroup/${controller}/${name}`);
const CG = `cg() { box inspect $1 | grep -o '"Cgroup": *"[^"]*"' | grep -o 'box-[0-9a-f]*'; }`;

let lab: LessonLab;
const open = (slug: string) => lab.open(`en/${slug}`);

needs(missing).describe('the cgroup and security lessons in a browser', () => {
  beforeAll(async () => {
    lab = await startLessonLab('cg');
  }, 600_000);

  afterAll(async () => {
    if (lab) expect(await lab.stop()).toBe(0);
  }, T);

  it('cgroups, memory: a hog over its limit exits 137 with the OOM message; three exercises', async () => {
    const p = await open('cgroups-memory');
    const oom = await p.run('box run --rm --memory 32m busybox dd if=/dev/zero of=/dev/null bs=64M count=1', /OOM killer[^\n]*\n[\s\S]*[#$] *$/);
    expect(oom).toMatch(/killed by the kernel's OOM killer: it ran out of memory \(limit of 32 MiB\); exit code 137/);
    expect(await p.run('echo $?', /echo \$\?\n\d+\n/)).toMatch(/\n137\n/);

    await p.expectFail('capped', '--memory');
    await p.typeAll('box run -d --name capped --memory 48m busybox sleep 1000');
    await p.expectPass('capped');

    await p.expectFail('oomed', 'oom_control');
    const oomed = cgdir('memory', 'oomed');
    await p.typeAll(`mkdir ${oomed}`, V2 ? `echo 32M > ${oomed}/memory.max` : `echo 32M > ${oomed}/memory.limit_in_bytes`);
    if (V2) await p.type(`echo 0 > ${oomed}/memory.swap.max`);
    const hog = await p.type(`sh -c 'echo $$ > ${oomed}/cgroup.procs; dd if=/dev/zero of=/dev/null bs=64M count=1'`);
    expect(hog.status, hog.out).toBe(137); // SIGKILL from the OOM killer
    await p.expectPass('oomed');

    await p.expectFail('pagecache', 'page cache');
    const writer = cgdir('memory', 'writer');
    await p.typeAll(`mkdir ${writer}`, V2 ? `echo 32M > ${writer}/memory.max` : `echo 32M > ${writer}/memory.limit_in_bytes`,
      `sh -c 'echo $$ > ${writer}/cgroup.procs; dd if=/dev/zero of=/root/cached.bin bs=1M count=100'`);
    await p.expectPass('pagecache');
  }, 6 * T);

  it('cgroups, CPU: a busy loop under a quota is throttled (nr_throttled above zero); two exercises', async () => {
    const p = await open('cgroups-cpu');
    await p.run("box run -d --name spinner --cpus 0.2 busybox sh -c 'while :; do :; done'", /\n[0-9a-f]{64}\n/);
    await p.run(CG, PROMPT);
    const stat = 'cat /sys/fs/cgroup/cpu/box/$(cg spinner)/cpu.stat';
    const throttled = await untilAboveZero(p,
      async () => (V2 ? (await p.type('cat /sys/fs/cgroup/box/$(cg spinner)/cpu.stat')).out : p.run(stat, /nr_throttled \d+/)),
      /nr_throttled (\d+)/);
    expect(throttled).toBeGreaterThan(0);

    await p.expectFail('quarter', 'nr_throttled');
    await p.typeAll("box run -d --name slow --cpus 0.25 busybox sh -c 'while :; do :; done'");
    await p.expectPass('quarter');

    await p.expectFail('gold-bronze', 'cpu.shares');
    await p.typeAll(
      "box run -d --name gold busybox taskset -c 0 sh -c 'while :; do :; done'",
      "box run -d --name bronze busybox taskset -c 0 sh -c 'while :; do :; done'",
      V2 ? 'echo 300 > /sys/fs/cgroup/box/$(cg gold)/cpu.weight' : 'echo 3072 > /sys/fs/cgroup/cpu/box/$(cg gold)/cpu.shares',
    );
    await p.expectPass('gold-bronze');
    await p.typeAll('box rm -f spinner slow gold bronze'); // give the CPU back
  }, 6 * T);

  it('cgroups, pids, io, devices: a fork bomb held at 20, dd throttled on the loop device, mknod refused', async () => {
    const p = await open('cgroups-pids-io-devices');
    await p.run(CG, PROMPT);
    await p.runStarting('box run -d --name bomber --pids-limit 20', /\n[0-9a-f]{64}\n/);
    const refused = await untilAboveZero(p,
      async () => (V2 ? (await p.type('cat /sys/fs/cgroup/box/$(cg bomber)/pids.events')).out
        : p.run('cat /sys/fs/cgroup/pids/box/$(cg bomber)/pids.events', /\nmax \d+\n/)),
      /\nmax (\d+)\n/);
    expect(refused).toBeGreaterThan(0); // forks refused: the bomb is held
    const current = V2 ? (await p.type('cat /sys/fs/cgroup/box/$(cg bomber)/pids.current')).out
      : await p.run('cat /sys/fs/cgroup/pids/box/$(cg bomber)/pids.current', /\n\d+\n/);
    expect(Number(/\n(\d+)\n/.exec(current)![1])).toBeLessThanOrEqual(20);
    await p.run('box rm -f bomber', PROMPT);

    // The sandbox's own loop device, and a write limit on it.
    expect(await p.run('ls -l /dev/loop*', /\nb[^\n]* 7, +\d+ [^\n]*\/dev\/loop\d+\n/)).toMatch(/\/dev\/loop\d+/);
    await p.run('export LOOP=$(ls /dev/loop[0-9]*)', PROMPT);
    await p.run('DISK=$(cat /sys/block/${LOOP#/dev/}/dev)', PROMPT);
    await p.run('echo $LOOP $DISK', /\n\/dev\/loop\d+ 7:\d+\n/);
    let slow: string;
    if (V2) {
      await p.typeAll('mkdir /sys/fs/cgroup/slowio', 'echo "$DISK wbps=1048576" > /sys/fs/cgroup/slowio/io.max');
      slow = (await p.type("sh -c 'echo $$ > /sys/fs/cgroup/slowio/cgroup.procs; dd if=/dev/zero of=$LOOP bs=1M count=4 oflag=direct'")).out;
    } else {
      await p.run('mkdir /sys/fs/cgroup/blkio/slowio', PROMPT);
      await p.run('echo "$DISK 1048576" > /sys/fs/cgroup/blkio/slowio/blkio.throttle.write_bps_device', PROMPT);
      slow = await p.run("sh -c 'echo $$ > /sys/fs/cgroup/blkio/slowio/cgroup.procs; dd if=/dev/zero of=$LOOP bs=1M count=4 oflag=direct'", /copied, [\d.]+ s/);
    }
    // 4 MB at 1 MB/s: about four seconds (a slow machine only makes it longer).
    expect(Number(/copied, ([\d.]+) s/.exec(slow)![1])).toBeGreaterThanOrEqual(2.5);
    const fast = await p.type('dd if=/dev/zero of=$LOOP bs=1M count=4 oflag=direct');
    console.log(`loop device: 4 MB in the 1 MB/s cgroup: ${/copied, [^\n]*/.exec(slow)![0]}; outside: ${/copied, [^\n]*/.exec(fast.out)?.[0]}`);

    expect(await p.run('box run --rm busybox mknod /tmp/disk b 254 0', /mknod: [^\n]*\n/)).toContain('Operation not permitted');

    await p.expectFail('limited', '--pids-limit');
    await p.typeAll('box run -d --name limited --pids-limit 10 busybox sleep 1000');
    await p.type("box exec limited sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 100 & done'"); // the last forks fail
    await p.expectPass('limited');

    await p.expectFail('throttled', 'oflag=direct');
    const t = cgdir('blkio', 'throttled');
    await p.typeAll(`mkdir ${t}`, V2 ? `echo "$DISK wbps=2097152" > ${t}/io.max` : `echo "$DISK 2097152" > ${t}/blkio.throttle.write_bps_device`,
      `sh -c 'echo $$ > ${t}/cgroup.procs; dd if=/dev/zero of=$LOOP bs=1M count=2 oflag=direct'`);
    await p.expectPass('throttled');
  }, 6 * T);

  it('capabilities and seccomp: a system call refused by the default filter, allowed unconfined; two exercises', async () => {
    const p = await open('capabilities-seccomp');
    expect(await p.run('box run --rm busybox unshare -U id', /unshare: [^\n]*\n/)).toMatch(/unshare\([^)]*\): Operation not permitted/);
    expect(await p.run('box run --rm --security-opt seccomp=unconfined busybox unshare -U id', /\nuid=\d+[^\n]*\n/)).toMatch(/\nuid=65534\(nobody\)/);
    expect(await p.run('box run --rm --cap-drop CHOWN busybox sh -c \'touch /tmp/f && chown 1000 /tmp/f\'', /chown: [^\n]*\n/))
      .toContain('Operation not permitted');

    await p.expectFail('pingless', 'CAP_NET_RAW');
    await p.typeAll('box run -d --name pingless --cap-drop NET_RAW busybox sleep 1000');
    await p.expectPass('pingless');

    await p.expectFail('nested-root', 'seccomp=unconfined');
    await p.typeAll('box run -d --name nested --security-opt seccomp=unconfined busybox unshare -Ur sleep 1000');
    await p.expectPass('nested-root');
  }, 6 * T);
});
