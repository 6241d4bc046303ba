// box run on the real kernel: what each lesson shows, asserted as a reader would see it.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initPath } from '../../runtime/src/init/build.ts';
import { box, boxAsync, boxBin, boxInTerminal, checkTerminalBasics, cgroupDirsFor, inspect, processesInCgroupOf, rootReason, tempBoxRoot, until } from './helpers.ts';
import { lacks, needs } from '../support/requires.ts';

const root = rootReason ? '' : tempBoxRoot('runtime');

needs(rootReason).describe('box run on the real kernel', () => {
  beforeAll(() => {
    const r = box(root, ['run', '--rm', 'busybox', 'true']); // builds the busybox image once
    expect(r.stderr).toBe('');
  }, 120_000);
  afterAll(() => {
    for (const name of ['sleeper', 'busy', 'twin', 'execme']) box(root, ['rm', '-f', name]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('runs the command as PID 1 and shows only the container\'s processes', () => {
    const r = box(root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo $$; ps -o pid,comm']);
    expect(r.code).toBe(0);
    const [pid, ...ps] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(ps.length).toBeLessThanOrEqual(3); // header, sh, ps
  });

  it('--ns pid alone keeps the host\'s /proc: ps still shows the host (the lesson\'s first surprise)', () => {
    const r = box(root, ['run', '--rm', '--ns', 'pid', 'busybox', 'sh', '-c', 'echo $$; ls /proc | grep -c "^[0-9]"']);
    expect(r.code).toBe(0);
    const [pid, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(Number(count)).toBeGreaterThan(5);
    expect(r.stderr).toContain('no mount namespace');
  });

  it('hands the command every argument and every environment variable, however many', () => {
    // box-init once kept 64 arguments and 256 variables and dropped the rest without a word.
    const words = Array.from({ length: 100 }, (_, i) => String(i + 1));
    const echo = box(root, ['run', '--rm', 'busybox', 'echo', ...words]);
    expect(echo.code).toBe(0);
    expect(echo.stdout.trim().split(' ')).toEqual(words);
    const env = Array.from({ length: 300 }, (_, i) => `V${i}=value-${i}`);
    const r = box(root, ['run', '--rm', ...env.flatMap((e) => ['-e', e]), 'busybox', 'env']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('V'))).toEqual(expect.arrayContaining(env));
    expect(r.stdout.split('\n').filter((l) => /^V\d+=/.test(l))).toHaveLength(300);
  });

  it('box-init refuses a plan over its size limit in one line, before doing anything', () => {
    // The header says 17 MiB: box-init must say E2BIG (errno 7) on its report fd and stop.
    // fd 3 is the plan (here the shell's stdin), fd 4 the reports (here its stdout).
    const r = spawnSync('sh', ['-c', `printf '%s\\n' ${17 << 20} | "$0" 3<&0 4>&1`, initPath()], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stdout).toBe('ERR -1 7\n');
    expect(r.status).toBe(125);
  });

  it('gives the container its own hostname and leaves the host\'s alone', () => {
    const before = os.hostname();
    // sethostname(2) needs CAP_SYS_ADMIN, which Docker's default set (and box's) leaves out.
    const r = box(root, ['run', '--rm', '--hostname', 'web1', '--cap-add', 'SYS_ADMIN', 'busybox', 'sh', '-c', 'hostname; hostname other; hostname']);
    expect(r.stdout.trim().split('\n')).toEqual(['web1', 'other']);
    expect(os.hostname()).toBe(before);
  });

  it('keeps mounts made inside out of the host\'s mount table', () => {
    const r = box(root, ['run', '--rm', 'busybox', 'sh', '-c', 'mkdir -p /mnt/x && mount -t tmpfs boxtest-tmpfs /mnt/x && grep -c boxtest-tmpfs /proc/self/mountinfo'],
    );
    // The default capability set has no SYS_ADMIN: mount is refused inside, as in Docker.
    expect(r.code).not.toBe(0);
    const priv = box(root, ['run', '--rm', '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined', 'busybox', 'sh', '-c',
      'mkdir -p /mnt/x && mount -t tmpfs boxtest-tmpfs /mnt/x && grep -c boxtest-tmpfs /proc/self/mountinfo']);
    expect(priv.stdout.trim()).toBe('1');
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('boxtest-tmpfs');
  });

  it('has only lo, down, in a new network namespace', () => {
    const r = box(root, ['run', '--rm', '--ns', 'pid,mnt,net', 'busybox', 'ip', '-o', 'link']); // --ns: no network set up
    const links = r.stdout.trim().split('\n');
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: <LOOPBACK>/);
  });

  it('does not show the host\'s System V message queues in a new IPC namespace', () => {
    const id = execFileSync('ipcmk', ['-Q'], { encoding: 'utf8' }).match(/(\d+)/)![1];
    try {
      const count = (args: string[]) =>
        box(root, ['run', '--rm', ...args, 'busybox', 'sh', '-c', 'tail -n +2 /proc/sysvipc/msg | wc -l']).stdout.trim();
      expect(count([])).toBe('0');
      expect(Number(count(['--ns', 'pid,mnt']))).toBeGreaterThanOrEqual(1); // shared IPC namespace: visible
    } finally {
      execFileSync('ipcrm', ['-q', id]);
    }
  });

  it('maps root inside to an unprivileged uid range of its own with --userns (100000 + 65536*N)', () => {
    const r = box(root, ['run', '--rm', '--userns', 'busybox', 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(r.code).toBe(0);
    const [uid, map] = r.stdout.trim().split('\n');
    expect(uid).toBe('0');
    const [inside, base, size] = map.trim().split(/\s+/).map(Number);
    expect([inside, size, base >= 100000 && (base - 100000) % 65536 === 0]).toEqual([0, 65536, true]);
  });

  it('shifts the boot clock inside a time namespace and nowhere else', () => {
    const r = box(root, ['run', '--rm', '--ns', 'pid,mnt,time', '--time-offset', '2d', 'busybox', 'cat', '/proc/uptime']);
    const inside = Number(r.stdout.split(' ')[0]);
    const outside = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    expect(inside - outside).toBeGreaterThan(2 * 86400 - 60);
    expect(inside - outside).toBeLessThan(2 * 86400 + 60);
  });

  it('OOM-kills a memory hog over its limit: exit 137, said in words', () => {
    const r = box(root, ['run', '--rm', '--memory', '32m', 'busybox', 'sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived']);
    expect(r.code).toBe(137);
    expect(r.stdout).not.toContain('survived');
    expect(r.stderr).toMatch(/out of memory.*32 MiB/);
  });

  it('OOM-kills a hog and notes the kills in --trace before it removes the cgroup (the panel reads it)', () => {
    const r = box(root, ['--trace', 'run', '--rm', '--memory', '32m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
    expect(r.code).toBe(137);
    const lines = r.stderr.split('\n');
    const note = lines.findIndex((l) => /# oom_kill 1 in \/sys\/fs\/cgroup\/\S*box-[0-9a-f]{12}$/.test(l));
    expect(note, r.stderr).toBeGreaterThan(-1);
    const rmdir = lines.findIndex((l, i) => i > note && /# rmdir \/sys\/fs\/cgroup\/\S*box-[0-9a-f]{12}$/.test(l));
    expect(rmdir, r.stderr).toBeGreaterThan(note); // first the note, then the cgroup goes
    // A container that was not killed leaves no such note.
    expect(box(root, ['--trace', 'run', '--rm', '--memory', '32m', 'busybox', 'true']).stderr).not.toContain('oom_kill');
  });

  it('stops a fork bomb at its pids limit', () => {
    const r = box(root, ['run', '--rm', '--pids-limit', '10', 'busybox', 'sh', '-c',
      // The bomb runs in a subshell: a fork failure ends a non-interactive shell.
      '(for i in $(seq 1 30); do sleep 5 & done; wait) 2>&1 | sort -u; echo forks-tried']);
    expect(r.stdout).toContain('forks-tried');
    expect(r.stdout).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  it('throttles a busy loop at its CPU quota (from the cgroup\'s own statistics)', async () => {
    const r = box(root, ['run', '-d', '--name', 'busy', '--cpus', '0.2', 'busybox', 'sh', '-c', 'while :; do :; done']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const cpuDir = cgroupDirsFor(id).find((d) => fs.existsSync(`${d}/cpu.stat`) && (fs.existsSync(`${d}/cpu.cfs_quota_us`) || fs.existsSync(`${d}/cpu.max`)))!;
    const throttled = () => Number(/nr_throttled (\d+)/.exec(fs.readFileSync(`${cpuDir}/cpu.stat`, 'utf8'))![1]);
    await until(() => throttled() > 3, 10_000, 'nr_throttled to rise');
    expect(throttled()).toBeGreaterThan(3);
    expect(box(root, ['rm', '-f', 'busy']).code).toBe(0);
  });

  it('runs detached; exec joins its namespaces and cgroup; logs, stop and rm work', async () => {
    const r = box(root, ['run', '-d', '--name', 'execme', '--hostname', 'inner', 'busybox', 'sh', '-c', 'echo hello-log; exec sleep 1000']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(box(root, ['ps']).stdout).toContain('execme');
    const ex = box(root, ['exec', 'execme', 'sh', '-c', 'hostname; cat /proc/1/comm; cat /proc/self/cgroup | head -1']);
    expect(ex.code).toBe(0);
    const [host, comm, cg] = ex.stdout.trim().split('\n');
    expect(host).toBe('inner');
    expect(comm).toBe('sleep');
    expect(cg.endsWith(':/')).toBe(true); // the cgroup namespace's root is the container's cgroup
    await until(() => box(root, ['logs', 'execme']).stdout.includes('hello-log'), 5000, 'the log line');
    const info = inspect(root, 'execme');
    expect(info.State.Status).toBe('running');
    expect(fs.readFileSync(`/proc/${info.State.Pid}/comm`, 'utf8').trim()).toBe('sleep');
    const stop = box(root, ['stop', '-t', '1', 'execme']);
    expect(stop.code).toBe(0);
    expect(inspect(root, 'execme').State.Status).toBe('exited');
    expect(box(root, ['rm', 'execme']).code).toBe(0);
    expect(cgroupDirsFor(id)).toEqual([]);
    expect(fs.existsSync(`${root}/containers/${id}`)).toBe(false);
  });

  it('gives -it a real terminal: a tty of its own, its size, Ctrl-C, job control, the exit code', async () => {
    const t = await boxInTerminal(root, ['run', '--rm', '-it', 'busybox', 'sh']);
    await checkTerminalBasics(t);
    await t.type('sleep 50 & jobs\r', /\[1\]\+\s+Running\s+sleep 50/);
    t.term.write('exit 7\r');
    expect(await t.exited).toBe(7);
  });

  it('passes a signal to PID 1 and returns its exit code', async () => {
    const child = boxAsync(root, ['run', '--rm', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
    await until(() => inspect(root, 'trapper')?.State.Status === 'running', 20_000, 'the container to run');
    await new Promise((r) => setTimeout(r, 200)); // and its shell to set the trap
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(42);
  });

  it('applies the default seccomp filter and capability set, and lets them be lifted', () => {
    expect(box(root, ['run', '--rm', 'busybox', 'unshare', '-U', 'true']).stderr).toContain('Operation not permitted');
    expect(box(root, ['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-U', 'true']).code).toBe(0);
    expect(box(root, ['run', '--rm', 'busybox', 'chown', '1', '/tmp']).code).toBe(0);
    expect(box(root, ['run', '--rm', '--cap-drop', 'CHOWN', 'busybox', 'chown', '1', '/tmp']).stderr).toContain('Operation not permitted');
    const status = box(root, ['run', '--rm', 'busybox', 'grep', '-E', '^(CapEff|NoNewPrivs|Seccomp):', '/proc/self/status']).stdout;
    expect(status).toMatch(/CapEff:\s+00000000a80425fb/); // Docker's default 14 capabilities
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(status).toMatch(/Seccomp:\s+2/);
    expect(box(root, ['run', '--rm', 'busybox', 'grep', 'CapInh', '/proc/self/status']).stdout).toMatch(/CapInh:\s+0{16}/);
    // no_new_privs off: the filter is still there (installed first, while CAP_SYS_ADMIN is held).
    const nnpOff = box(root, ['run', '--rm', '--security-opt', 'no-new-privileges=false', '-u', '1000', 'busybox', 'sh', '-c',
      'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status; unshare -U true']);
    expect(nnpOff.stdout).toMatch(/^NoNewPrivs:\s+0\nSeccomp:\s+2\n$/);
    expect(nnpOff.stderr).toContain('Operation not permitted');
    const user = box(root, ['run', '--rm', '-u', '1000:1000', 'busybox', 'sh', '-c', 'id -u; id -g; grep CapEff /proc/self/status']);
    expect(user.stdout).toMatch(/^1000\n1000\nCapEff:\s+0{16}\n$/); // a non-root user runs with no capabilities
  });

  it('lets a container open only harmless devices, whatever nodes it makes', () => {
    // loop-control (10:237) and the host's memory (1:1): made with mknod, as Docker allows, never
    // opened (devices.allow on cgroup v1, an eBPF device program on v2; the v2 guest runs this).
    const r = box(root, ['run', '--rm', 'busybox', 'sh', '-c',
      'mknod /tmp/lc c 10 237 && mknod /tmp/mem c 1 1 && echo made; head -c 0 /tmp/lc 2>/dev/null && echo opened || echo refused; ' +
      'head -c 1 /tmp/mem 2>&1; echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c']);
    expect(r.stdout).toBe('made\nrefused\nhead: /tmp/mem: Operation not permitted\nnull-ok\n3\n');
  });

  it('mounts volumes (read-only when asked), honours --read-only, -e and -w', () => {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/boxtest-vol-`);
    fs.writeFileSync(`${dir}/f`, 'from-host');
    const r = box(root, ['run', '--rm', '-v', `${dir}:/data:ro`, '-e', 'GREETING=hi', '-w', '/data', 'busybox', 'sh', '-c',
      'cat f; echo " $GREETING $(pwd)"; echo x > g']);
    expect(r.stdout).toBe('from-host hi /data\n');
    expect(r.stderr).toContain('Read-only file system');
    expect(box(root, ['run', '--rm', '--read-only', 'busybox', 'touch', '/x']).stderr).toContain('Read-only file system');
    fs.rmSync(dir, { recursive: true });
  });

  it('leaves nothing behind when box is SIGKILLed, and the next box cleans up', async () => {
    const child = boxAsync(root, ['run', '--name', 'sleeper', 'busybox', 'sleep', '1000'], { stdio: 'ignore' });
    await until(() => inspect(root, 'sleeper')?.State.Status === 'running', 10_000, 'the container to run');
    const info = inspect(root, 'sleeper');
    expect(info, box(root, ['inspect', 'sleeper']).stderr).not.toBeNull();
    const { Id: id, State: { Pid: pid } } = info;
    child.kill('SIGKILL');
    await until(() => !fs.existsSync(`/proc/${pid}`), 5000, 'the container to die with its box');
    expect(box(root, ['ps', '-a']).stdout).toMatch(/sleeper/); // the next box notices...
    expect(inspect(root, 'sleeper').State.Status).toBe('exited'); // ...records the end...
    expect(cgroupDirsFor(id)).toEqual([]); // ...and removes the cgroup
    expect(processesInCgroupOf(id)).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
    box(root, ['rm', 'sleeper']);
  });

  it('leaves nothing behind when box is SIGKILLed at any point of the start', async () => {
    for (const delay of [5, 20, 35, 50, 65, 80, 100, 140]) {
      const child = boxAsync(root, ['run', '--rm', 'busybox', 'sleep', '86399'], { stdio: 'ignore' }); // a number nobody else sleeps
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
    }
    await new Promise((r) => setTimeout(r, 300));
    box(root, ['ps', '-a']); // the next box cleans what is stale
    const ids = fs.existsSync(`${root}/containers`) ? fs.readdirSync(`${root}/containers`) : [];
    for (const id of ids) {
      expect(processesInCgroupOf(id)).toEqual([]);
      expect(cgroupDirsFor(id)).toEqual([]);
    }
    const sleepers = spawnSync('pgrep', ['-f', '^sleep 86399$'], { encoding: 'utf8' }).stdout.trim();
    expect(sleepers).toBe('');
  });

  it('starts eight containers at once without collisions, and refuses a name twice', async () => {
    // Eight at once, unnamed: generated names, directories and cgroups must not clash.
    const runs = Array.from({ length: 8 }, (_, i) => boxAsync(root, ['run', '--rm', 'busybox', 'sh', '-c', `echo ${i}`]));
    const errors = runs.map((c) => { let e = ''; c.stderr!.on('data', (d) => (e += d)); return () => e; });
    const codes = await Promise.all(runs.map((c) => new Promise((r) => c.on('exit', r))));
    expect(codes, errors.map((e) => e()).join('')).toEqual(Array(8).fill(0));
    expect(box(root, ['run', '-d', '--name', 'twin', 'busybox', 'sleep', '100']).code).toBe(0);
    const again = box(root, ['run', '-d', '--name', 'twin', 'busybox', 'sleep', '100']);
    expect(again.code).toBe(125);
    expect(again.stderr).toMatch(/^box: the name 'twin' is already in use/);
    box(root, ['rm', '-f', 'twin']);
  });

  it('runs containers inside a lab sandbox: nested PID 1, user namespaces and memory limits', () => {
    const r = box(root, ['run', '--rm', '--lab', 'lab', 'sh', '-c', [
      'id -u; cat /proc/self/uid_map; ip -o link show lo | grep -o "<[A-Z,_]*>"',
      'umount /opt/box/runtime 2>/dev/null || echo cannot-umount; mount -o remount,rw /usr 2>/dev/null || echo cannot-remount',
      // KVM_GET_API_VERSION on the sandbox's own /dev/kvm node (the host's stays as it is).
      'python3 -c "import os,fcntl; print(\\"kvm-api\\", fcntl.ioctl(os.open(\\"/dev/kvm\\", os.O_RDWR), 0xAE00))" 2>&1 || true',
      'box run --rm busybox sh -c "echo nested-pid=\$\$"',
      'box run --rm --userns busybox cat /proc/self/uid_map',
      // dd allocates its 50 MB block at once: over the 16m limit, the OOM killer takes it.
      'box run --rm --memory 16m busybox dd if=/dev/zero of=/dev/null bs=50M count=1; echo nested-exit=$?',
      // Removing a directory the image has makes the overlay mark an opaque directory: with
      // userxattr, in user.overlay.* (the sandbox's store is a tmpfs: user xattrs from Linux 6.6).
      'box run --rm busybox sh -c "rm -rf /etc && mkdir /etc && ls -A /etc | wc -l" 2>&1 | sed "s/^/nested-rmdir: /"',
    ].join('; ')], { timeout: 180_000 }); // a safety net only: five containers, and under qemu's TCG (cgroups-v2-vm) each is slow
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines[0], r.stderr).toBe('0'); // root inside the sandbox...
    // ...is an unprivileged uid on the host: a range of its own, 100000 + 65536*N (id-ranges.ts).
    const base = Number(/^0 (\d+) 65536$/.exec(lines[1] ?? '')?.[1]);
    expect((base - 100000) % 65536 === 0 && base >= 100000, `${lines[1]} ${r.stderr}`).toBe(true);
    expect(lines[2], r.stderr).toBe('<LOOPBACK,UP,LOWER_UP>'); // the sandbox's lo is up (a plain container's is not)
    expect(lines, r.stderr).toContain('cannot-umount'); // the host binds are locked in the sandbox
    expect(lines, r.stderr).toContain('cannot-remount');
    if (!lacks(!fs.existsSync('/dev/kvm') && 'no /dev/kvm on this host: the sandbox KVM check is not made')) expect(lines, r.stderr).toContain('kvm-api 12');
    expect(lines, r.stderr).toContain('nested-pid=1');
    expect(lines, r.stderr).toContain('0 32768 32768'); // a nested user namespace, inside the sandbox's ids
    expect(lines, r.stderr).toContain('nested-exit=137'); // cgroup limits work below the sandbox's own
    const [major, minor] = os.release().split('.').map(Number);
    if (major > 6 || (major === 6 && minor >= 6)) expect(lines, r.stderr).toContain('nested-rmdir: 0');
    else console.warn(`kernel ${os.release()}: tmpfs has no user xattrs before 6.6, so a nested container cannot remove an image's directory; not checked`);
    expect(r.code).toBe(0);
  }, 240_000);

  it('gives a lab sandbox a loop device of its own that its cgroups can throttle, detached when it ends', () => {
    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const noLoop = fs.existsSync('/dev/loop-control') ? '' : 'this kernel has no loop driver (/dev/loop-control)';
    // The reader's way: their own cgroup, a 1 MB/s write limit on the sandbox's loop device,
    // 2 MB written past the page cache from a shell in it, then the same outside it.
    const throttle = v2
      ? 'mkdir /sys/fs/cgroup/slowloop && echo "$N wbps=1048576" > /sys/fs/cgroup/slowloop/io.max && C=/sys/fs/cgroup/slowloop'
      : 'mkdir /sys/fs/cgroup/blkio/slowloop && echo "$N 1048576" > /sys/fs/cgroup/blkio/slowloop/blkio.throttle.write_bps_device && C=/sys/fs/cgroup/blkio/slowloop';
    const r = box(root, ['run', '--rm', '--lab', 'lab', 'sh', '-c', [
      'echo subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)',
      'mkdir /sys/fs/cgroup/not-a-cgroup 2>&1 | grep -o "Read-only file system"',
      'L=$(ls /dev/loop[0-9]* 2>/dev/null); echo loop=$L; test -n "$L" || exit 0',
      'N=$(cat /sys/block/${L#/dev/}/dev); echo dev=$N',
      throttle,
      't0=$(date +%s%N); sh -c "echo \\$\\$ > $C/cgroup.procs; dd if=/dev/zero of=$L bs=1M count=2 oflag=direct 2>/dev/null"; echo slow-ms=$(( ($(date +%s%N) - t0) / 1000000 ))',
      'dd if=/dev/zero of=$L bs=1M count=2 oflag=direct 2>/dev/null && echo fast-ok',
      // The writer's exit may still be on its way out of the cgroup (EBUSY for a moment).
      'for i in 1 2 3 4 5 6 7 8 9 10; do rmdir $C 2>/dev/null && break; sleep 0.2; done',
    ].join('; ')], { timeout: 60_000 });
    const out = r.stdout;
    expect(r.code, r.stderr).toBe(0);
    // cgroup v1: the sandbox's /sys/fs/cgroup holds the controllers' directories, and is
    // read-only like a v1 host's (v2 habits fail there); v2: it is the sandbox's own cgroup,
    // handing io down beside memory, cpu and pids where the host has it.
    if (!v2) expect(out).toContain('Read-only file system');
    else if (fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('io')) expect(out).toMatch(/subtree: .*\bio\b/);
    if (lacks(noLoop && `the sandbox's loop device is not checked: ${noLoop}`)) {
      expect(r.stderr).toContain('no loop device');
      return;
    }
    const loop = /loop=(\/dev\/loop\d+)/.exec(out)?.[1];
    expect(loop, out + r.stderr).toBeTruthy();
    expect(out).toMatch(/dev=7:\d+/);
    // 2 MB at 1 MB/s: two seconds at least (the first second's budget is granted at once on some kernels).
    expect(Number(/slow-ms=(\d+)/.exec(out)?.[1]), out).toBeGreaterThanOrEqual(900);
    expect(out).toContain('fast-ok');
    // The sandbox is gone, and its loop device with it.
    const name = loop!.slice('/dev/'.length);
    const backing = fs.existsSync(`/sys/block/${name}/loop/backing_file`) ? fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8') : '';
    expect(backing).not.toContain(root);
  });

  needs(!fs.existsSync('/dev/loop-control') && 'no /dev/loop-control (the loop module)').it('a lab sandbox whose box was SIGKILLed leaves its loop device only until the next box runs', async () => {
    const attached = () => fs.readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n))
      .filter((n) => { try { return fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').startsWith(root); } catch { return false; } });
    expect(box(root, ['run', '-d', '--rm', '--name', 'labkill', '--lab', 'lab', 'sleep', '100']).code).toBe(0);
    const monitor = Number(/"MonitorPid": *(\d+)/.exec(box(root, ['inspect', 'labkill']).stdout)?.[1]);
    expect(attached()).toHaveLength(2); // the I/O lesson's disk, and the filesystem it writes to (disk.ts)
    process.kill(monitor, 'SIGKILL'); // no chance to clean up
    await until(() => { try { process.kill(monitor, 0); return false; } catch { return true; } }, 10_000, 'the monitor to die');
    box(root, ['ps', '-a']); // the next box reaps the sandbox: its loop device, its directory
    expect(attached()).toHaveLength(0);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${root}/containers/`);
    expect(fs.readdirSync(`${root}/containers`)).toEqual([]);
  });

  it('answers bad input with one line, a non-zero exit, and nothing left behind', () => {
    const before = fs.existsSync(`${root}/containers`) ? fs.readdirSync(`${root}/containers`).length : 0;
    const cases: [string[], RegExp][] = [
      [['run', 'no-such-image', 'true'], /image 'no-such-image' not found/],
      [['run', '--memory', '12x', 'busybox', 'true'], /--memory: '12x' is not a size/],
      [['run', '--cpus', '-1', 'busybox', 'true'], /--cpus/],
      [['run', '--bogus', 'busybox'], /unknown flag: --bogus/],
      [['run', '--ns', 'pid,bogus', 'busybox', 'true'], /unknown namespace 'bogus'/],
      [['run', '--rm', 'busybox', 'no-such-command'], /executable file not found/],
      [['run', '-v', './relative:/x', 'busybox', 'true'], /must be absolute/],
      [['exec', 'nobody-by-this-name', 'true'], /no such container/],
      [['frobnicate'], /not a box command/],
    ];
    for (const [args, message] of cases) {
      const r = box(root, args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const after = fs.existsSync(`${root}/containers`) ? fs.readdirSync(`${root}/containers`).length : 0;
    expect(after).toBe(before);
  });

  it('derives exit statuses from what went wrong: rm -f of a container already gone is no failure', () => {
    // 125: box failed; 127: the command is not in the container (Docker's statuses).
    expect(box(root, ['run', '--rm', 'no-such-image', 'true']).code).toBe(125);
    expect(box(root, ['run', '--rm', 'busybox', 'no-such-command']).code).toBe(127);
    expect(box(root, ['run', '--rm', 'busybox', '/etc/passwd']).code).toBe(126);
    // Detached, the same statuses and the same line (the monitor process passes them on).
    expect(box(root, ['run', '-d', '--rm', 'busybox', 'no-such-command'])).toMatchObject({ code: 127, stderr: expect.stringMatching(/^box: no-such-command: executable file not found[^\n]*\n$/) });
    expect(box(root, ['run', '-d', '--rm', 'busybox', '/etc/passwd']).code).toBe(126);
    const rm = box(root, ['rm', 'never-was']);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toBe("box: no such container: 'never-was'; `box ps -a` lists them\n");
    // As docker rm -f: what is already gone is said, not counted (the lab server relies on it).
    const force = box(root, ['rm', '-f', 'never-was']);
    expect(force.code).toBe(0);
    expect(force.stderr).toBe("box: no such container: 'never-was'; `box ps -a` lists them\n");
    // inspect tries an image after a container that is not there, and only then gives up.
    expect(box(root, ['inspect', '--format', '{{.Id}}', 'busybox']).stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });

  it('says what to do when not run as root', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', boxBin, 'run', 'busybox', 'true'], {
      encoding: 'utf8', env: { ...process.env, BOX_ROOT: root },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^box: .*(root|sudo)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
