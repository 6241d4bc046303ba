// Reading Compose files as `docker compose` does: which file, which project name,
// interpolation, the specification's schema, keys box does not run, merging, normalizing.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { interpolate } from '../../runtime/src/compose/interpolate.ts';
import { findFiles, normalizeProjectName, projectName } from '../../runtime/src/compose/files.ts';
import { loadProject } from '../../runtime/src/compose/project.ts';
import { renderConfig } from '../../runtime/src/compose/render.ts';
import { formatDuration, parseDuration } from '../../runtime/src/compose/units.ts';
import { userError } from './user-error.ts';

const FIX = path.resolve('test/fixtures/compose');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-model-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A project from YAML text, in a directory of its own. */
function load(yaml: string, env: Record<string, string> = {}, files: Record<string, string> = {}, dir = 'proj') {
  const d = fs.mkdtempSync(path.join(tmp, `${dir}-`));
  const named = path.join(d, dir);
  fs.mkdirSync(named);
  fs.writeFileSync(path.join(named, 'compose.yaml'), yaml);
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(named, f), text);
  return loadProject({ files: [], cwd: named, env });
}

describe('interpolation', () => {
  const env = { SET: 'v', EMPTY: '' };
  const x = (s: string) => interpolate(s, env).value;
  it('substitutes $VAR and ${VAR}', () => {
    expect(x('a $SET b ${SET}c')).toBe('a v b vc');
  });
  it('gives defaults with :- (unset or empty) and - (unset only)', () => {
    expect(x('${UNSET:-d} ${EMPTY:-d} ${SET:-d}')).toBe('d d v');
    expect(x('${UNSET-d} [${EMPTY-d}]')).toBe('d []');
  });
  it('gives alternatives with :+ and +', () => {
    expect(x('[${SET:+alt}] [${EMPTY:+alt}] [${EMPTY+alt}] [${UNSET+alt}]')).toBe('[alt] [] [alt] []');
  });
  it('nests in defaults', () => {
    expect(x('${UNSET:-${SET}-x}')).toBe('v-x');
  });
  it('keeps $$ as a literal $', () => {
    expect(x('echo $$HOME $${SET}')).toBe('echo $HOME ${SET}');
  });
  it('reports unset variables and puts an empty string', () => {
    expect(interpolate('a${NOPE}b$NOPE2', env)).toEqual({ value: 'ab', unset: ['NOPE', 'NOPE2'] });
  });
  it('refuses a missing required variable with its message', () => {
    expect(() => x('${UNSET:?give it}')).toThrow('required variable UNSET is missing a value: give it');
    expect(() => x('${EMPTY:?e}')).toThrow('EMPTY');
    expect(x('${EMPTY?e}')).toBe('');
  });
  it('refuses an unterminated ${', () => {
    expect(() => x('${SET')).toThrow(/never closed/);
  });
});

describe('files and project names', () => {
  it('finds compose.yaml before docker-compose.yml, in a parent too', () => {
    const d = fs.mkdtempSync(path.join(tmp, 'find-'));
    fs.writeFileSync(path.join(d, 'docker-compose.yml'), '');
    fs.writeFileSync(path.join(d, 'compose.yaml'), '');
    fs.mkdirSync(path.join(d, 'sub'));
    expect(findFiles([], {}, path.join(d, 'sub'))).toEqual([path.join(d, 'compose.yaml')]);
    expect(findFiles([], { COMPOSE_FILE: 'docker-compose.yml' }, d)).toEqual([path.join(d, 'docker-compose.yml')]);
  });
  it('says what it looked for when there is no file', () => {
    const d = fs.mkdtempSync(path.join(tmp, 'none-'));
    expect(userError(() => findFiles([], {}, d))).toMatch(/no configuration file provided.*compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml/);
    expect(userError(() => findFiles(['nope.yaml'], {}, d))).toBe('nope.yaml: no such file; check the path given to -f');
  });
  it('takes -p, then COMPOSE_PROJECT_NAME, then name:, then the directory', () => {
    expect(projectName('flag', { COMPOSE_PROJECT_NAME: 'env' }, 'top', '/x/Dir')).toBe('flag');
    expect(projectName(undefined, { COMPOSE_PROJECT_NAME: 'env' }, 'top', '/x/Dir')).toBe('env');
    expect(projectName(undefined, {}, 'top', '/x/Dir')).toBe('top');
    expect(projectName(undefined, {}, undefined, '/x/My App.v2')).toBe('myappv2');
    expect(normalizeProjectName('_-Web_App')).toBe('web_app');
    expect(userError(() => projectName('Bad Name', {}, undefined, '/x'))).toMatch(/project name 'Bad Name' \(-p\) is not valid/);
  });
});

describe('loading a file', () => {
  it('reads the example project into the model', () => {
    const { project } = loadProject({ files: [], cwd: path.join(FIX, 'webapp'), env: {} });
    expect(project.name).toBe('webapp');
    const { web, api, kv } = project.services;
    expect(web.command).toEqual(['httpd', '-f', '-p', '80', '-h', '/www']);
    expect(web.ports).toEqual([{ target: 80, published: '8080', hostIp: undefined, protocol: 'tcp' }]);
    expect(web.volumes).toEqual([{ type: 'bind', source: path.join(FIX, 'webapp/site'), target: '/www', readOnly: true, createHostPath: true }]);
    expect(web.dependsOn).toEqual({ api: { condition: 'service_healthy', required: true } });
    expect(api.environment).toEqual({ STORE: 'kv', MODE: 'dev' });
    expect(api.networks).toEqual({ front: { aliases: ['backend'] }, back: { aliases: [] } });
    expect(api.healthcheck).toMatchObject({ test: ['CMD', 'wget', '-q', '-O', '-', 'http://localhost:8000/'], intervalMs: 1000, retries: 30 });
    expect(api.replicas).toBe(2);
    expect(api.memLimit).toBe(64 * 2 ** 20);
    expect(api.cpus).toBe(0.5);
    expect(kv.stopGracePeriodMs).toBe(90_000);
    expect(kv.volumes).toEqual([{ type: 'volume', source: 'data', target: '/data', readOnly: false, nocopy: false }]);
    expect(project.networks).toEqual({ front: { name: 'webapp_front', external: false, internal: false }, back: { name: 'webapp_back', external: false, internal: true } });
    expect(project.volumes).toEqual({ data: { name: 'webapp_data', external: false } });
  });

  it('interpolates from the environment over .env, with the line of an unset variable', () => {
    const yaml = 'services:\n  web:\n    image: ${IMAGE}\n    ports: ["${PORT:-80}:80"]\n    environment:\n      A: $FROM_ENV\n      B: ${MISSING}\n    deploy:\n      replicas: ${N}\n';
    const { project, warnings } = load(yaml, { FROM_ENV: 'shell', N: '3' }, { '.env': 'IMAGE=busybox\nFROM_ENV=dotenv\nPORT=9090\n' });
    const web = project.services.web;
    expect(web.image).toBe('busybox');
    expect(web.ports[0].published).toBe('9090');
    expect(web.environment).toEqual({ A: 'shell', B: '' });
    expect(web.replicas).toBe(3);
    expect(warnings).toEqual([expect.stringMatching(/compose\.yaml:7: the "MISSING" variable is not set; using an empty string$/)]);
  });

  it('gives the project name to the file as COMPOSE_PROJECT_NAME (from the directory, -p or name:)', () => {
    const yaml = 'services:\n  foo:\n    image: busybox\n    environment:\n      - COMPOSE_PROJECT_NAME\n    command: echo "I\'m running ${COMPOSE_PROJECT_NAME}"\n';
    const { project, warnings } = load(yaml, {}, {}, 'shop');
    expect(project.services.foo.command).toEqual(['echo', "I'm running shop"]);
    expect(project.services.foo.environment).toEqual({ COMPOSE_PROJECT_NAME: 'shop' });
    expect(warnings).toEqual([]);
    expect(load(`name: store\n${yaml}`).project.services.foo.command).toEqual(['echo', "I'm running store"]);
  });

  it('reads YAML anchors and the <<: merge key, and names a value of the wrong type', () => {
    const yaml = 'x-env: &env\n  FOO: BAR\nservices:\n  a:\n    image: x\n    environment:\n      <<: *env\n      MORE: "1"\n';
    expect(load(yaml).project.services.a.environment).toEqual({ FOO: 'BAR', MORE: '1' });
    expect(userError(() => load('services:\n  a:\n    image: x\n    environment:\n      A: [1]\n'))).toMatch(/compose\.yaml:5: services\.a\.environment\.A: must be string or number or boolean or null$/);
  });

  it('refuses a typo with the file, line, key and the nearest key', () => {
    const msg = userError(() => loadProject({ files: [path.join(FIX, 'errors/typo.yaml')], cwd: FIX, env: {} }));
    expect(msg).toBe("test/fixtures/compose/errors/typo.yaml:4: services.web.imgae: 'imgae' is not a Compose key here; did you mean 'image'?");
  });

  it('refuses a key box does not run with the file, line and key', () => {
    const msg = userError(() => loadProject({ files: [path.join(FIX, 'errors/unsupported.yaml')], cwd: FIX, env: {} }));
    expect(msg).toMatch(/^test\/fixtures\/compose\/errors\/unsupported\.yaml:5: services\.web\.privileged: box compose does not run 'privileged'; remove it/);
  });

  it('refuses bad YAML, a bad value, an undeclared volume and a missing required variable, each by line', () => {
    const at = (f: string) => userError(() => loadProject({ files: [path.join(FIX, 'errors', f)], cwd: FIX, env: {} }));
    expect(at('bad-yaml.yaml')).toMatch(/^test\/fixtures\/compose\/errors\/bad-yaml\.yaml:4: not valid YAML: /);
    expect(at('bad-type.yaml')).toBe('test/fixtures/compose/errors/bad-type.yaml:6: services.web.depends_on.db.condition: must be one of service_started, service_healthy, service_completed_successfully');
    expect(at('undeclared-volume.yaml')).toBe("test/fixtures/compose/errors/undeclared-volume.yaml:5: volume 'dbdata' is not declared; add it under the top-level volumes: key");
    expect(at('required-var.yaml')).toBe('test/fixtures/compose/errors/required-var.yaml:5: required variable TOKEN is missing a value: set TOKEN in .env');
  });

  it('refuses nested unsupported keys and bad values by line', () => {
    expect(userError(() => load('services:\n  a:\n    image: x\n    deploy:\n      restart_policy: {condition: any}\n'))).toMatch(/compose\.yaml:5: services\.a\.deploy\.restart_policy: box compose does not run 'restart_policy'/);
    expect(userError(() => load('services:\n  a:\n    image: x\n    restart: sometimes\n'))).toMatch(/compose\.yaml:4: 'sometimes' is not a restart policy/);
    expect(userError(() => load('services:\n  a:\n    image: x\n    ports:\n      - "80"\n      - "x:80"\n'))).toMatch(/compose\.yaml:6: 'x:80' is not a port mapping/);
    expect(userError(() => load('services:\n  a:\n    image: x\n    depends_on: [b]\n'))).toMatch(/compose\.yaml:4: service 'a' depends on 'b', which is not a service/);
    expect(userError(() => load('services:\n  a:\n    build: {context: .}\n    secrets: [s]\n'))).toMatch(/compose\.yaml:4: .*'secrets'/);
    expect(userError(() => load('services:\n  a:\n    command: x\n'))).toMatch(/compose\.yaml:2: service 'a' has neither an image nor a build context/);
  });

  it('names the image of a service that only builds PROJECT-SERVICE, the context made absolute', () => {
    const { project } = load('services:\n  api:\n    build:\n      context: ./api\n      args: [VERSION]\n', { VERSION: '2' }, {}, 'shop');
    expect(project.services.api.image).toBe('shop-api');
    expect(project.services.api.build).toEqual({ context: path.join(project.workingDir, 'api'), dockerfile: undefined, args: { VERSION: '2' } });
  });

  it('reads env_file under environment, and ports, volumes and tmpfs in all their forms', () => {
    const yaml = `services:
  a:
    image: x
    env_file: [a.env]
    environment: [B=from-env, C]
    ports: ["127.0.0.1:8080:80/udp", "9000-9001:90-91", {target: 53, published: "5353", protocol: udp}, "3000"]
    volumes:
      - v:/data:ro
      - /anon
      - {type: tmpfs, target: /t, tmpfs: {size: 1m}}
      - {type: volume, source: v, target: /n, volume: {nocopy: true}}
volumes:
  v: {name: shared, external: true}
`;
    const { project } = load(yaml, { C: 'c' }, { 'a.env': 'A=1\nB=from-file\n' });
    const a = project.services.a;
    expect(a.environment).toEqual({ A: '1', B: 'from-env', C: 'c' });
    expect(a.ports).toEqual([
      { target: 80, published: '8080', hostIp: '127.0.0.1', protocol: 'udp' },
      { target: 90, published: '9000', hostIp: undefined, protocol: 'tcp' },
      { target: 91, published: '9001', hostIp: undefined, protocol: 'tcp' },
      { target: 53, published: '5353', hostIp: undefined, protocol: 'udp' },
      { target: 3000, published: undefined, hostIp: undefined, protocol: 'tcp' },
    ]);
    expect(a.volumes).toEqual([
      { type: 'volume', source: 'v', target: '/data', readOnly: true, nocopy: false },
      { type: 'volume', target: '/anon', readOnly: false, nocopy: false },
      { type: 'tmpfs', target: '/t', size: 2 ** 20 },
      { type: 'volume', source: 'v', target: '/n', readOnly: false, nocopy: true },
    ]);
    expect(project.volumes.v).toEqual({ name: 'shared', external: true });
  });

  it('merges several -f files as Compose does', () => {
    const d = fs.mkdtempSync(path.join(tmp, 'merge-'));
    fs.writeFileSync(path.join(d, 'compose.yaml'), 'services:\n  a:\n    image: x\n    command: one\n    ports: ["80:80"]\n    environment: [A=1, B=1]\n    volumes: ["/d1:/data", "/c:/cache"]\n');
    fs.writeFileSync(path.join(d, 'override.yaml'), 'services:\n  a:\n    command: two\n    ports: ["443:443"]\n    environment: {B: 2}\n    volumes: ["/d2:/data"]\n    privileged: true\n');
    const files = [path.join(d, 'compose.yaml'), path.join(d, 'override.yaml')];
    expect(userError(() => loadProject({ files, cwd: d, env: {} }))).toMatch(/override\.yaml:7: services\.a\.privileged/);
    fs.writeFileSync(path.join(d, 'override.yaml'), 'services:\n  a:\n    command: two\n    ports: ["443:443"]\n    environment: {B: 2}\n    volumes: ["/d2:/data"]\n');
    const a = loadProject({ files, cwd: d, env: {} }).project.services.a;
    expect(a.command).toEqual(['two']);
    expect(a.ports.map((p) => p.target)).toEqual([80, 443]);
    expect(a.environment).toEqual({ A: '1', B: '2' });
    expect(a.volumes.map((v) => v.type === 'bind' && `${v.source}:${v.target}`)).toEqual(['/c:/cache', '/d2:/data']);
  });

  it('prints the resolved file, which loads again to the same model', () => {
    const { project } = loadProject({ files: [], cwd: path.join(FIX, 'webapp'), env: { WEB_PORT: '8181' } });
    const text = renderConfig(project);
    expect(text).toContain('published: "8181"');
    const d = fs.mkdtempSync(path.join(tmp, 'again-'));
    fs.writeFileSync(path.join(d, 'compose.yaml'), text);
    expect(loadProject({ files: [], cwd: d, env: {} }).project.services).toEqual(project.services);
  });
});

describe('durations', () => {
  it('reads and prints Go durations', () => {
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('10')).toBe(10_000);
    expect(parseDuration('ten')).toBeNull();
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(3_600_000)).toBe('1h0m0s');
    expect(formatDuration(250)).toBe('250ms');
  });
});

describe('keys box cannot honour with a value', () => {
  it('reads init: true (box run --init) and init: false', () => {
    expect(load('services:\n  a:\n    image: x\n    init: true\n').project.services.a.init).toBe(true);
    expect(load('services:\n  a:\n    image: x\n    init: false\n').project.services.a.init).toBe(false);
  });
});
