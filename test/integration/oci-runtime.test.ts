// box as an OCI runtime, driven with runc's command line and bundles the test writes: the
// create/start split, state, kill, delete, --pid-file, resources in the cgroup, a namespace
// joined by path, and bad input refused in one line with nothing left behind.

import { afterAll, beforeAll, expect } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { boxBin, rootReason, until } from './helpers.ts';
import { needs } from '../support/requires.ts';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const t = needs(rootReason, !busybox && 'busybox-static is not installed (apt-get install busybox-static)');

let dir = '';
let root = '';

/** runc's command line: box --root ROOT ARGS, its output into a file (create's stdout is the container's). */
function oci(args: string[], out = path.join(dir, 'cli.out')): { code: number; out: string } {
  const fd = fs.openSync(out, 'w');
  const r = spawnSync(boxBin, ['--root', root, ...args], { stdio: ['ignore', fd, fd], timeout: 30_000 });
  fs.closeSync(fd);
  return { code: r.status ?? 128, out: fs.readFileSync(out, 'utf8') };
}

/** A bundle: busybox as the root filesystem, and this config (process.args given). */
function bundle(name: string, config: Record<string, unknown>): string {
  const b = path.join(dir, name);
  fs.mkdirSync(path.join(b, 'rootfs/bin'), { recursive: true });
  fs.copyFileSync(busybox!, path.join(b, 'rootfs/bin/busybox'));
  fs.chmodSync(path.join(b, 'rootfs/bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'echo', 'hostname', 'sleep', 'touch', 'grep', 'mknod', 'head', 'tty', 'stty', 'ls', 'id', 'umask', 'stat']) fs.symlinkSync('busybox', path.join(b, 'rootfs/bin', a));
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2',
    root: { path: 'rootfs', readonly: true },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }] },
    ...config,
  }));
  return b;
}

const NS_DEFAULT = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }];
const proc = (args: string[], extra: Record<string, unknown> = {}) => ({ args, env: ['PATH=/bin'], cwd: '/', ...extra });
const state = (id: string) => JSON.parse(oci(['state', id]).out) as { status: string; pid: number; id: string; bundle: string };

/** test/fixtures/subreaper, built once: a caller that reaps the pid of --pid-file, as conmon does. */
function subreaper(): string {
  const bin = path.join(dir, 'subreaper');
  if (!fs.existsSync(bin)) execFileSync('gcc', ['-static', '-O2', '-o', bin, path.join(import.meta.dirname, '../fixtures/subreaper/subreaper.c')]);
  return bin;
}

/** A block device this host has (a loop device if there is one), as "MAJOR MINOR": opening it must be refused. */
function hostBlockDevice(): string {
  const all = fs.readdirSync('/sys/dev/block');
  return (all.find((d) => d.startsWith('7:')) ?? all[0]).replace(':', ' ');
}

function cgroupFile(id: string, file: string): string | null {
  const find = spawnSync('find', ['/sys/fs/cgroup', '-type', 'd', '-name', `box-oci-${id}`], { encoding: 'utf8' });
  for (const d of find.stdout.split('\n').filter(Boolean)) {
    if (fs.existsSync(path.join(d, file))) return fs.readFileSync(path.join(d, file), 'utf8').trim();
  }
  return null;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-oci-'));
  root = path.join(dir, 'state');
});
afterAll(() => {
  for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) oci(['delete', '--force', id]);
  fs.rmSync(dir, { recursive: true, force: true });
  spawnSync('sh', ['-c', 'rmdir /sys/fs/cgroup/*/box-oci 2>/dev/null'], { stdio: 'ignore' });
});

t.describe('box with runc\'s command line', () => {
  t.it('create waits before exec; start runs it; state, kill and delete follow the spec', async () => {
    const b = bundle('life', {
      hostname: 'oci-box',
      // CAP_MKNOD: it may make a node of the host's disk, but the device rules refuse to open it.
      process: proc(['sh', '-c', 'echo started on $(hostname); grep -E "CapEff|NoNewPrivs" /proc/self/status; touch /x 2>/dev/null || echo read-only; ' +
        `mknod /tmp/disk b ${hostBlockDevice()} && (head -c1 /tmp/disk >/dev/null 2>&1 || echo disk refused); ulimit -n; exec sleep 60`],
        { capabilities: { bounding: ['CAP_KILL', 'CAP_MKNOD'], effective: ['CAP_KILL', 'CAP_MKNOD'], permitted: ['CAP_KILL', 'CAP_MKNOD'] }, noNewPrivileges: true, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 321 }] }),
      mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }],
        resources: { memory: { limit: 64 << 20 }, pids: { limit: 20 } },
      },
    });
    const out = path.join(dir, 'life.out');
    const created = oci(['create', '--bundle', b, '--pid-file', path.join(dir, 'life.pid'), 'life'], out);
    expect(created.code).toBe(0);
    expect(created.out).toBe(''); // nothing ran yet: the process waits before execve
    const s = state('life');
    expect(s).toMatchObject({ id: 'life', status: 'created', bundle: b });
    expect(fs.readFileSync(path.join(dir, 'life.pid'), 'utf8')).toBe(String(s.pid));
    expect(fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8')).not.toContain('sleep');
    expect(cgroupFile('life', 'memory.limit_in_bytes') ?? cgroupFile('life', 'memory.max')).toBe(String(64 << 20));
    expect(cgroupFile('life', 'pids.max')).toBe('20');

    // Not stopped: delete refuses (the spec), and the container is untouched.
    expect(oci(['delete', 'life']).out).toBe('box: cannot delete container "life": it is created; stop it first or use --force\n');
    expect(oci(['start', 'life']).code).toBe(0);
    expect(state('life').status).toBe('running');
    await until(() => fs.readFileSync(out, 'utf8').includes('321'), 10_000, 'the container\'s output');
    const lines = fs.readFileSync(out, 'utf8');
    expect(lines).toContain('started on oci-box');
    expect(lines).toMatch(/CapEff:\s+0000000008000020/); // CAP_KILL (5) and CAP_MKNOD (27) only
    expect(lines).toMatch(/NoNewPrivs:\s+1\n/); // process.noNewPrivileges
    expect(lines).toContain('read-only\ndisk refused\n321\n');
    expect(oci(['start', 'life']).out).toMatch(/^box: cannot start container "life": it is running, not created\n$/);

    expect(oci(['delete', 'life']).code).not.toBe(0); // running: needs --force
    expect(oci(['kill', 'life', 'KILL']).code).toBe(0);
    await until(() => state('life').status === 'stopped', 10_000, 'stopped');
    expect(state('life').pid).toBe(0);
    expect(oci(['delete', 'life']).code).toBe(0);
    expect(fs.existsSync(path.join(root, 'life'))).toBe(false);
    await until(() => cgroupFile('life', 'pids.max') === null, 10_000, 'the cgroup removed');
    expect(oci(['state', 'life']).out).toBe('box: container "life" does not exist\n');
  });

  t.it('joins a namespace given by path', async () => {
    // A process in a UTS namespace of its own, named "joined": the container joins it.
    const holder: ChildProcess = spawn('unshare', ['--uts', 'sh', '-c', 'hostname joined; exec sleep 60'], { stdio: 'ignore' });
    try {
      await until(() => {
        try {
          return fs.readlinkSync(`/proc/${holder.pid}/ns/uts`) !== fs.readlinkSync('/proc/self/ns/uts') &&
            fs.readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').startsWith('sleep');
        } catch {
          return false;
        }
      }, 10_000, 'the namespace holder');
      const b = bundle('join', {
        process: proc(['hostname']),
        linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts', path: `/proc/${holder.pid}/ns/uts` }] },
      });
      const out = path.join(dir, 'join.out');
      expect(oci(['create', '-b', b, 'join'], out).code).toBe(0);
      expect(oci(['start', 'join']).code).toBe(0);
      await until(() => state('join').status === 'stopped', 10_000, 'the container to exit');
      expect(fs.readFileSync(out, 'utf8')).toBe('joined\n');
      expect(oci(['delete', 'join']).code).toBe(0);
      // A hostname in the config is set in the joined namespace, as runc does: its holder sees it.
      const renamed = bundle('join-host', {
        hostname: 'renamed', process: proc(['true']),
        linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts', path: `/proc/${holder.pid}/ns/uts` }] },
      });
      expect(oci(['create', '-b', renamed, 'join-host']).code).toBe(0);
      expect(execFileSync('nsenter', [`--uts=/proc/${holder.pid}/ns/uts`, 'hostname'], { encoding: 'utf8' })).toBe('renamed\n');
      expect(oci(['delete', '--force', 'join-host']).code).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  t.it('--console-socket: the terminal\'s master is sent over the socket (SCM_RIGHTS), as conmon receives it', async () => {
    // A small receiver, as conmon: it takes the master, types a line into it, prints what comes back.
    const receiver = path.join(dir, 'console-receiver');
    execFileSync('gcc', ['-static', '-O2', '-o', receiver, path.join(import.meta.dirname, '../fixtures/console/console-receiver.c')]);
    const sock = path.join(dir, 'console.sock');
    const got = path.join(dir, 'console.out');
    const rx = spawn(receiver, [sock, 'typed\n'], { stdio: ['ignore', fs.openSync(got, 'w'), 'inherit'] });
    const done = new Promise<number | null>((resolve) => rx.once('exit', resolve));
    await until(() => fs.existsSync(sock), 10_000, 'the receiver\'s socket');
    const b = bundle('tty', {
      process: proc(['sh', '-c', 'tty; stty size; read line; echo got $line'], { terminal: true, consoleSize: { height: 30, width: 100 } }),
    });
    expect(oci(['create', '-b', b, 'tty']).out).toMatch(/^box: .*process\.terminal is true but no --console-socket was given/);
    expect(oci(['create', '-b', b, '--console-socket', sock, 'tty'])).toEqual({ code: 0, out: '' });
    expect(oci(['start', 'tty']).code).toBe(0);
    expect(await done).toBe(0);
    // The terminal echoes what was typed; the command's lines end in \r\n, as a terminal's do.
    expect(fs.readFileSync(got, 'utf8')).toBe('received /dev/ptmx\ntyped\r\n/dev/pts/0\r\n30 100\r\ngot typed\r\n');
    await until(() => state('tty').status === 'stopped', 10_000, 'the container to exit');
    expect(oci(['delete', 'tty']).code).toBe(0);
    const plain = bundle('notty', { process: proc(['true']) });
    expect(oci(['create', '-b', plain, '--console-socket', sock, 'notty']).out).toMatch(/^box: --console-socket given but .* "terminal": false/);
    expect(fs.existsSync(path.join(root, 'notty'))).toBe(false);
  });

  t.it('create: the state\'s pid and --pid-file are the container\'s PID 1, which the caller\'s subreaper reaps with its exit status', async () => {
    // As runc: box-init's first process exits once it has forked into the new PID namespace,
    // so the container's PID 1 is the subreaper's child, with nothing of box's in between.
    const b = bundle('pid1', { process: proc(['sh', '-c', 'exit 5']) });
    const pidFile = path.join(dir, 'pid1.pid');
    const out = path.join(dir, 'pid1.out');
    const caller = spawn(subreaper(), ['1', pidFile, boxBin, '--root', root, 'create', '-b', b, '--pid-file', pidFile, 'pid1'], { stdio: ['ignore', fs.openSync(out, 'w'), 'inherit'] });
    const done = new Promise<number | null>((resolve) => caller.once('exit', resolve));
    await until(() => fs.existsSync(pidFile), 30_000, 'create to write the pid file');
    const s = state('pid1');
    expect(s.status).toBe('created');
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(s.pid));
    const status = fs.readFileSync(`/proc/${s.pid}/status`, 'utf8');
    expect(status).toMatch(/^NSpid:\s+\d+\s+1$/m); // PID 1 in its own namespace
    expect(status).toMatch(new RegExp(`^PPid:\\s+${caller.pid}$`, 'm')); // adopted by the subreaper
    expect(fs.readlinkSync(`/proc/${s.pid}/ns/pid`)).not.toBe(fs.readlinkSync('/proc/self/ns/pid'));
    expect(oci(['start', 'pid1']).code).toBe(0);
    expect(await done).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe('exit 5\n');
    expect(state('pid1').status).toBe('stopped');
    expect(oci(['delete', 'pid1']).code).toBe(0);
  });

  t.it('exec --detach: the pid in --pid-file is the caller\'s subreaper\'s to reap, with its exit status, even when it ends at once', async () => {
    // As conmon: a subreaper runs `box exec --detach --pid-file F` and then waits for F's pid.
    // A quick command once ended while box (Node, which reaps every child it spawned) was still
    // there: the status went to Node, and the subreaper's waitpid(2) said ECHILD ("not ours").
    const reaper = subreaper();
    const b = bundle('detach', { process: proc(['sleep', '60']) });
    expect(oci(['create', '-b', b, 'detach'])).toMatchObject({ code: 0 }); // on failure, box's line is shown
    expect(oci(['start', 'detach']).code).toBe(0);
    const pidFile = path.join(dir, 'detach.pid');
    const runs = 30;
    const r = spawnSync(reaper, [String(runs), pidFile, boxBin, '--root', root, 'exec', '--detach', '--pid-file', pidFile, 'detach', 'sh', '-c', 'exit 3'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout.trim().split('\n')).toEqual(Array(runs).fill('exit 3'));
    // Its parent is then the subreaper; when that one exits the process lives on (no death
    // signal tied to it: a detached exec once died with it), and is adopted further up.
    expect(spawnSync(reaper, ['0', pidFile, boxBin, '--root', root, 'exec', '-d', '--pid-file', pidFile, 'detach', 'sleep', '60'], { stdio: 'ignore' }).status).toBe(0);
    const sleeper = Number(fs.readFileSync(pidFile, 'utf8'));
    // A death signal is sent while its parent exits, before that one is reaped: by now the
    // process would be gone, a zombie, or have SIGKILL (bit 8) pending.
    const status = fs.readFileSync(`/proc/${sleeper}/status`, 'utf8');
    expect(status).not.toMatch(/^State:\s+[ZX]/m);
    for (const pending of status.matchAll(/^(?:SigPnd|ShdPnd):\s+([0-9a-f]+)$/gm)) expect(BigInt(`0x${pending[1]}`) & 0x100n).toBe(0n);
    process.kill(sleeper, 'SIGKILL');
    expect(oci(['kill', 'detach', 'KILL']).code).toBe(0);
    await until(() => state('detach').status === 'stopped', 10_000, 'stopped');
    expect(oci(['delete', 'detach']).code).toBe(0);
  });

  t.it('--preserve-fds N: descriptors 3..3+N-1 reach the container\'s process, and no others', async () => {
    const b = bundle('fds', { process: proc(['sh', '-c', 'echo kept >&3; ls /proc/self/fd']) });
    const kept = path.join(dir, 'kept.txt');
    const out = path.join(dir, 'fds.out');
    const run = (args: string[]) => {
      const fds = [fs.openSync(out, 'w'), fs.openSync(kept, 'w'), fs.openSync(kept, 'r')];
      const r = spawnSync(boxBin, ['--root', root, ...args], { stdio: ['ignore', fds[0], fds[0], fds[1], fds[2]], timeout: 30_000 });
      for (const fd of fds) fs.closeSync(fd);
      return { code: r.status, out: fs.readFileSync(out, 'utf8') };
    };
    expect(run(['create', '-b', b, '--preserve-fds', '1', 'fds'])).toEqual({ code: 0, out: '' });
    expect(oci(['start', 'fds']).code).toBe(0);
    await until(() => state('fds').status === 'stopped', 10_000, 'the container to exit');
    expect(fs.readFileSync(kept, 'utf8')).toBe('kept\n');
    // fd 3 kept; fd 4 (given to box too) not; 5 is ls's own directory.
    expect(fs.readFileSync(out, 'utf8').split(/\s+/).filter(Boolean)).toEqual(['0', '1', '2', '3', '4']);
    expect(oci(['delete', 'fds']).code).toBe(0);
    expect(oci(['create', '-b', b, '--preserve-fds', 'x', 'fds']).out).toMatch(/^box: --preserve-fds NaN: give a count/);
  });

  t.it('sysctls of its own namespaces; the config\'s masked and read-only paths; user, groups, umask and every capability set', async () => {
    const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const b = bundle('params', {
      root: { path: 'rootfs' },
      process: proc(['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; cat /secret/x 2>/dev/null || echo masked; ' +
        'echo y 2>/dev/null >/ro/y || echo read-only; cat /ro/there; id; umask; grep -E "^Cap(Inh|Eff|Amb)" /proc/self/status'], {
        user: { uid: 1000, gid: 1000, additionalGids: [5, 7], umask: 0o077 },
        capabilities: { bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] },
      }),
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }],
        sysctl: { 'net.ipv4.ip_forward': hostForward.trim() === '1' ? '0' : '1', 'kernel.shmmax': '123456' },
        maskedPaths: ['/secret', '/proc/kcore', '/no/such/path'], readonlyPaths: ['/ro'],
      },
    });
    for (const d of ['secret', 'ro']) fs.mkdirSync(path.join(b, 'rootfs', d), { mode: 0o777 });
    fs.writeFileSync(path.join(b, 'rootfs/secret/x'), 'the secret\n', { mode: 0o644 });
    fs.writeFileSync(path.join(b, 'rootfs/ro/there'), 'still readable\n', { mode: 0o644 });
    const out = path.join(dir, 'params.out');
    expect(oci(['create', '-b', b, 'params'], out).code).toBe(0);
    expect(oci(['start', 'params']).code).toBe(0);
    await until(() => state('params').status === 'stopped', 10_000, 'the container to exit');
    expect(fs.readFileSync(out, 'utf8')).toBe(`${hostForward.trim() === '1' ? '0' : '1'}\n123456\nmasked\nread-only\nstill readable\n` +
      'uid=1000 gid=1000 groups=5,7\n0077\nCapInh:\t0000000000000400\nCapEff:\t0000000000000400\nCapAmb:\t0000000000000400\n');
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForward); // the host's own is untouched
    expect(oci(['delete', 'params']).code).toBe(0);

    const host = bundle('hostsys', { process: proc(['true']), linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], sysctl: { 'kernel.pid_max': '1000' } } });
    expect(oci(['create', '-b', host, 'hostsys']).out).toMatch(/^box: .*linux\.sysctl kernel\.pid_max is not in a separate kernel namespace .*\n$/);
    const hostNet = bundle('hostnet', { process: proc(['true']), linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], sysctl: { 'net.ipv4.ip_forward': '1' } } });
    expect(oci(['create', '-b', hostNet, 'hostnet']).out).toMatch(/^box: .*net\.ipv4\.ip_forward is not allowed in the host's network namespace; add \{"type": "network"\}.*\n$/);
    expect(fs.existsSync(path.join(root, 'hostsys')) || fs.existsSync(path.join(root, 'hostnet'))).toBe(false);
  });

  t.it('a capability box\'s own bounding set lacks is left out with a warning, as the spec (1.1) asks; the others are granted', async () => {
    // box run with CAP_WAKE_ALARM out of its bounding set (setpriv, util-linux): the config asks for it and CAP_KILL.
    const want = ['CAP_KILL', 'CAP_WAKE_ALARM'];
    const b = bundle('nocap', { process: proc(['sh', '-c', 'grep -E "^Cap(Bnd|Eff)" /proc/self/status'], { capabilities: { bounding: want, effective: want, permitted: want } }) });
    const out = path.join(dir, 'nocap.out');
    const fd = fs.openSync(out, 'w');
    const r = spawnSync('setpriv', ['--bounding-set', '-wake_alarm', boxBin, '--root', root, 'create', '-b', b, 'nocap'], { stdio: ['ignore', fd, fd], timeout: 30_000 });
    fs.closeSync(fd);
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(oci(['start', 'nocap']).code).toBe(0);
    await until(() => state('nocap').status === 'stopped', 10_000, 'the container to exit');
    // CAP_KILL is bit 5: 0x20, and nothing else.
    expect(fs.readFileSync(out, 'utf8')).toBe(
      "box: warning: process.capabilities: CAP_WAKE_ALARM cannot be granted: box's own bounding set lacks it (CapBnd in /proc/self/status); the container runs without\n" +
      'CapEff:\t0000000000000020\nCapBnd:\t0000000000000020\n');
    expect(oci(['delete', 'nocap']).code).toBe(0);
  });

  t.it('hooks run at their points of the lifecycle, in order, with the state on stdin; a failing or slow one fails create, a failing poststart one start', async () => {
    const log = path.join(dir, 'hooks.log');
    // Each host-side hook appends its name and the state it read; createContainer also its network namespace.
    const record = (name: string, extra = '') => ({ path: '/bin/sh', args: ['sh', '-c', `{ echo ${name}; cat; echo; ${extra} } >> ${log}`], timeout: 10 });
    const b = bundle('hooked', {
      root: { path: 'rootfs' },
      annotations: { 'org.example/test': 'hooks' },
      process: proc(['sh', '-c', 'echo process ran >> /ran']),
      hooks: {
        prestart: [record('prestart')],
        createRuntime: [record('createRuntime')],
        createContainer: [record('createContainer', 'readlink /proc/self/ns/net;')],
        // Inside the container, after pivot_root: /bin/sh and / are the bundle's.
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'cat > /startContainer.json; test -f /ran || echo not yet > /before-process'] }],
        poststart: [record('poststart')],
        poststop: [{ path: '/bin/false' }, record('poststop')],
      },
    });
    const out = path.join(dir, 'hooked.out');
    expect(oci(['create', '-b', b, 'hooked'], out)).toEqual({ code: 0, out: '' });
    const { pid } = state('hooked');
    const netns = fs.readlinkSync(`/proc/${pid}/ns/net`);
    expect(oci(['start', 'hooked']).code).toBe(0);
    await until(() => state('hooked').status === 'stopped', 10_000, 'the container to exit');
    const del = oci(['delete', 'hooked']);
    expect(del.code).toBe(0);
    expect(del.out).toMatch(/^box: warning: the poststop hook 0 \(\/bin\/false\) failed \(exit 1\)\n$/); // reported; the next one still ran

    const entries = fs.readFileSync(log, 'utf8').trim().split('\n');
    const names = entries.filter((l) => /^[a-zA-Z]+$/.test(l));
    expect(names).toEqual(['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']);
    const states = entries.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const common = { ociVersion: '1.0.2', id: 'hooked', bundle: b, annotations: { 'org.example/test': 'hooks' } };
    expect(states.map((st) => st.status)).toEqual(['creating', 'creating', 'creating', 'running', 'stopped']);
    // In the host's namespaces the pid box state gives; inside the container (createContainer), its own: 1.
    expect(states.map((st) => st.pid)).toEqual([pid, pid, 1, pid, pid]);
    for (const st of states) expect(st).toMatchObject(common);
    expect(entries).toContain(netns); // createContainer ran in the container's network namespace
    // startContainer: inside the container (pid as the container sees it), before the process.
    expect(JSON.parse(fs.readFileSync(path.join(b, 'rootfs/startContainer.json'), 'utf8'))).toMatchObject({ ...common, status: 'created', pid: 1 });
    expect(fs.readFileSync(path.join(b, 'rootfs/before-process'), 'utf8')).toBe('not yet\n');
    expect(fs.readFileSync(path.join(b, 'rootfs/ran'), 'utf8')).toBe('process ran\n');

    const failing = bundle('hookfail', { process: proc(['true']), hooks: { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no network for you >&2; exit 3'] }] } });
    expect(oci(['create', '-b', failing, 'hookfail']).out).toBe('box: the createRuntime hook 0 (/bin/sh) failed (exit 3): no network for you\n');
    const slow = bundle('hookslow', { process: proc(['true']), hooks: { prestart: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] } });
    expect(oci(['create', '-b', slow, 'hookslow']).out).toBe('box: the prestart hook 0 (/bin/sleep) timed out after 1s\n');
    for (const id of ['hookfail', 'hookslow']) {
      expect(fs.existsSync(path.join(root, id))).toBe(false);
      expect(cgroupFile(id, 'pids.max')).toBeNull();
    }
    // A failing poststart hook: start fails naming it, and the container is stopped, whether
    // its process is still running (killed) or had ended already (`true`: nothing to stop).
    for (const [id, args] of [['postfail', ['sleep', '60']], ['postfailquick', ['true']]] as const) {
      const pf = bundle(id, { process: proc([...args]), hooks: { poststart: [{ path: '/bin/false' }] } });
      expect(oci(['create', '-b', pf, id])).toEqual({ code: 0, out: '' });
      expect(oci(['start', id])).toEqual({ code: 125, out: 'box: the poststart hook 0 (/bin/false) failed (exit 1)\n' });
      await until(() => state(id).status === 'stopped', 10_000, `${id} to be stopped`);
      expect(oci(['delete', id]).code).toBe(0);
    }
    const bad = bundle('hookbad', { process: proc(['true']), hooks: { prestart: [{ path: 'sh' }] } });
    expect(oci(['create', '-b', bad, 'hookbad']).out).toMatch(/^box: .*hooks\.prestart\[0\]\.path must be an absolute path\n$/);
  });

  t.it('a user namespace from linux.uidMappings/gidMappings: root inside is an unprivileged id outside, for exec too', async () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const b = bundle('userns', {
      root: { path: 'rootfs' },
      process: proc(['sh', '-c', 'id; cat /proc/self/uid_map; echo made > /shared/by-container; exec sleep 60']),
      mounts: [{ destination: '/shared', type: 'bind', source: path.join(dir, 'shared'), options: ['rbind'] }],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }, { type: 'user' }],
        uidMappings: maps, gidMappings: maps,
      },
    });
    // The root filesystem belongs to the container's root, as an engine prepares it (podman chowns it).
    fs.mkdirSync(path.join(dir, 'shared'));
    fs.mkdirSync(path.join(b, 'rootfs/shared'));
    spawnSync('chown', ['-R', '100000:100000', path.join(b, 'rootfs'), path.join(dir, 'shared')]);
    const out = path.join(dir, 'userns.out');
    // The container's root (100000 on the host) builds the root: it must reach the bundle.
    expect(oci(['create', '-b', b, 'userns'], out).out).toBe(`box: ${b}/config.json: ${dir} is not searchable by the container's root (uid 100000 on the host) in its user namespace; chmod o+x ${dir} (or chown the bundle to 100000)\n`);
    fs.chmodSync(dir, 0o711);
    expect(oci(['create', '-b', b, 'userns'], out)).toEqual({ code: 0, out: '' });
    expect(oci(['start', 'userns']).code).toBe(0);
    await until(() => fs.readFileSync(out, 'utf8').includes('65536'), 10_000, 'the container\'s output');
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^uid=0 gid=0\n\s+0\s+100000\s+65536\n$/);
    const hostUid = (pid: number) => /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
    // Every process of the container, box-init's reaper included, is uid 100000 on the host.
    const pids = JSON.parse(oci(['ps', '--format', 'json', 'userns']).out) as number[];
    expect(pids).toContain(state('userns').pid);
    expect(new Set(pids.map(hostUid))).toEqual(new Set(['100000']));
    expect(fs.statSync(path.join(dir, 'shared/by-container')).uid).toBe(100000);
    // exec joins the user namespace too, and becomes its root: uid 0 inside, 100000 outside.
    expect(oci(['exec', 'userns', 'id']).out).toBe('uid=0 gid=0\n');
    const pidFile = path.join(dir, 'userns-exec.pid');
    expect(oci(['exec', '-d', '--pid-file', pidFile, 'userns', 'sleep', '30']).code).toBe(0);
    expect(hostUid(Number(fs.readFileSync(pidFile, 'utf8')))).toBe('100000');
    expect(oci(['delete', '--force', 'userns']).code).toBe(0);

    const noNs = bundle('nouserns', { process: proc(['true']), linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], uidMappings: maps, gidMappings: maps } });
    expect(oci(['create', '-b', noNs, 'nouserns']).out).toMatch(/^box: .*uidMappings\/gidMappings need a user namespace; add \{"type": "user"\}.*\n$/);
    const noRoot = bundle('noroot', {
      process: proc(['true']),
      linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'user' }], uidMappings: [{ containerID: 1, hostID: 100001, size: 10 }], gidMappings: maps },
    });
    expect(oci(['create', '-b', noRoot, 'noroot']).out).toMatch(/^box: .*linux\.uidMappings must map the container's id 0.*\n$/);
  });

  t.it('mounts are made in their listed order: a bind inside a tmpfs listed before it is seen', async () => {
    const host = path.join(dir, 'listed');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'note'), 'from the host\n');
    const b = bundle('order', {
      process: proc(['cat', '/scratch/data/note']),
      mounts: [
        { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/scratch/data', type: 'bind', source: host, options: ['rbind', 'ro'] },
      ],
    });
    const out = path.join(dir, 'order.out');
    expect(oci(['create', '-b', b, 'order'], out).code).toBe(0);
    expect(oci(['start', 'order']).code).toBe(0);
    await until(() => state('order').status === 'stopped', 10_000, 'the container to exit');
    expect(fs.readFileSync(out, 'utf8')).toBe('from the host\n'); // made the other way round, the tmpfs would hide it
    expect(oci(['delete', 'order']).code).toBe(0);
  });

  t.it('linux.rootfsPropagation: the container\'s "/" is shared or unbindable as asked', async () => {
    for (const [mode, tag] of [['shared', / shared:\d+ /], ['unbindable', / unbindable /]] as const) {
      const b = bundle(`prop-${mode}`, { process: proc(['grep', '-E', '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ', '/proc/self/mountinfo']), linux: { namespaces: NS_DEFAULT, rootfsPropagation: mode } });
      const out = path.join(dir, `prop-${mode}.out`);
      expect(oci(['create', '-b', b, `prop-${mode}`], out).code).toBe(0);
      expect(oci(['start', `prop-${mode}`]).code).toBe(0);
      await until(() => state(`prop-${mode}`).status === 'stopped', 10_000, 'the container to exit');
      expect(fs.readFileSync(out, 'utf8')).toMatch(tag);
      expect(oci(['delete', `prop-${mode}`]).code).toBe(0);
    }
    const bad = bundle('prop-bad', { process: proc(['true']), linux: { namespaces: NS_DEFAULT, rootfsPropagation: 'sideways' } });
    expect(oci(['create', '-b', bad, 'prop-bad']).out).toMatch(/^box: .*linux\.rootfsPropagation 'sideways' is not one of shared, slave, /);
  });

  t.it('bind options as runc: rbind or bind, propagation (rshared, rslave, private) after it, ro/nosuid/noexec as a remount', async () => {
    // The source is a shared mount of its own (this host's "/" is private): what the host
    // mounts below it later reaches the rshared and rslave binds (the container's mounts are
    // slaves of the host's, as runc makes them), not the private one.
    const src = path.join(dir, 'propsrc');
    fs.mkdirSync(path.join(src, 'pre'), { recursive: true });
    fs.mkdirSync(path.join(src, 'later'));
    execFileSync('mount', ['--bind', src, src]);
    execFileSync('mount', ['--make-shared', src]);
    execFileSync('mount', ['-t', 'tmpfs', 'pre', path.join(src, 'pre')]);
    try {
      const bind = (destination: string, options: string[]) => ({ destination, type: 'bind', source: src, options });
      const b = bundle('bindprop', {
        process: proc(['sleep', '60']),
        mounts: [bind('/sh', ['rbind', 'rshared']), bind('/sl', ['rbind', 'rslave']), bind('/pr', ['bind', 'private']), bind('/ro', ['bind', 'ro', 'nosuid', 'noexec'])],
      });
      expect(oci(['create', '-b', b, 'bindprop']).code).toBe(0);
      expect(oci(['start', 'bindprop']).code).toBe(0);
      const { pid } = state('bindprop');
      // findmnt reads the container's mount table (/proc/PID/mountinfo): paths as it sees them.
      const table = () => new Map(execFileSync('findmnt', ['-N', String(pid), '-rn', '-o', 'TARGET,PROPAGATION,VFS-OPTIONS'], { encoding: 'utf8' })
        .trim().split('\n').map((l) => l.split(' ')).map(([target, prop, opts]) => [target, { prop, opts: opts.split(',') }]));
      let t = table();
      expect(t.get('/sh')?.prop).toBe('shared,slave');
      expect(t.get('/sl')?.prop).toBe('private,slave');
      expect(t.get('/pr')?.prop).toBe('private');
      expect(t.get('/ro')?.opts).toEqual(expect.arrayContaining(['ro', 'nosuid', 'noexec']));
      expect(t.get('/sh')?.opts).toContain('rw');
      // rbind takes the mounts below the source along; bind does not.
      expect([t.has('/sh/pre'), t.has('/sl/pre'), t.has('/pr/pre'), t.has('/ro/pre')]).toEqual([true, true, false, false]);
      execFileSync('mount', ['-t', 'tmpfs', 'later', path.join(src, 'later')]);
      t = table();
      expect([t.has('/sh/later'), t.has('/sl/later'), t.has('/pr/later')]).toEqual([true, true, false]);
      expect(oci(['kill', 'bindprop', 'KILL']).code).toBe(0);
      await until(() => state('bindprop').status === 'stopped', 10_000, 'stopped');
      expect(oci(['delete', 'bindprop']).code).toBe(0);
    } finally {
      spawnSync('umount', ['-R', src]);
    }
  });

  t.it('pause and resume freeze its cgroup; ps lists its processes; spec and features', async () => {
    const b = bundle('frozen', { process: proc(['sleep', '60']) });
    expect(oci(['create', '-b', b, 'frozen']).code).toBe(0);
    expect(oci(['start', 'frozen']).code).toBe(0);
    const { pid } = state('frozen');
    expect(JSON.parse(oci(['ps', '--format', 'json', 'frozen']).out)).toContain(pid);
    expect(oci(['pause', 'frozen']).code).toBe(0);
    expect(state('frozen').status).toBe('paused');
    expect(cgroupFile('frozen', 'freezer.state') ?? cgroupFile('frozen', 'cgroup.freeze')).toMatch(/^(FROZEN|1)$/);
    expect(oci(['pause', 'frozen']).out).toBe('box: cannot pause container "frozen": it is paused, not running\n');
    expect(oci(['resume', 'frozen']).code).toBe(0);
    expect(state('frozen').status).toBe('running');
    expect(cgroupFile('frozen', 'freezer.state') ?? cgroupFile('frozen', 'cgroup.freeze')).toMatch(/^(THAWED|0)$/);
    expect(oci(['delete', '--force', 'frozen']).code).toBe(0);

    const features = JSON.parse(oci(['features']).out);
    expect(features).toMatchObject({ ociVersionMin: '1.0.0', linux: { cgroup: { v1: true, v2: true, systemd: false } } });
    const specDir = path.join(dir, 'spec');
    fs.mkdirSync(specDir);
    expect(oci(['spec', '--bundle', specDir]).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(specDir, 'config.json'), 'utf8'))).toMatchObject({ root: { path: 'rootfs' }, process: { args: ['sh'] } });
    expect(oci(['spec', '--bundle', specDir]).out).toMatch(/^box: .*config\.json exists already; remove it first\n$/);
  });

  /** Create and start a bundle, wait until it exits, and return what it printed. */
  async function runToEnd(id: string, b: string): Promise<string> {
    const out = path.join(dir, `${id}.out`);
    const created = oci(['create', '-b', b, id], out);
    expect(created.out).toBe('');
    expect(oci(['start', id]).code).toBe(0);
    await until(() => state(id).status === 'stopped', 10_000, 'the container to exit');
    expect(oci(['delete', id]).code).toBe(0);
    return fs.readFileSync(out, 'utf8');
  }

  t.it('linux.devices: the nodes are made in its /dev with their mode and owner, and may be opened', async () => {
    const b = bundle('devs', {
      process: proc(['sh', '-c', 'stat -c "%n %F %t:%T %a %u:%g" /dev/mine /dev/net/tun /dev/fifo /dev/fuse; (: < /dev/fuse) && echo fuse opened']),
      linux: {
        namespaces: NS_DEFAULT,
        devices: [
          { path: '/dev/mine', type: 'c', major: 1, minor: 3, fileMode: 0o640, uid: 12, gid: 34 },
          { path: '/dev/net/tun', type: 'c', major: 10, minor: 200 },
          { path: '/dev/fifo', type: 'p', fileMode: 0o600 },
          { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 },
        ],
        // As podman sends it: deny all. A listed node is allowed all the same (as runc appends it).
        resources: { devices: [{ allow: false, access: 'rwm' }] },
      },
    });
    expect(await runToEnd('devs', b)).toBe('/dev/mine character special file 1:3 640 12:34\n/dev/net/tun character special file a:c8 666 0:0\n' +
      '/dev/fifo fifo 0:0 600 0:0\n/dev/fuse character special file a:e5 666 0:0\nfuse opened\n');

    // Bad ones: one line naming the fix, nothing left behind.
    const bad = (id: string, device: Record<string, unknown>) => oci(['create', '-b', bundle(id, { process: proc(['true']), linux: { namespaces: NS_DEFAULT, devices: [device] } }), id]).out;
    expect(bad('devout', { path: '/etc/mine', type: 'c', major: 1, minor: 3 })).toMatch(/^box: .*linux\.devices \/etc\/mine: the path must be a node under \/dev.*\n$/);
    expect(bad('devtype', { path: '/dev/mine', type: 'x', major: 1, minor: 3 })).toMatch(/^box: .*type 'x' is not one of c, b, u \(devices\) or p \(a fifo\)\n$/);
    expect(bad('devnum', { path: '/dev/mine', type: 'b', minor: 3 })).toMatch(/^box: .*a 'b' device needs "major" and "minor".*\n$/);
    for (const id of ['devout', 'devtype', 'devnum']) expect(fs.existsSync(path.join(root, id))).toBe(false);
  });

  t.it('linux.devices in a user namespace: the host\'s node is bound (mknod is refused there)', async () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const b = bundle('devuserns', {
      process: proc(['sh', '-c', 'stat -c "%n %F %t:%T %a %u" /dev/fuse; (: < /dev/fuse) || true']),
      linux: { namespaces: [...NS_DEFAULT, { type: 'user' }], uidMappings: maps, gidMappings: maps, devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }] },
    });
    spawnSync('chown', ['-R', '100000:100000', path.join(b, 'rootfs')]);
    fs.chmodSync(dir, 0o711);
    // The host's /dev/fuse (crw------- root): its root is nobody in the namespace, and keeps the node's mode.
    expect(await runToEnd('devuserns', b)).toBe("/dev/fuse character special file a:e5 600 65534\nsh: can't open /dev/fuse: Permission denied\n");
  });

  t.it('linux.resources.devices: the config\'s rules in order, on top of "deny all"', async () => {
    // The host's /dev/fuse bound in: the node is there, and only the rules decide whether it opens.
    const config = (rules: unknown[]) => ({
      process: proc(['sh', '-c', 'echo > /dev/null && echo null written; (: < /dev/fuse) && echo fuse opened; (: < /dev/zero) && echo zero read']),
      mounts: [{ destination: '/dev/fuse', type: 'bind', source: '/dev/fuse', options: ['bind'] }],
      linux: { namespaces: NS_DEFAULT, resources: { devices: rules } },
    });
    const refused = bundle('devdeny', config([{ allow: false, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }]));
    expect(await runToEnd('devdeny', refused)).toBe("sh: can't create /dev/null: Operation not permitted\nsh: can't open /dev/fuse: Operation not permitted\nzero read\n");

    const allowed = bundle('devallow', config([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 20, access: 'rw' }]));
    const out = path.join(dir, 'devallow.out');
    expect(oci(['create', '-b', allowed, 'devallow'], out).code).toBe(0);
    const list = cgroupFile('devallow', 'devices.list'); // cgroup v1: the exceptions in the order written
    if (list !== null) expect(list.split('\n').slice(0, 3)).toEqual(['c 10:229 rwm', 'b 8:20 rw', 'c *:* m']);
    expect(oci(['start', 'devallow']).code).toBe(0);
    await until(() => state('devallow').status === 'stopped', 10_000, 'the container to exit');
    expect(fs.readFileSync(out, 'utf8')).toBe('null written\nfuse opened\nzero read\n');
    expect(oci(['delete', 'devallow']).code).toBe(0);

    const hole = bundle('devhole', config([{ allow: true, type: 'c', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]));
    expect(oci(['create', '-b', hole, 'devhole']).out).toMatch(/^box: .*device rule "deny c 1:3 w" cuts a hole in the earlier "allow c \*:\* rwm".*\n$/);
    expect(fs.existsSync(path.join(root, 'devhole'))).toBe(false);
  });

  t.it('refuses bad input in one line, logs it as runc does, and leaves nothing behind', () => {
    const b = path.join(dir, 'bad');
    fs.mkdirSync(b);
    fs.writeFileSync(path.join(b, 'config.json'), '{"process": ');
    const log = path.join(dir, 'runtime.log');
    const r = oci(['--log', log, '--log-format', 'json', 'create', '--bundle', b, 'bad']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/^box: .*config\.json is not valid JSON .*; fix it\n$/);
    const logged = JSON.parse(fs.readFileSync(log, 'utf8').trim());
    expect(logged).toMatchObject({ level: 'error' });
    expect(logged.msg).toContain('is not valid JSON');
    expect(fs.existsSync(path.join(root, 'bad'))).toBe(false);

    const hooks = bundle('hooks', { process: proc(['true']), hooks: { prestart: [{ path: '/bin/true' }] } });
    expect(oci(['--systemd-cgroup', 'list']).out).toMatch(/^box: --systemd-cgroup is not supported.*cgroupfs.*\n$/);
    expect(oci(['create', '-b', hooks, '../x']).out).toMatch(/^box: invalid container id/);
    expect(fs.existsSync(path.join(root, 'hooks'))).toBe(false);
  });

  t.it('writes linux.resources cpu shares, cpuset, memory reservation, swap, swappiness and disableOOMKiller (v1 here)', () => {
    const v1 = fs.existsSync('/sys/fs/cgroup/memory/memory.soft_limit_in_bytes');
    const memory = { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20, ...(v1 ? { swappiness: 10, disableOOMKiller: true } : {}) };
    const b = bundle('res', { process: proc(['sleep', '30']), linux: { namespaces: NS_DEFAULT, resources: { memory, cpu: { shares: 512, cpus: '0', mems: '0' } } } });
    const created = oci(['create', '-b', b, 'res']);
    expect(created.out).toBe('');
    expect(created.code).toBe(0);
    if (v1) {
      expect(cgroupFile('res', 'cpu.shares')).toBe('512');
      expect(cgroupFile('res', 'memory.soft_limit_in_bytes')).toBe(String(32 << 20));
      expect(cgroupFile('res', 'memory.swappiness')).toBe('10');
      expect(cgroupFile('res', 'memory.oom_control')).toMatch(/^oom_kill_disable 1$/m);
      if (fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) expect(cgroupFile('res', 'memory.memsw.limit_in_bytes')).toBe(String(128 << 20));
    } else {
      expect(cgroupFile('res', 'cpu.weight')).toBe('20'); // 1 + (510 * 9999) / 262142, runc's map
      expect(cgroupFile('res', 'memory.low')).toBe(String(32 << 20));
      expect(cgroupFile('res', 'memory.swap.max')).toBe(String(64 << 20));
    }
    expect(cgroupFile('res', 'cpuset.cpus')).toBe('0');
    expect(cgroupFile('res', 'cpuset.mems')).toBe('0');
    expect(oci(['delete', '--force', 'res']).code).toBe(0);
    expect(cgroupFile('res', 'cpu.shares') ?? cgroupFile('res', 'cpu.weight')).toBeNull();

    // Bad values: one line, nothing left behind.
    const low = bundle('swaplow', { process: proc(['true']), linux: { namespaces: NS_DEFAULT, resources: { memory: { limit: 64 << 20, swap: 32 << 20 } } } });
    expect(oci(['create', '-b', low, 'swaplow']).out).toBe(`box: linux.resources.memory.swap: ${32 << 20} is out of range; use -1 (unlimited) or at least memory.limit (${64 << 20})\n`);
    const shares = bundle('shares1', { process: proc(['true']), linux: { namespaces: NS_DEFAULT, resources: { cpu: { shares: 1 } } } });
    expect(oci(['create', '-b', shares, 'shares1']).out).toBe('box: linux.resources.cpu.shares: 1 is out of range; use 2 to 262144 (default 1024)\n');
    for (const id of ['swaplow', 'shares1']) {
      expect(fs.existsSync(path.join(root, id))).toBe(false);
      expect(cgroupFile(id, 'pids.max')).toBeNull();
    }
  });

  t.it('joins a pid and a mount namespace by path: the process runs beside the namespace\'s PID 1', async () => {
    // Someone else's namespaces: unshare's sleep is PID 1 of a new pid namespace, in a new mount namespace.
    const holder = spawn('unshare', ['--pid', '--mount', '--fork', '--kill-child', 'sleep', '120'], { stdio: 'ignore' });
    try {
      const pidNs = `/proc/${holder.pid}/ns/pid_for_children`;
      const mntNs = `/proc/${holder.pid}/ns/mnt`;
      await until(() => { try { return fs.readlinkSync(pidNs) !== fs.readlinkSync('/proc/self/ns/pid'); } catch { return false; } }, 10_000, 'unshare\'s namespaces');
      const namespaces = [{ type: 'pid', path: pidNs }, { type: 'mount', path: mntNs }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }];
      const b = bundle('nsjoin', { process: proc(['sh', '-c', 'echo "me $$"; echo "one $(cat /proc/1/cmdline | tr "\\0" " ")"; exec sleep 30']), linux: { namespaces } });
      const out = path.join(dir, 'nsjoin.out');
      const created = oci(['create', '-b', b, '--pid-file', path.join(dir, 'nsjoin.pid'), 'nsjoin'], out);
      expect(created.out).toBe('');
      expect(created.code).toBe(0);
      const s = state('nsjoin');
      expect(fs.readFileSync(path.join(dir, 'nsjoin.pid'), 'utf8')).toBe(String(s.pid));
      expect(fs.readlinkSync(`/proc/${s.pid}/ns/pid`)).toBe(fs.readlinkSync(pidNs));
      expect(fs.readlinkSync(`/proc/${s.pid}/ns/mnt`)).toBe(fs.readlinkSync(mntNs));
      expect(oci(['start', 'nsjoin']).code).toBe(0);
      await until(() => fs.readFileSync(out, 'utf8').includes('one '), 10_000, 'the container\'s output');
      const text = fs.readFileSync(out, 'utf8');
      expect(text).toMatch(/^me (\d+)\n/);
      expect(text).not.toMatch(/^me 1\n/); // not its own namespace's PID 1: unshare's sleep is
      expect(text).toContain('one sleep 120');
      expect(oci(['kill', 'nsjoin', 'KILL']).code).toBe(0);
      await until(() => state('nsjoin').status === 'stopped', 10_000, 'stopped');
      expect(oci(['delete', 'nsjoin']).code).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  t.it('joins a user namespace by path: its own maps, none written; root inside is its mapped id outside, for exec too', async () => {
    // Someone else's user namespace with a mount namespace it owns (unshare -U -m): its maps,
    // 0 -> 100000 for 65536 ids, written by us as its parent's root, as an engine would.
    const holder = spawn('unshare', ['--user', '--mount', 'sleep', '120'], { stdio: 'ignore' });
    try {
      const userNs = `/proc/${holder.pid}/ns/user`;
      await until(() => { try { return fs.readlinkSync(userNs) !== fs.readlinkSync('/proc/self/ns/user'); } catch { return false; } }, 10_000, 'unshare\'s user namespace');
      fs.writeFileSync(`/proc/${holder.pid}/uid_map`, '0 100000 65536\n');
      fs.writeFileSync(`/proc/${holder.pid}/gid_map`, '0 100000 65536\n');
      fs.chmodSync(dir, 0o711); // its root (100000 on the host) builds the container's root: it must reach the bundle
      const hostUid = (pid: number) => /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
      for (const mount of [{ type: 'mount' }, { type: 'mount', path: `/proc/${holder.pid}/ns/mnt` }]) {
        const id = mount.path ? 'ujoin-mnt' : 'ujoin';
        const b = bundle(id, {
          process: proc(['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map; exec sleep 60']),
          linux: { namespaces: [{ type: 'user', path: userNs }, { type: 'pid' }, mount, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }] },
        });
        // The root filesystem belongs to the namespace's root, as an engine prepares it (podman chowns it).
        spawnSync('chown', ['-R', '100000:100000', path.join(b, 'rootfs')]);
        const out = path.join(dir, `${id}.out`);
        expect(oci(['create', '-b', b, id], out)).toEqual({ code: 0, out: '' });
        expect(oci(['start', id]).code).toBe(0);
        await until(() => (fs.readFileSync(out, 'utf8').match(/65536/g) ?? []).length === 2, 10_000, 'the container\'s output');
        expect(fs.readFileSync(out, 'utf8')).toMatch(/^uid=0 gid=0\n\s+0\s+100000\s+65536\n\s+0\s+100000\s+65536\n$/);
        const pid = state(id).pid;
        expect(fs.readlinkSync(`/proc/${pid}/ns/user`)).toBe(fs.readlinkSync(userNs));
        // The mount namespace: a new one (owned by the joined user namespace), or the joined one.
        if (mount.path) expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(fs.readlinkSync(mount.path));
        else expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(fs.readlinkSync(`/proc/${holder.pid}/ns/mnt`));
        expect(hostUid(pid)).toBe('100000');
        expect(oci(['exec', id, 'id']).out).toBe('uid=0 gid=0\n');
        expect(oci(['delete', '--force', id]).code).toBe(0);
      }
      // Maps in the config that are not the namespace's: refused, as runc, nothing left behind.
      const other = [{ containerID: 0, hostID: 200000, size: 65536 }];
      const bad = bundle('ujoin-bad', { process: proc(['true']), linux: { namespaces: [{ type: 'user', path: userNs }, { type: 'mount' }], uidMappings: other, gidMappings: other } });
      expect(oci(['create', '-b', bad, 'ujoin-bad']).out).toMatch(/^box: .*linux\.uidMappings\/gidMappings differ from the maps of the user namespace .* it joins; remove them.*\n$/);
      expect(fs.existsSync(path.join(root, 'ujoin-bad'))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
    // A namespace made by `unshare --map-root-user`: its setgroups file says deny, and box (as runc) leaves the groups be.
    const deny = spawn('unshare', ['--user', '--map-root-user', 'sleep', '120'], { stdio: 'ignore' });
    try {
      await until(() => { try { return fs.readFileSync(`/proc/${deny.pid}/uid_map`, 'utf8').trim() !== '' && fs.readlinkSync(`/proc/${deny.pid}/ns/user`) !== fs.readlinkSync('/proc/self/ns/user'); } catch { return false; } }, 10_000, 'unshare\'s user namespace');
      expect(fs.readFileSync(`/proc/${deny.pid}/setgroups`, 'utf8').trim()).toBe('deny');
      const b = bundle('ujoin-deny', { process: proc(['sh', '-c', 'id -u; cat /proc/self/uid_map; exec sleep 60']), linux: { namespaces: [{ type: 'user', path: `/proc/${deny.pid}/ns/user` }, { type: 'pid' }, { type: 'mount' }, { type: 'network' }] } });
      const out = path.join(dir, 'ujoin-deny.out');
      expect(oci(['create', '-b', b, 'ujoin-deny'], out)).toEqual({ code: 0, out: '' });
      expect(oci(['start', 'ujoin-deny']).code).toBe(0);
      await until(() => fs.readFileSync(out, 'utf8').includes(' 1\n'), 10_000, 'the container\'s output');
      expect(fs.readFileSync(out, 'utf8')).toMatch(/^0\n\s+0\s+0\s+1\n$/);
      // The namespace's first holder gone, the container keeps it: exec joins it through the container's process.
      deny.kill('SIGKILL');
      await until(() => !fs.existsSync(`/proc/${deny.pid}/ns`), 10_000, 'unshare gone');
      expect(oci(['exec', 'ujoin-deny', 'id', '-u']).out).toBe('0\n');
      expect(oci(['delete', '--force', 'ujoin-deny']).code).toBe(0);
    } finally {
      deny.kill('SIGKILL');
    }
  });

  t.it('no mount namespace (as runc allows): a chroot, its mounts private below the root and gone after delete', async () => {
    // The host's mounts under the test's directory, and the host's "/" with its propagation.
    const mounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    const under = (p: string) => mounts().filter((l) => l.split(' ')[4]?.startsWith(p));
    const hostRoot = () => mounts().find((l) => l.split(' ')[4] === '/')!.split(' ').slice(4).join(' ');
    const rootBefore = hostRoot();
    // The bundle sits on a shared mount with a peer elsewhere, as on a systemd host: a mount
    // made below the bundle in the host's namespace would appear at the peer too.
    const shared = path.join(dir, 'shared-parent');
    const peer = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-oci-peer-'));
    fs.mkdirSync(shared);
    execFileSync('mount', ['--bind', shared, shared]);
    try {
      execFileSync('mount', ['--make-shared', shared]);
      execFileSync('mount', ['--bind', shared, peer]);
      await noMountNamespace(shared, peer, under);
    } finally {
      spawnSync('umount', ['-l', peer]);
      spawnSync('umount', ['-l', shared]);
      fs.rmSync(peer, { recursive: true, force: true });
    }
    expect(under(`${dir}/`)).toEqual([]);
    expect(under(`${peer}/`)).toEqual([]);
    expect(hostRoot()).toBe(rootBefore); // runc would have made it rslave
  });
});

/** A container without a mount namespace, its bundle in `shared`, whose peer is `peer`. */
async function noMountNamespace(shared: string, peer: string, under: (p: string) => string[]): Promise<void> {
  const ours = () => under(`${shared}/`);
  const b = bundle('shared-parent/nomnt', {
    process: proc(['sh', '-c', 'ls /; head -1 /proc/self/cmdline; echo; exec sleep 60']),
    mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'network' }] },
  });
  const out = path.join(dir, 'nomnt.out');
  expect(oci(['create', '-b', b, 'nomnt'], out)).toEqual({ code: 0, out: '' });
  expect(oci(['start', 'nomnt']).code).toBe(0);
  await until(() => fs.readFileSync(out, 'utf8').includes('sh'), 10_000, 'the container\'s output');
  // Its root is the bundle's rootfs (/proc, /dev, /sys and the tmpfs mounted in it), in the host's mount namespace.
  expect(fs.readFileSync(out, 'utf8')).toMatch(/^bin\ndev\nproc\nsys\ntmp\nsh/);
  const pid = JSON.parse(oci(['ps', '--format', 'json', 'nomnt']).out).find((p: number) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep'));
  expect(fs.readlinkSync(`/proc/${pid}/ns/mnt`)).toBe(fs.readlinkSync('/proc/self/ns/mnt'));
  expect(fs.readlinkSync(`/proc/${pid}/root`)).toBe(path.join(b, 'rootfs'));
  // Mounted in the host's namespace while it lives, each private: none propagates anywhere.
  const during = ours();
  expect(during.map((l) => l.split(' ')[4])).toEqual(expect.arrayContaining([`${b}/rootfs`, `${b}/rootfs/proc`, `${b}/rootfs/dev`, `${b}/rootfs/sys`, `${b}/rootfs/tmp`]));
  for (const l of during) expect(l).not.toMatch(/ (shared|master):\d+/);
  // At the peer: the root's bind itself (made on a shared mount), and nothing of what is below it.
  expect(under(`${peer}/`).map((l) => l.split(' ')[4])).toEqual([`${peer}/nomnt/rootfs`]);
  expect(oci(['kill', 'nomnt', 'KILL']).code).toBe(0);
  await until(() => state('nomnt').status === 'stopped', 10_000, 'stopped');
  expect(oci(['delete', 'nomnt']).code).toBe(0);
  expect(ours()).toEqual([]);
  expect(under(`${peer}/`)).toEqual([]); // the unmount reached the peer too

  // A create that fails after some of the mounts (a tmpfs option the kernel refuses): they go too.
  const failing = bundle('shared-parent/nomnt-fail', { process: proc(['true']), mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=not-a-size'] }], linux: { namespaces: [{ type: 'pid' }] } });
  const r = oci(['create', '-b', failing, 'nomnt-fail']);
  expect(r.code).not.toBe(0);
  expect(r.out).toMatch(/^box: .*mount.*\n$/);
  expect(ours()).toEqual([]);
  expect(under(`${peer}/`)).toEqual([]);
  expect(fs.existsSync(path.join(root, 'nomnt-fail'))).toBe(false);
  // What needs a mount namespace of its own is refused, as runc does.
  const masked = bundle('nomnt-masked', { process: proc(['true']), linux: { namespaces: [{ type: 'pid' }], maskedPaths: ['/proc/kcore'] } });
  expect(oci(['create', '-b', masked, 'nomnt-masked']).out).toMatch(/^box: .*linux\.maskedPaths and readonlyPaths cannot be applied without a mount namespace of its own; add \{"type": "mount"\}.*\n$/);
}
