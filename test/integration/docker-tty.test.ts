// The real docker CLI in a real terminal (node-pty) against box's engine: docker run -it gives
// the container a pty at the terminal's size, a resize reaches it (stty size), the exit code
// comes back; ctrl-p ctrl-q detaches and leaves it running, and docker attach comes back to it;
// docker exec -it gives the process a pty of its own.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot, until } from './helpers.ts';

const DOCKER = '/usr/bin/docker';
const missing = !fs.existsSync(DOCKER) ? 'needs the docker CLI (apt-get install docker.io: /usr/bin/docker)' : '';

needs(rootReason || missing).describe('docker run -it, attach and detach against box engine', () => {
  let root: string;
  const env = () => ({ ...process.env, BOX_ROOT: root, DOCKER_HOST: `unix://${root}/engine.sock`, DOCKER_CONFIG: path.join(root, 'docker-config'), TERM: 'xterm' });
  const docker = (args: string[]) => {
    const r = spawnSync(DOCKER, args, { env: env(), encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  /** docker ARGS in a terminal of its own: type into it and wait for what it prints. */
  const dockerInTerminal = async (args: string[]) => {
    const pty = (await import('node-pty')).default;
    const term = pty.spawn(DOCKER, args, { cols: 91, rows: 27, env: env() as Record<string, string> });
    let screen = '';
    term.onData((d) => { screen += d; });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    const type = async (keys: string, expect: RegExp) => {
      const from = screen.length;
      term.write(keys);
      await until(() => expect.test(screen.slice(from)), 15_000, `${JSON.stringify(keys)} to print ${expect} (got ${JSON.stringify(screen.slice(from))})`);
    };
    const prompt = () => until(() => screen.includes('# '), 20_000, `the prompt (got ${JSON.stringify(screen)})`);
    return { term, type, prompt, exited };
  };

  beforeAll(() => {
    root = tempBoxRoot('dockertty');
    const start = box(root, ['engine', 'start']);
    expect(start.code, start.stderr).toBe(0);
  }, 60_000);
  afterAll(() => {
    docker(['rm', '-f', 'dtty-detach']);
    docker(['rm', '-f', 'dtty-exec']);
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('run -it: a prompt on /dev/pts/0 at the terminal\'s size, a resize seen by stty size, the exit code', async () => {
    const t = await dockerInTerminal(['run', '-it', '--rm', 'busybox', 'sh']);
    await t.prompt();
    await t.type('tty; stty size\r', /\/dev\/pts\/0\s+27 91/);
    t.term.resize(100, 40);
    await t.type('stty size\r', /40 100/);
    t.term.write('exit 7\r');
    expect(await t.exited).toBe(7);
  }, 60_000);

  it('ctrl-p ctrl-q detaches and leaves it running; docker attach comes back', async () => {
    const t = await dockerInTerminal(['run', '-it', '--name', 'dtty-detach', 'busybox', 'sh']);
    await t.prompt();
    await t.type('echo one\r', /one/);
    t.term.write('\x10\x11');
    expect(await t.exited).toBe(0);
    expect(docker(['inspect', '-f', '{{.State.Running}} {{.Config.Tty}}', 'dtty-detach']).stdout).toBe('true true\n');
    const again = await dockerInTerminal(['attach', 'dtty-detach']);
    await again.type('echo $((6*7))\r', /42/);
    again.term.write('exit 5\r');
    expect(await again.exited).toBe(5);
    expect(docker(['wait', 'dtty-detach']).stdout).toBe('5\n');
    expect(docker(['logs', 'dtty-detach']).stdout).toMatch(/echo one\r?\none\r?\n[\s\S]*42/);
    expect(docker(['rm', 'dtty-detach']).code).toBe(0);
  }, 60_000);

  it('exec -it: a shell on a pty of its own at the terminal\'s size, resized by /exec/{id}/resize, its exit code', async () => {
    expect(docker(['run', '-d', '--name', 'dtty-exec', 'busybox', 'sleep', '300']).code).toBe(0);
    const t = await dockerInTerminal(['exec', '-it', 'dtty-exec', 'sh']);
    await t.prompt();
    await t.type('tty; stty size\r', /\/dev\/pts\/\d+\s+27 91/);
    t.term.resize(100, 40);
    await t.type('stty size\r', /40 100/);
    t.term.write('exit 9\r');
    expect(await t.exited).toBe(9);
    expect(docker(['inspect', '-f', '{{.State.Running}}', 'dtty-exec']).stdout).toBe('true\n');
    expect(docker(['rm', '-f', 'dtty-exec']).code).toBe(0);
  }, 60_000);
});
