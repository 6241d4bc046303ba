// `box build` on the real kernel: RUN steps in real containers, layers in the real store,
// the build cache, and what a user sees on the terminal and in `box images`/`inspect`/`run`.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTar } from '../../runtime/src/image/tar-write.ts';
import { box, boxAsync, isRoot, rootReason, tempBoxRoot, until, type Result } from './helpers.ts';

let root: string;
let work: string;
beforeAll(() => {
  if (!isRoot) return;
  root = tempBoxRoot('build');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'box-build-ctx-'));
  box(root, ['inspect', 'busybox']); // makes the built-in image: index.json exists from here on
});
afterAll(() => {
  if (!isRoot) return;
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

/** A build context with these files (a Boxfile among them). */
function context(name: string, files: Record<string, string | Buffer>): string {
  const dir = path.join(work, name);
  for (const [f, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), data);
  }
  return dir;
}

function ok(args: string[]): string {
  const r = box(root, args, { timeout: 120_000 });
  if (r.code !== 0) throw new Error(`box ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function build(dir: string, ...args: string[]): Result {
  return box(root, ['build', ...args, dir], { timeout: 120_000 });
}

/** The ` ---> ` line after each `Step N/M` line: CACHED, an id, or '' for ARG. */
function stepResults(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('Step ')) out.push('');
    else if (line.startsWith(' ---> ') && !line.startsWith(' ---> Running in')) out[out.length - 1] = line.includes('CACHED') ? 'CACHED' : 'ran';
  }
  return out;
}

function imageId(ref: string): string {
  return JSON.parse(ok(['inspect', ref]))[0].Id;
}

const index = () => fs.readFileSync(path.join(root, 'oci/index.json'), 'utf8');

describe.skipIf(!isRoot)(`box build${rootReason ? ` (${rootReason})` : ''}`, () => {
  const twoLayer = () => context('two', {
    'Boxfile': 'FROM busybox\nCOPY greeting.txt /app/\nRUN cat /app/greeting.txt > /app/made.txt && echo built >> /app/made.txt\nCMD ["cat", "/app/made.txt"]\n',
    'greeting.txt': 'hello\n',
  });

  it('builds a two-layer image whose container sees both layers', () => {
    const r = build(twoLayer(), '-t', 'two:1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Step 1\/4 : FROM busybox\n/);
    expect(r.stdout).toContain('Step 2/4 : COPY greeting.txt /app/\n');
    expect(r.stdout).toMatch(/Step 3\/4 : RUN cat .*\n ---> Running in build-[0-9a-f]{12}\n/);
    expect(r.stdout).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged two:1\n$/);
    expect(stepResults(r.stdout)).toEqual(['ran', 'ran', 'ran', 'ran']); // FROM's line is the base image's id
    expect(ok(['run', '--rm', 'two:1'])).toBe('hello\nbuilt\n');
    const inspect = JSON.parse(ok(['inspect', 'two:1']))[0];
    const busybox = JSON.parse(ok(['inspect', 'busybox']))[0];
    expect(inspect.RootFS.Layers).toHaveLength(busybox.RootFS.Layers.length + 2);
    expect(inspect.RootFS.Layers.slice(0, busybox.RootFS.Layers.length)).toEqual(busybox.RootFS.Layers);
    const history = ok(['history', 'two:1']);
    expect(history).toContain('COPY greeting.txt /app/');
    expect(history).toContain('RUN /bin/sh -c cat /app/greeting.txt');
    expect(ok(['ps', '-a']).trim().split('\n')).toHaveLength(1); // the RUN container is gone
  });

  it('rebuilds from the cache, every step CACHED, to the same image id', () => {
    const before = imageId('two:1');
    const r = build(twoLayer(), '-t', 'two:1');
    expect(r.code).toBe(0);
    expect(stepResults(r.stdout).slice(1)).toEqual(['CACHED', 'CACHED', 'CACHED']);
    expect(r.stdout).not.toContain('Running in');
    expect(imageId('two:1')).toBe(before);
  });

  it('runs again from the step whose copied file changed, and reuses the steps before it', () => {
    const files = (text: string) => ({
      'Boxfile': 'FROM busybox\nRUN echo first > /first\nCOPY data.txt /data.txt\nRUN wc -c < /data.txt > /size\n',
      'data.txt': text,
    });
    const dir = context('change', files('one\n'));
    expect(stepResults(build(dir, '-t', 'change').stdout)).toEqual(['ran', 'ran', 'ran', 'ran']);
    context('change', files('three\n'));
    const r = build(dir, '-t', 'change');
    expect(r.code).toBe(0);
    expect(stepResults(r.stdout).slice(1)).toEqual(['CACHED', 'ran', 'ran']);
    expect(ok(['run', '--rm', 'change', 'cat', '/size']).trim()).toBe('6');
    // Touching a file without changing it is not a change.
    fs.utimesSync(path.join(dir, 'data.txt'), new Date(), new Date(Date.now() + 5000));
    expect(stepResults(build(dir, '-t', 'change').stdout).slice(1)).toEqual(['CACHED', 'CACHED', 'CACHED']);
  });

  it('leaves out what .boxignore lists', () => {
    const dir = context('ignore', {
      'Boxfile': 'FROM busybox\nCOPY . /ctx/\n',
      '.boxignore': 'secret.txt\n*.log\n!keep.log\n',
      'secret.txt': 'password\n', 'app.txt': 'app\n', 'debug.log': 'x\n', 'keep.log': 'y\n',
    });
    expect(build(dir, '-t', 'ignored').code).toBe(0);
    expect(ok(['run', '--rm', 'ignored', 'ls', '-A', '/ctx']).trim().split('\n')).toEqual(['.boxignore', 'Boxfile', 'app.txt', 'keep.log']);
    fs.writeFileSync(path.join(dir, 'Boxfile'), 'FROM busybox\nCOPY secret.txt /\n');
    const r = build(dir, '-t', 'ignored2');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe("box: Boxfile line 2: COPY: 'secret.txt' is left out of the build context by .boxignore; take it out of that file to copy it");
  });

  it('names the line and the instruction it does not support, and changes nothing', () => {
    const before = index();
    const dir = context('unsupported', { 'Dockerfile': 'FROM busybox\nRUN echo hi > /x\n\n# triggers\nONBUILD RUN true\n' });
    const r = build(dir, '-t', 'unsupported');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe(''); // refused before the first step
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^box: Dockerfile line 5: ONBUILD is not supported: /);
    expect(index()).toBe(before);
  });

  it('stops at a failing RUN with the command\'s own message, and leaves no image, tag or container', () => {
    const before = index();
    const dir = context('fail', { 'Boxfile': 'FROM busybox\nCOPY Boxfile /\nRUN echo working && ls /no-such-dir\nRUN echo never\n' });
    const r = build(dir, '-t', 'fail');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('working\n');
    expect(r.stdout).not.toContain('Step 4/4');
    expect(r.stderr).toContain('ls: /no-such-dir: No such file or directory');
    expect(r.stderr).toMatch(/box: Boxfile line 3: the command '\/bin\/sh -c echo working && ls \/no-such-dir' returned a non-zero code: 1\n$/);
    expect(index()).toBe(before);
    expect(ok(['images'])).not.toMatch(/^fail /m);
    expect(ok(['ps', '-a']).trim().split('\n')).toHaveLength(1);
  });

  it('puts ENV, WORKDIR, USER, CMD and ENTRYPOINT in the image config, and a container runs with them', () => {
    const dir = context('config', {
      'Boxfile': [
        'FROM busybox',
        'ARG WHO=builder',
        'ENV GREETING="hello there" \\',
        '    TARGET=/srv/app',
        'WORKDIR $TARGET',
        'RUN echo "made by $WHO in $(pwd)" > made.txt && chown 1000:1000 made.txt',
        'USER 1000:1000',
        'LABEL org.example.purpose="a test" version=1',
        'EXPOSE 8080 53/udp',
        'ENTRYPOINT ["/bin/sh", "-c", "echo \\"$GREETING from $(pwd) as $(id -u):\\" $0 && cat made.txt"]',
        'CMD ["world"]',
        '',
      ].join('\n'),
    });
    const r = build(dir, '-t', 'config', '--build-arg', 'WHO=test');
    expect(r.code).toBe(0);
    const config = JSON.parse(ok(['inspect', 'config']))[0].Config;
    expect(config).toMatchObject({
      Env: expect.arrayContaining(['GREETING=hello there', 'TARGET=/srv/app']),
      WorkingDir: '/srv/app',
      User: '1000:1000',
      Entrypoint: ['/bin/sh', '-c', 'echo "$GREETING from $(pwd) as $(id -u):" $0 && cat made.txt'],
      Cmd: ['world'],
      Labels: { 'org.example.purpose': 'a test', version: '1' },
      ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
    });
    expect(config.Env.some((e: string) => e.startsWith('WHO='))).toBe(false); // an ARG is not kept
    expect(ok(['run', '--rm', 'config'])).toBe('hello there from /srv/app as 1000: world\nmade by test in /srv/app\n');
    // Another --build-arg value is another RUN step.
    const again = build(dir, '-t', 'config', '--build-arg', 'WHO=other');
    expect(stepResults(again.stdout).slice(2)).toEqual(['CACHED', 'CACHED', 'ran', 'ran', 'ran', 'ran', 'ran', 'ran']);
  });

  it('ADD unpacks a local tar.gz; COPY keeps it packed', () => {
    const tgz = zlib.gzipSync(writeTar([
      { name: 'pkg', type: 'dir', mode: 0o755 },
      { name: 'pkg/tool.sh', type: 'file', mode: 0o755, data: '#!/bin/sh\necho tool ran\n' },
    ]));
    const dir = context('add', { 'Boxfile': 'FROM busybox\nADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /packed/\n', 'pkg.tar.gz': tgz });
    expect(build(dir, '-t', 'add').code).toBe(0);
    expect(ok(['run', '--rm', 'add', '/opt/pkg/tool.sh'])).toBe('tool ran\n');
    expect(ok(['run', '--rm', 'add', 'ls', '/packed'])).toBe('pkg.tar.gz\n');
  });

  it('keeps the cache through box image prune; box builder prune empties it', () => {
    const dir = twoLayer();
    ok(['rmi', 'two:1']);
    ok(['image', 'prune', '-a', '-f']);
    expect(stepResults(build(dir, '-t', 'two:1').stdout).slice(1)).toEqual(['CACHED', 'CACHED', 'CACHED']);
    expect(ok(['builder', 'prune', '-f'])).toMatch(/^Deleted \d+ build cache entries/);
    expect(fs.existsSync(path.join(root, 'build-cache'))).toBe(false);
    const r = build(dir, '-t', 'two:1');
    expect(stepResults(r.stdout).slice(1)).toEqual(['ran', 'ran', 'ran']);
    expect(ok(['run', '--rm', 'two:1'])).toBe('hello\nbuilt\n');
  });

  it('two builds at once both finish, and the store holds both', async () => {
    const a = context('para-a', { 'Boxfile': 'FROM busybox\nRUN echo a > /which\nCOPY f /f\n', 'f': 'A' });
    const b = context('para-b', { 'Boxfile': 'FROM busybox\nRUN echo b > /which\nCOPY f /f\n', 'f': 'B' });
    const run = (dir: string, tag: string) => new Promise<number>((resolve) => {
      const child = boxAsync(root, ['build', '--no-cache', '-t', tag, dir], { stdio: 'ignore' });
      child.on('exit', (code) => resolve(code ?? 1));
    });
    expect(await Promise.all([run(a, 'para:a'), run(b, 'para:b'), run(a, 'para:a2')])).toEqual([0, 0, 0]);
    expect(ok(['run', '--rm', 'para:a', 'cat', '/which', '/f'])).toBe('a\nA');
    expect(ok(['run', '--rm', 'para:b', 'cat', '/which', '/f'])).toBe('b\nB');
    expect(ok(['run', '--rm', 'para:a2', 'cat', '/which', '/f'])).toBe('a\nA');
  });

  it('an interrupted build (Ctrl-C during a RUN) moves no tag and leaves no container', async () => {
    const before = index();
    const dir = context('interrupt', { 'Boxfile': 'FROM busybox\nRUN echo running-$((6*7)) && sleep 60\n' });
    const child = boxAsync(root, ['build', '-t', 'interrupted', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 128)));
    await until(() => stdout.includes('running-42'), 60_000, 'the RUN step to start');
    child.kill('SIGINT');
    expect(await exited).not.toBe(0);
    expect(stderr).toMatch(/build interrupted \(SIGINT\); no tag was changed/);
    expect(index()).toBe(before);
    expect(ok(['ps', '-a']).trim().split('\n')).toHaveLength(1);
  });
});
