// The Compose Specification's own examples, and awesome-compose's, run by `box compose`
// as published (test/fixtures/compose/spec; each file names its source, commit and licence).
// The images the examples name (example/webapp, backup-service...) are one small web server
// built here and tagged under those names; the files themselves are unchanged. The examples
// that use keys box does not run are refused with one line naming the file, line and key.
// Traffic stays on the bridges these projects make.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, has, repo, rootReason, tempBoxRoot } from './helpers.ts';

const missing = rootReason || (!has('nft') ? 'needs nft (apt-get install nftables)' : !has('ip') ? 'needs ip (apt-get install iproute2)' : '');
if (missing && process.env.CI === 'true') throw new Error(`compose example tests cannot run: ${missing}`);
if (missing) console.warn(`skipping compose example tests: ${missing}`);

const root = missing ? '' : tempBoxRoot('compose-spec');
const SPEC = path.join(repo, 'test/fixtures/compose/spec');
const file = (name: string) => path.join(SPEC, name, 'compose.yaml');
const shown = (name: string) => path.relative(repo, file(name));
const RUNS = ['project-name', 'aliases', 'shared-volume', 'fragments', 'extension'];
const IMAGES = ['example/webapp', 'example/monitoring', 'example/backend', 'example/database', 'backup-service', 'my-image:latest', 'another-image:latest'];

const compose = (name: string, args: string[]) => box(root, ['compose', '-f', file(name), ...args], { timeout: 120_000 });
const ok = (name: string, args: string[]) => {
  const r = compose(name, args);
  if (r.code !== 0) throw new Error(`box compose ${args.join(' ')} (${name}): exit ${r.code}: ${r.stderr}`);
  return r;
};
/** `box compose ps` as rows of NAME and STATUS. */
const ps = (name: string, all = false) => ok(name, ['ps', ...(all ? ['-a'] : [])]).stdout.trim().split('\n').slice(1)
  .map((l) => { const f = l.split(/\s{2,}/); return `${f[0]} ${f[4]}`; });
const get = (name: string, service: string, url: string) => compose(name, ['exec', service, 'wget', '-q', '-O', '-', url]);

needs(missing).describe('the Compose Specification examples under box compose', () => {
  beforeAll(() => {
    const b = box(root, ['build', '-t', IMAGES[0], path.join(SPEC, 'image')], { timeout: 120_000 });
    expect(b.code, b.stderr).toBe(0);
    for (const t of IMAGES.slice(1)) expect(box(root, ['tag', IMAGES[0], t]).code).toBe(0);
  }, 180_000);
  afterAll(() => {
    for (const name of RUNS) compose(name, ['down', '-v']);
    expect(box(root, ['ps', '-a', '-q']).stdout.trim()).toBe('');
    expect(box(root, ['network', 'ls', '-q']).stdout.trim()).toBe('');
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('every runnable example names its source and licence, and config resolves it', () => {
    for (const name of [...RUNS, 'awesome-wordpress']) {
      const text = fs.readFileSync(file(name), 'utf8');
      expect(text).toMatch(/^# (The Compose Specification's example at github\.com\/compose-spec\/compose-spec|From github\.com\/docker\/awesome-compose)/);
      expect(text).toMatch(/commit [0-9a-f]{40}\n# \((Apache License 2\.0|CC0 1\.0 Universal)/);
      const c = ok(name, ['config']);
      expect(c.stdout).toMatch(new RegExp(`^name: ${name}\\n`));
      expect(c.stderr).toBe('');
    }
  });

  it('04-version-and-name: the project name is a variable of the file (COMPOSE_PROJECT_NAME)', () => {
    expect(ok('project-name', ['config']).stdout).toContain("      - I'm running project-name\n");
    ok('project-name', ['up', '-d']);
    expect(ok('project-name', ['logs']).stdout).toBe("project-name-foo-1  | I'm running project-name\n");
    expect(ps('project-name', true)).toEqual(['project-name-foo-1 Exited (0)']);
    ok('project-name', ['down']);
    expect(ps('project-name', true)).toEqual([]);
  });

  it('05-services networks and aliases: each service reaches the others through the networks it shares, by alias', () => {
    const up = ok('aliases', ['up', '-d']);
    for (const n of ['front-tier', 'back-tier', 'admin']) expect(up.stderr).toContain(` Network aliases_${n}  Created`);
    expect(ps('aliases')).toEqual(['aliases-backend-1 Up', 'aliases-frontend-1 Up', 'aliases-monitoring-1 Up']);
    // Each server answers with its hostname: the name reached the backend container.
    expect(get('aliases', 'monitoring', 'http://mysql/').stdout).toBe('aliases-backend-1\n');
    expect(get('aliases', 'backend', 'http://frontend/').stdout).toBe('aliases-frontend-1\n'); // back-tier
    // A container on several networks resolves the names of all of them, as with Docker's
    // resolver, though its resolv.conf names its first network's box-dns only.
    expect(get('aliases', 'frontend', 'http://database/').stdout).toBe('aliases-backend-1\n'); // back-tier, from front-tier's DNS
    expect(get('aliases', 'backend', 'http://monitoring/').stdout).toBe('aliases-monitoring-1\n'); // admin, from back-tier's DNS
    // A name of a network the asker is not on does not exist for it.
    for (const [from, name] of [['monitoring', 'frontend'], ['frontend', 'mysql'], ['frontend', 'monitoring']]) {
      const none = get('aliases', from, `http://${name}/`);
      expect(none.code, `${from} -> ${name}`).not.toBe(0);
      expect(none.stderr).toContain(`bad address '${name}'`);
    }
    ok('aliases', ['down']);
    expect(box(root, ['network', 'ls', '-q']).stdout.trim()).toBe('');
  });

  it('07-volumes: two services share the named volume db-data', () => {
    const up = ok('shared-volume', ['up', '-d']);
    expect(up.stderr).toContain(' Volume shared-volume_db-data  Created');
    ok('shared-volume', ['exec', 'backend', 'sh', '-c', 'echo kept > /etc/data/note']);
    expect(ok('shared-volume', ['exec', 'backup', 'cat', '/var/lib/backup/data/note']).stdout).toBe('kept\n');
    ok('shared-volume', ['down']);
    expect(box(root, ['volume', 'ls', '-q']).stdout.trim()).toBe('shared-volume_db-data'); // down keeps it
    ok('shared-volume', ['down', '-v']);
    expect(box(root, ['volume', 'ls', '-q']).stdout.trim()).toBe('');
  });

  it('10-fragments: an anchor merged with <<: gives the second service the first one\'s variables and its own', () => {
    ok('fragments', ['up', '-d']);
    const env = (s: string) => ok('fragments', ['exec', s, 'env']).stdout.split('\n').filter((l) => /^(FOO|ZOT|YET_ANOTHER)=/.test(l)).sort();
    expect(env('first')).toEqual(['FOO=BAR', 'ZOT=QUIX']);
    expect(env('second')).toEqual(['FOO=BAR', 'YET_ANOTHER=VARIABLE', 'ZOT=QUIX']);
    expect(get('fragments', 'first', 'http://second/').stdout).toBe('fragments-second-1\n');
    ok('fragments', ['down']);
  });

  it('11-extension: x- keys are ignored, as Compose ignores them', () => {
    expect(ok('extension', ['config']).stdout).not.toContain('x-');
    ok('extension', ['up', '-d']);
    expect(ps('extension')).toEqual(['extension-webapp-1 Up']);
    ok('extension', ['down']);
  });

  it("awesome-compose's wordpress-mysql: box runs its keys, and says it has not the registry's images", () => {
    const r = compose('awesome-wordpress', ['up', '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe("box: service 'db': no such image 'mariadb:10.6.4-focal'; `box images` lists them (box compose does not pull)\n");
    expect(box(root, ['network', 'ls', '-q']).stdout.trim()).toBe(''); // nothing made
  });

  it('refuses the examples with keys box does not run: one line naming the file, line and key', () => {
    const refused: [string, RegExp][] = [
      ['refused-model', /:12: services\.frontend\.configs: box compose does not run 'configs'; remove it \(box runs: image, container_name, build/],
      ['refused-depends-restart', /:10: services\.web\.depends_on\.db\.restart: box compose does not run 'restart'; remove it \(box runs: condition, required\)/],
      ['refused-duplicate', /:12: not valid YAML: Map keys must be unique/],
      ['refused-secrets', /:16: services\.db\.secrets: box compose does not run 'secrets'; remove it/],
      ['refused-network-mode', /:7: services\.plex\.network_mode: box compose does not run 'network_mode'; remove it/],
      ['refused-build-target', /:7: services\.web\.build\.target: box compose does not run 'target'; remove it \(box runs: context, dockerfile, args\)/],
    ];
    for (const [name, line] of refused) {
      for (const args of [['config'], ['up', '-d']]) {
        const r = compose(name, args);
        expect(r.code, name).not.toBe(0);
        expect(r.stdout).toBe('');
        expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
        expect(r.stderr.startsWith(`box: ${shown(name)}:`), r.stderr).toBe(true);
        expect(r.stderr).toMatch(line);
      }
    }
    expect(box(root, ['network', 'ls', '-q']).stdout.trim()).toBe('');
  });
});
