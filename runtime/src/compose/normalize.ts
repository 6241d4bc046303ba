// The merged file made into the typed model (model.ts): short forms made long, relative
// paths resolved against the project directory, env_file read, references checked (a
// depends_on, network or volume that names nothing is refused here, with its line).

import os from 'node:os';
import path from 'node:path';
import { readEnvFile } from './files.ts';
import { listOrDict } from './merge.ts';
import type { Condition, Healthcheck, Mount, NetworkDef, Port, Project, Service, VolumeDef } from './model.ts';
import { parseBytes, parseDuration } from './units.ts';

type Obj = Record<string, any>;
/** Throws the one-line error for the key at `at`, with the file and line it came from. */
export type Fail = (at: (string | number)[], message: string) => never;

export interface NormalizeInput {
  name: string;
  workingDir: string;
  files: string[];
  data: Obj;
  env: Record<string, string | undefined>;
  fail: Fail;
}

export function normalize({ name, workingDir, files, data, env, fail }: NormalizeInput): Project {
  const rawServices: Obj = data.services ?? {};
  const networks: Record<string, NetworkDef> = {};
  for (const [key, def] of Object.entries<Obj | null>(data.networks ?? {})) {
    const d = def ?? {};
    if (d.driver !== undefined && d.driver !== 'bridge') fail(['networks', key, 'driver'], `driver '${d.driver}': box makes bridge networks only; remove driver or use bridge`);
    const external = d.external === true || (typeof d.external === 'object' && d.external !== null);
    networks[key] = { name: d.name ?? (external ? key : `${name}_${key}`), external, internal: d.internal === true };
  }
  const volumes: Record<string, VolumeDef> = {};
  for (const [key, def] of Object.entries<Obj | null>(data.volumes ?? {})) {
    const d = def ?? {};
    if (d.driver !== undefined && d.driver !== 'local') fail(['volumes', key, 'driver'], `driver '${d.driver}': box has local volumes only; remove driver or use local`);
    const external = d.external === true || (typeof d.external === 'object' && d.external !== null);
    volumes[key] = { name: d.name ?? (external ? key : `${name}_${key}`), external };
  }
  const services: Record<string, Service> = {};
  for (const [svc, raw] of Object.entries<Obj>(rawServices)) {
    services[svc] = service(svc, raw ?? {}, { project: name, workingDir, env, fail: (p, m) => fail(['services', svc, ...p], m), services: rawServices, networks, volumes });
  }
  const used = Object.values(services).some((s) => 'default' in s.networks);
  if (used && !networks.default) networks.default = { name: `${name}_default`, external: false, internal: false };
  return { name, workingDir, files, services, networks, volumes };
}

interface Ctx {
  project: string;
  workingDir: string;
  env: Record<string, string | undefined>;
  fail: Fail;
  services: Obj;
  networks: Record<string, NetworkDef>;
  volumes: Record<string, VolumeDef>;
}

function service(svc: string, s: Obj, ctx: Ctx): Service {
  const { fail } = ctx;
  const build = s.build === undefined ? undefined : buildOf(s.build, ctx);
  if (s.image === undefined && !build) fail([], `service '${svc}' has neither an image nor a build context; add image: or build:`);
  const deploy = s.deploy ?? {};
  const limits = deploy.resources?.limits ?? {};

  const memory = pick(s.mem_limit, limits.memory, 'mem_limit', 'deploy.resources.limits.memory', fail);
  const cpus = pick(s.cpus, limits.cpus, 'cpus', 'deploy.resources.limits.cpus', fail);
  const pids = pick(s.pids_limit, limits.pids, 'pids_limit', 'deploy.resources.limits.pids', fail);
  const memLimit = memory === undefined ? undefined : parseBytes(memory as string | number) ?? fail(['mem_limit'], `'${memory}' is not a size; use e.g. 64m or 1g`);
  const cpuCount = cpus === undefined ? undefined : Number(cpus);
  if (cpuCount !== undefined && !(cpuCount > 0)) fail(['cpus'], `'${cpus}' is not a number of CPUs above 0; use e.g. 0.5`);
  const replicas = deploy.replicas === undefined ? 1 : Number(deploy.replicas);
  if (!Number.isInteger(replicas) || replicas < 0) fail(['deploy', 'replicas'], `'${deploy.replicas}' is not a number of replicas; use a whole number, e.g. 2`);
  // A container's name is unique: a named service has one container, as Compose requires.
  if (s.container_name !== undefined && replicas > 1) fail(['container_name'], `service '${svc}' has container_name '${s.container_name}' and ${replicas} replicas; a name is one container's: remove container_name or the replicas`);
  if (s.restart !== undefined && !/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(String(s.restart))) {
    fail(['restart'], `'${s.restart}' is not a restart policy; use no, always, on-failure[:N] or unless-stopped`);
  }
  const grace = s.stop_grace_period === undefined ? undefined : parseDuration(s.stop_grace_period) ?? fail(['stop_grace_period'], `'${s.stop_grace_period}' is not a duration; use e.g. 10s or 1m30s`);

  return {
    name: svc,
    image: s.image ?? `${ctx.project}-${svc}`,
    build,
    command: s.command === undefined || s.command === null ? undefined : words(s.command),
    entrypoint: s.entrypoint === undefined || s.entrypoint === null ? undefined : words(s.entrypoint),
    environment: environment(s, ctx),
    ports: (s.ports ?? []).flatMap((p: unknown, i: number) => ports(p, (m) => fail(['ports', i], m))),
    expose: (s.expose ?? []).map(String),
    volumes: (s.volumes ?? []).map((v: unknown, i: number) => mount(v, ctx, (m) => fail(['volumes', i], m))),
    networks: serviceNetworks(s.networks, ctx),
    dependsOn: dependsOn(svc, s.depends_on, ctx),
    healthcheck: s.healthcheck === undefined ? undefined : healthcheck(s.healthcheck, ctx),
    restart: s.restart === undefined ? undefined : String(s.restart),
    replicas,
    workingDir: s.working_dir,
    user: s.user === undefined ? undefined : String(s.user),
    hostname: s.hostname,
    containerName: s.container_name,
    labels: Object.fromEntries(Object.entries(listOrDict(s.labels)).map(([k, v]) => [k, v ?? ''])),
    tmpfs: s.tmpfs === undefined ? [] : [s.tmpfs].flat().map(String),
    readOnly: s.read_only === true,
    capAdd: s.cap_add ?? [],
    capDrop: s.cap_drop ?? [],
    memLimit,
    cpus: cpuCount,
    pidsLimit: pids === undefined ? undefined : Number(pids),
    init: s.init === true,
    stopSignal: s.stop_signal,
    stopGracePeriodMs: grace,
  };
}

/** A limit given two ways (mem_limit and deploy.resources.limits.memory) must agree. */
function pick(a: unknown, b: unknown, na: string, nb: string, fail: Fail): unknown {
  if (a !== undefined && b !== undefined && String(a) !== String(b)) fail([na.split('.')[0]], `${na} '${a}' and ${nb} '${b}' differ; give one of them`);
  return a ?? b;
}

function buildOf(b: unknown, ctx: Ctx): Service['build'] {
  const long: Obj = typeof b === 'string' ? { context: b } : (b as Obj);
  const context = path.resolve(ctx.workingDir, expandHome(long.context ?? '.'));
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(listOrDict(long.args))) {
    // `args: [VERSION]` takes VERSION from the environment, as Compose does; unset: left out.
    const value = v ?? ctx.env[k];
    if (value !== undefined) args[k] = value;
  }
  return { context, dockerfile: long.dockerfile, args };
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** A string command is split as a shell would split words (Compose uses shlex); no expansion. */
export function words(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  const s = String(v);
  const out: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in '${s}'`);
      let part = s.slice(i + 1, end);
      if (c === '"') part = part.replace(/\\(["\\$`])/g, '$1');
      cur = (cur ?? '') + part;
      i = end;
    } else if (c === '\\' && i + 1 < s.length) {
      cur = (cur ?? '') + s[++i];
    } else if (/\s/.test(c)) {
      if (cur !== null) out.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) out.push(cur);
  return out;
}

function environment(s: Obj, ctx: Ctx): Record<string, string> {
  const env: Record<string, string> = {};
  const files = s.env_file === undefined ? [] : [s.env_file].flat();
  for (const [i, f] of files.entries()) {
    const { path: p, required = true } = typeof f === 'string' ? { path: f } : f;
    const file = path.resolve(ctx.workingDir, expandHome(p));
    try {
      Object.assign(env, readEnvFile(file));
    } catch {
      if (required) ctx.fail(['env_file', ...(Array.isArray(s.env_file) ? [i] : [])], `env file ${file} not found; create it, or mark it required: false`);
    }
  }
  for (const [k, v] of Object.entries(listOrDict(s.environment))) {
    // `- NAME` (or NAME: with no value) passes the variable from the environment, if set.
    const value = v ?? ctx.env[k];
    if (value !== undefined) env[k] = value;
  }
  return env;
}

/** "8080:80", "127.0.0.1:8080:80/udp", "80", "9000-9001:80-81", or the long form. */
export function ports(p: unknown, fail: (m: string) => never): Port[] {
  if (p !== null && typeof p === 'object') {
    const o = p as Obj;
    const target = Number(o.target);
    if (!Number.isInteger(target) || target < 1 || target > 65535) fail(`target '${o.target}' is not a port; use 1-65535`);
    const protocol = o.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') fail(`protocol '${protocol}': use tcp or udp`);
    return [{ target, published: o.published === undefined ? undefined : String(o.published), hostIp: o.host_ip, protocol }];
  }
  const s = String(p);
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|(\d+\.\d+\.\d+\.\d+)):)?(?:(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp))?$/.exec(s);
  if (!m) fail(`'${s}' is not a port mapping; use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/udp], e.g. 8080:80`);
  const [, ip6, ip4, host, ctr, proto] = m;
  const range = (r: string) => r.split('-').map(Number);
  const [c0, c1 = c0] = range(ctr);
  const hostRange = host ? range(host) : undefined;
  if (c1 < c0 || [c0, c1, ...(hostRange ?? [])].some((n) => n < 1 || n > 65535)) fail(`'${s}': ports are 1-65535, ranges low-high`);
  if (hostRange && hostRange.length === 2 && hostRange[1] - hostRange[0] !== c1 - c0 && c0 !== c1) fail(`'${s}': the host range and the container range differ in size`);
  const out: Port[] = [];
  for (let c = c0; c <= c1; c++) {
    let published: string | undefined;
    if (hostRange) published = c0 === c1 ? host : String(hostRange[0] + (c - c0));
    out.push({ target: c, published, hostIp: ip6 ?? ip4, protocol: (proto ?? 'tcp') as Port['protocol'] });
  }
  return out;
}

/** "data:/var/lib/x", "./site:/www:ro", "/cache" (anonymous), or the long form. */
function mount(v: unknown, ctx: Ctx, fail: (m: string) => never): Mount {
  if (v !== null && typeof v === 'object') {
    const o = v as Obj;
    const type = o.type ?? 'volume';
    if (!o.target) fail(`a ${type} mount needs a target`);
    if (type === 'tmpfs') {
      const size = o.tmpfs?.size === undefined ? undefined : parseBytes(o.tmpfs.size) ?? fail(`tmpfs size '${o.tmpfs.size}' is not a size`);
      return { type, target: o.target, size };
    }
    if (type === 'bind') {
      if (!o.source) fail(`a bind mount needs a source`);
      return { type, source: path.resolve(ctx.workingDir, expandHome(o.source)), target: o.target, readOnly: o.read_only === true, createHostPath: o.bind?.create_host_path !== false };
    }
    if (type !== 'volume') fail(`mount type '${type}': box mounts volume, bind and tmpfs`);
    if (o.source !== undefined) namedVolume(o.source, ctx, fail);
    return { type, source: o.source, target: o.target, readOnly: o.read_only === true, nocopy: o.volume?.nocopy === true };
  }
  const parts = String(v).split(':');
  if (parts.length === 1) return { type: 'volume', target: parts[0], readOnly: false, nocopy: false };
  if (parts.length > 3) fail(`'${v}' is not a volume; use SOURCE:TARGET[:ro]`);
  const [source, target, mode = 'rw'] = parts;
  const modes = mode.split(',');
  if (modes.some((m) => !['ro', 'rw', 'nocopy'].includes(m))) fail(`'${v}': mode '${mode}': use ro or rw`);
  if (!target.startsWith('/')) fail(`'${v}': the target '${target}' must be an absolute path`);
  const readOnly = modes.includes('ro');
  if (/^[./~]/.test(source)) {
    return { type: 'bind', source: path.resolve(ctx.workingDir, expandHome(source)), target, readOnly, createHostPath: true };
  }
  namedVolume(source, ctx, fail);
  return { type: 'volume', source, target, readOnly, nocopy: modes.includes('nocopy') };
}

function namedVolume(source: string, ctx: Ctx, fail: (m: string) => never): void {
  if (!ctx.volumes[source]) fail(`volume '${source}' is not declared; add it under the top-level volumes: key`);
}

function serviceNetworks(n: unknown, ctx: Ctx): Service['networks'] {
  const out: Service['networks'] = {};
  const entries: [string, Obj | null][] = Array.isArray(n) ? n.map((x) => [String(x), null]) : Object.entries((n as Obj) ?? {});
  if (entries.length === 0) entries.push(['default', null]);
  for (const [net, def] of entries) {
    if (net !== 'default' && !ctx.networks[net]) ctx.fail(['networks', net], `network '${net}' is not declared; add it under the top-level networks: key`);
    out[net] = { aliases: (def?.aliases ?? []).map(String) };
  }
  return out;
}

function dependsOn(svc: string, d: unknown, ctx: Ctx): Service['dependsOn'] {
  const out: Service['dependsOn'] = {};
  const entries: [string, Obj | null][] = Array.isArray(d) ? d.map((x) => [String(x), null]) : Object.entries((d as Obj) ?? {});
  for (const [dep, def] of entries) {
    const required = def?.required !== false;
    if (!ctx.services[dep]) {
      if (!required) continue;
      ctx.fail(['depends_on', dep], `service '${svc}' depends on '${dep}', which is not a service of this file`);
    }
    if (dep === svc) ctx.fail(['depends_on', dep], `service '${svc}' depends on itself`);
    out[dep] = { condition: (def?.condition ?? 'service_started') as Condition, required };
  }
  return out;
}

function healthcheck(h: Obj, ctx: Ctx): Healthcheck {
  const dur = (key: string) => {
    if (h[key] === undefined) return undefined;
    return parseDuration(h[key]) ?? ctx.fail(['healthcheck', key], `'${h[key]}' is not a duration; use e.g. 30s or 1m30s`);
  };
  const test = h.test === undefined ? undefined : typeof h.test === 'string' ? ['CMD-SHELL', h.test] : h.test.map(String);
  if (test && !['CMD', 'CMD-SHELL', 'NONE'].includes(test[0])) ctx.fail(['healthcheck', 'test'], `test must start with CMD, CMD-SHELL or NONE, e.g. ["CMD", "wget", "-q", "localhost"]`);
  return {
    test,
    intervalMs: dur('interval'),
    timeoutMs: dur('timeout'),
    startPeriodMs: dur('start_period'),
    retries: h.retries === undefined ? undefined : Number(h.retries),
    disable: h.disable === true || test?.[0] === 'NONE',
  };
}
