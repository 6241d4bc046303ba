// docker build with the real docker CLI against box's engine (POST /build): the context goes
// as a tar, box's Boxfile builder runs it, -t, -f, --build-arg and --no-cache reach it, the
// progress comes back as the CLI prints dockerd's; a failing step is one error line and exit
// 1; a context tar with a `../` entry is refused and writes nothing outside its directory;
// docker-compose's build: goes the same way.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';

const DOCKER = '/usr/bin/docker';
const missing = !fs.existsSync(DOCKER) ? 'needs the docker CLI (apt-get install docker.io: /usr/bin/docker)' : '';

needs(rootReason || missing).describe('docker build against box engine', () => {
  let root: string;
  let ctx: string;
  const env = () => ({ ...process.env, BOX_ROOT: root, DOCKER_HOST: `unix://${root}/engine.sock`, DOCKER_CONFIG: path.join(root, 'docker-config'), DOCKER_BUILDKIT: '0' });
  const docker = (args: string[]) => {
    const r = spawnSync(DOCKER, args, { env: env(), encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    root = tempBoxRoot('dockerbuild');
    ctx = path.join(root, 'context');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'greeting.txt'), 'hello\n');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nARG WHO=nobody\nCOPY greeting.txt /g.txt\nRUN echo "built by $WHO" > /who.txt\nCMD cat /g.txt /who.txt\n');
    fs.writeFileSync(path.join(ctx, 'Failing'), 'FROM busybox\nRUN echo about to fail; exit 3\n');
    const start = box(root, ['engine', 'start']);
    expect(start.code, start.stderr).toBe(0);
  }, 60_000);
  afterAll(() => {
    docker(['rmi', 'dbuild-img']);
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('build -t with --build-arg: the steps, the id, the tag; the image runs; again from the cache, and --no-cache runs it again', () => {
    const b = docker(['build', '-t', 'dbuild-img', '--build-arg', 'WHO=me', ctx]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/Step 1\/5 : FROM busybox\n[\s\S]*Step 4\/5 : RUN echo "built by \$WHO" > \/who.txt\n[\s\S]*Successfully built ([0-9a-f]{12})\nSuccessfully tagged dbuild-img:latest\n$/);
    const id = /Successfully built ([0-9a-f]{12})/.exec(b.stdout)![1];
    expect(docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).stdout).toContain(`dbuild-img:latest ${id}`);
    expect(docker(['run', '--rm', 'dbuild-img'])).toMatchObject({ code: 0, stdout: 'hello\nbuilt by me\n' });
    const cached = docker(['build', '-t', 'dbuild-img', '--build-arg', 'WHO=me', ctx]);
    expect(cached.stdout).toContain(' ---> CACHED');
    expect(cached.stdout).toContain(`Successfully built ${id}`);
    const fresh = docker(['build', '--no-cache', '-t', 'dbuild-img', '--build-arg', 'WHO=me', ctx]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).not.toContain('CACHED');
  }, 240_000);

  it('-f names another file; a failing step is an error line and exit 1', () => {
    const b = docker(['build', '-f', path.join(ctx, 'Failing'), ctx]);
    expect(b.code).toBe(1);
    expect(b.stdout).toContain('Step 2/2 : RUN echo about to fail; exit 3');
    expect(b.stderr).toMatch(/exit(ed)? (code )?3|returned a non-zero code: 3/);
  }, 120_000);

  it('a context tar with a ../ entry is refused as an error in the stream, and nothing is written outside', async () => {
    const tar = writeTar([
      { name: 'Dockerfile', type: 'file', data: Buffer.from('FROM busybox\n') },
      { name: '../escaped-by-context', type: 'file', data: Buffer.from('x') },
    ]);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: path.join(root, 'engine.sock'), method: 'POST', path: '/v1.41/build?t=evil', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(tar);
    });
    const last = JSON.parse(answer.trim().split('\n').at(-1)!);
    expect(last.error).toBe("refusing to unpack the build context: entry '../escaped-by-context' has a '..' component in its path (the image is unsafe; do not use it)");
    expect(last.errorDetail).toEqual({ message: last.error });
    expect(fs.readdirSync(root).filter((f) => f.includes('escaped') || f.startsWith('build-context-'))).toEqual([]);
    expect(docker(['images', '--format', '{{.Repository}}']).stdout).not.toContain('evil');
  }, 60_000);

  it.skipIf(!fs.existsSync('/usr/bin/docker-compose') && process.env.CI !== 'true')('docker-compose build: a service\'s build: with args goes through POST /build', () => {
    fs.writeFileSync(path.join(ctx, 'docker-compose.yml'), 'services:\n  app:\n    build:\n      context: .\n      args:\n        WHO: compose\n    image: dbuild-compose-app\n');
    const r = spawnSync('/usr/bin/docker-compose', ['-p', 'dbuild', 'build'], { cwd: ctx, env: env(), encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('Successfully tagged dbuild-compose-app:latest');
    expect(docker(['run', '--rm', 'dbuild-compose-app'])).toMatchObject({ code: 0, stdout: 'hello\nbuilt by compose\n' });
    expect(docker(['rmi', 'dbuild-compose-app']).code).toBe(0);
  }, 120_000);
});
