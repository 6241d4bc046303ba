// Carrying out a plan (plan.ts) through a Runtime: networks and volumes first, then the
// services in depends_on order, each waiting for its dependencies' conditions; `down` in
// the reverse order. Progress lines are Compose's: " Container web-1  Started".

import { UserError } from '../sys/errors.ts';
import type { Project } from './model.ts';
import { LABEL, planDown, planUp, type Plan, type PlanOptions } from './plan.ts';
import type { ProjectContainer, Runtime } from './runtime.ts';

export interface UpOptions extends PlanOptions {
  build?: boolean;
  noBuild?: boolean;
}

/** Build what needs building: every service with build: (with --build), or whose image is missing. */
export async function buildImages(rt: Runtime, project: Project, services: string[], always: boolean, noCache = false): Promise<void> {
  for (const name of services) {
    const s = project.services[name];
    if (!s.build) continue;
    if (!always && rt.imageId(s.image)) continue;
    rt.say(` Image ${s.image}  Building`);
    await rt.build({ context: s.build.context, dockerfile: s.build.dockerfile, args: s.build.args, tag: s.image, noCache });
    rt.say(` Image ${s.image}  Built`);
  }
}

export async function up(rt: Runtime, project: Project, opts: UpOptions = {}): Promise<Plan> {
  const first = planUp(project, rt.containers(project.name), opts);
  const services = first.services.map((s) => s.service);
  if (!opts.noBuild) await buildImages(rt, project, services, !!opts.build);
  const imageIds: Record<string, string> = {};
  for (const name of services) {
    const id = rt.imageId(project.services[name].image);
    if (id) imageIds[name] = id;
    else if (!project.services[name].build) throw new UserError(`service '${name}': no such image '${project.services[name].image}'; \`box images\` lists them (box compose does not pull)`);
  }
  const plan = planUp(project, rt.containers(project.name), { ...opts, imageIds });
  // Every box run is checked before anything is made: a bad flag leaves nothing half-up.
  for (const s of plan.services) for (const c of s.containers) rt.checkRun(c.run);
  // A bind's missing host directory is made (create_host_path, true unless the file says
  // otherwise, as with Compose); box run itself refuses a host path that does not exist.
  for (const s of plan.services) {
    for (const m of project.services[s.service].volumes) if (m.type === 'bind' && m.createHostPath) rt.makeHostDir(m.source);
  }

  ensureResources(rt, plan);
  for (const step of plan.services) {
    for (const w of step.waitFor) await waitFor(rt, project, w.service, w.condition);
    const svc = project.services[step.service];
    for (const name of step.remove) {
      await rt.stop(name, svc.stopSignal, svc.stopGracePeriodMs ?? 10_000);
      await rt.remove(name, true);
      rt.say(` Container ${name}  Removed`);
    }
    for (const c of step.containers) {
      if (c.action === 'keep') {
        rt.say(` Container ${c.name}  Running`);
        continue;
      }
      if (c.action === 'start') {
        // Stopped, and still what the file says: started again as it was (box start).
        await rt.start(c.name);
        rt.say(` Container ${c.name}  Started`);
        continue;
      }
      if (c.action === 'recreate') {
        await rt.stop(c.name, svc.stopSignal, svc.stopGracePeriodMs ?? 10_000);
        await rt.remove(c.name, false);
        rt.say(` Container ${c.name}  Recreate`);
      }
      await rt.run(c.run);
      for (const extra of c.connect) await rt.connect(extra.network, c.name, extra.aliases);
      rt.say(` Container ${c.name}  Started`);
    }
  }
  return plan;
}

/** The plan's networks and volumes, made if they are missing (an external one must exist). */
export function ensureResources(rt: Runtime, plan: Plan): void {
  const labels = { [LABEL.project]: plan.project };
  for (const n of plan.networks) {
    if (rt.networkExists(n.name)) continue;
    if (n.external) throw new UserError(`network ${n.name} declared as external, but could not be found; create it with box network create ${n.name}`);
    rt.createNetwork(n.name, n.internal, { ...labels, [LABEL.network]: n.key });
    rt.say(` Network ${n.name}  Created`);
  }
  for (const v of plan.volumes) {
    if (rt.volumeExists(v.name)) continue;
    if (v.external) throw new UserError(`external volume "${v.name}" not found; create it with box volume create ${v.name}`);
    rt.createVolume(v.name, { ...labels, [LABEL.volume]: v.key });
    rt.say(` Volume ${v.name}  Created`);
  }
}

/** Wait until `service`'s containers meet `condition`; fail as Compose does when they cannot. */
async function waitFor(rt: Runtime, project: Project, service: string, condition: string): Promise<void> {
  if (condition === 'service_started') return;
  if (condition === 'service_healthy' && !project.services[service].healthcheck?.test) {
    throw new UserError(`dependency ${service} has no healthcheck, and a service depends on it with condition service_healthy; add a healthcheck to ${service}`);
  }
  rt.say(` Container ${service}  Waiting`);
  for (;;) {
    const mine = rt.containers(project.name).filter((c) => c.service === service && !c.oneoff);
    if (condition === 'service_completed_successfully') {
      const failed = mine.find((c) => c.status === 'exited' && c.exitCode !== 0);
      if (failed) throw new UserError(`service ${service} didn't complete successfully: ${failed.name} exited with code ${failed.exitCode}`);
      if (mine.length && mine.every((c) => c.status === 'exited')) break;
    } else {
      const bad = mine.find((c) => c.health === 'unhealthy' || c.status === 'exited');
      if (bad) throw new UserError(`dependency failed to start: container ${bad.name} ${bad.health === 'unhealthy' ? 'is unhealthy' : `exited (${bad.exitCode})`}; see box compose logs ${service}`);
      if (mine.some((c) => c.health === undefined && c.status === 'running')) {
        throw new UserError(`service ${service} has a healthcheck, but this box does not keep health checks (box run --health-cmd); its condition service_healthy cannot be met`);
      }
      if (mine.length && mine.every((c) => c.health === 'healthy')) break;
    }
    await rt.sleep(200);
  }
  rt.say(` Container ${service}  ${condition === 'service_healthy' ? 'Healthy' : 'Exited'}`);
}

/** The project's containers, stopped (dependents first); with `only`, those services'. */
export async function stop(rt: Runtime, project: Project, only: string[] = [], timeoutMs?: number): Promise<void> {
  for (const c of ordered(rt, project, only)) {
    if (c.status !== 'running') continue;
    const svc = project.services[c.service];
    rt.say(` Container ${c.name}  Stopping`);
    await rt.stop(c.name, svc?.stopSignal, timeoutMs ?? svc?.stopGracePeriodMs ?? 10_000);
    rt.say(` Container ${c.name}  Stopped`);
  }
}

export async function down(rt: Runtime, project: Project, opts: { volumes?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const existing = rt.containers(project.name);
  const d = planDown(project, existing, !!opts.volumes);
  for (const name of d.containers) {
    const c = existing.find((e) => e.name === name)!;
    const svc = project.services[c.service];
    if (c.status === 'running') {
      rt.say(` Container ${name}  Stopping`);
      await rt.stop(name, svc?.stopSignal, opts.timeoutMs ?? svc?.stopGracePeriodMs ?? 10_000);
    }
    await rt.remove(name, !!opts.volumes);
    rt.say(` Container ${name}  Removed`);
  }
  for (const n of d.networks) {
    if (!rt.networkExists(n)) continue;
    rt.removeNetwork(n);
    rt.say(` Network ${n}  Removed`);
  }
  for (const v of d.volumes) {
    if (!rt.volumeExists(v)) continue;
    rt.removeVolume(v);
    rt.say(` Volume ${v}  Removed`);
  }
}

/** The project's containers in stop order (dependents first), of `only` services if given. */
export function ordered(rt: Runtime, project: Project, only: string[] = []): ProjectContainer[] {
  const existing = rt.containers(project.name).filter((c) => !only.length || only.includes(c.service));
  const names = planDown(project, existing, false).containers;
  return names.map((n) => existing.find((e) => e.name === n)!);
}
