// `box build` and `box builder prune`: parsing and printing; the work is in build/.

import { boxRoot } from '../image/paths.ts';
import { Builder } from '../build/builder.ts';
import { pruneBuildCache } from '../build/cache.ts';
import { shortDigest } from '../image/digest.ts';
import { normalizeRef } from '../image/ref.ts';
import { UserError } from '../sys/errors.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { helpText, parseArgs, type OptionSpec } from '../container/args.ts';
import { humanSize } from './format.ts';
import type { ImageCommand } from './command.ts';

const BUILD_OPTIONS: OptionSpec[] = [
  { name: 'tag', short: 't', value: true, repeat: true, help: 'name the image NAME[:TAG] (may be given more than once)' },
  { name: 'file', short: 'f', value: true, help: 'the Boxfile (default DIR/Boxfile, else DIR/Dockerfile)' },
  { name: 'build-arg', value: true, repeat: true, help: 'set an ARG: --build-arg NAME=value (NAME alone takes it from the environment)' },
  { name: 'no-cache', help: 'run every step again instead of reusing the build cache' },
  { name: 'quiet', short: 'q', help: 'print only the image id' },
];

const out = (text: string) => process.stdout.write(text);

/** --build-arg NAME=value, or NAME to pass this environment's value (skipped if unset), as docker does. */
export function parseBuildArgs(list: string[], env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const args = new Map<string, string>();
  for (const a of list) {
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UserError(`--build-arg '${a}': give NAME=value, where NAME is a variable name`);
    if (eq >= 0) args.set(name, a.slice(eq + 1));
    else if (env[name] !== undefined) args.set(name, env[name]!);
  }
  return args;
}

async function build(argv: string[], trace: Trace): Promise<number> {
  const { opts, positionals } = parseArgs(argv, BUILD_OPTIONS, 'build');
  if (positionals.length !== 1) throw new UserError("'box build' needs one build context directory; usage: box build -t NAME[:TAG] [-f Boxfile] DIR");
  const quiet = Boolean(opts.quiet);
  const builder = new Builder({
    root: boxRoot(),
    contextDir: positionals[0],
    ...(typeof opts.file === 'string' ? { file: opts.file } : {}),
    tags: (opts.tag as string[] | undefined) ?? [],
    buildArgs: parseBuildArgs((opts['build-arg'] as string[] | undefined) ?? []),
    noCache: Boolean(opts['no-cache']),
    sys: realSys(trace),
    progress: (line) => {
      if (!quiet) out(`${line}\n`);
    },
    warn: (m) => process.stderr.write(`box: warning: ${m}\n`),
  });
  // Ctrl-C stops the step's container and the build; the tags stay as they were.
  const stop = (sig: NodeJS.Signals) => builder.interrupt(sig);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  try {
    const result = await builder.build();
    if (quiet) {
      out(`${result.id}\n`);
    } else {
      out(`Successfully built ${shortDigest(result.id)}\n`);
      for (const t of (opts.tag as string[] | undefined) ?? []) out(`Successfully tagged ${normalizeRef(t).canonical}\n`);
    }
    return 0;
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}

export const buildCommand: ImageCommand = {
  summary: 'Build an image from a Boxfile (a Dockerfile)',
  help: () => helpText('box build [OPTIONS] DIR', 'Build an image from the Boxfile in DIR, the build context.', BUILD_OPTIONS),
  run: build,
};

const PRUNE_OPTIONS: OptionSpec[] = [{ name: 'force', short: 'f', help: 'accepted for docker compatibility: box does not ask' }];

async function builderCommandRun(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'prune') throw new UserError(`'box builder ${sub ?? ''}' is not a command; box builder has one: prune`);
  const { positionals } = parseArgs(rest, PRUNE_OPTIONS, 'builder prune');
  if (positionals.length) throw new UserError("'box builder prune' takes no arguments; usage: box builder prune [-f]");
  const freed = pruneBuildCache(boxRoot());
  out(`Deleted ${freed.entries} build cache entr${freed.entries === 1 ? 'y' : 'ies'}, ${freed.layers.length} layer${freed.layers.length === 1 ? '' : 's'} no image uses\n`);
  out(`Total reclaimed space: ${humanSize(freed.bytes)}\n`);
  return 0;
}

export const builderCommand: ImageCommand = {
  summary: 'Manage the build cache: prune',
  help: () => helpText('box builder prune [-f]', 'Remove the build cache: every cached step, and the layers only the cache kept. (box image prune leaves the cache alone.)', PRUNE_OPTIONS),
  run: builderCommandRun,
};
