// The cgroup drivers on the real kernel (needs root). The limit tests run against whatever
// this machine has (cgroup v1 on the lab host, v2 on most others) and assert what a lesson
// shows: the limit read back, a hog OOM-killed and counted, a fork bomb stopped by pids.max,
// a busy loop throttled by its quota, nothing left behind. The v2 process-handling tests use
// the cgroup2 mount even where it has no controllers (the lab host's /sys/fs/cgroup/unified).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups, type Cgroup, type CgroupDriver } from '../../runtime/src/cgroups/index.ts';
import { V2_CONTROLLERS } from '../../runtime/src/cgroups/v2.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';
import { realSys, type Sys } from '../../runtime/src/sys/sys.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';
import { hostFact, need, needs } from '../support/requires.ts';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const rootReason = isRoot ? '' : 'needs root (run as root, as CI does)';

const sys: Sys | null = isRoot ? realSys(new Trace()) : null;
const reasons = new Map<1 | 2 | undefined, string>();
function tryDetect(version?: 1 | 2): CgroupDriver | null {
  if (!sys) return null;
  try {
    return detectCgroups(sys, { version });
  } catch (err) {
    reasons.set(version, `no cgroup v${version ?? '1/2'} driver here: ${(err as Error).message}`);
    return null;
  }
}
const driver = tryDetect();
const v2 = tryDetect(2);
const driverReason = need(rootReason, reasons.get(undefined));
const v2Reason = need(rootReason, reasons.get(2));

const made: Cgroup[] = [];
const children: ChildProcess[] = [];
let seq = 0;
function create(d: CgroupDriver): Cgroup {
  const cg = d.create(`boxtest-${process.pid}-${++seq}`);
  made.push(cg);
  return cg;
}
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const cg of made) {
    try {
      cg.killAll();
      cg.destroy();
    } catch (err) {
      console.warn(`cleanup of ${cg.name}: ${(err as Error).message}`);
    }
  }
});

/**
 * A shell that waits for a line on stdin and then execs `command`: the test moves it into
 * the cgroup first, so everything the command does is charged there.
 */
function gated(command: string) {
  const child = spawn('sh', ['-c', `read go; exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, pid: child.pid!, go: () => child.stdin!.write('go\n'), exited, stderr: () => stderr };
}

/** Poll `probe` until it returns a value that is not undefined, or fail after `ms`. */
async function until<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The file a limit lives in, by version, for reading it back as the kernel stores it. */
const limitFile = (cg: Cgroup, v1: [string, string], v2name: string) =>
  cg.version === 2 ? path.join(cg.paths[0]!, v2name) : path.join(cg.paths.find((p) => p.split('/').some((part) => part.split(',').includes(v1[0])))!, v1[1]);

needs(driverReason).describe(`limits on the real kernel (${driver?.describe() ?? 'no cgroups'})`, () => {
  const d = driver!;

  it('says which version it drives', () => {
    expect(d.describe()).toMatch(/^cgroup v[12] /);
    expect(d.available()).toEqual(expect.arrayContaining(['memory', 'cpu', 'pids']));
  });

  it('sets a memory limit and reads it back from the kernel', () => {
    const cg = create(d);
    cg.setLimits({ memoryBytes: 64 * MiB });
    expect(fs.readFileSync(limitFile(cg, ['memory', 'memory.limit_in_bytes'], 'memory.max'), 'utf8').trim()).toBe(String(64 * MiB));
    expect(cg.stats().memoryMax).toBe(64 * MiB);
    expect(sys!.trace.text()).toMatch(new RegExp(`${cg.version === 2 ? 'memory\\.max' : 'memory\\.limit_in_bytes'} <- "67108864"`));
  });

  it('writes the CPU and pids limits in the files and units of its version', () => {
    const cg = create(d);
    cg.setLimits({ cpuQuotaUs: 20_000, cpuPeriodUs: 100_000, cpuWeight: 200, pidsMax: 20 });
    const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
    if (cg.version === 2) {
      const dir = cg.paths[0]!;
      expect([read(`${dir}/cpu.max`), read(`${dir}/cpu.weight`), read(`${dir}/pids.max`)]).toEqual(['20000 100000', '200', '20']);
    } else {
      const cpu = limitFile(cg, ['cpu', ''], '');
      expect([read(`${cpu}/cpu.cfs_quota_us`), read(`${cpu}/cpu.cfs_period_us`), read(`${cpu}/cpu.shares`)]).toEqual(['20000', '100000', '2048']);
      expect(read(limitFile(cg, ['pids', 'pids.max'], ''))).toBe('20');
    }
    expect(cg.stats().pidsMax).toBe(20);
  });

  it('turns swap off for the cgroup where the kernel accounts swap', () => {
    const cg = create(d);
    cg.setLimits({ memoryBytes: 64 * MiB });
    const swapFile = limitFile(cg, ['memory', 'memory.memsw.limit_in_bytes'], 'memory.swap.max');
    if (!fs.existsSync(swapFile)) return console.warn(`no swap accounting here (${swapFile} is absent): nothing to turn off`);
    expect(fs.readFileSync(swapFile, 'utf8').trim()).toBe(cg.version === 2 ? '0' : String(64 * MiB));
  });

  it('puts a real process in the cgroup: the kernel lists it there and /proc says so', async () => {
    const cg = create(d);
    const p = gated('sleep 100');
    cg.addProcess(p.pid);
    expect(cg.pids()).toEqual([p.pid]);
    const own = fs.readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
    expect(own).toContain(`/box/${cg.name}\n`);
    cg.killAll();
    expect(cg.pids()).toEqual([]);
    expect((await p.exited).signal).toBe('SIGKILL');
  });

  it('a memory hog inside a 32m limit is OOM-killed and oomKills counts 1', async () => {
    const cg = create(d);
    cg.setLimits({ memoryBytes: 32 * MiB });
    expect(cg.stats().oomKills).toBe(0);
    // dd fills a 64 MiB buffer from /dev/zero: every page it touches is charged to the cgroup.
    const hog = gated('dd if=/dev/zero of=/dev/null bs=64M count=1');
    cg.addProcess(hog.pid);
    hog.go();
    const { signal } = await hog.exited;
    expect(signal).toBe('SIGKILL');
    const s = cg.stats();
    expect(s.oomKills).toBe(1);
    expect(s.memoryPeak).toBeGreaterThan(30 * MiB);
    expect(s.memoryPeak).toBeLessThanOrEqual(32 * MiB);
  });

  it('a pids limit of 10 stops a fork bomb: forks fail and pids.current never passes 10', async () => {
    const cg = create(d);
    cg.setLimits({ pidsMax: 10 });
    // The classic bomb: each f starts two more in the background, forever.
    const bomb = gated(`sh -c 'f() { f | f & }; f; sleep 2'`);
    cg.addProcess(bomb.pid);
    bomb.go();
    const pidsEvents = path.join(cg.paths.find((p) => cg.version === 2 || p.includes('/pids'))!, 'pids.events');
    let highest = 0;
    const refused = await until('the kernel to refuse a fork', () => {
      highest = Math.max(highest, cg.stats().pidsCurrent ?? 0);
      const max = Number(/max (\d+)/.exec(fs.readFileSync(pidsEvents, 'utf8'))?.[1] ?? 0);
      return max > 0 ? max : undefined;
    });
    // Keep watching while the bomb keeps trying.
    for (let i = 0; i < 50; i++) {
      highest = Math.max(highest, cg.stats().pidsCurrent ?? 0);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(refused).toBeGreaterThan(0);
    await until('the shell to report a failed fork', () => (/Cannot fork|Resource temporarily unavailable/.test(bomb.stderr()) ? true : undefined));
    expect(highest).toBeGreaterThan(1);
    expect(highest).toBeLessThanOrEqual(10);
    expect(cg.stats().pidsMax).toBe(10);
    cg.killAll();
    expect(cg.pids()).toEqual([]);
    // pids.current counts a killed process until its parent reaps it (here: init, and us).
    await until('the killed bomb to be reaped', () => (cg.stats().pidsCurrent === 0 ? true : undefined));
  });

  it('a CPU quota of 0.2 throttles a busy loop (from the cgroup’s own cpu.stat)', async () => {
    const cg = create(d);
    cg.setLimits({ cpuQuotaUs: 20_000, cpuPeriodUs: 100_000 });
    const busy = gated(`sh -c 'while :; do :; done'`);
    cg.addProcess(busy.pid);
    busy.go();
    const start = cg.stats();
    const t0 = performance.now();
    // Wait for 10 periods (1 s of wall time) to pass with the loop runnable.
    const end = await until('10 CFS periods', () => {
      const s = cg.stats();
      return (s.nrPeriods ?? 0) >= (start.nrPeriods ?? 0) + 10 ? s : undefined;
    });
    const wallUs = (performance.now() - t0) * 1000;
    expect(end.nrThrottled).toBeGreaterThan(0);
    expect(end.throttledUsec).toBeGreaterThan(0);
    const share = (end.cpuUsageUsec! - start.cpuUsageUsec!) / wallUs;
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.35); // unthrottled, a busy loop would use a whole CPU (1.0)
    cg.killAll();
  });

  it('killAll and destroy leave nothing behind', async () => {
    const cg = create(d);
    const procs = gated(`sh -c 'sleep 100 & sleep 100 & sleep 100 & wait'`);
    cg.addProcess(procs.pid);
    procs.go();
    await until('four processes', () => (cg.pids().length === 4 ? true : undefined));
    const pids = cg.pids();
    cg.killAll();
    expect(cg.pids()).toEqual([]);
    // A killed process leaves cgroup.procs as it exits; its zombie lasts until its parent
    // reaps it (the sleeps' parent died too, so init does).
    await until('every killed process to be reaped', () => (pids.every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined));
    cg.destroy();
    for (const p of cg.paths) expect(fs.existsSync(p)).toBe(false);
    expect(d.list()).not.toContain(cg.name);
    expect(d.open(cg.name)).toBeNull();
    cg.destroy(); // twice is fine
  });

  it('kills and removes cgroups the container made inside its own (as box run inside a sandbox does)', async () => {
    const cg = create(d);
    // Make a child cgroup in every hierarchy, as a nested box would, and put a process in it.
    const inner = cg.paths.map((p) => path.join(p, 'inner'));
    for (const dir of inner) {
      fs.mkdirSync(dir);
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (fs.existsSync(path.join(dir, f))) fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(path.dirname(dir), f)));
      }
    }
    const p = gated('sleep 100');
    for (const dir of inner) fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(p.pid));
    expect(cg.pids()).toEqual([p.pid]);
    cg.killAll();
    expect(cg.pids()).toEqual([]);
    expect((await p.exited).signal).toBe('SIGKILL');
    cg.destroy();
    for (const dir of [...inner, ...cg.paths]) expect(fs.existsSync(dir)).toBe(false);
  });

  it('refuses to create a cgroup that exists, in one line', () => {
    const cg = create(d);
    expect(() => d.create(cg.name)).toThrow(UserError);
    expect(() => d.create(cg.name)).toThrow(/already exists: a container named/);
  });
});

needs(v2Reason).describe(`the cgroup v2 driver's process handling, for real (${v2?.describe() ?? 'no cgroup2 mount'})`, () => {
  const d = v2!;

  it('creates, lists and opens a cgroup in the v2 hierarchy', () => {
    const cg = create(d);
    expect(cg.version).toBe(2);
    expect(fs.existsSync(path.join(cg.paths[0]!, 'cgroup.procs'))).toBe(true);
    expect(d.list()).toContain(cg.name);
    expect(d.open(cg.name)!.paths).toEqual(cg.paths);
  });

  it('moves a process in: /proc/PID/cgroup shows the v2 path on its 0:: line', async () => {
    const cg = create(d);
    const p = gated('sleep 100');
    cg.addProcess(p.pid);
    expect(cg.pids()).toEqual([p.pid]);
    const line = fs.readFileSync(`/proc/${p.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    expect(line).toMatch(new RegExp(`/box/${cg.name}$`));
    expect(cg.procsFiles()).toEqual([path.join(cg.paths[0]!, 'cgroup.procs')]);
  });

  it('counts CPU time even without the cpu controller (cpu.stat usage_usec is core in v2)', async () => {
    const cg = create(d);
    const busy = gated(`sh -c 'while :; do :; done'`);
    cg.addProcess(busy.pid);
    busy.go();
    const used = await until('CPU time to be charged', () => ((cg.stats().cpuUsageUsec ?? 0) > 50_000 ? true : undefined));
    expect(used).toBe(true);
    cg.killAll();
  });

  it('freeze stops a busy loop where it stands and thaw lets it run again', async () => {
    const cg = create(d);
    const busy = gated(`sh -c 'while :; do :; done'`);
    cg.addProcess(busy.pid);
    busy.go();
    await until('the loop to run', () => ((cg.stats().cpuUsageUsec ?? 0) > 20_000 ? true : undefined));
    cg.freeze!();
    const frozenAt = cg.stats().cpuUsageUsec!;
    // A frozen task gets no CPU at all: watch 20 scheduler ticks' worth of time go by.
    await new Promise((r) => setTimeout(r, 200));
    expect(cg.stats().cpuUsageUsec).toBe(frozenAt);
    cg.thaw!();
    await until('the loop to run again', () => (cg.stats().cpuUsageUsec! > frozenAt ? true : undefined));
    cg.killAll();
  });

  it('killAll uses cgroup.kill: one write, every process gone, even ones forked meanwhile', async () => {
    const cg = create(d);
    const many = gated(`sh -c 'for i in 1 2 3 4 5; do sleep 100 & done; while :; do sleep 100 & sleep 0.01; done'`);
    cg.addProcess(many.pid);
    many.go();
    await until('six processes', () => (cg.pids().length >= 6 ? true : undefined));
    const before = sys!.trace.events.length;
    cg.killAll();
    expect(cg.pids()).toEqual([]);
    const writes = sys!.trace.events.slice(before).filter((e) => e.kind === 'write');
    expect(writes).toEqual([expect.objectContaining({ path: path.join(cg.paths[0]!, 'cgroup.kill'), value: '1' })]);
    expect((await many.exited).signal).toBe('SIGKILL');
    cg.destroy();
    expect(fs.existsSync(cg.paths[0]!)).toBe(false);
  });

  it('a limit for a controller this v2 mount lacks is refused by name, and writes nothing', () => {
    const cg = create(d);
    const missing = ['memory', 'cpu', 'pids'].filter((c) => !d.available().includes(c));
    if (missing.length === 0) return; // a v2 host with every controller: nothing is missing to report
    const limits = { memory: { memoryBytes: 64 * MiB }, cpu: { cpuWeight: 50 }, pids: { pidsMax: 5 } }[missing[0] as 'memory' | 'cpu' | 'pids'];
    const before = sys!.trace.events.length;
    expect(() => cg.setLimits(limits)).toThrow(new RegExp(`'${missing[0]}' controller`));
    expect(sys!.trace.events.slice(before)).toEqual([]);
  });
});

needs(v2Reason).describe('cgroup v2 rules about where box may put its cgroups', () => {
  it('explains "no internal processes" when run from a cgroup that holds processes, and BOX_CGROUP_PARENT fixes it', (ctx) => {
    // A fact of a cgroup-v1 host, not something to install: its cgroup2 mount has none of
    // memory, cpu, pids, io (each is bound to a v1 hierarchy), so no rule about enabling them
    // applies. cgroups-v2-vm.test.ts runs this file in a cgroup-v2 guest, where it does.
    // (available() reads the mount's cgroup.controllers, measured now; an optional one such as
    // hugetlb, unbound on this kernel's v1 side, may be there alone and is not what this is about.)
    if (!v2!.available().some((c) => V2_CONTROLLERS.includes(c))) hostFact(ctx, `${v2!.describe()}: none of the controllers box needs is on the v2 mount (each is bound to a cgroup v1 hierarchy); cgroups-v2-vm.test.ts runs this test in a cgroup v2 guest`);
    const mount = v2!.describe().replace(/^cgroup v2 at (\S+) .*$/, '$1');
    const home = fs.readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)![1]!;
    const session = path.join(mount, `boxtest-session-${process.pid}`);
    const parent = `/boxtest-parent-${process.pid}`;
    fs.mkdirSync(session);
    try {
      // Move this test process into a cgroup of its own, as a login shell sits in session-N.scope.
      fs.writeFileSync(path.join(session, 'cgroup.procs'), String(process.pid));
      const fromSession = detectCgroups(sys!);
      expect(() => fromSession.create(`boxtest-${process.pid}-internal`)).toThrow(
        /cannot enable memory, cpu, pids(, (io|cpuset|hugetlb))* below .*boxtest-session-\d+: it holds processes itself.*BOX_CGROUP_PARENT=\/box/,
      );
      const fixed = detectCgroups(sys!, { parent });
      const cg = fixed.create(`boxtest-${process.pid}-parented`);
      made.push(cg);
      expect(cg.paths).toEqual([path.join(mount, parent, cg.name)]);
      cg.setLimits({ pidsMax: 5 });
      expect(fs.readFileSync(path.join(cg.paths[0]!, 'pids.max'), 'utf8').trim()).toBe('5');
      cg.destroy();
      expect(fs.existsSync(path.join(mount, parent))).toBe(false);
    } finally {
      fs.writeFileSync(path.join(mount, home, 'cgroup.procs'), String(process.pid));
      fs.rmSync(path.join(session, 'box'), { recursive: false, force: true });
      fs.rmdirSync(session);
    }
  });
});
