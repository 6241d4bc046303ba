// `box compose config`: the model written back as a Compose file, resolved and normalized
// (long forms, absolute paths, variables substituted), keys in order, as `docker compose
// config` prints it.

import { stringify } from 'yaml';
import type { Mount, Project, Service } from './model.ts';
import { formatDuration } from './units.ts';

type Obj = Record<string, unknown>;

/** Drop undefined, empty lists and empty maps; sort keys (Compose prints Go maps sorted). */
function clean(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0) && !(isPlain(v) && Object.keys(v).length === 0))
    .sort(([a], [b]) => a.localeCompare(b)));
}

const isPlain = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export function serviceView(s: Service): Obj {
  const h = s.healthcheck;
  return clean({
    image: s.image,
    build: s.build && clean({ context: s.build.context, dockerfile: s.build.dockerfile, args: clean(s.build.args) }),
    command: s.command,
    entrypoint: s.entrypoint,
    environment: clean(s.environment),
    ports: s.ports.map((p) => clean({ mode: 'ingress', target: p.target, published: p.published, host_ip: p.hostIp, protocol: p.protocol })),
    expose: s.expose,
    volumes: s.volumes.map(mountView),
    networks: Object.fromEntries(Object.entries(s.networks).sort().map(([n, v]) => [n, v.aliases.length ? { aliases: v.aliases } : null])),
    depends_on: Object.fromEntries(Object.entries(s.dependsOn).map(([d, v]) => [d, { condition: v.condition, required: v.required }])),
    healthcheck: h && clean({
      test: h.test,
      interval: h.intervalMs === undefined ? undefined : formatDuration(h.intervalMs),
      timeout: h.timeoutMs === undefined ? undefined : formatDuration(h.timeoutMs),
      start_period: h.startPeriodMs === undefined ? undefined : formatDuration(h.startPeriodMs),
      retries: h.retries,
      disable: h.disable || undefined,
    }),
    restart: s.restart,
    deploy: s.replicas !== 1 ? { replicas: s.replicas } : undefined,
    working_dir: s.workingDir,
    user: s.user,
    hostname: s.hostname,
    container_name: s.containerName,
    labels: clean(s.labels),
    tmpfs: s.tmpfs,
    read_only: s.readOnly || undefined,
    cap_add: s.capAdd,
    cap_drop: s.capDrop,
    mem_limit: s.memLimit === undefined ? undefined : String(s.memLimit),
    cpus: s.cpus,
    pids_limit: s.pidsLimit,
    init: s.init || undefined,
    stop_signal: s.stopSignal,
    stop_grace_period: s.stopGracePeriodMs === undefined ? undefined : formatDuration(s.stopGracePeriodMs),
  });
}

function mountView(m: Mount): Obj {
  if (m.type === 'tmpfs') return clean({ type: m.type, target: m.target, tmpfs: m.size === undefined ? undefined : { size: m.size } });
  if (m.type === 'bind') return clean({ type: m.type, source: m.source, target: m.target, read_only: m.readOnly || undefined, bind: { create_host_path: m.createHostPath } });
  return clean({ type: m.type, source: m.source, target: m.target, read_only: m.readOnly || undefined, volume: m.nocopy ? { nocopy: true } : undefined });
}

export function projectView(p: Project): Obj {
  return {
    name: p.name,
    services: Object.fromEntries(Object.keys(p.services).sort().map((n) => [n, serviceView(p.services[n])])),
    ...(Object.keys(p.networks).length ? {
      networks: Object.fromEntries(Object.keys(p.networks).sort().map((n) => {
        const d = p.networks[n];
        return [n, clean({ name: d.name, external: d.external || undefined, internal: d.internal || undefined })];
      })),
    } : {}),
    ...(Object.keys(p.volumes).length ? {
      volumes: Object.fromEntries(Object.keys(p.volumes).sort().map((n) => [n, clean({ name: p.volumes[n].name, external: p.volumes[n].external || undefined })])),
    } : {}),
  };
}

export function renderConfig(p: Project): string {
  return stringify(projectView(p), { lineWidth: 0, aliasDuplicateObjects: false });
}
