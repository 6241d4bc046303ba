// The Runtime (runtime.ts) made of box's own code: container state, networks, volumes,
// images and the build, called as functions in this process. The few pieces that live in
// the CLI (parsing `box run` flags, the detached monitor, stop and rm) are handed in by it,
// so dependencies still point from cli/ to here and not back.

import fs from 'node:fs';
import path from 'node:path';
import type { RunConfig } from '../container/config.ts';
import { reapStale } from '../container/cleanup.ts';
import { connectContainer, liveContainerName } from '../container/network.ts';
import { containersUsingVolume, listIds, lookup, readState, type ContainerState } from '../container/state.ts';
import { needsEngine } from '../container/restart.ts';
import { Builder } from '../build/builder.ts';
import { resolveImage } from '../image/index.ts';
import { findImage } from '../image/catalog.ts';
import { boxRoot } from '../image/paths.ts';
import { createNetwork, removeNetwork } from '../net/network.ts';
import { findNetwork, lookupNetwork } from '../net/store.ts';
import { ExitStatusError, UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { createVolume, getVolume, removeVolume } from '../volume/store.ts';
import { LABEL } from './plan.ts';
import type { ProjectContainer, Runtime } from './runtime.ts';

export interface CliHooks {
  runConfigFrom(argv: string[]): RunConfig;
  startDetached(cfg: RunConfig): Promise<string>;
  stopContainer(s: ContainerState, graceMs: number, trace: Trace, signal?: NodeJS.Signals): Promise<void>;
  removeContainer(s: ContainerState, trace: Trace, volumes?: boolean): Promise<void>;
  startOne(ref: string): Promise<boolean>;
}

export function labelsOf(s: ContainerState): Record<string, string> {
  return ((s.config as { labels?: Record<string, string> }).labels) ?? {};
}

export function boxRuntime(trace: Trace, cli: CliHooks): Runtime {
  const sys = realSys(trace);
  return {
    containers(project) {
      reapStale(sys); // a container whose box died shows as exited, not running
      const out: ProjectContainer[] = [];
      for (const id of listIds()) {
        const s = readState(id);
        if (!s) continue;
        const l = labelsOf(s);
        if (l[LABEL.project] !== project) continue;
        const health = (s as { health?: { Status?: string } }).health?.Status;
        out.push({
          id: s.id, name: s.name, service: l[LABEL.service] ?? '', number: Number(l[LABEL.number] ?? 0), hash: l[LABEL.hash] ?? '',
          running: s.status === 'running', image: s.image, command: s.command, created: s.created,
          status: s.status === 'running' ? 'running' : s.status === 'created' ? 'created' : 'exited',
          exitCode: s.exitCode, health, oneoff: l[LABEL.oneoff] === 'True',
          ports: s.status === 'running' ? (s.network?.ports ?? []).map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`) : [],
        });
      }
      return out.sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number);
    },
    networkExists: (name) => findNetwork(name) !== null,
    createNetwork: (name, internal) => void createNetwork(trace, { name, internal }),
    removeNetwork: (name) => removeNetwork(trace, lookupNetwork(name), liveContainerName),
    volumeExists: (name) => getVolume(name) !== null,
    createVolume: (name, labels) => void createVolume(name, { labels }),
    removeVolume: (name) => removeVolume(name, containersUsingVolume),
    makeHostDir: (dir) => void fs.mkdirSync(dir, { recursive: true }),
    checkRun: (argv) => void cli.runConfigFrom(argv),
    async run(argv) {
      const cfg = cli.runConfigFrom(argv);
      // A restart policy or a health check is kept by the engine, as with `box run -d`.
      const why = needsEngine(cfg, resolveImage(cfg.image).config.Healthcheck);
      if (!why) {
        await cli.startDetached(cfg);
        return;
      }
      const code = await (await import('../engine/control.ts')).runThroughEngine(['run', ...argv], why, { quiet: true }); // its id is not compose's output
      if (code !== 0) throw new ExitStatusError(`container ${cfg.name} did not start (exit ${code})`, code);
    },
    start: async (name) => void (await cli.startOne(name)),
    connect: (network, container, aliases) => connectContainer(trace, network, container, { aliases }),
    async stop(name, signal, graceMs) {
      const sig = signal ? ((signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`) as NodeJS.Signals) : 'SIGTERM';
      await cli.stopContainer(lookup(name), graceMs, trace, sig);
    },
    remove: (name, volumes) => cli.removeContainer(lookup(name), trace, volumes),
    imageId(ref) {
      try {
        return findImage(boxRoot(), ref, { builtIn: true }).image.id;
      } catch (err) {
        if (err instanceof UserError) return undefined;
        throw err;
      }
    },
    async build({ context, dockerfile, args, tag, noCache }) {
      const builder = new Builder({
        // Compose's dockerfile is relative to the context.
        root: boxRoot(), contextDir: context, ...(dockerfile ? { file: path.resolve(context, dockerfile) } : {}), tags: [tag],
        buildArgs: new Map(Object.entries(args)), noCache: !!noCache, sys,
        progress: (line) => invocation().stderr(`${line}\n`),
        warn: (m) => invocation().stderr(`box: warning: ${m}\n`),
      });
      await builder.build();
    },
    say: (line) => invocation().stderr(`${line}\n`),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}
