// Carrying out a plan, against a recording Runtime: what is made, in which order, what is
// waited for, and that a bad run line or a missing external network makes nothing.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { down, up } from '../../runtime/src/compose/apply.ts';
import { LABEL } from '../../runtime/src/compose/plan.ts';
import { loadProject } from '../../runtime/src/compose/project.ts';
import type { ProjectContainer, Runtime } from '../../runtime/src/compose/runtime.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';

const FIX = path.resolve('test/fixtures/compose');
const project = (dir: string) => loadProject({ files: [], cwd: path.join(FIX, dir), env: {} }).project;

/** A Runtime that keeps containers, networks and volumes in memory and records every call. */
function fake(opts: { health?: (name: string, polls: number) => string; exit?: Record<string, number>; badFlag?: string } = {}) {
  const calls: string[] = [];
  const containers = new Map<string, ProjectContainer>();
  const networks = new Set<string>();
  const volumes = new Set<string>();
  let polls = 0;
  const rt: Runtime = {
    containers: () => {
      polls++;
      return [...containers.values()].map((c) => ({ ...c, health: opts.health ? opts.health(c.name, polls) : c.health }));
    },
    networkExists: (n) => networks.has(n),
    createNetwork: (n) => void (networks.add(n), calls.push(`network create ${n}`)),
    removeNetwork: (n) => void (networks.delete(n), calls.push(`network rm ${n}`)),
    volumeExists: (v) => volumes.has(v),
    createVolume: (v) => void (volumes.add(v), calls.push(`volume create ${v}`)),
    removeVolume: (v) => void (volumes.delete(v), calls.push(`volume rm ${v}`)),
    makeHostDir: (dir) => void calls.push(`mkdir ${path.relative(FIX, dir)}`),
    checkRun: (argv) => {
      if (opts.badFlag && argv.includes(opts.badFlag)) throw new UserError(`unknown flag: ${opts.badFlag}`);
    },
    async run(argv) {
      const label = (k: string) => argv[argv.indexOf(`${k}=${argv.find((a) => a.startsWith(`${k}=`))!.slice(k.length + 1)}`)].slice(k.length + 1);
      const name = argv[argv.indexOf('--name') + 1];
      const code = opts.exit?.[label(LABEL.service)];
      containers.set(name, {
        id: name, name, service: label(LABEL.service), number: Number(label(LABEL.number)), hash: label(LABEL.hash), running: code === undefined,
        image: 'busybox', command: [], created: '', status: code === undefined ? 'running' : 'exited', exitCode: code ?? null, ports: [], oneoff: false,
      });
      calls.push(`run ${name}`);
    },
    start: async (n) => void calls.push(`start ${n}`),
    connect: async (net, c) => void calls.push(`connect ${net} ${c}`),
    stop: async (n) => void calls.push(`stop ${n}`),
    remove: async (n) => void (containers.delete(n), calls.push(`rm ${n}`)),
    imageId: () => 'sha256:1',
    build: async ({ tag }) => void calls.push(`build ${tag}`),
    say: () => {},
    sleep: async () => {},
  };
  return { rt, calls };
}

describe('apply', () => {
  it('makes networks and volumes first, then the services in depends_on order, waiting for health', async () => {
    const { rt, calls } = fake({ health: (name, polls) => (name === 'webapp-api-1' || name === 'webapp-api-2') && polls > 6 ? 'healthy' : 'starting' });
    await up(rt, project('webapp'));
    expect(calls).toEqual([
      'mkdir webapp/site',
      'network create webapp_front', 'network create webapp_back', 'volume create webapp_data',
      'run webapp-kv-1', 'run webapp-api-1', 'connect webapp_back webapp-api-1', 'run webapp-api-2', 'connect webapp_back webapp-api-2',
      'run webapp-web-1',
    ]);
  });

  it('up again makes nothing new', async () => {
    const { rt, calls } = fake({ health: () => 'healthy' });
    await up(rt, project('webapp'));
    calls.length = 0;
    await up(rt, project('webapp'));
    expect(calls).toEqual(['mkdir webapp/site']); // mkdir -p: nothing if it is there
  });

  it('stops at an unhealthy dependency, before starting what depends on it', async () => {
    const { rt, calls } = fake({ health: () => 'unhealthy' });
    await expect(up(rt, project('webapp'))).rejects.toThrow('dependency failed to start: container webapp-api-1 is unhealthy; see box compose logs api');
    expect(calls).not.toContain('run webapp-web-1');
  });

  it('fails service_completed_successfully on a non-zero exit', async () => {
    const { rt, calls } = fake({ health: () => 'healthy', exit: { migrate: 2 } });
    await expect(up(rt, project('health'))).rejects.toThrow("service migrate didn't complete successfully: health-migrate-1 exited with code 2");
    expect(calls.filter((c) => c.startsWith('run'))).toEqual(['run health-db-1', 'run health-migrate-1']);
  });

  it('checks every box run line before making anything', async () => {
    const { rt, calls } = fake({ badFlag: '--health-cmd' });
    await expect(up(rt, project('webapp'))).rejects.toThrow('unknown flag: --health-cmd');
    expect(calls).toEqual([]);
  });

  it('down removes dependents first, then networks; -v the volumes', async () => {
    const { rt, calls } = fake({ health: () => 'healthy' });
    await up(rt, project('webapp'));
    calls.length = 0;
    await down(rt, project('webapp'), { volumes: true });
    expect(calls).toEqual([
      'stop webapp-web-1', 'rm webapp-web-1', 'stop webapp-api-2', 'rm webapp-api-2', 'stop webapp-api-1', 'rm webapp-api-1', 'stop webapp-kv-1', 'rm webapp-kv-1',
      'network rm webapp_front', 'network rm webapp_back', 'volume rm webapp_data',
    ]);
  });
});
