// The logic of box run without root: argument parsing, the plan box-init will execute,
// path resolution inside an image, and the namespace bookkeeping around spawn. The same
// behaviour runs for real in test/integration/runtime.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, parseDuration, parseEnv } from '../../runtime/src/container/args.ts';
import { parseVolumeFlag } from '../../runtime/src/volume/spec.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { formatTemplate } from '../../runtime/src/cli/format.ts';
import { containerPlan, processSpec, parseUser } from '../../runtime/src/container/build-plan.ts';
import { Plan, PLAN_MAX_BYTES } from '../../runtime/src/init/plan.ts';
import { DEFAULT_NAMESPACES, parseNamespaceList } from '../../runtime/src/ns/namespaces.ts';
import { resolveInImage, type RootfsSpec } from '../../runtime/src/rootfs/rootfs.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';

describe('box run arguments', () => {
  it('splits options, the image and the command the way docker does', () => {
    const cfg = runConfigFrom(['-it', '--rm', '-e', 'A=1', '--name=web', '-m', '64m', 'busybox', 'sh', '-c', 'ls -l --help']);
    expect(cfg).toMatchObject({
      interactive: true, tty: true, autoRemove: true, name: 'web', env: ['A=1'],
      memoryBytes: 64 * 1024 * 1024, image: 'busybox', command: ['sh', '-c', 'ls -l --help'],
    });
    expect(cfg.namespaces).toEqual(DEFAULT_NAMESPACES);
    expect(cfg.seccomp).toBe(true);
  });

  it('reads --ns, --cpus, --pids-limit, volumes and security options', () => {
    const cfg = runConfigFrom(['--ns', 'uts,mount', '--cpus', '0.5', '--pids-limit', '20', '-v', '/a:/b:ro',
      '--security-opt', 'seccomp=unconfined', '--cap-drop', 'ALL', 'busybox']);
    expect(cfg.namespaces).toEqual(['uts', 'mnt']);
    expect(cfg.cpus).toEqual({ quotaUs: 50_000, periodUs: 100_000 });
    expect(cfg.pidsLimit).toBe(20);
    expect(cfg.volumes).toEqual([{ host: '/a', container: '/b', readOnly: true }]);
    expect(cfg.seccomp).toBe(false);
    expect(cfg.capDrop).toEqual(['ALL']);
  });

  it('refuses bad input with a message that names the fix', () => {
    const bad: [string[], RegExp][] = [
      [[], /needs an image/],
      [['--ns', 'pid,nope', 'busybox'], /unknown namespace 'nope'/],
      [['--ns', 'user', 'busybox'], /use --userns/],
      [['--pids-limit', '0', 'busybox'], /--pids-limit '0'/],
      [['--memory', 'lots', 'busybox'], /--memory/],
      [['--memory', '1k', 'busybox'], /^--memory 1k: the smallest limit is 6m/],
      [['--memory', '6291455', 'busybox'], /the smallest limit is 6m/],
      [['--time-offset', '1d', 'busybox'], /needs the time namespace/],
      [['--hostname', 'bad name', 'busybox'], /--hostname/],
      [['-w', 'rel', 'busybox'], /absolute path/],
      [['--security-opt', 'apparmor=x', 'busybox'], /seccomp=unconfined/],
      [['--frob', 'busybox'], /unknown flag: --frob/],
      [['-d', '-it', 'busybox'], /-d with -it/],
    ];
    for (const [argv, msg] of bad) {
      expect(() => runConfigFrom(argv), argv.join(' ')).toThrow(UserError);
      expect(() => runConfigFrom(argv), argv.join(' ')).toThrow(msg);
    }
    expect(runConfigFrom(['--memory', '6m', 'busybox']).memoryBytes).toBe(6 * 1024 * 1024); // Docker's floor itself is allowed
  });

  it('parses -v, -e, durations and users', () => {
    expect(parseVolumeFlag('/h:/c')).toEqual({ type: 'bind', source: '/h', target: '/c', readOnly: false });
    expect(() => parseVolumeFlag('/h:/c:rx')).toThrow(/unknown option 'rx'/); // more in volume-spec.test.ts
    expect(parseEnv('K=V=W')).toBe('K=V=W');
    process.env.BOXTEST_PASSED = 'yes';
    expect(parseEnv('BOXTEST_PASSED')).toBe('BOXTEST_PASSED=yes');
    expect(parseEnv('BOXTEST_UNSET_VAR')).toBeNull();
    expect(parseDuration('2d', '--x')).toBe(172800);
    expect(parseDuration('90m', '--x')).toBe(5400);
    expect(() => parseDuration('soon', '--x')).toThrow(/--x 'soon'/);
    expect(parseUser('1000:50')).toEqual({ uid: 1000, gid: 50 });
    expect(parseUser('')).toEqual({ uid: 0, gid: 0 });
    expect(() => parseUser('alice')).toThrow(/numeric uid/);
  });

  it('keeps flags after the command for the command', () => {
    const p = parseArgs(['-i', 'c1', 'ls', '-la'], [{ name: 'interactive', short: 'i', help: '' }], 'exec', 1);
    expect(p.opts.interactive).toBe(true);
    expect(p.positionals).toEqual(['c1', 'ls', '-la']);
  });

  it('formats inspect fields like docker inspect -f', () => {
    const v = { State: { Pid: 42 }, Namespaces: { pid: 'pid:[1]' } };
    expect(formatTemplate('{{.State.Pid}}', v)).toBe('42');
    expect(formatTemplate('{{json .Namespaces}}', v)).toBe('{"pid":"pid:[1]"}');
    expect(() => formatTemplate('{{.State.Nope}}', v)).toThrow(/no field/);
  });
});

describe('the plan box-init executes', () => {
  const image = { Env: ['PATH=/bin', 'FOO=image'], Cmd: ['sh'], WorkingDir: '/srv' };
  const rootfs = (): RootfsSpec => ({
    rootfs: '/r/rootfs', lowerDirs: ['/l/1', '/l/2'], upperDir: '/r/upper', workDir: '/r/work',
    readOnly: false, volumes: [], chroot: false, maskPaths: true, devices: [],
  });
  const calls = (plan: Plan) => plan.ops.map((o) => o.args[0]);

  it('merges the environment: box defaults, then the image, then -e', () => {
    const cfg = runConfigFrom(['-e', 'FOO=cli', '--hostname', 'h1', 'busybox']);
    const proc = processSpec(cfg, image);
    expect(proc.args).toEqual(['sh']);
    expect(proc.cwd).toBe('/srv');
    expect(proc.env).toContain('FOO=cli');
    expect(proc.env).toContain('PATH=/bin');
    expect(proc.env).toContain('HOSTNAME=h1');
  });

  it("--entrypoint replaces the image's entrypoint and clears its Cmd, as docker run does", () => {
    const img = { ...image, Entrypoint: ['/init'], Cmd: ['serve'] };
    expect(processSpec(runConfigFrom(['busybox']), img).args).toEqual(['/init', 'serve']);
    expect(processSpec(runConfigFrom(['--entrypoint', 'echo', 'busybox']), img).args).toEqual(['echo']);
    expect(processSpec(runConfigFrom(['--entrypoint', 'echo', 'busybox', 'hi']), img).args).toEqual(['echo', 'hi']);
    expect(processSpec(runConfigFrom(['--entrypoint', '', 'busybox']), img).args).toEqual(['serve']);
  });

  it('mounts before pivot_root, locks down after, and ends in execve', () => {
    const cfg = runConfigFrom(['--hostname', 'h1', 'busybox', 'true']);
    const plan = containerPlan(cfg, rootfs(), processSpec(cfg, image));
    const ops = calls(plan);
    const at = (op: string) => ops.indexOf(op);
    expect(ops[0]).toBe('prctl'); // PDEATHSIG first: if box dies, so do we
    expect(plan.ops[at('unshare')].text).toBe('CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS');
    expect(at('fork')).toBeGreaterThan(at('unshare')); // the child is PID 1 of the new namespace
    expect(at('fork')).toBeLessThan(at('pivot_root'));
    // In our cgroup before the cgroup namespace is made: its root is where we are then.
    expect(at('sync')).toBeGreaterThan(at('pivot_root'));
    expect(plan.ops[ops.lastIndexOf('unshare')].text).toBe('CLONE_NEWCGROUP');
    expect(ops.lastIndexOf('unshare')).toBeGreaterThan(at('sync'));
    expect(plan.ops.find((o) => o.args[0] === 'mount' && o.args[3] === 'overlay')!.args[5])
      .toBe('lowerdir=/l/2:/l/1,upperdir=/r/upper,workdir=/r/work,redirect_dir=off,metacopy=off'); // top layer first
    expect(ops.lastIndexOf('mount')).toBeLessThan(at('pivot_root')); // all mounts while the host's paths are visible
    expect(at('bounding')).toBeLessThan(at('capset'));
    expect(at('capset')).toBeLessThan(at('seccomp'));
    expect(at('seccomp')).toBeLessThan(at('close_range'));
    expect(ops.at(-1)).toBe('exec');
    expect(plan.ops.at(-1)!.args.slice(1)).toEqual(['true', 'true']);
    expect(plan.ops.some((o) => o.args[0] === 'mount' && o.args[1] === '/dev/null' && o.args[2].endsWith('/proc/keys'))).toBe(true); // masked
  });

  it('with --userns, creates the user namespace in box-init and forks into the PID namespace', () => {
    const cfg = runConfigFrom(['--userns', 'busybox']);
    const ops = calls(containerPlan(cfg, rootfs(), processSpec(cfg, image)));
    const unshares = ops.map((o, i) => (o === 'unshare' ? i : -1)).filter((i) => i >= 0);
    expect(ops.indexOf('mount')).toBeGreaterThan(unshares[0]); // a mount namespace of real root's...
    expect(ops.indexOf('mount')).toBeLessThan(unshares[1]); // ...where the overlay is mounted, then the user namespace
    expect(ops.indexOf('sync')).toBeGreaterThan(unshares[1]); // box writes uid_map meanwhile
    expect(ops.indexOf('fork')).toBeGreaterThan(unshares[2]);
    expect(ops.indexOf('pivot_root')).toBeGreaterThan(ops.indexOf('fork'));
  });

  it('uses chroot instead of pivot_root with --chroot, and no seccomp when unconfined', () => {
    const cfg = runConfigFrom(['--chroot', '--security-opt', 'seccomp=unconfined', 'busybox']);
    const ops = calls(containerPlan(cfg, { ...rootfs(), chroot: true }, processSpec(cfg, image)));
    expect(ops).toContain('chroot');
    expect(ops).not.toContain('pivot_root');
    expect(ops).not.toContain('seccomp');
  });

  it('escapes what a plan line cannot hold, and refuses NUL', () => {
    const plan = new Plan().exec('sh', ['sh', '-c', 'echo a\nb\\n\x1f']);
    const line = plan.serialize().split('\n')[0];
    expect(line.split('\x1f')).toEqual(['exec', 'sh', 'sh', '-c', 'echo a\\nb\\\\n\\u']);
    expect(() => new Plan().chdir('/a\0b')).toThrow(/NUL/);
  });

  it('writes a size header box-init reads first, and refuses a plan over PLAN_MAX_BYTES in one line', () => {
    const plan = new Plan().env('A=1').exec('true', ['true']);
    const body = plan.serialize();
    expect(plan.encode().toString()).toBe(`${Buffer.byteLength(body)}\n${body}`);
    const huge = new Plan().env(`BIG=${'x'.repeat(PLAN_MAX_BYTES)}`).exec('true', ['true']);
    let err: unknown;
    try {
      huge.encode();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`the container's command line and environment make a start plan of ${Buffer.byteLength(huge.serialize())} bytes, over box-init's limit of 16777216 (16 MiB); pass large data in a file or a volume instead`);
  });
});

describe('paths inside an image', () => {
  it('follows the image\'s own symlinks, never out to the host', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-resolve-'));
    const lower = path.join(dir, 'lower');
    const upper = path.join(dir, 'upper');
    fs.mkdirSync(path.join(lower, 'usr/lib'), { recursive: true });
    fs.mkdirSync(upper);
    fs.symlinkSync('usr/lib', path.join(lower, 'lib'));
    fs.symlinkSync('/etc', path.join(lower, 'evil'));
    fs.symlinkSync('../../../../../../etc', path.join(lower, 'usr/up'));
    fs.symlinkSync('loop', path.join(lower, 'loop'));
    const spec = { lowerDirs: [lower], upperDir: upper };
    expect(resolveInImage(spec, '/lib/x')).toBe('/usr/lib/x');
    expect(resolveInImage(spec, '/evil/passwd')).toBe('/etc/passwd'); // the container's /etc
    expect(resolveInImage(spec, '/usr/up/passwd')).toBe('/etc/passwd'); // .. stops at the root
    expect(() => resolveInImage(spec, '/loop/x')).toThrow(/too many levels/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('namespaces', () => {
  it('parses --ns lists', () => {
    expect(parseNamespaceList('pid, UTS,mount,pid')).toEqual(['pid', 'uts', 'mnt']);
    expect(() => parseNamespaceList(',')).toThrow(/empty list/);
  });
});

describe('user namespace id ranges', () => {
  it('uses 100000..165535 on a host, and the upper half of what it has when nested', async () => {
    const { usernsRange } = await import('../../runtime/src/container/config.ts');
    expect(usernsRange('         0          0 4294967295\n')).toEqual({ base: 100000, size: 65536 });
    expect(usernsRange('         0     100000      65536\n')).toEqual({ base: 32768, size: 32768 });
    expect(() => usernsRange('0 1000 1\n')).toThrow(/maps only 1 ids/);
  });
});
