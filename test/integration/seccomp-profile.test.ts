// box's default seccomp profile is an allowlist (Docker's), and --security-opt seccomp=FILE
// takes a Docker-format profile: both on the real kernel, in real containers.
//
// A small static C probe, bound into the container, makes one raw system call by number and
// prints its result or errno name: busybox has no way to call a number it does not know.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, boxBin, rootReason, tempBoxRoot } from './helpers.ts';

const hasCc = spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0;
const reason = rootReason || (process.arch !== 'x64' ? 'the default filter is for x86_64' : '') || (hasCc ? '' : 'needs a C compiler (apt-get install gcc libc6-dev)');
if (reason && process.env.CI === 'true') throw new Error(`seccomp-profile tests cannot run: ${reason}`);
if (reason) console.warn(`skipping seccomp profile tests: ${reason}`);

const PROBE = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long a[6] = { -1, -1, -1, -1, -1, -1 };
  for (int i = 2; i < argc && i < 8; i++) a[i - 2] = atol(argv[i]);
  long rc = syscall(atol(argv[1]), a[0], a[1], a[2], a[3], a[4], a[5]);
  if (rc < 0) printf("errno %s\\n", errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : strerror(errno));
  else printf("ok\\n");
  return 0;
}
`;

needs(reason).describe('seccomp profiles in real containers', () => {
  const root = reason ? '' : tempBoxRoot('seccomp');
  const dir = reason ? '' : fs.mkdtempSync(path.join(root, 'probe-'));
  /** Make system call `nr` (arguments `callArgs`, the rest -1) in a container run with `args`. */
  const probe = (args: string[], nr: number, ...callArgs: number[]) =>
    box(root, ['run', '--rm', '-v', `${dir}:/probe:ro`, ...args, 'busybox', '/probe/probe', String(nr), ...callArgs.map(String)]);

  beforeAll(() => {
    fs.writeFileSync(path.join(dir, 'probe.c'), PROBE);
    const cc = spawnSync('cc', ['-static', '-O1', '-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')], { encoding: 'utf8' });
    expect(cc.stderr).toBe('');
    expect(box(root, ['run', '--rm', 'busybox', 'true']).code).toBe(0); // builds the busybox image once
  }, 120_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('the default is an allowlist: a number it does not list gets EPERM, where the kernel alone says ENOSYS', () => {
    // 400 is a hole in the x86_64 table (335-423 were skipped): no kernel implements it, so
    // only a filter can answer EPERM. A denylist would have let it through to ENOSYS.
    expect(probe([], 400).stdout).toBe('errno EPERM\n');
    expect(probe(['--security-opt', 'seccomp=unconfined'], 400).stdout).toBe('errno ENOSYS\n');
    // keyctl is real but not listed: refused before the kernel looks at the (bad) arguments.
    expect(probe([], 250).stdout).toBe('errno EPERM\n');
  });

  it('a listed call works under the default', () => {
    expect(probe([], 39).stdout).toBe('ok\n'); // getpid
    const r = box(root, ['run', '--rm', 'busybox', 'sh', '-c', 'mkdir /tmp/d && echo made > /tmp/d/f && cat /tmp/d/f']);
    expect(r.stdout).toBe('made\n');
  });

  it('--security-opt seccomp=FILE: a profile that denies mkdir makes mkdir fail with the errno it names', () => {
    const file = path.join(dir, 'no-mkdir.json');
    fs.writeFileSync(file, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }], // EACCES
    }));
    const r = box(root, ['run', '--rm', '--security-opt', `seccomp=${file}`, 'busybox', 'sh', '-c', 'mkdir /tmp/d; echo rc=$?; touch /tmp/f && echo touched']);
    expect(r.stdout).toBe('rc=1\ntouched\n');
    expect(r.stderr).toContain("mkdir: can't create directory '/tmp/d': Permission denied");
    // The profile replaces the default one: 400 is no longer refused by a filter.
    expect(probe(['--security-opt', `seccomp=${file}`], 400).stdout).toBe('errno ENOSYS\n');
  });

  it('through the engine, a relative profile path is read from the caller\'s directory', () => {
    fs.writeFileSync(path.join(dir, 'rel.json'), JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
    }));
    expect(box(root, ['engine', 'start']).code).toBe(0);
    try {
      const r = spawnSync(boxBin, ['run', '--rm', '--security-opt', 'seccomp=rel.json', 'busybox', 'mkdir', '/x'], {
        cwd: dir, env: { ...process.env, BOX_ROOT: root }, encoding: 'utf8', timeout: 30_000,
      });
      expect(r.stderr).toContain("mkdir: can't create directory '/x': Permission denied");
      expect(box(root, ['engine', 'status']).stdout).toMatch(/containers: 0 running, 1 served/);
    } finally {
      box(root, ['engine', 'stop']);
    }
  });

  it('argument rules in a profile file: socket allowed only for AF_UNIX', () => {
    const file = path.join(dir, 'unix-only.json');
    fs.writeFileSync(file, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97 }, // EAFNOSUPPORT
      ],
    }));
    const opt = ['--security-opt', `seccomp=${file}`];
    expect(probe(opt, 41, 1, 1, 0).stdout).toBe('ok\n'); // socket(AF_UNIX, SOCK_STREAM, 0)
    expect(probe(opt, 41, 2, 1, 0).stdout).toBe('errno Address family not supported by protocol\n'); // AF_INET
    expect(probe([], 41, 2, 1, 0).stdout).toBe('ok\n'); // the default allows AF_INET
    expect(probe([], 41, 40, 1, 0).stdout).toBe('errno EPERM\n'); // and refuses AF_VSOCK
  });

  it('a bad profile file is one line naming the problem, and no container is left', () => {
    const bad = (name: string, text: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return box(root, ['run', '--rm', '--security-opt', `seccomp=${file}`, 'busybox', 'true']);
    };
    const cases: [ReturnType<typeof box>, RegExp][] = [
      [bad('broken.json', '{"defaultAction": '), /broken\.json: not valid JSON/],
      [bad('action.json', '{"defaultAction":"SCMP_ACT_MAYBE","syscalls":[]}'), /action\.json: defaultAction 'SCMP_ACT_MAYBE' is not one of SCMP_ACT_ALLOW/],
      [bad('op.json', '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}'), /op\.json: syscalls\[0\]\.args\[0\]\.op 'SCMP_CMP_ABOUT'/],
      [bad('arm.json', '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"],"syscalls":[]}'), /lack SCMP_ARCH_X86_64/],
      [box(root, ['run', '--rm', '--security-opt', `seccomp=${dir}/missing.json`, 'busybox', 'true']), /missing\.json: cannot read it \(ENOENT\)/],
    ];
    for (const [r, message] of cases) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(box(root, ['ps', '-a', '-q']).stdout).toBe('');
  });
});
