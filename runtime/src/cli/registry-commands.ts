// The commands that ship images: push and pull (a registry, image/registry/), sign, verify
// and trust (content trust, image/trust.ts). Parsing and printing only.

// Not process.stdout: making that stream puts a pipe in non-blocking mode.
import { isatty } from 'node:tty';
import fs from 'node:fs';
import { boxRoot } from '../image/paths.ts';
import { Progress, type ProgressSink } from '../image/registry/progress.ts';
import { pullImage } from '../image/registry/pull.ts';
import { pushImage } from '../image/registry/push.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { humanSize, type ImageCommand } from './image-commands.ts';
import { helpText, parseArgs, type OptionSpec } from './args.ts';

type Opts = Record<string, string | boolean | string[] | undefined>;

function command(usage: string, summary: string, options: OptionSpec[], fn: (opts: Opts, args: string[], trace: Trace) => Promise<number> | number): ImageCommand {
  return {
    summary,
    help: () => helpText(`box ${usage}`, `${summary}.`, options),
    run: async (argv, trace) => {
      const { opts, positionals } = parseArgs(argv, options, usage.split(' ')[0]);
      return fn(opts, positionals, trace);
    },
  };
}

const out = (text: string) => fs.writeSync(1, text);

/** Layer lines on standard output: redrawn bars on a terminal, plain lines otherwise; none with -q. */
function progressFor(quiet: boolean): ProgressSink {
  if (quiet) return { layer: () => {}, line: () => {} };
  return new Progress({ write: out, tty: isatty(1), size: humanSize });
}

const INSECURE: OptionSpec = {
  name: 'insecure',
  help: 'talk plain HTTP to the registry (always so for localhost and 127.0.0.0/8, as Docker does)',
};

// ---- push, pull -------------------------------------------------------------------------

async function pushCommand(opts: Opts, args: string[]): Promise<number> {
  if (args.length < 1 || args.length > 2) {
    throw new UserError("'box push' needs an image, and optionally where to push it; usage: box push IMAGE[:TAG] [REGISTRY/]REPO[:TAG]");
  }
  await pushImage(boxRoot(), args[0], args[1], { insecure: Boolean(opts.insecure), progress: progressFor(Boolean(opts.quiet)) });
  return 0;
}

async function pullCommand(opts: Opts, args: string[]): Promise<number> {
  if (args.length !== 1) throw new UserError("'box pull' needs one image; usage: box pull [REGISTRY/]NAME[:TAG]");
  const result = await pullImage(boxRoot(), args[0], { insecure: Boolean(opts.insecure), progress: progressFor(Boolean(opts.quiet)) });
  out(`${result.tag}\n`);
  return 0;
}

export const pushCommandEntry = command('push [OPTIONS] IMAGE[:TAG] [[REGISTRY/]REPO[:TAG]]', 'Send an image to a registry',
  [INSECURE, { name: 'quiet', short: 'q', help: 'print no progress' }], pushCommand);

export const pullCommandEntry = command('pull [OPTIONS] [REGISTRY/]NAME[:TAG]', 'Fetch an image from a registry',
  [INSECURE, { name: 'quiet', short: 'q', help: 'print only the image name at the end' }], pullCommand);
