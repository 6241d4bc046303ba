// `box volume create|ls|inspect|rm|prune`: Docker's management command for volumes. The
// volumes themselves are volume/store.ts's; which containers use one is the containers' state.

import { containersUsingVolume } from '../container/state.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import { checkVolumeName } from '../volume/spec.ts';
import {
  anonymousName, createVolume, dataDir, diskUsage, getVolume, listVolumes, removeVolume, requireVolume, volumeView,
  type VolumeRecord,
} from '../volume/store.ts';
import { helpText, parseArgs, type OptionSpec } from '../container/args.ts';
import { formatTemplate } from './format.ts';
import { formatTable, humanSize } from './format.ts';
import { confirm, type ImageCommand } from './command.ts';

type Opts = Record<string, string | boolean | string[] | undefined>;
const out = (text: string) => process.stdout.write(text);
const list = (v: unknown) => (v as string[] | undefined) ?? [];

function command(usage: string, summary: string, options: OptionSpec[], fn: (opts: Opts, args: string[]) => number): ImageCommand {
  return {
    summary,
    help: () => helpText(`box volume ${usage}`, `${summary}.`, options),
    run: async (argv) => {
      const { opts, positionals } = parseArgs(argv, options, `volume ${usage.split(' ')[0]}`);
      return fn(opts, positionals);
    },
  };
}

function labels(specs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    const eq = s.indexOf('=');
    if (eq === 0) throw new UserError(`--label '${s}': the key is missing; use --label KEY=VALUE`);
    out[eq < 0 ? s : s.slice(0, eq)] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

function create(opts: Opts, args: string[]): number {
  if (args.length > 1) throw new UserError("'box volume create' takes one name at most; usage: box volume create [--label K=V] [NAME]");
  if (opts.driver !== undefined && opts.driver !== 'local') {
    throw new UserError(`--driver '${opts.driver}': box has only the local driver (a directory under ${dataDir('NAME')})`);
  }
  const name = args[0] !== undefined ? checkVolumeName(args[0], 'box volume create') : anonymousName();
  createVolume(name, { labels: labels(list(opts.label)) });
  out(`${name}\n`);
  return 0;
}

/** `--filter name=…`, `label=KEY[=VALUE]`, `dangling=true|false`: Docker's. */
function matcher(filters: string[]): (v: VolumeRecord) => boolean {
  const tests = filters.map((f) => {
    const eq = f.indexOf('=');
    const [key, value] = [f.slice(0, eq), f.slice(eq + 1)];
    if (key === 'name') return (v: VolumeRecord) => v.Name.includes(value);
    if (key === 'label') {
      const [k, want] = value.split('=');
      return (v: VolumeRecord) => k in v.Labels && (want === undefined || v.Labels[k] === want);
    }
    if (key === 'dangling' && ['true', 'false', '1', '0'].includes(value)) {
      const dangling = value === 'true' || value === '1';
      return (v: VolumeRecord) => (containersUsingVolume(v.Name).length === 0) === dangling;
    }
    throw new UserError(`--filter '${f}': use name=TEXT, label=KEY[=VALUE] or dangling=true|false`);
  });
  return (v) => tests.every((t) => t(v));
}

function ls(opts: Opts, args: string[]): number {
  if (args.length) throw new UserError("'box volume ls' takes no arguments; usage: box volume ls [-q] [--filter KEY=VALUE]");
  const volumes = listVolumes().filter(matcher(list(opts.filter)));
  if (opts.quiet) out(volumes.map((v) => `${v.Name}\n`).join(''));
  else out(formatTable(['DRIVER', 'VOLUME NAME'], volumes.map((v) => [v.Driver, v.Name])));
  return 0;
}

function inspect(opts: Opts, args: string[]): number {
  if (!args.length) throw new UserError("'box volume inspect' needs a volume; usage: box volume inspect VOLUME...");
  const views = args.map((a) => volumeView(requireVolume(a)));
  if (typeof opts.format === 'string') for (const v of views) out(formatTemplate(opts.format, v) + '\n');
  else out(JSON.stringify(views, null, 2) + '\n');
  return 0;
}

function rm(opts: Opts, args: string[]): number {
  if (!args.length) throw new UserError("'box volume rm' needs a volume; usage: box volume rm [-f] VOLUME...");
  let failed = 0;
  for (const name of args) {
    try {
      if (opts.force && !getVolume(name)) continue; // -f: a volume that is not there is no error
      removeVolume(name, containersUsingVolume);
      out(`${name}\n`);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      process.stderr.write(`box: ${err.message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

function prune(opts: Opts, args: string[]): number {
  if (args.length) throw new UserError("'box volume prune' takes no arguments; usage: box volume prune [-a] [-f]");
  const what = opts.all ? 'all volumes not used by at least one container' : 'all anonymous volumes not used by at least one container';
  if (!opts.force && !confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `)) return 0;
  let bytes = 0;
  const deleted: string[] = [];
  for (const v of listVolumes()) {
    // As Docker since 23.0: named volumes only with --all.
    if (!v.Anonymous && !opts.all) continue;
    if (containersUsingVolume(v.Name).length) continue;
    const size = diskUsage(dataDir(v.Name));
    try {
      removeVolume(v.Name, containersUsingVolume);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      continue; // taken by a container that started meanwhile
    }
    bytes += size;
    deleted.push(v.Name);
  }
  if (deleted.length) out(`Deleted Volumes:\n${deleted.map((n) => `${n}\n`).join('')}\n`);
  out(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

const SUBCOMMANDS: Record<string, ImageCommand> = {
  create: command('create [--label K=V] [NAME]', 'Create a volume (a random name if none is given)', [
    { name: 'label', value: true, repeat: true, help: 'a label: --label KEY=VALUE' },
    { name: 'driver', short: 'd', value: true, help: 'only local' },
  ], create),
  ls: command('ls [-q] [--filter KEY=VALUE]', 'List volumes', [
    { name: 'quiet', short: 'q', help: 'only the names' },
    { name: 'filter', short: 'f', value: true, repeat: true, help: 'name=TEXT, label=KEY[=VALUE], dangling=true|false' },
  ], ls),
  inspect: command('inspect [-f FORMAT] VOLUME...', 'Print what box knows about volumes, as JSON', [
    { name: 'format', short: 'f', value: true, help: "print fields only, e.g. -f '{{.Mountpoint}}'" },
  ], inspect),
  rm: command('rm [-f] VOLUME...', 'Remove volumes no container uses (running or stopped)', [
    { name: 'force', short: 'f', help: 'no error for a volume that does not exist' },
  ], rm),
  prune: command('prune [-a] [-f]', 'Remove anonymous volumes no container uses (-a: named ones too)', [
    { name: 'all', short: 'a', help: 'named volumes too' },
    { name: 'force', short: 'f', help: 'do not ask' },
  ], prune),
};
const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm' };

export const volumeCommand: ImageCommand = {
  summary: 'Manage volumes: create, ls, inspect, rm, prune',
  help: () => `Usage: box volume COMMAND\n\nManage volumes: data that outlives containers, under ${dataDir('NAME')}.\n\nCommands:\n${
    Object.entries(SUBCOMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n')}\n\nRun 'box volume COMMAND --help' for more on a command.\n`,
  passHelp: (argv) => argv.length > 0 && !argv[0].startsWith('-'),
  run: async (argv: string[], _trace: Trace) => {
    const [name, ...rest] = argv;
    if (!name) {
      out(volumeCommand.help());
      return 1;
    }
    const sub = SUBCOMMANDS[ALIASES[name] ?? name];
    if (!sub) throw new UserError(`'box volume ${name}' is not a command; see 'box volume --help'`);
    if (rest.includes('--help')) {
      out(sub.help());
      return 0;
    }
    return sub.run(rest, _trace);
  },
};
