// docker pause / unpause with the real docker CLI against box's engine: the cgroup freezer
// stops the container's processes (the kernel's own freezer state says FROZEN, the process
// sleeps uninterruptibly), docker ps shows "(Paused)", exec is refused meanwhile, and unpause
// lets it go on; box pause / unpause do the same from box's own CLI.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';

const DOCKER = '/usr/bin/docker';
const missing = !fs.existsSync(DOCKER) ? 'needs the docker CLI (apt-get install docker.io: /usr/bin/docker)' : '';

/** What the kernel says of the freezer of process `pid`'s cgroup (v1 freezer.state, v2 cgroup.freeze). */
function freezerOf(pid: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?freezer(,[^:]*)?:/.test(l));
  if (v1) return fs.readFileSync(path.join('/sys/fs/cgroup/freezer', v1.split(':')[2], 'freezer.state'), 'utf8').trim();
  const v2 = lines.find((l) => l.startsWith('0::'))!.slice(3);
  return fs.readFileSync(path.join('/sys/fs/cgroup', v2, 'cgroup.freeze'), 'utf8').trim() === '1' ? 'FROZEN' : 'THAWED';
}

needs(rootReason || missing).describe('docker pause / unpause against box engine', () => {
  let root: string;
  const env = () => ({ ...process.env, BOX_ROOT: root, DOCKER_HOST: `unix://${root}/engine.sock`, DOCKER_CONFIG: path.join(root, 'docker-config') });
  const docker = (args: string[]) => {
    const r = spawnSync(DOCKER, args, { env: env(), encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    root = tempBoxRoot('dockerpause');
    const start = box(root, ['engine', 'start']);
    expect(start.code, start.stderr).toBe(0);
  }, 60_000);
  afterAll(() => {
    docker(['rm', '-f', 'dpause']);
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('pause freezes it, ps shows (Paused), exec is refused, pause twice is an error; unpause thaws it', () => {
    expect(docker(['run', '-d', '--name', 'dpause', 'busybox', 'sleep', '300']).code).toBe(0);
    const pid = docker(['inspect', '-f', '{{.State.Pid}}', 'dpause']).stdout.trim();
    expect(freezerOf(pid)).toBe('THAWED');
    expect(docker(['pause', 'dpause'])).toMatchObject({ code: 0, stdout: 'dpause\n' });
    expect(freezerOf(pid)).toBe('FROZEN');
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^State:\s+D /m);
    expect(docker(['ps', '--filter', 'name=dpause', '--format', '{{.Status}}']).stdout).toMatch(/^Up .* \(Paused\)\n$/);
    expect(docker(['ps', '--filter', 'status=paused', '--format', '{{.Names}}']).stdout).toBe('dpause\n');
    expect(docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'dpause']).stdout).toBe('paused true true\n');
    const ex = docker(['exec', 'dpause', 'true']);
    expect(ex.code).toBe(1);
    expect(ex.stderr).toMatch(/^Error response from daemon: Container [0-9a-f]{64} is paused, unpause the container before exec\n$/);
    expect(docker(['pause', 'dpause']).stderr).toMatch(/is already paused\n$/);
    expect(docker(['unpause', 'dpause'])).toMatchObject({ code: 0, stdout: 'dpause\n' });
    expect(freezerOf(pid)).toBe('THAWED');
    expect(docker(['ps', '--filter', 'name=dpause', '--format', '{{.Status}}']).stdout).toMatch(/^Up [^(]*\n$/);
    expect(docker(['exec', 'dpause', 'echo', 'going on'])).toMatchObject({ code: 0, stdout: 'going on\n' });
    expect(docker(['unpause', 'dpause']).stderr).toMatch(/is not paused\n$/);
  }, 60_000);

  it('box pause / unpause freeze the same way, and the docker CLI sees it', () => {
    const pid = docker(['inspect', '-f', '{{.State.Pid}}', 'dpause']).stdout.trim();
    expect(box(root, ['pause', 'dpause'])).toMatchObject({ code: 0, stdout: 'dpause\n' });
    expect(freezerOf(pid)).toBe('FROZEN');
    expect(box(root, ['ps']).stdout).toMatch(/Up .* \(Paused\)\s+dpause\n/);
    expect(docker(['inspect', '-f', '{{.State.Paused}}', 'dpause']).stdout).toBe('true\n');
    expect(box(root, ['pause', 'dpause'])).toMatchObject({ code: 125, stderr: "box: container 'dpause' is already paused; box unpause dpause lets it go on\n" });
    expect(box(root, ['unpause', 'dpause'])).toMatchObject({ code: 0, stdout: 'dpause\n' });
    expect(freezerOf(pid)).toBe('THAWED');
    expect(box(root, ['unpause', 'dpause'])).toMatchObject({ code: 125, stderr: "box: container 'dpause' is not paused\n" });
  }, 60_000);
});
