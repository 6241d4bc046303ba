// The real docker-compose (Debian's 1.29, a Python client of the Engine API) running a
// Compose file against box's engine: up -d, ps, logs, names by DNS on the project's
// network, a published port, down (containers and network gone).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, rawHttpGet as httpGet, rootReason, tempBoxRoot } from './helpers.ts';

const COMPOSE = '/usr/bin/docker-compose';
const missing = !fs.existsSync(COMPOSE) ? 'needs docker-compose (apt-get install docker-compose)'
  : !fs.existsSync('/usr/bin/docker') ? 'needs the docker CLI (apt-get install docker.io)' : '';
const reason = rootReason || missing;

const COMPOSE_FILE = `version: "3"
services:
  web:
    image: busybox
    command: sh -c "echo web up; exec httpd -f -p 80 -h /www"
    ports: ["127.0.0.1:18091:80"]
    volumes: ["./www:/www:ro"]
  worker:
    image: busybox
    command: sh -c "echo worker says $$ROLE; sleep 300"
    environment: [ROLE=hello]
`;

needs(reason).describe('docker-compose against box engine', () => {
  let root: string;
  let dir: string;
  const env = () => ({ ...process.env, BOX_ROOT: root, DOCKER_HOST: `unix://${root}/engine.sock`, DOCKER_CONFIG: path.join(root, 'docker-config') });
  const run = (bin: string, args: string[]) => {
    const r = spawnSync(bin, args, { env: env(), cwd: dir, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const compose = (args: string[]) => run(COMPOSE, ['-p', 'dapitest', ...args]);

  beforeAll(() => {
    root = tempBoxRoot('compose');
    dir = path.join(root, 'project');
    fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'www', 'index.html'), 'compose on box\n');
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), COMPOSE_FILE);
    expect(box(root, ['engine', 'start']).code).toBe(0);
  }, 60_000);
  afterAll(() => {
    compose(['down']);
    run(COMPOSE, ['-p', 'dapitwo', '-f', path.join(dir, 'two.yml'), 'down']);
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 120_000);

  it('up -d, ps, logs, a name by DNS, the published port, down', async () => {
    const up = compose(['up', '-d']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain('Creating dapitest_web_1');

    const ps = compose(['ps']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/dapitest_web_1\s+sh -c echo web up.*\s+Up\s+127\.0\.0\.1:18091->80\/tcp/);
    expect(ps.stdout).toMatch(/dapitest_worker_1\s+.*\s+Up\s/);

    // Output arrives once the commands have run: wait for it as a user would, by looking again.
    let logs = '';
    for (let i = 0; i < 50 && !(logs.includes('worker says hello') && logs.includes('web up')); i++) {
      logs = compose(['logs', '--no-color']).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(logs).toMatch(/worker_1\s+\| worker says hello/);
    expect(logs).toMatch(/web_1\s+\| web up/);

    const lookup = run('/usr/bin/docker', ['exec', 'dapitest_worker_1', 'wget', '-q', '-O', '-', 'http://web/']);
    expect(lookup).toMatchObject({ code: 0, stdout: 'compose on box\n' });
    expect(await httpGet(18091)).toContain('compose on box');

    const down = compose(['down']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toContain('Removing network dapitest_default');
    expect(run('/usr/bin/docker', ['ps', '-aq']).stdout).toBe('');
    expect(run('/usr/bin/docker', ['network', 'ls', '--format', '{{.Name}}']).stdout).not.toContain('dapitest_default');
  });

  it('a service on two networks: created on one, connected to the other before its start, it reaches both', () => {
    const two = path.join(dir, 'two.yml');
    fs.writeFileSync(two, 'version: "3"\nservices:\n  app:\n    image: busybox\n    command: sleep 300\n    networks: [front, back]\n' +
      '  db:\n    image: busybox\n    command: sleep 300\n    networks: [back]\nnetworks:\n  front: {}\n  back: {}\n');
    const two_ = (args: string[]) => run(COMPOSE, ['-p', 'dapitwo', '-f', two, ...args]);
    try {
      const up = two_(['up', '-d']);
      expect(up.code, up.stderr).toBe(0);
      const docker = (args: string[]) => run('/usr/bin/docker', args);
      const addrs = docker(['exec', 'dapitwo_app_1', 'ip', '-4', '-o', 'addr']).stdout;
      for (const net of ['dapitwo_front', 'dapitwo_back']) {
        const ip = docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, 'dapitwo_app_1']).stdout.trim();
        expect(ip, net).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        expect(addrs, net).toContain(`inet ${ip}/`);
      }
      expect(docker(['exec', 'dapitwo_app_1', 'ping', '-c', '1', '-W', '2', 'db']).code).toBe(0);
      expect(docker(['exec', 'dapitwo_db_1', 'ping', '-c', '1', '-W', '2', 'app']).code).toBe(0);
    } finally {
      expect(two_(['down']).code).toBe(0);
    }
  });
});
