// RUN: the command runs in a real container on the image so far, started the way `box run`
// starts one; when it exits, the container's overlay upper directory, which holds exactly
// what the command changed, becomes the step's layer (as `box commit` makes one).

import path from 'node:path';
import type { RunConfig } from '../container/config.ts';
import { removeContainerFiles } from '../container/cleanup.ts';
import { startContainer, type Running } from '../container/run.ts';
import { containerDir, newId, releaseName } from '../container/state.ts';
import { DEFAULT_NAMESPACES } from '../ns/namespaces.ts';
import type { Sys } from '../sys/sys.ts';
import { upperToLayer } from '../image/commit.ts';
import { importLayerTar, type LayerRecord } from '../image/layers.ts';

export interface RunStep {
  /** A name resolveImage knows the image so far by (a tag, or one pinned with pinImage). */
  image: string;
  command: string[];
  /** The image's environment plus the build arguments in scope. */
  env: string[];
  workdir: string;
  user?: string;
  /** Told the container's name before it starts. */
  onStart?: (name: string) => void;
  /** Told the container, to stop it on an interrupt. */
  onRunning?: (running: Running | null) => void;
  warn: (message: string) => void;
}

/**
 * Run the command; returns its exit code and, if it succeeded, the layer of what it changed.
 * The container is removed either way.
 */
export async function runInContainer(sys: Sys, root: string, step: RunStep): Promise<{ code: number; layer?: LayerRecord }> {
  // A name that says what the container is, should a killed build leave it behind (box ps -a).
  const name = `build-${newId().slice(0, 12)}`;
  step.onStart?.(name);
  const cfg: RunConfig = {
    image: step.image,
    name,
    command: step.command,
    entrypoint: [], // RUN runs its command itself, never through the image's ENTRYPOINT
    detach: false,
    interactive: false,
    tty: false,
    // Kept after exit, for its upper directory; removed below.
    autoRemove: false,
    // Every namespace but the network: a RUN step downloads as the machine that builds
    // can (as `docker build --network=host`), and a new network namespace has only lo.
    namespaces: DEFAULT_NAMESPACES.filter((ns) => ns !== 'net'),
    userns: false,
    lab: false,
    timeOffset: 0,
    chroot: false,
    readOnly: false,
    volumes: [],
    env: step.env,
    workdir: step.workdir,
    ...(step.user ? { user: step.user } : {}),
    capAdd: [],
    capDrop: [],
    seccomp: true,
    devices: [],
  };
  // The command's output goes straight to ours; it reads nothing (stdin is /dev/null).
  const running = await startContainer(sys, cfg, ['ignore', 'inherit', 'inherit']);
  const { id } = running.state;
  step.onRunning?.(running);
  try {
    const code = await running.exited;
    step.onRunning?.(null);
    if (code !== 0) return { code };
    const upper = path.join(containerDir(id), 'upper');
    const tar = upperToLayer(upper, { warn: step.warn });
    return { code, layer: importLayerTar(root, tar, { unpack: true, trace: sys.trace }) };
  } finally {
    removeContainerFiles(sys, id);
    releaseName(name, id);
  }
}
