// The typed model of a Compose project, after loading, merging and normalizing: every short
// form made long, paths made absolute, sizes in bytes, durations in milliseconds. The plan
// (plan.ts) reads only this.

export interface Project {
  name: string;
  /** The project directory: the first file's directory; relative paths are resolved against it. */
  workingDir: string;
  files: string[];
  services: Record<string, Service>;
  networks: Record<string, NetworkDef>;
  volumes: Record<string, VolumeDef>;
}

export interface NetworkDef {
  /** The name box gives it: PROJECT_KEY, or `name:`, or the external network's name. */
  name: string;
  external: boolean;
  internal: boolean;
}

export interface VolumeDef {
  name: string;
  external: boolean;
}

export type Condition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Port {
  target: number;
  /** The host port or range; undefined: a free port the kernel picks. */
  published?: string;
  hostIp?: string;
  protocol: 'tcp' | 'udp';
}

export type Mount =
  | { type: 'volume'; source?: string; target: string; readOnly: boolean; nocopy: boolean }
  | { type: 'bind'; source: string; target: string; readOnly: boolean; createHostPath: boolean }
  | { type: 'tmpfs'; target: string; size?: number };

export interface Healthcheck {
  /** ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  retries?: number;
  disable: boolean;
}

export interface Service {
  name: string;
  /** The image to run; for a service with build and no image, PROJECT-SERVICE as Compose names it. */
  image: string;
  build?: { context: string; dockerfile?: string; args: Record<string, string> };
  /** undefined: the image's. */
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: Port[];
  expose: string[];
  volumes: Mount[];
  /** The networks it joins (keys of Project.networks), each with its aliases. */
  networks: Record<string, { aliases: string[] }>;
  dependsOn: Record<string, { condition: Condition; required: boolean }>;
  healthcheck?: Healthcheck;
  restart?: string;
  replicas: number;
  workingDir?: string;
  user?: string;
  hostname?: string;
  /** container_name: the one container's name instead of PROJECT-SERVICE-1. */
  containerName?: string;
  labels: Record<string, string>;
  tmpfs: string[];
  readOnly: boolean;
  capAdd: string[];
  capDrop: string[];
  memLimit?: number;
  cpus?: number;
  pidsLimit?: number;
  init: boolean;
  stopSignal?: string;
  stopGracePeriodMs?: number;
}
