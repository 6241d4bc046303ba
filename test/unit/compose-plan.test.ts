// The plan of `box compose up` and `down`: what Compose makes, computed without root.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../runtime/src/compose/project.ts';
import { configHash, LABEL, planDown, planUp, type Existing } from '../../runtime/src/compose/plan.ts';
import { startOrder } from '../../runtime/src/compose/order.ts';
import type { Project } from '../../runtime/src/compose/model.ts';
import { userError } from './user-error.ts';

const FIX = path.resolve('test/fixtures/compose');
const webapp = (env: Record<string, string> = {}) => loadProject({ files: [], cwd: path.join(FIX, 'webapp'), env }).project;
const cycle = () => loadProject({ files: [path.join(FIX, 'errors/cycle.yaml')], cwd: FIX, env: {} }).project;

function existingFrom(project: Project, running = true): Existing[] {
  return planUp(project, []).services.flatMap((s) => s.containers.map((c) => ({ name: c.name, service: c.service, number: c.number, hash: c.hash, running })));
}

describe('planUp', () => {
  it('makes the networks, volumes and PROJECT-SERVICE-N containers, dependencies first', () => {
    const plan = planUp(webapp(), []);
    expect(plan.networks.map((n) => n.name)).toEqual(['webapp_front', 'webapp_back']);
    expect(plan.networks.find((n) => n.key === 'back')!.internal).toBe(true);
    expect(plan.volumes.map((v) => v.name)).toEqual(['webapp_data']);
    expect(plan.services.map((s) => s.service)).toEqual(['kv', 'api', 'web']);
    expect(plan.services.flatMap((s) => s.containers.map((c) => `${c.name} ${c.action}`))).toEqual([
      'webapp-kv-1 create', 'webapp-api-1 create', 'webapp-api-2 create', 'webapp-web-1 create',
    ]);
    expect(plan.services[2].waitFor).toEqual([{ service: 'api', condition: 'service_healthy' }]);
  });

  it("labels each container with the project, service, number and config hash", () => {
    const c = planUp(webapp(), []).services[1].containers[1];
    expect(c.labels).toMatchObject({ [LABEL.project]: 'webapp', [LABEL.service]: 'api', [LABEL.number]: '2', [LABEL.hash]: c.hash });
    expect(c.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives each container the box run a user would type', () => {
    const [kv, api, web] = planUp(webapp(), []).services.map((s) => s.containers[0]);
    const labels = kv.run.flatMap((a, i) => (kv.run[i - 1] === '--label' ? [a] : []));
    expect(labels).toEqual(Object.entries(kv.labels).map(([k, v]) => `${k}=${v}`));
    expect(kv.run.filter((a, i) => a !== '--label' && kv.run[i - 1] !== '--label')).toEqual(['-d', '--name', 'webapp-kv-1', '--network', 'webapp_back', '--network-alias', 'kv', '-v', 'webapp_data:/data', 'busybox', 'sh', '-c', 'while true; do sleep 1; done']);
    expect(api.run).toEqual(expect.arrayContaining(['--network', 'webapp_front', '--network-alias', 'backend', '-e', 'MODE=dev', '--memory', String(64 * 2 ** 20), '--cpus', '0.5', '--restart', 'on-failure:3', '--health-cmd', 'wget -q -O - http://localhost:8000/', '--health-retries', '30']));
    expect(api.connect).toEqual([{ network: 'webapp_back', aliases: ['api'] }]);
    expect(web.run).toEqual(expect.arrayContaining(['-p', '8080:80', '-v', `${path.join(FIX, 'webapp/site')}:/www:ro`]));
  });

  it('up again with nothing changed keeps every container; a stopped one is started', () => {
    const project = webapp();
    const existing = existingFrom(project);
    existing[0].running = false;
    const actions = planUp(project, existing).services.flatMap((s) => s.containers.map((c) => `${c.name} ${c.action}`));
    expect(actions).toEqual(['webapp-kv-1 start', 'webapp-api-1 keep', 'webapp-api-2 keep', 'webapp-web-1 keep']);
  });

  it('recreates only the service whose definition changed', () => {
    const before = existingFrom(webapp());
    const after = planUp(webapp({ WEB_PORT: '9090' }), before);
    expect(after.services.flatMap((s) => s.containers.map((c) => `${c.name} ${c.action}`))).toEqual([
      'webapp-kv-1 keep', 'webapp-api-1 keep', 'webapp-api-2 keep', 'webapp-web-1 recreate',
    ]);
  });

  it('recreates when the image was rebuilt (a new image id)', () => {
    const project = webapp();
    const existing = planUp(project, [], { imageIds: { kv: 'sha256:a' } }).services[0].containers.map((c) => ({ name: c.name, service: 'kv', number: 1, hash: c.hash, running: true }));
    expect(planUp(project, existing, { imageIds: { kv: 'sha256:a' } }).services[0].containers[0].action).toBe('keep');
    expect(planUp(project, existing, { imageIds: { kv: 'sha256:b' } }).services[0].containers[0].action).toBe('recreate');
  });

  it('scales up and down: --scale adds numbers, or removes the highest', () => {
    const project = webapp();
    const existing = existingFrom(project);
    const up = planUp(project, existing, { scale: { api: 3 } }).services.find((s) => s.service === 'api')!;
    expect(up.containers.map((c) => `${c.name} ${c.action}`)).toEqual(['webapp-api-1 keep', 'webapp-api-2 keep', 'webapp-api-3 create']);
    const down = planUp(project, [...existing, { name: 'webapp-api-3', service: 'api', number: 3, hash: 'x', running: true }], { scale: { api: 1 } }).services.find((s) => s.service === 'api')!;
    expect(down.containers.map((c) => c.name)).toEqual(['webapp-api-1']);
    expect(down.remove).toEqual(['webapp-api-3', 'webapp-api-2']);
  });

  it('scaling does not change the config hash', () => {
    const p = webapp();
    const h = configHash(p, p.services.api);
    p.services.api.replicas = 5;
    expect(configHash(p, p.services.api)).toBe(h);
    p.services.api.environment.X = '1';
    expect(configHash(p, p.services.api)).not.toBe(h);
  });

  it('up SERVICE starts it and what it depends on, nothing else', () => {
    expect(planUp(webapp(), [], { only: ['api'] }).services.map((s) => s.service)).toEqual(['kv', 'api']);
    expect(userError(() => planUp(webapp(), [], { only: ['nope'] }))).toMatch(/no such service: nope; the services are web, api, kv/);
  });

  it('refuses a depends_on cycle, naming it', () => {
    expect(userError(() => startOrder(cycle()))).toBe('depends_on makes a cycle: a -> b -> c -> a; remove one of these dependencies');
  });

  it('names the one container of a service with container_name so; refuses to scale it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-plan-'));
    try {
      const file = path.join(dir, 'compose.yaml');
      fs.writeFileSync(file, 'services:\n  db:\n    image: busybox\n    container_name: my-db\n  web:\n    image: busybox\n');
      const p = loadProject({ files: [file], cwd: dir, env: {}, projectName: 'shop' }).project;
      const plan = planUp(p, []);
      expect(plan.services.flatMap((s) => s.containers.map((c) => c.name))).toEqual(['my-db', 'shop-web-1']);
      const db = plan.services[0].containers[0];
      expect(db.run.slice(db.run.indexOf('--name'), db.run.indexOf('--name') + 2)).toEqual(['--name', 'my-db']);
      expect(db.labels).toMatchObject({ [LABEL.service]: 'db', [LABEL.number]: '1' }); // still found by its labels
      expect(userError(() => planUp(p, [], { scale: { db: 2 } }))).toBe("--scale db=2: the service has container_name 'my-db', which names one container; remove container_name to scale it");
      fs.writeFileSync(file, 'services:\n  db:\n    image: busybox\n    container_name: my-db\n    deploy:\n      replicas: 2\n');
      expect(userError(() => loadProject({ files: [file], cwd: dir, env: {}, projectName: 'shop' }))).toMatch(/compose\.yaml:4: service 'db' has container_name 'my-db' and 2 replicas; a name is one container's: remove container_name or the replicas$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts a project without networks on PROJECT_default', () => {
    const p = loadProject({ files: [path.join(FIX, 'errors/cycle.yaml')], cwd: FIX, env: {}, projectName: 'x' }).project;
    expect(p.networks).toEqual({ default: { name: 'x_default', external: false, internal: false } });
    expect(Object.values(p.services).map((s) => s.networks)).toEqual([{ default: { aliases: [] } }, { default: { aliases: [] } }, { default: { aliases: [] } }]);
  });
});

describe('planDown', () => {
  it('removes dependents first, then the networks; volumes only with -v', () => {
    const project = webapp();
    const existing = [...existingFrom(project), { name: 'webapp-old-1', service: 'old', number: 1, hash: 'h', running: true }];
    const down = planDown(project, existing, false);
    expect(down.containers).toEqual(['webapp-old-1', 'webapp-web-1', 'webapp-api-2', 'webapp-api-1', 'webapp-kv-1']);
    expect(down.networks).toEqual(['webapp_front', 'webapp_back']);
    expect(down.volumes).toEqual([]);
    expect(planDown(project, existing, true).volumes).toEqual(['webapp_data']);
  });
});
