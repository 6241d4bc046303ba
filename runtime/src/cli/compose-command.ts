// `box compose`: parse the flags, load the project (compose/), print or execute its plan
// (compose/up.ts and friends). Parsing and printing only.

import { buildImages, down, ensureResources, stop, up } from '../compose/apply.ts';
import { boxRuntime } from '../compose/box-runtime.ts';
import { LABEL, planUp } from '../compose/plan.ts';
import { loadProject, type Loaded } from '../compose/project.ts';
import { renderConfig } from '../compose/render.ts';
import type { Runtime } from '../compose/runtime.ts';
import { execInContainer } from '../container/exec.ts';
import { startContainer } from '../container/run.ts';
import { readState } from '../container/state.ts';
import { hasLog, logPathOf, readLog, type LogCursor } from '../container/log.ts';
import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, parseEnv, type OptionSpec } from '../container/args.ts';
import { stopContainer } from '../container/kill.ts';
import { removeContainer } from '../container/remove.ts';
import { formatTable } from './format.ts';
import { attach, startDetached } from './run-command.ts';
import { runConfigFrom } from '../container/run-flags.ts';
import { startOne } from './start-command.ts';

const GLOBAL: OptionSpec[] = [
  { name: 'file', short: 'f', value: true, repeat: true, help: 'the Compose file (default compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); several -f are merged' },
  { name: 'project-name', short: 'p', value: true, help: "the project's name (default: the file's name:, else the directory's name)" },
];

interface Sub {
  usage: string;
  summary: string;
  options: OptionSpec[];
  run(ctx: Ctx, opts: Record<string, unknown>, args: string[], trace: Trace): Promise<number>;
  /** Positionals after which the rest is a command (exec, run). */
  stopAfter?: number;
}

interface Ctx {
  load(): Loaded;
  runtime(trace: Trace): Runtime;
}

const list = (v: unknown) => (v as string[] | undefined) ?? [];

/** --scale web=3 (repeatable) */
function parseScale(specs: string[]): Record<string, number> {
  return Object.fromEntries(specs.map((spec) => {
    const m = /^([^=]+)=(\d+)$/.exec(spec);
    if (!m) throw new UserError(`--scale '${spec}': use SERVICE=N, e.g. --scale web=3`);
    return [m[1], Number(m[2])];
  }));
}

function timeoutMs(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(String(v))) throw new UserError(`-t '${v}': give whole seconds, e.g. -t 5`);
  return Number(v) * 1000;
}

const SUBS: Record<string, Sub> = {
  config: {
    usage: 'config [--services|--volumes|--networks]',
    summary: 'Print the resolved file: variables substituted, short forms made long, paths absolute',
    options: [
      { name: 'services', help: 'print the services, one a line' },
      { name: 'volumes', help: 'print the volumes, one a line' },
      { name: 'networks', help: 'print the networks, one a line' },
      { name: 'quiet', short: 'q', help: 'only check the file' },
    ],
    run: async (ctx, opts) => {
      const { project } = ctx.load();
      if (opts.services) print(Object.keys(project.services));
      else if (opts.volumes) print(Object.keys(project.volumes));
      else if (opts.networks) print(Object.keys(project.networks));
      else if (!opts.quiet) process.stdout.write(renderConfig(project));
      return 0;
    },
  },
  up: {
    usage: 'up [-d] [--build] [--no-build] [--force-recreate] [--scale SERVICE=N] [SERVICE...]',
    summary: 'Create and start the containers (networks and volumes first), recreating only what changed',
    options: [
      { name: 'detach', short: 'd', help: 'start them in the background and return' },
      { name: 'build', help: 'build the images of services with build: first' },
      { name: 'no-build', help: 'do not build an image that is missing' },
      { name: 'force-recreate', help: 'recreate the containers even if nothing changed' },
      { name: 'scale', value: true, repeat: true, help: 'run N containers of SERVICE: --scale web=3' },
    ],
    run: async (ctx, opts, args, trace) => {
      const { project } = ctx.load();
      const rt = ctx.runtime(trace);
      await up(rt, project, { only: args, scale: parseScale(list(opts.scale)), build: !!opts.build, noBuild: !!opts['no-build'], forceRecreate: !!opts['force-recreate'] });
      if (opts.detach) return 0;
      // Attached, as `docker compose up`: the containers' output, prefixed, until they all
      // exit or Ctrl-C, which stops them.
      let stopping = false;
      const onSignal = () => {
        if (stopping) return;
        stopping = true;
        rt.say('Gracefully stopping... (press Ctrl+C again to force)');
        void stop(rt, project, args);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await followLogs(rt, project.name, args, true);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      return 0;
    },
  },
  down: {
    usage: 'down [-v] [-t SECONDS]',
    summary: "Stop and remove the project's containers and networks (and its volumes with -v)",
    options: [
      { name: 'volumes', short: 'v', help: 'remove the named volumes of the file and the anonymous volumes of the containers' },
      { name: 'timeout', short: 't', value: true, help: 'seconds to wait before SIGKILL (default: stop_grace_period, else 10)' },
    ],
    run: async (ctx, opts, _args, trace) => {
      await down(ctx.runtime(trace), ctx.load().project, { volumes: !!opts.volumes, timeoutMs: timeoutMs(opts.timeout) });
      return 0;
    },
  },
  ps: {
    usage: 'ps [-a] [-q] [SERVICE...]',
    summary: "List the project's containers",
    options: [
      { name: 'all', short: 'a', help: 'stopped containers too' },
      { name: 'quiet', short: 'q', help: 'only the ids' },
      { name: 'services', help: 'only the services that have a running container' },
    ],
    run: async (ctx, opts, args, trace) => {
      const { project } = ctx.load();
      const all = ctx.runtime(trace).containers(project.name).filter((c) => !args.length || args.includes(c.service));
      const shown = all.filter((c) => opts.all || c.status === 'running');
      if (opts.quiet) return printLines(shown.map((c) => c.id)), 0;
      if (opts.services) return printLines([...new Set(shown.map((c) => c.service))]), 0;
      process.stdout.write(formatTable(['NAME', 'IMAGE', 'COMMAND', 'SERVICE', 'STATUS', 'PORTS'], shown.map((c) => {
        const cmd = JSON.stringify(c.command.join(' '));
        const status = c.status === 'running' ? `Up${c.health ? ` (${c.health})` : ''}` : c.status === 'exited' ? `Exited (${c.exitCode})` : 'Created';
        return [c.name, c.image, cmd.length > 22 ? cmd.slice(0, 20) + '…"' : cmd, c.service, status, c.ports.join(', ')];
      })));
      return 0;
    },
  },
  logs: {
    usage: 'logs [-f] [SERVICE...]',
    summary: "Print the services' output, each line prefixed with its container",
    options: [
      { name: 'follow', short: 'f', help: 'keep printing until the containers exit' },
      { name: 'no-log-prefix', help: 'no container name before each line' },
    ],
    run: async (ctx, opts, args, trace) => {
      const { project } = ctx.load();
      for (const a of args) if (!project.services[a]) throw new UserError(`no such service: ${a}`);
      await followLogs(ctx.runtime(trace), project.name, args, !!opts.follow, !opts['no-log-prefix']);
      return 0;
    },
  },
  exec: {
    usage: 'exec [-e K=V] [-w DIR] [-u USER] [--index N] SERVICE COMMAND [ARG...]',
    summary: "Run a command in a service's running container",
    stopAfter: 1,
    options: [
      { name: 'interactive', short: 'i', help: 'keep stdin open (the default)' },
      { name: 'tty', short: 't', help: 'give the process a terminal' },
      { name: 'no-TTY', short: 'T', help: 'no terminal' },
      { name: 'env', short: 'e', value: true, repeat: true, help: 'set an environment variable: -e K=V' },
      { name: 'workdir', short: 'w', value: true, help: 'working directory inside' },
      { name: 'user', short: 'u', value: true, help: 'uid[:gid] to run as' },
      { name: 'index', value: true, help: 'which container of the service (default 1)' },
    ],
    run: async (ctx, opts, args, trace) => {
      const [service, ...command] = args;
      if (!service || !command.length) throw new UserError(`'box compose exec' needs a service and a command, e.g. box compose exec web ps`);
      const { project } = ctx.load();
      if (!project.services[service]) throw new UserError(`no such service: ${service}`);
      const index = opts.index === undefined ? 1 : Number(opts.index);
      const c = ctx.runtime(trace).containers(project.name).find((x) => x.service === service && x.number === index && !x.oneoff);
      if (!c || c.status !== 'running') throw new UserError(`service "${service}" is not running container #${index}; start it with box compose up -d ${service}`);
      const tty = !!opts.tty && !opts['no-TTY'];
      const { running, exited } = await execInContainer(realSys(trace), c.name, command, {
        interactive: tty, tty, env: list(opts.env).map(parseEnv).filter((e): e is string => e !== null),
        workdir: opts.workdir as string | undefined, user: opts.user as string | undefined,
      });
      return attach(running, () => exited);
    },
  },
  run: {
    usage: 'run [--rm] [-d] [-e K=V] [--no-deps] SERVICE [COMMAND [ARG...]]',
    summary: 'Run a one-off command in a new container of a service (its dependencies started first)',
    stopAfter: 1,
    options: [
      { name: 'rm', help: 'remove the container when it exits' },
      { name: 'detach', short: 'd', help: 'run it in the background' },
      { name: 'env', short: 'e', value: true, repeat: true, help: 'set an environment variable: -e K=V' },
      { name: 'no-deps', help: 'do not start the services it depends on' },
      { name: 'interactive', short: 'i', help: 'keep stdin open' },
      { name: 'tty', short: 't', help: 'give it a terminal' },
    ],
    run: async (ctx, opts, args, trace) => {
      const [service, ...command] = args;
      if (!service) throw new UserError(`'box compose run' needs a service, e.g. box compose run --rm web sh`);
      const { project } = ctx.load();
      if (!project.services[service]) throw new UserError(`no such service: ${service}`);
      const rt = ctx.runtime(trace);
      const deps = Object.keys(project.services[service].dependsOn);
      if (deps.length && !opts['no-deps']) await up(rt, project, { only: deps });
      await buildImages(rt, project, [service], false);
      // A one-off container: PROJECT-SERVICE-run-XXXX, oneoff=True, not a replica.
      const plan = planUp(project, [], { only: [service], scale: { [service]: 1 } });
      ensureResources(rt, plan); // its networks and volumes, as for up
      const step = plan.services.find((s) => s.service === service)!.containers[0];
      const name = `${project.name}-${service}-run-${Math.random().toString(16).slice(2, 14)}`;
      const argv = [...step.run];
      argv.splice(argv.indexOf('--name') + 1, 1, name);
      argv.splice(argv.indexOf('-d'), 1);
      // Neither the ports nor the restart policy of the file apply to a one-off container, as with Compose.
      for (const flag of ['-p', '--restart']) for (let i = argv.indexOf(flag); i >= 0; i = argv.indexOf(flag)) argv.splice(i, 2);
      const imageAt = argv.indexOf(project.services[service].image, argv.indexOf('--name'));
      const head = argv.slice(0, imageAt);
      for (const e of list(opts.env)) head.push('-e', e);
      if (opts.rm) head.push('--rm');
      if (opts.detach) head.push('-d');
      if (opts.interactive) head.push('-i');
      if (opts.tty) head.push('-t');
      const cmd = command.length ? command : argv.slice(imageAt + 1);
      for (let i = head.indexOf(`${LABEL.oneoff}=False`); i >= 0; i = -1) head[i] = `${LABEL.oneoff}=True`;
      const cfg = runConfigFrom([...head, argv[imageAt], ...cmd]);
      if (cfg.detach) {
        process.stdout.write(`${name}\n`);
        await startDetached(cfg);
        return 0;
      }
      const stdio: ('inherit' | 'ignore')[] = [cfg.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'];
      const running = await startContainer(realSys(trace), cfg, stdio);
      return attach(running, () => running.exited, cfg.memoryBytes);
    },
  },
  start: {
    usage: 'start [SERVICE...]',
    summary: "Start the services' stopped containers",
    options: [],
    run: async (ctx, _opts, args, trace) => {
      const { project } = ctx.load();
      const rt = ctx.runtime(trace);
      const have = new Set(rt.containers(project.name).filter((c) => !c.oneoff).map((c) => c.service));
      const services = (args.length ? args : Object.keys(project.services)).filter((s) => have.has(s));
      if (!services.length) throw new UserError(`no containers to start; create them with box compose up`);
      await up(rt, project, { only: services, noBuild: true, scale: currentScale(rt, project.name) });
      return 0;
    },
  },
  stop: {
    usage: 'stop [-t SECONDS] [SERVICE...]',
    summary: "Stop the services' containers (dependents first), keeping them",
    options: [{ name: 'timeout', short: 't', value: true, help: 'seconds to wait before SIGKILL (default: stop_grace_period, else 10)' }],
    run: async (ctx, opts, args, trace) => {
      await stop(ctx.runtime(trace), ctx.load().project, args, timeoutMs(opts.timeout));
      return 0;
    },
  },
  restart: {
    usage: 'restart [-t SECONDS] [SERVICE...]',
    summary: "Stop the services' containers, then start them again",
    options: [{ name: 'timeout', short: 't', value: true, help: 'seconds to wait before SIGKILL (default: stop_grace_period, else 10)' }],
    run: async (ctx, opts, args, trace) => {
      const { project } = ctx.load();
      const rt = ctx.runtime(trace);
      const scale = currentScale(rt, project.name);
      await stop(rt, project, args, timeoutMs(opts.timeout));
      await up(rt, project, { only: args.length ? args : Object.keys(scale), noBuild: true, scale });
      return 0;
    },
  },
  build: {
    usage: 'build [--no-cache] [SERVICE...]',
    summary: 'Build the images of the services with build:, tagged PROJECT-SERVICE (or their image:)',
    options: [{ name: 'no-cache', help: 'run every step again' }],
    run: async (ctx, opts, args, trace) => {
      const { project } = ctx.load();
      for (const a of args) if (!project.services[a]) throw new UserError(`no such service: ${a}`);
      await buildImages(ctx.runtime(trace), project, args.length ? args : Object.keys(project.services), true, !!opts['no-cache']);
      return 0;
    },
  },
};

function printLines(lines: string[]): void {
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
}

/** How many containers each service has now, so start and restart keep a --scale. */
function currentScale(rt: Runtime, project: string): Record<string, number> {
  const scale: Record<string, number> = {};
  for (const c of rt.containers(project)) if (!c.oneoff) scale[c.service] = Math.max(scale[c.service] ?? 0, c.number);
  return scale;
}

/**
 * The containers' logs, each line as "NAME  | line", as Compose prints them; with `follow`,
 * until every container has exited (or been removed).
 */
async function followLogs(rt: Runtime, project: string, services: string[], follow: boolean, prefix = true): Promise<void> {
  const cursors = new Map<string, LogCursor>();
  const partial = new Map<string, string>();
  const pump = () => {
    const cs = rt.containers(project).filter((c) => !c.oneoff && (!services.length || services.includes(c.service)));
    const width = Math.max(0, ...cs.map((c) => c.name.length));
    for (const c of cs) {
      if (!hasLog(c.id)) continue;
      const cursor = cursors.get(c.id) ?? { file: logPathOf(c.id), offset: 0 };
      cursors.set(c.id, cursor);
      // Both streams, in the order written (container/log.ts keeps them apart; Compose prints both).
      const text = (partial.get(c.id) ?? '') + readLog(cursor).map((e) => e.data.toString('utf8')).join('');
      const lines = text.split('\n');
      partial.set(c.id, lines.pop()!);
      for (const l of lines) process.stdout.write(prefix ? `${c.name.padEnd(width)}  | ${l}\n` : `${l}\n`);
    }
    return cs;
  };
  let cs = pump();
  while (follow && cs.some((c) => readState(c.id)?.status === 'running')) {
    await rt.sleep(200);
    cs = pump();
  }
  pump();
}

function print(lines: string[]): void {
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
}

export function composeHelp(): string {
  const rows = Object.entries(SUBS).map(([n, s]) => `  ${n.padEnd(9)} ${s.summary}`).join('\n');
  return `${helpText('box compose [-f FILE] [-p NAME] COMMAND', 'Run an application of several containers described by a Compose file.', GLOBAL)}
Commands:
${rows}
`;
}

export async function composeCommand(argv: string[], trace: Trace): Promise<number> {
  const firstWord = argv.findIndex((a, i) => !a.startsWith('-') && !['-f', '--file', '-p', '--project-name'].includes(argv[i - 1]));
  if (argv.includes('--help') && (firstWord < 0 || argv.indexOf('--help') < firstWord)) {
    process.stdout.write(composeHelp());
    return 0;
  }
  const { opts, positionals } = parseArgs(argv, GLOBAL, 'compose', 1);
  const [name, ...rest] = positionals;
  if (!name) throw new UserError(`'box compose' needs a command, e.g. box compose up -d; see 'box compose --help'`);
  const sub = SUBS[name];
  if (!sub) throw new UserError(`'${name}' is not a box compose command; see 'box compose --help'`);
  if (rest.includes('--help') && (sub.stopAfter === undefined || rest.indexOf('--help') < rest.findIndex((a) => !a.startsWith('-')) || !rest.some((a) => !a.startsWith('-')))) {
    process.stdout.write(helpText(`box compose ${sub.usage}`, `${sub.summary}.`, sub.options));
    return 0;
  }
  const parsed = parseArgs(rest, sub.options, `compose ${name}`, sub.stopAfter);
  let loaded: Loaded | undefined;
  const ctx: Ctx = {
    load() {
      if (!loaded) {
        loaded = loadProject({
          files: (opts.file as string[] | undefined) ?? [],
          projectName: opts['project-name'] as string | undefined,
          cwd: process.cwd(),
          env: invocation().env,
        });
        for (const w of loaded.warnings) invocation().stderr(`box: warning: ${w}\n`);
      }
      return loaded;
    },
    runtime: (trace) => boxRuntime(trace, { runConfigFrom, startDetached, stopContainer, removeContainer, startOne }),
  };
  return sub.run(ctx, parsed.opts, parsed.positionals, trace);
}
