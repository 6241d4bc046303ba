// The part of the Compose Specification box runs. The schema has already accepted the file;
// here a key that is valid Compose but that box would not honour is refused, by name and
// line, rather than dropped in silence (a `privileged: true` that did nothing would be worse
// than an error). Keys starting with x- are extensions: Compose ignores them, so does box.

import { keyPath } from './errors.ts';
import type { SchemaProblem } from './schema.ts';

/** A level of the file: its keys, each `true` (a value) or the level below. */
type Level = { [key: string]: true | Level } | { '*': true | Level };

const RESOURCES: Level = { cpus: true, memory: true, pids: true };

const SERVICE: Level = {
  image: true,
  container_name: true,
  build: { context: true, dockerfile: true, args: true },
  command: true,
  entrypoint: true,
  environment: true,
  env_file: { '*': { path: true, required: true } },
  // mode: ingress and host mean the same on one machine: published on this host.
  ports: { '*': { target: true, published: true, host_ip: true, protocol: true, mode: true } },
  expose: true,
  volumes: { '*': { type: true, source: true, target: true, read_only: true, volume: { nocopy: true }, bind: { create_host_path: true }, tmpfs: { size: true } } },
  networks: { '*': { aliases: true } },
  depends_on: { '*': { condition: true, required: true } },
  healthcheck: { test: true, interval: true, timeout: true, retries: true, start_period: true, disable: true },
  restart: true,
  deploy: { replicas: true, resources: { limits: RESOURCES } },
  working_dir: true,
  user: true,
  hostname: true,
  labels: true,
  tmpfs: true,
  read_only: true,
  cap_add: true,
  cap_drop: true,
  mem_limit: true,
  cpus: true,
  pids_limit: true,
  init: true,
  stop_signal: true,
  stop_grace_period: true,
};

const TOP: Level = {
  version: true, // obsolete; Compose warns and ignores it
  name: true,
  services: { '*': SERVICE },
  networks: { '*': { driver: true, internal: true, external: true, name: true } },
  volumes: { '*': { driver: true, external: true, name: true } },
};

/** The first key box does not run, or null. Values that are lists or strings pass as they are. */
export function checkSupported(data: unknown): SchemaProblem | null {
  return walk(data, TOP, []);
}

function walk(value: unknown, level: Level, at: (string | number)[]): SchemaProblem | null {
  if (Array.isArray(value)) {
    const each = (level as { '*'?: true | Level })['*'];
    if (!each || each === true) return null;
    for (const [i, item] of value.entries()) {
      const p = walk(item, each, [...at, i]);
      if (p) return p;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith('x-')) continue;
    const below = '*' in level ? level['*'] : (level as Record<string, true | Level>)[key];
    if (below === undefined) {
      return { path: at, key, message: `${keyPath([...at, key])}: box compose does not run '${key}'; remove it (box runs: ${Object.keys(level).join(', ')})` };
    }
    if (below !== true) {
      const p = walk(v, below, [...at, key]);
      if (p) return p;
    }
  }
  return null;
}
