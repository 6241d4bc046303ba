// What `box compose` asks of box to carry out a plan: the containers, networks and volumes
// of a project. apply.ts speaks only to this interface; box-runtime.ts is box's own code
// behind it (functions, not `box` processes), and a unit test can put a recorder there.

import type { Existing } from './plan.ts';

export interface ProjectContainer extends Existing {
  id: string;
  image: string;
  command: string[];
  created: string;
  status: 'created' | 'running' | 'exited';
  exitCode: number | null;
  /** starting | healthy | unhealthy, when it has a health check (and box keeps health). */
  health?: string;
  ports: string[];
  oneoff: boolean;
}

export interface Runtime {
  /** The containers whose labels say they belong to `project`. */
  containers(project: string): ProjectContainer[];
  networkExists(name: string): boolean;
  createNetwork(name: string, internal: boolean, labels: Record<string, string>): void;
  removeNetwork(name: string): void;
  volumeExists(name: string): boolean;
  createVolume(name: string, labels: Record<string, string>): void;
  removeVolume(name: string): void;
  /** `box run` with these arguments (they include -d and the labels). */
  run(argv: string[]): Promise<void>;
  /** Start a stopped container again, as it was (`box start`). */
  start(name: string): Promise<void>;
  /** Make a bind mount's host directory if it is missing (mkdir -p), as Compose does by default. */
  makeHostDir(path: string): void;
  /** Check `box run` arguments without starting anything (so a bad one stops `up` before it makes anything). */
  checkRun(argv: string[]): void;
  connect(network: string, container: string, aliases: string[]): Promise<void>;
  stop(name: string, signal: string | undefined, graceMs: number): Promise<void>;
  remove(name: string, anonymousVolumes: boolean): Promise<void>;
  /** The id of the image `ref` names now, or undefined if there is none. */
  imageId(ref: string): string | undefined;
  build(opts: { context: string; dockerfile?: string; args: Record<string, string>; tag: string; noCache?: boolean }): Promise<void>;
  /** Messages for the user (progress lines go to stderr, as Compose's do). */
  say(line: string): void;
  sleep(ms: number): Promise<void>;
}
