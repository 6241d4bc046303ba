// Attacks on the lab's shared resources, made the way a reader would: typed into lab terminals
// that the lab server started (`box run --lab`, src/server/sandbox.ts), two of them where the
// attack is on another reader. Each attack must fail, and the host and the other sandbox must
// show that nothing happened (issue 12: loop devices, disk, cgroup ids, /dev/kvm, uid ranges).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { LabServer } from '../../src/server/app.ts';
import { boxDriver, boxRunCommand } from '../../src/server/sandbox.ts';
import { BOX, boxLabAvailable, startInProcess, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { heldIdRanges } from '../../runtime/src/container/id-ranges.ts';
import { tempBoxRoot, until } from './helpers.ts';

const box = await boxLabAvailable();
if (!box.ok) {
  if (process.env.CI === 'true') throw new Error(`lab-attacks: cannot run a lab sandbox: ${box.reason}`);
  console.warn(`lab-attacks: skipped: ${box.reason}`);
}
const T = 60_000;
const DISK = '256m';
const BOX_ROOT = '/var/lib/box'; // where the server's box keeps its sandboxes
const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');

let server: LabServer;
let a: LabClient;
let b: LabClient;

async function terminal(): Promise<LabClient> {
  const c = new LabClient(server.port, { token: TEST_TOKEN });
  await c.opened();
  await c.message('hello', T);
  expect(await c.run('echo ready', T)).toBe('ready');
  return c;
}

/** The sandbox's root as the host sees it, from its own uid_map. */
async function rootUid(c: LabClient): Promise<number> {
  const map = (await c.run('cat /proc/self/uid_map')).trim().split(/\s+/).map(Number);
  expect(map[0]).toBe(0);
  return map[1]!;
}

/** The sandbox's container directory on the host: the one whose state records its uid range. */
async function hostDir(c: LabClient): Promise<string> {
  const base = await rootUid(c);
  const dirs = fs.readdirSync(path.join(BOX_ROOT, 'containers')).map((id) => path.join(BOX_ROOT, 'containers', id)).filter((d) => {
    try {
      const s = JSON.parse(fs.readFileSync(path.join(d, 'state.json'), 'utf8'));
      return s.status === 'running' && s.idRange?.base === base;
    } catch {
      return false;
    }
  });
  expect(dirs).toHaveLength(1);
  return dirs[0]!;
}

/** Every attached loop device, and its backing file as the kernel reports it. */
function loops(): { name: string; file: string; ino: number }[] {
  const out = execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE,BACK-INO'], { encoding: 'utf8' });
  if (!out.trim()) return [];
  return (JSON.parse(out).loopdevices as { name: string; 'back-file': string; 'back-ino': number }[])
    .map((l) => ({ name: l.name, file: String(l['back-file']).trim(), ino: Number(l['back-ino']) }));
}

/** perl's syscall() passes numbers as 64-bit registers and strings as pointers: the raw call, from inside. */
const perl = (script: string) => `perl -e '${script}'`;

needs(box.ok ? '' : box.reason).describe('a lab sandbox cannot take the lab\'s shared resources', () => {
  beforeAll(async () => {
    server = await startInProcess({ driver: boxDriver(BOX, () => {}, { diskSize: DISK }), graceMs: 0 });
    a = await terminal();
    b = await terminal();
  }, 3 * T);

  afterAll(async () => {
    await server?.close();
  });

  it('cannot detach or re-point its loop device (items 2 and 5), even with the upper bits of the request set', async () => {
    const dir = await hostDir(a);
    const loop = await a.run('ls /dev/loop[0-9]*');
    expect(loop).toMatch(/^\/dev\/loop\d+$/);
    const detach = await a.runStatus(`losetup -d ${loop} 2>&1`);
    expect(detach.status).not.toBe(0);
    expect(detach.out).toContain('Operation not permitted');
    const repoint = await a.runStatus(`truncate -s 1m /root/mine.img && losetup ${loop} /root/mine.img 2>&1`);
    expect(repoint.status).not.toBe(0);
    // LOOP_CLR_FD (0x4c01), LOOP_CHANGE_FD (0x4c06), LOOP_CONFIGURE (0x4c0a), once plainly and
    // once with bit 32 set: the kernel would truncate that to the same request.
    const raw = await a.run(perl(`open(my $f, "+<", "${loop}") or die; open(my $m, "+<", "/root/mine.img") or die; `
      + `for my $req (0x4c01, 0x4c06, 0x100004c01, 0x100004c06, 0x4c0a) { my $r = syscall(16, fileno($f), $req, $req == 0x4c0a ? 0 : fileno($m)); printf("%x=%d:%s\\n", $req, $r, $!) }`));
    expect(raw.split('\n')).toEqual(['4c01', '4c06', '100004c01', '100004c06', '4c0a'].map((r) => `${r}=-1:Operation not permitted`));
    // The reads still work: losetup -l lists it, backed by the sandbox's own disk.
    expect(await a.run(`losetup -n -O BACK-FILE -l ${loop}`)).toContain('lab-disk.img');
    const name = loop.slice('/dev/'.length);
    expect(loops().find((l) => l.name === loop)?.file).toBe(path.join(dir, 'lab-disk.img'));
    expect(fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim()).toBe(path.join(dir, 'lab-disk.img'));
  }, T);

  it('cannot fill the host\'s disk: everything it writes is under its own limit (item 3)', async () => {
    const dir = await hostDir(a);
    const before = fs.statfsSync(BOX_ROOT);
    for (const where of ['/root', '/tmp', '/var/tmp', '/home/reader', '/run', '/']) {
      const r = await a.runStatus(`mkdir -p ${where} && fallocate -l 15G ${where}/isolab-big 2>&1; rm -f ${where}/isolab-big`);
      expect(r.out, where).toContain('No space left on device');
    }
    const dd = await a.runStatus('dd if=/dev/zero of=/root/fill bs=1M count=400 2>&1');
    expect(dd.status).not.toBe(0);
    expect(dd.out).toContain('No space left on device');
    expect(await a.run('df -m / | tail -1')).toMatch(/^overlay\s+2\d\d\s/); // its size is the limit, 256 MiB less ext4's own
    // The stores that are tmpfs: box's own inside, and the panel's directory.
    for (const where of ['/var/lib/box', '/run/isolab', '/dev/shm']) {
      const r = await a.runStatus(`fallocate -l 2G ${where}/isolab-big 2>&1; rm -f ${where}/isolab-big`);
      expect(r.out, where).toContain('No space left on device');
    }
    expect(await a.run('echo still-here')).toBe('still-here'); // ENOSPC, not the OOM killer
    // On the host, the sandbox's file system takes at most its size.
    const image = fs.statSync(path.join(dir, 'disk.img'));
    expect(image.blocks * 512).toBeLessThanOrEqual(256 * 1024 * 1024);
    const after = fs.statfsSync(BOX_ROOT);
    expect((before.bavail - after.bavail) * before.bsize).toBeLessThan(1024 ** 3);
    await a.run('rm -f /root/fill /root/mine.img');
    // The other sandbox writes as before.
    expect((await b.runStatus('dd if=/dev/zero of=/root/ok bs=1M count=16 2>/dev/null && rm /root/ok')).status).toBe(0);
  }, 2 * T);

  it('has a uid range of its own, so per-user kernel limits are its own and not root\'s (item 9)', async () => {
    const [ua, ub] = [await rootUid(a), await rootUid(b)];
    expect(ua).not.toBe(ub);
    for (const u of [ua, ub]) expect((u - 100000) % 65536).toBe(0);
    expect(Math.abs(ua - ub)).toBeGreaterThanOrEqual(65536);
    // inotify: A takes every instance its uid may have (fs.inotify.max_user_instances).
    a.type(`${perl('my @fds; while ((my $fd = syscall(253)) >= 0) { push @fds, $fd } my $e = "$!"; open(my $o, ">", "/tmp/inotify.out"); print $o scalar(@fds), " $e\\n"; close $o; sleep 600')} &\r`);
    // keys: A adds keys until its uid's quota (kernel.keys.maxkeys) says no.
    a.type(`${perl('my $n = 0; my ($t, $p) = ("user", "x"); while (1) { my $d = "isolab-secret-a-$n"; last if syscall(248, $t, $d, $p, 1, -2) < 0; $n++ } my $e = "$!"; open(my $o, ">", "/tmp/keys.out"); print $o "$n $e\\n"; close $o; sleep 600')} &\r`);
    let inotify = '';
    let keys = '';
    const deadline = Date.now() + 30_000;
    while ((!inotify || !keys) && Date.now() < deadline) {
      inotify = await a.run('cat /tmp/inotify.out 2>/dev/null');
      keys = await a.run('cat /tmp/keys.out 2>/dev/null');
    }
    expect(inotify).toMatch(/^\d+ Too many open files$/);
    expect(Number(inotify.split(' ')[0])).toBeGreaterThan(0);
    expect(keys).toMatch(/^\d+ Disk quota exceeded$/);
    // B's own are untouched: it gets an inotify instance and a key, and sees none of A's keys.
    expect(await b.run(perl('my $fd = syscall(253); print $fd >= 0 ? "inotify-ok" : "inotify-failed:$!"'))).toBe('inotify-ok');
    expect(await b.run(perl('my ($t, $d, $p) = ("user", "isolab-b", "x"); my $k = syscall(248, $t, $d, $p, 1, -2); print $k > 0 ? "key-ok" : "key-failed:$!"'))).toBe('key-ok');
    expect(await b.run('grep -c isolab-secret-a /proc/keys')).toBe('0');
    // Its user namespace is owned by its own uid, so the instances are not charged to host root.
    expect(execFileSync('python3', ['-c', 'import ctypes; print(ctypes.CDLL(None).inotify_init() >= 0)'], { encoding: 'utf8' }).trim()).toBe('True');
    await a.run('kill %1 %2; wait 2>/dev/null; echo stopped');
  }, 2 * T);

  it("changes only its own /dev/kvm and loop nodes: not the host's, not another sandbox's (item 8)", async () => {
    if (!fs.existsSync('/dev/kvm')) console.warn('no /dev/kvm on this host: only the loop node is checked');
    const [da, db] = [await hostDir(a), await hostDir(b)];
    const hostKvm = fs.existsSync('/dev/kvm') ? fs.statSync('/dev/kvm') : null;
    const nodes = fs.existsSync('/dev/kvm') ? '/dev/kvm /dev/loop[0-9]*' : '/dev/loop[0-9]*';
    expect((await a.runStatus(`chmod 666 ${nodes} && chown 1234:1234 ${nodes}`)).status).toBe(0);
    // A's nodes are in a directory of its own that only its root may enter: a host user who
    // opens them gets EACCES, whatever their mode now.
    const devDir = fs.statSync(path.join(da, 'devices'));
    expect(devDir.mode & 0o777).toBe(0o700);
    for (const node of fs.readdirSync(path.join(da, 'devices'))) {
      const file = path.join(da, 'devices', node);
      expect(fs.statSync(file).mode & 0o777, node).toBe(0o666); // A did change its own
      const nobody = spawnSync('sh', ['-c', `exec 3<>${file}`], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(nobody.status, node).not.toBe(0);
      expect(nobody.stderr, node).toMatch(/Permission denied/);
    }
    if (hostKvm) expect(fs.statSync('/dev/kvm').mode).toBe(hostKvm.mode);
    // B's are as box made them, and B still opens its /dev/kvm.
    for (const node of fs.readdirSync(path.join(db, 'devices'))) {
      const st = fs.statSync(path.join(db, 'devices', node));
      expect([st.mode & 0o777, st.uid], node).toEqual([0o600, await rootUid(b)]);
    }
    if (hostKvm) expect(await b.run('exec 3<>/dev/kvm && echo opened')).toBe('opened');
  }, T);

  it('makes cgroups only within a budget (item 6)', async () => {
    if (v2) {
      // cgroup.max.descendants: 256 below the sandbox's cgroup, its own leaf among them.
      const made = await a.run('n=0; while mkdir /sys/fs/cgroup/c$n 2>/tmp/mkdir.err; do n=$((n+1)); done; echo $n $(cat /tmp/mkdir.err | grep -o "Resource temporarily unavailable"); rmdir /sys/fs/cgroup/c* 2>/dev/null; true', T);
      expect(made).toMatch(/^25\d Resource temporarily unavailable$/);
      return;
    }
    // cgroup v1 has no count limit (see cgroups/v1.ts limitNesting): what bounds a sandbox's
    // memory cgroups is its memory limit, since each one's kernel memory is charged to it.
    const usage = () => a.run('cat /sys/fs/cgroup/memory/memory.usage_in_bytes');
    const before = Number(await usage());
    await a.run('for i in $(seq 1 200); do mkdir /sys/fs/cgroup/memory/c$i; done; echo made', T);
    const after = Number(await usage());
    await a.run('for i in $(seq 1 200); do rmdir /sys/fs/cgroup/memory/c$i; done; echo removed', T);
    expect(after - before).toBeGreaterThan(200 * 4096);
    // Only the hierarchies box delegates exist inside, and its /sys/fs/cgroup itself is read-only.
    expect((await a.runStatus('mkdir /sys/fs/cgroup/unified 2>&1')).status).not.toBe(0);
    expect(await a.run('ls /sys/fs/cgroup')).not.toMatch(/unified|systemd/);
  }, 2 * T);

  it('leaves nothing when it ends: loop devices detached, filesystem unmounted, uid range free (items 2, 3, 5, 9)', async () => {
    const dir = await hostDir(a);
    const base = await rootUid(a);
    const records = JSON.parse(fs.readFileSync(path.join(dir, 'loops.json'), 'utf8')) as { backing: string; device: string }[];
    expect(records).toHaveLength(1);
    a.ws.terminate(); // the reader closes the page: with no grace period the server removes the sandbox
    await until(() => !fs.existsSync(dir), 30_000, 'the sandbox to be removed');
    expect(loops().filter((l) => l.file.startsWith(dir))).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    expect(heldIdRanges().get(base)).not.toBe(dir);
    expect(await b.run('echo b-still-here')).toBe('b-still-here');
  }, T);
});

needs(box.ok ? '' : box.reason).describe('a lab sandbox whose box was SIGKILLed', () => {
  it('is reaped by the next box: its loop devices, its filesystem and its uid range', async () => {
    const root = tempBoxRoot('labkill');
    const env = { ...process.env, BOX_ROOT: root };
    try {
      // The server's own command, with a command instead of an interactive shell.
      const cmd = boxRunCommand(BOX, `lab-kill${process.pid}`, undefined, { diskSize: DISK });
      const monitor = spawn(cmd.file, [...cmd.args.filter((x) => x !== '-it'), 'sleep', '1000'], { env, stdio: 'ignore' });
      const containers = path.join(root, 'containers');
      let dir = '';
      await until(() => {
        try {
          const id = fs.readdirSync(containers)[0];
          if (!id) return false;
          const s = JSON.parse(fs.readFileSync(path.join(containers, id, 'state.json'), 'utf8'));
          dir = path.join(containers, id);
          return s.status === 'running';
        } catch {
          return false;
        }
      }, T, 'the sandbox to run');
      const base = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).idRange.base as number;
      expect(loops().filter((l) => l.file.startsWith(dir)).map((l) => path.basename(l.file)).sort()).toEqual(['disk.img', 'lab-disk.img']);
      expect(heldIdRanges().get(base)).toBe(dir);
      monitor.kill('SIGKILL'); // runtime/bin/box execs node: this is box itself, with no chance to clean up
      await new Promise((r) => monitor.once('exit', r));
      const next = spawnSync(BOX, ['ps', '-a'], { env, encoding: 'utf8' }); // the next box reaps
      expect(next.status, next.stderr).toBe(0);
      expect(fs.existsSync(dir)).toBe(false);
      expect(loops().filter((l) => l.file.startsWith(dir))).toEqual([]);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
      expect(heldIdRanges().get(base)).not.toBe(dir); // free (another box may have taken it since)
    } finally {
      spawnSync(BOX, ['ps', '-a'], { env });
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 2 * T);
});
