// `box compose` on the real kernel: a project's network, names, published port, named volume,
// scaling, `up` again changing only what changed, `down -v` leaving nothing. Traffic stays on
// loopback and on the bridges the projects make.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, has, repo, rootReason, tempBoxRoot } from './helpers.ts';

const missing = rootReason || (!has('nft') ? 'needs nft (apt-get install nftables)' : !has('ip') ? 'needs ip (apt-get install iproute2)' : '');
if (missing && process.env.CI === 'true') throw new Error(`compose tests cannot run: ${missing}`);
if (missing) console.warn(`skipping compose tests: ${missing}`);

const root = missing ? '' : tempBoxRoot('compose');
const FIX = path.join(repo, 'test/fixtures/compose');
const NAMES = path.join(FIX, 'names/compose.yaml');
const HEALTH = path.join(FIX, 'health/compose.yaml');
const BUILD = path.join(FIX, 'build/compose.yaml');
const ENTRY = path.join(FIX, 'entrypoint/compose.yaml');
let port = 0;

const compose = (file: string, args: string[], env: Record<string, string> = {}) => box(root, ['compose', '-f', file, ...args], { env: { SERVER_PORT: String(port), ...env }, timeout: 120_000 });
const ok = (file: string, args: string[], env: Record<string, string> = {}) => {
  const r = compose(file, args, env);
  if (r.code !== 0) throw new Error(`box compose ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r;
};
const names = (args: string[], env?: Record<string, string>) => ok(NAMES, args, env);
const psNames = (file: string, all = false) => ok(file, ['ps', ...(all ? ['-a'] : [])]).stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
const links = () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
const idOf = (name: string) => JSON.parse(box(root, ['inspect', name]).stdout)[0].Id as string;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function httpGet(p: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${p}/`);
  return (await res.text()).trim();
}

needs(missing).describe('box compose on the real kernel', () => {
  beforeAll(async () => {
    port = await freePort();
    expect(box(root, ['run', '--rm', '--network', 'none', 'busybox', 'true']).code).toBe(0); // the busybox image, once
  }, 120_000);
  afterAll(() => {
    compose(NAMES, ['down', '-v']);
    compose(HEALTH, ['down', '-v']);
    compose(BUILD, ['down', '-v']);
    compose(ENTRY, ['down', '-v']);
    box(root, ['engine', 'stop']); // started on demand for the health checks
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('starts the services on PROJECT_default, reachable by service name, container name and published port', async () => {
    const r = names(['up', '-d']);
    expect(r.stderr).toContain(' Network names_default  Created');
    expect(r.stderr).toContain(' Volume names_site  Created');
    expect(r.stderr.indexOf('names-server-1  Started')).toBeLessThan(r.stderr.indexOf('names-client-1  Started')); // depends_on
    expect(psNames(NAMES)).toEqual(['names-client-1', 'names-server-1']);
    const page = names(['exec', 'client', 'wget', '-q', '-O', '-', 'http://server/']).stdout.trim();
    expect(page).toMatch(/^[0-9a-f-]{36}$/);
    expect(names(['exec', 'client', 'wget', '-q', '-O', '-', 'http://names-server-1/']).stdout.trim()).toBe(page);
    expect(await httpGet(port)).toBe(page);
    const labels = JSON.parse(box(root, ['inspect', 'names-server-1']).stdout)[0];
    expect(labels.Name).toBe('names-server-1');
    expect(box(root, ['network', 'ls']).stdout).toContain('names_default');
  });

  it('up again leaves unchanged containers alone and recreates only a changed service', () => {
    const server = idOf('names-server-1');
    const client = idOf('names-client-1');
    const again = names(['up', '-d']);
    expect(again.stderr).toContain('names-server-1  Running');
    expect([idOf('names-server-1'), idOf('names-client-1')]).toEqual([server, client]);
    const changed = names(['up', '-d'], { SERVER_PORT: String(port + 1 > 65535 ? port - 1 : port + 1) });
    expect(changed.stderr).toContain('names-server-1  Recreate');
    expect(idOf('names-server-1')).not.toBe(server);
    expect(idOf('names-client-1')).toBe(client);
    names(['up', '-d']); // back on the first port
  });

  it('scales a service: --scale client=3 adds two, every one reaching the server by name', () => {
    names(['up', '-d', '--scale', 'client=3']);
    expect(psNames(NAMES)).toEqual(['names-client-1', 'names-client-2', 'names-client-3', 'names-server-1']);
    expect(names(['exec', '--index', '3', 'client', 'wget', '-q', '-O', '-', 'http://server/']).stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    names(['up', '-d', '--scale', 'client=1']);
    expect(psNames(NAMES)).toEqual(['names-client-1', 'names-server-1']);
  });

  it('stop keeps the containers, start runs the same ones again', () => {
    const page = names(['exec', 'client', 'wget', '-q', '-O', '-', 'http://server/']).stdout;
    const server = idOf('names-server-1');
    names(['stop']);
    expect(psNames(NAMES)).toEqual([]);
    expect(ok(NAMES, ['ps', '-a']).stdout).toMatch(/names-server-1 .* Exited/);
    names(['start']);
    expect(psNames(NAMES)).toEqual(['names-client-1', 'names-server-1']);
    expect(idOf('names-server-1')).toBe(server);
    const got = compose(NAMES, ['exec', 'client', 'wget', '-q', '-O', '-', 'http://server/']);
    if (got.code !== 0) {
      // What the network's DNS knew, for the report.
      const dns = compose(NAMES, ['exec', 'client', 'nslookup', 'server']);
      throw new Error(`after start: ${got.stderr.trim()}; nslookup: ${dns.stdout.trim()} ${dns.stderr.trim()}; hosts: ${box(root, ['network', 'inspect', 'names_default']).stdout.replace(/\s+/g, ' ').slice(0, 600)}`);
    }
    expect(got.stdout).toBe(page);
  });

  it('keeps the named volume over down and up, and down -v leaves nothing', async () => {
    const before = await httpGet(port);
    const down = names(['down']);
    expect(down.stderr).toContain(' Network names_default  Removed');
    expect(box(root, ['ps', '-a']).stdout.trim().split('\n')).toHaveLength(1);
    expect(box(root, ['volume', 'ls', '-q']).stdout.trim()).toBe('names_site');
    names(['up', '-d']);
    expect(await httpGet(port)).toBe(before); // the page the first server wrote, from the volume
    const netId = JSON.parse(box(root, ['network', 'inspect', 'names_default']).stdout)[0].Id as string;
    names(['down', '-v']);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe('');
    expect(box(root, ['volume', 'ls', '-q']).stdout.trim()).toBe('');
    expect(box(root, ['network', 'ls']).stdout).not.toContain('names_default');
    expect(links()).not.toContain(`box-${netId.slice(0, 12)}`);
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain(`box_${netId.slice(0, 12)}`);
  });

  it('waits for depends_on conditions: service_healthy, then service_completed_successfully', () => {
    const r = ok(HEALTH, ['up', '-d']);
    const at = (line: string) => {
      const i = r.stderr.indexOf(line);
      expect(i, `${line} in:\n${r.stderr}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(at('health-db-1  Started')).toBeLessThan(at('Container db  Healthy'));
    expect(at('Container db  Healthy')).toBeLessThan(at('health-migrate-1  Started'));
    expect(at('Container migrate  Exited')).toBeLessThan(at('health-app-1  Started'));
    // The engine's client prints a started container's id; compose's own output is its lines on stderr.
    expect(r.stdout).toBe('');
    const ps = ok(HEALTH, ['ps', '-a']).stdout;
    expect(ps).toMatch(/health-db-1 .* Up \(healthy\)/);
    expect(ps).toMatch(/health-migrate-1 .* Exited \(0\)/);
    expect(ok(HEALTH, ['logs', 'migrate']).stdout).toBe('health-migrate-1  | migrated\n');
    ok(HEALTH, ['down']);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe('');
  });

  it('builds a service with build:, as PROJECT-SERVICE, and runs one-off containers of it', () => {
    const b = ok(BUILD, ['build'], { GREETING: 'hej' });
    expect(b.stderr).toContain(' Image build-api  Built');
    expect(box(root, ['images']).stdout).toMatch(/^build-api\s+latest/m);
    const r = ok(BUILD, ['run', '--rm', 'api']);
    expect(r.stdout).toBe('hej from the build\n');
    expect(r.stderr).toContain(' Network build_default  Created');
    expect(compose(BUILD, ['run', '--rm', 'api', 'sh', '-c', 'exit 3']).code).toBe(3);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe(''); // --rm
    ok(BUILD, ['down']);
    expect(box(root, ['rmi', 'build-api']).code).toBe(0);
  });

  it("runs an entrypoint list as Docker does: it replaces the image's and clears its CMD unless a command is given", () => {
    const up = ok(ENTRY, ['up', '-d']);
    expect(up.stdout).toBe(''); // kept starts through the engine: its id is not printed
    expect(box(root, ['wait', 'entrypoint-alone-1']).stdout.trim()).toBe('0');
    expect(box(root, ['wait', 'entrypoint-list-1']).stdout.trim()).toBe('0');
    expect(box(root, ['wait', 'entrypoint-both-1']).stdout.trim()).toBe('0');
    // busybox's CMD is sh: 'echo' alone prints an empty line, not "sh"
    expect(ok(ENTRY, ['logs', 'alone']).stdout).toBe('entrypoint-alone-1  | \n');
    expect(ok(ENTRY, ['logs', 'list']).stdout).toBe('entrypoint-list-1  | from entrypoint\n');
    expect(ok(ENTRY, ['logs', 'both']).stdout).toBe('entrypoint-both-1  | from command\n');
    expect(box(root, ['wait', 'entrypoint-kept-1']).stdout.trim()).toBe('0');
    expect(box(root, ['wait', 'entrypoint-initd-1']).stdout.trim()).toBe('0');
    expect(ok(ENTRY, ['logs', 'initd']).stdout).toBe('entrypoint-initd-1  | 2 box-init\n'); // init: true
    expect(ok(ENTRY, ['logs', 'kept']).stdout).toBe('entrypoint-kept-1  | -h --help\n');
    ok(ENTRY, ['down']);
  });

  it('refuses a bad file with one line naming the file, line and key, and makes nothing', () => {
    const r = box(root, ['compose', '-f', path.join(FIX, 'errors/unsupported.yaml'), 'up', '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^box: .*errors\/unsupported\.yaml:5: services\.web\.privileged: box compose does not run 'privileged'; remove it .*\n$/);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe('');
    const typo = box(root, ['compose', '-f', path.join(FIX, 'errors/typo.yaml'), 'config']);
    expect(typo.stderr).toMatch(/typo\.yaml:4: services\.web\.imgae: 'imgae' is not a Compose key here; did you mean 'image'\?\n$/);
  });

  it('works inside a lab sandbox: the reader writes a file, up, reaches a service by name, down leaves nothing', () => {
    const file = 'services:\n  server:\n    image: busybox\n    command: httpd -f -p 80 -h /etc\n    stop_grace_period: 1s\n  client:\n    image: busybox\n    command: sleep 1d\n    stop_signal: SIGKILL\n    depends_on: [server]\n';
    const script = [
      'mkdir -p /tmp/shop && cd /tmp/shop && printf "$F" > compose.yaml',
      'box compose up -d 2>/dev/null',
      'box compose exec client wget -qO- http://server/hostname',
      'box compose down -v 2>/dev/null; box network rm bridge >/dev/null 2>&1',
      'box ps -aq | wc -l; ip -o link | grep -c "box-\\|veth"; true',
    ].join('\n');
    const r = box(root, ['run', '--rm', '--lab', '-e', `F=${file}`, '-e', `S=${script}`, 'lab', 'sh', '-c', 'eval "$S"'], { timeout: 180_000 });
    expect(r.stdout.trim().split('\n')).toEqual(['shop-server-1', '0', '0']);
  }, 200_000);

  it('runs a service with container_name under that name, found again by ps, exec and down', () => {
    const dir = fs.mkdtempSync(path.join(root, 'named-'));
    const file = path.join(dir, 'compose.yaml');
    fs.writeFileSync(file, 'name: named\nservices:\n  db:\n    image: busybox\n    container_name: the-db\n    command: httpd -f -p 80 -h /etc\n    stop_signal: SIGKILL\n  client:\n    image: busybox\n    command: sleep 1d\n    stop_signal: SIGKILL\n');
    const up = ok(file, ['up', '-d']);
    expect(up.stderr).toContain(' Container the-db  Started');
    expect(psNames(file)).toEqual(['named-client-1', 'the-db']);
    expect(ok(file, ['exec', 'db', 'hostname']).stdout).toBe('the-db\n');
    expect(ok(file, ['exec', 'client', 'wget', '-q', '-O', '/dev/null', 'http://the-db/hostname']).code).toBe(0); // by its name
    expect(ok(file, ['exec', 'client', 'wget', '-q', '-O', '/dev/null', 'http://db/hostname']).code).toBe(0); // and its service
    ok(file, ['down']);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe('');
  });

  it('prints the resolved file with config, variables substituted', () => {
    const r = names(['config'], { SERVER_PORT: '9999' });
    expect(r.stdout).toContain('published: "9999"');
    expect(r.stdout).toContain('host_ip: 127.0.0.1');
    expect(names(['config', '--services']).stdout).toBe('server\nclient\n');
    expect(names(['config', '--volumes']).stdout).toBe('site\n');
  });
});
