// `box compose`: parse the flags, load the project (compose/), print or execute its plan
// (compose/up.ts and friends). Parsing and printing only.

import { loadProject, type Loaded } from '../compose/project.ts';
import { renderConfig } from '../compose/render.ts';
import { UserError } from '../sys/errors.ts';
import { invocation } from '../sys/invocation.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, type OptionSpec } from './args.ts';

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
};

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
  };
  return sub.run(ctx, parsed.opts, parsed.positionals, trace);
}
