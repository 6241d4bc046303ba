// What `box compose up` makes, as data: the networks and volumes, and for every container
// of every service its name, labels, config hash and the `box run` that starts it. A pure
// function of the model and of what exists already, so it is unit-tested without root and
// `up` again does only what changed: a container whose hash is the same is left running.

import { createHash } from 'node:crypto';
import type { Condition, Mount, Project, Service } from './model.ts';
import { startOrder } from './order.ts';
import { serviceView } from './render.ts';
import { UserError } from '../sys/errors.ts';

export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  hash: 'com.docker.compose.config-hash',
  oneoff: 'com.docker.compose.oneoff',
  workingDir: 'com.docker.compose.project.working_dir',
  files: 'com.docker.compose.project.config_files',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
} as const;

/** A container of the project that exists now (running or not), as its labels say. */
export interface Existing {
  name: string;
  service: string;
  number: number;
  hash: string;
  running: boolean;
}

export interface ContainerStep {
  service: string;
  number: number;
  name: string;
  /** create: new; recreate: its definition changed (removed, then created); start: same, but stopped; keep: same and running. */
  action: 'create' | 'recreate' | 'start' | 'keep';
  hash: string;
  labels: Record<string, string>;
  /** The `box run` arguments that make it (after `run`): what the user could type by hand. */
  run: string[];
  /** Networks it joins after the first (box network connect), with their aliases. */
  connect: { network: string; aliases: string[] }[];
}

export interface ServiceStep {
  service: string;
  /** Wait for these before starting it. */
  waitFor: { service: string; condition: Condition }[];
  containers: ContainerStep[];
  /** Containers beyond the scale asked for: stopped and removed. */
  remove: string[];
}

export interface Plan {
  project: string;
  networks: { key: string; name: string; internal: boolean; external: boolean }[];
  volumes: { key: string; name: string; external: boolean }[];
  services: ServiceStep[];
}

export interface PlanOptions {
  /** The services named on the command line (with their dependencies); empty: all. */
  only?: string[];
  /** --scale SERVICE=N */
  scale?: Record<string, number>;
  /** The image id each service's image resolves to now, so a rebuilt image recreates. */
  imageIds?: Record<string, string>;
  /** --force-recreate */
  forceRecreate?: boolean;
}

export function containerName(project: string, service: string, n: number): string {
  return `${project}-${service}-${n}`;
}

/**
 * The config hash: what the container was made from. Replicas and depends_on are left out
 * (scaling or reordering does not change a container), the image id and the names of its
 * networks and volumes are in (a rebuilt image, or a renamed network, does).
 */
export function configHash(project: Project, s: Service, imageId?: string): string {
  const { deploy: _deploy, depends_on: _deps, build: _build, ...view } = serviceView(s);
  const nets = Object.keys(s.networks).map((n) => project.networks[n]?.name);
  const vols = s.volumes.flatMap((m) => (m.type === 'volume' && m.source ? [project.volumes[m.source]?.name] : []));
  const text = JSON.stringify({ view, nets, vols, imageId: imageId ?? null });
  return createHash('sha256').update(text).digest('hex');
}

export function planUp(project: Project, existing: Existing[], opts: PlanOptions = {}): Plan {
  const order = startOrder(project, opts.only);
  const usedNets = new Set(order.flatMap((n) => Object.keys(project.services[n].networks)));
  const usedVols = new Set(order.flatMap((n) => project.services[n].volumes.flatMap((m) => (m.type === 'volume' && m.source ? [m.source] : []))));
  for (const [svc, n] of Object.entries(opts.scale ?? {})) {
    if (!project.services[svc]) throw new Error(`--scale ${svc}=${n}: no such service`);
  }
  return {
    project: project.name,
    // Declared volumes are made even if no selected service uses them, as Compose does.
    networks: Object.entries(project.networks).filter(([k]) => usedNets.has(k))
      .map(([key, d]) => ({ key, name: d.name, internal: d.internal, external: d.external })),
    volumes: Object.entries(project.volumes).filter(([k]) => usedVols.has(k) || !opts.only?.length)
      .map(([key, d]) => ({ key, name: d.name, external: d.external })),
    services: order.map((name) => serviceStep(project, project.services[name], existing, opts)),
  };
}

function serviceStep(project: Project, s: Service, existing: Existing[], opts: PlanOptions): ServiceStep {
  const scale = opts.scale?.[s.name] ?? s.replicas;
  const hash = configHash(project, s, opts.imageIds?.[s.name]);
  const mine = existing.filter((e) => e.service === s.name);
  const containers: ContainerStep[] = [];
  if (s.containerName && scale > 1) throw new UserError(`--scale ${s.name}=${scale}: the service has container_name '${s.containerName}', which names one container; remove container_name to scale it`);
  for (let n = 1; n <= scale; n++) {
    const name = s.containerName ?? containerName(project.name, s.name, n);
    const now = mine.find((e) => e.number === n);
    const action = !now ? 'create' : now.hash !== hash || opts.forceRecreate ? 'recreate' : now.running ? 'keep' : 'start';
    containers.push({ service: s.name, number: n, name, action, hash, ...runOf(project, s, n, name, hash) });
  }
  return {
    service: s.name,
    waitFor: Object.entries(s.dependsOn).map(([service, d]) => ({ service, condition: d.condition })),
    containers,
    remove: mine.filter((e) => e.number > scale).sort((a, b) => b.number - a.number).map((e) => e.name),
  };
}

function runOf(project: Project, s: Service, n: number, name: string, hash: string): Pick<ContainerStep, 'labels' | 'run' | 'connect'> {
  const labels: Record<string, string> = {
    ...s.labels,
    [LABEL.project]: project.name,
    [LABEL.service]: s.name,
    [LABEL.number]: String(n),
    [LABEL.hash]: hash,
    [LABEL.oneoff]: 'False',
    [LABEL.workingDir]: project.workingDir,
    [LABEL.files]: project.files.join(','),
  };
  const run: string[] = ['-d', '--name', name];
  // The labels are how `box compose` finds its containers again (ps, down, up once more).
  for (const [k, v] of Object.entries(labels)) run.push('--label', `${k}=${v}`);
  if (s.hostname) run.push('--hostname', s.hostname);
  const [first, ...others] = Object.entries(s.networks);
  // On a project network a container answers to its service name (and its own name), so
  // `db` reaches every replica of db, as with Compose.
  const aliasesOf = (extra: string[]) => [s.name, ...extra];
  if (first) {
    run.push('--network', project.networks[first[0]].name);
    for (const a of aliasesOf(first[1].aliases)) run.push('--network-alias', a);
  }
  for (const [k, v] of Object.entries(s.environment)) run.push('-e', `${k}=${v}`);
  for (const p of s.ports) {
    const host = p.published ? `${p.hostIp ? `${p.hostIp}:` : ''}${p.published}:` : p.hostIp ? `${p.hostIp}::` : '';
    run.push('-p', `${host}${p.target}${p.protocol === 'udp' ? '/udp' : ''}`);
  }
  for (const m of s.volumes) run.push(...mountFlag(project, m));
  for (const t of s.tmpfs) run.push('--tmpfs', t);
  if (s.readOnly) run.push('--read-only');
  for (const c of s.capAdd) run.push('--cap-add', c);
  for (const c of s.capDrop) run.push('--cap-drop', c);
  if (s.memLimit !== undefined) run.push('--memory', String(s.memLimit));
  if (s.cpus !== undefined) run.push('--cpus', String(s.cpus));
  if (s.pidsLimit !== undefined && s.pidsLimit > 0) run.push('--pids-limit', String(s.pidsLimit));
  if (s.workingDir) run.push('-w', s.workingDir);
  if (s.user) run.push('-u', s.user);
  if (s.restart && s.restart !== 'no') run.push('--restart', s.restart);
  if (s.init) run.push('--init');
  run.push(...healthFlags(s));
  // Compose's entrypoint is a list, box run's --entrypoint one word: the rest of the list goes
  // before the command. Exact as Docker: --entrypoint also clears the image's Cmd, so without
  // a command the process is the list alone.
  if (s.entrypoint) run.push('--entrypoint', s.entrypoint[0] ?? '');
  run.push(s.image, ...(s.entrypoint?.slice(1) ?? []), ...(s.command ?? []));
  return {
    labels,
    run,
    connect: others.map(([net, v]) => ({ network: project.networks[net].name, aliases: aliasesOf(v.aliases) })),
  };
}

function mountFlag(project: Project, m: Mount): string[] {
  if (m.type === 'tmpfs') return ['--tmpfs', m.size === undefined ? m.target : `${m.target}:size=${m.size}`];
  const ro = m.readOnly ? ':ro' : '';
  if (m.type === 'bind') return ['-v', `${m.source}:${m.target}${ro}`];
  if (!m.source) return ['-v', m.target]; // anonymous
  const name = project.volumes[m.source].name;
  if (m.nocopy) return ['--mount', `type=volume,src=${name},dst=${m.target}${m.readOnly ? ',readonly' : ''},volume-nocopy`];
  return ['-v', `${name}:${m.target}${ro}`];
}

/** Compose's healthcheck as Docker's --health-* flags (a CMD list becomes a quoted shell line). */
function healthFlags(s: Service): string[] {
  const h = s.healthcheck;
  if (!h) return [];
  if (h.disable) return ['--no-healthcheck'];
  const out: string[] = [];
  if (h.test) out.push('--health-cmd', h.test[0] === 'CMD-SHELL' ? h.test.slice(1).join(' ') : h.test.slice(1).map(shellQuote).join(' '));
  if (h.intervalMs !== undefined) out.push('--health-interval', `${h.intervalMs}ms`);
  if (h.timeoutMs !== undefined) out.push('--health-timeout', `${h.timeoutMs}ms`);
  if (h.startPeriodMs !== undefined) out.push('--health-start-period', `${h.startPeriodMs}ms`);
  if (h.retries !== undefined) out.push('--health-retries', String(h.retries));
  return out;
}

export function shellQuote(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** What `down` removes: every container of the project, its networks, and with -v its volumes. */
export interface DownPlan {
  containers: string[];
  networks: string[];
  volumes: string[];
}

export function planDown(project: Project, existing: Existing[], withVolumes: boolean): DownPlan {
  const order = startOrder(project);
  const rank = (svc: string) => { const i = order.indexOf(svc); return i < 0 ? Infinity : i; };
  // Dependents first; containers of services no longer in the file (orphans) first of all.
  const containers = [...existing].sort((a, b) => rank(b.service) - rank(a.service) || b.number - a.number).map((e) => e.name);
  return {
    containers,
    networks: Object.values(project.networks).filter((n) => !n.external).map((n) => n.name),
    volumes: withVolumes ? Object.values(project.volumes).filter((v) => !v.external).map((v) => v.name) : [],
  };
}
