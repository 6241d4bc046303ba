// `box run --init` on the real kernel: box-init stays as the container's PID 1 in front of the
// command (as Docker's tini), forwards the signals box sends and passes the exit status on.
import { describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';
import fs from 'node:fs';
import { afterAll } from 'vitest';

if (rootReason && process.env.CI === 'true') throw new Error(`init tests cannot run: ${rootReason}`);
if (rootReason) console.warn(`skipping init tests: ${rootReason}`);
const root = rootReason ? '' : tempBoxRoot('init');

needs(rootReason).describe('box run --init', () => {
  afterAll(() => {
    box(root, ['rm', '-f', 'plain', 'inited']);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts box-init as PID 1 and runs the command as its child', () => {
    const r = box(root, ['run', '--rm', '--network', 'none', '--init', 'busybox', 'sh', '-c', 'echo $$ $(cat /proc/1/comm)']);
    expect(r.stdout).toBe('2 box-init\n');
    expect(box(root, ['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo $$']).stdout).toBe('1\n');
  }, 60_000);

  it('passes the exit status on, and a command that is not there is one line, 127', () => {
    expect(box(root, ['run', '--rm', '--network', 'none', '--init', 'busybox', 'sh', '-c', 'exit 3']).code).toBe(3);
    const r = box(root, ['run', '--rm', '--network', 'none', '--init', 'busybox', 'no-such-command']);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('box: no-such-command: executable file not found in the container (check the image and PATH)\n');
  }, 60_000);

  it('forwards box stop\'s SIGTERM: a shell loop stops at once (143), not SIGKILLed after the grace period (137)', () => {
    for (const [name, init] of [['plain', []], ['inited', ['--init']]] as const) {
      expect(box(root, ['run', '-d', '--network', 'none', '--name', name, ...init, 'busybox', 'sh', '-c', 'while true; do sleep 1; done']).code).toBe(0);
    }
    expect(box(root, ['stop', '-t', '2', 'plain', 'inited']).code).toBe(0);
    const code = (name: string) => JSON.parse(box(root, ['inspect', name]).stdout)[0].State.ExitCode;
    expect(code('plain')).toBe(137); // sh as PID 1: the kernel dropped the SIGTERM
    expect(code('inited')).toBe(143); // sh as PID 2 under box-init: SIGTERM's default action
  }, 60_000);
});
