// box as an OCI runtime: runc's command line. box's own `start`, `kill`, `ps`, `exec`... mean
// Docker's commands, so a call is runc's when (isOciCall):
//   1. it is `box oci ...`, or starts with one of runc's global options (`--root`, `--log`,
//      `--log-format`, `--debug`, `--systemd-cgroup`): what people and most engines type;
//   2. its command is one of runc's that box does not have (`create`, `delete`, `state`,
//      `features`, `spec`, `pause`, `resume`, `list`), or `create --bundle`/`-b`;
//   3. its command is one both have (`start`, `kill`, `ps`, `exec`) and the container it names
//      (its first argument that is not an option) is one under the OCI root, /run/box-oci.
// Podman 4.3 (through conmon) calls the runtime with no global option at all: `RUNTIME create
// --bundle DIR --pid-file FILE ID`, `RUNTIME start ID`, `RUNTIME kill ID SIGNAL`, `RUNTIME
// delete --force ID`, so rules 2 and 3 are what make `podman --runtime box` work.
// Errors go to stderr and, with --log, into that file as runc writes them.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import { realSys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import { ociExec } from '../oci/exec.ts';
import { features, writeSpec } from '../oci/info.ts';
import { createContainer, deleteContainer, killContainer, openCgroup, startContainer } from '../oci/runtime.ts';
import { DEFAULT_ROOT, listOciIds, publicState, readOciState, writeOciState } from '../oci/state.ts';

export const RUNC_GLOBALS = ['--root', '--log', '--log-format', '--debug', '--systemd-cgroup'];
const RUNC_ONLY = ['delete', 'state', 'features', 'spec', 'pause', 'resume', 'list'];
const SHARED = ['create', 'start', 'kill', 'ps', 'exec'];
// runc options of the shared commands that take a value (to find the container id after them).
const VALUED = new Set(['--bundle', '-b', '--pid-file', '--console-socket', '--preserve-fds', '--process', '-p', '--format', '-f', '--cwd', '--env', '-e', '--user', '-u', '--cap', '-c', '--apparmor', '--process-label', '--cgroup']);

/** Is this command line runc's? (See the rules above.) `boxCommands`: box's own command names. */
export function isOciCall(argv: string[], boxCommands: Set<string>): boolean {
  const [name, ...rest] = argv;
  if (name === undefined) return false;
  if (name === 'oci' || RUNC_GLOBALS.some((g) => name === g || name.startsWith(`${g}=`))) return true;
  if (RUNC_ONLY.includes(name) && !boxCommands.has(name)) return true;
  if (!SHARED.includes(name)) return false;
  if (name === 'create' && (!boxCommands.has('create') || rest.some((a) => a === '--bundle' || a === '-b' || a.startsWith('--bundle=')))) return true;
  let id: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (VALUED.has(rest[i])) i++;
    else if (!rest[i].startsWith('-')) {
      id = rest[i];
      break;
    }
  }
  return !!id && /^[\w+.-]+$/.test(id) && fs.existsSync(path.join(DEFAULT_ROOT, id, 'state.json'));
}

interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
}

const OCI_HELP = `Usage: box oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...
       box --root DIR COMMAND ...      (runc's global options select these commands too)

box as an OCI runtime, with runc's commands (bundles as the OCI runtime spec defines them):
  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] [--preserve-fds N] ID
                                               build the container; it waits before exec
  start ID                                     let it exec
  state ID                                     its state as JSON
  kill [--all] ID [SIGNAL]                     signal it (default TERM)
  delete [--force] ID                          remove a stopped (or, --force, any) container
  exec [--process FILE] [-d] [-t] [--console-socket SOCK] [--pid-file FILE] [--cwd DIR] [--env K=V] ID [COMMAND...]
  ps [--format table|json] ID                  the processes in its cgroup
  pause ID, resume ID                          freeze and thaw its cgroup
  list                                         the containers under --root
  features                                     what this runtime supports, as JSON
  spec [--bundle DIR]                          write a default config.json
Global options: --root DIR (default ${DEFAULT_ROOT}), --log FILE, --log-format text|json, --debug.
`;

/** Run runc's command line; returns the exit code. Errors are logged as runc logs them, then rethrown. */
export async function ociMain(argv: string[], trace: Trace): Promise<number> {
  if (argv[0] === 'oci') argv = argv.slice(1);
  const g: Globals = { root: DEFAULT_ROOT, logFormat: 'text' };
  try {
    while (argv[0]?.startsWith('-')) {
      const [flag, inline] = argv.shift()!.split(/=(.*)/s, 2);
      const value = () => {
        const v = inline ?? argv.shift();
        if (v === undefined) throw new UserError(`${flag} needs a value`);
        return v;
      };
      if (flag === '--root') g.root = value();
      else if (flag === '--log') g.log = value();
      else if (flag === '--log-format') {
        const f = value();
        if (f !== 'text' && f !== 'json') throw new UserError(`--log-format ${f}: use text or json`);
        g.logFormat = f;
      } else if (flag === '--debug') continue;
      else if (flag === '--systemd-cgroup') throw new UserError('--systemd-cgroup is not supported: box manages cgroups itself (cgroupfs); configure your engine with cgroup_manager = "cgroupfs"');
      else if (flag === '--help' || flag === '-h') {
        process.stdout.write(OCI_HELP);
        return 0;
      } else throw new UserError(`unknown global option ${flag}; see 'box oci --help'`);
    }
    return await command(argv, g, trace);
  } catch (err) {
    if (g.log) logError(g, (err as Error).message);
    throw err;
  }
}

function logError(g: Globals, msg: string): void {
  const time = new Date().toISOString();
  const line = g.logFormat === 'json' ? JSON.stringify({ level: 'error', msg, time }) : `time="${time}" level=error msg="${msg.replaceAll('"', '\\"')}"`;
  try {
    fs.appendFileSync(g.log!, `${line}\n`);
  } catch {
    /* the error still reaches stderr */
  }
}

/** Split a command's own flags (those in `known`, `true` when they take a value) from its arguments. */
function flags(argv: string[], known: Record<string, boolean>, aliases: Record<string, string> = {}, stopAtFirst = false): { opts: Record<string, string | true>; args: string[] } {
  const opts: Record<string, string | true> = {};
  const args: string[] = [];
  while (argv.length) {
    const a = argv.shift()!;
    if (stopAtFirst && a === '--') {
      args.push(...argv.splice(0));
      break;
    }
    if (!a.startsWith('-') || a === '-' || (stopAtFirst && args.length)) {
      args.push(a);
      if (stopAtFirst && args.length) {
        args.push(...argv.splice(0));
        break;
      }
      continue;
    }
    let [name, inline] = a.replace(/^--?/, '').split(/=(.*)/s, 2);
    name = aliases[name] ?? name;
    if (!(name in known)) throw new UserError(`unknown option ${a}; see 'box oci --help'`);
    if (known[name]) {
      const v = inline ?? argv.shift();
      if (v === undefined) throw new UserError(`${a} needs a value`);
      opts[name] = v;
    } else opts[name] = true;
  }
  return { opts, args };
}

async function command(argv: string[], g: Globals, trace: Trace): Promise<number> {
  const name = argv.shift();
  switch (name) {
    case 'create': {
      const { opts, args } = flags(argv, { bundle: true, 'pid-file': true, 'console-socket': true, 'preserve-fds': true, 'no-pivot': false, 'no-new-keyring': false }, { b: 'bundle' });
      await createContainer(realSys(trace), {
        root: g.root, id: one(args, 'create'), bundle: (opts.bundle as string) ?? '.', pidFile: opts['pid-file'] as string | undefined,
        consoleSocket: opts['console-socket'] as string | undefined, preserveFds: preserveFds(opts['preserve-fds']),
      });
      return 0;
    }
    case 'start':
      await startContainer(realSys(trace), g.root, one(argv, 'start'));
      return 0;
    case 'state':
      process.stdout.write(`${JSON.stringify(publicState(readOciState(g.root, one(argv, 'state'))), null, 2)}\n`);
      return 0;
    case 'kill': {
      const { opts, args } = flags(argv, { all: false }, { a: 'all' });
      if (!args.length || args.length > 2) throw new UserError('usage: box kill [--all] ID [SIGNAL]');
      killContainer(realSys(trace), g.root, args[0], args[1], !!opts.all);
      return 0;
    }
    case 'delete': {
      const { opts, args } = flags(argv, { force: false }, { f: 'force' });
      await deleteContainer(realSys(trace), g.root, one(args, 'delete'), !!opts.force);
      return 0;
    }
    case 'exec': {
      const { opts, args } = flags(argv, {
        process: true, detach: false, tty: false, 'pid-file': true, 'console-socket': true, cwd: true, env: true, 'preserve-fds': true,
        'no-new-privs': false, user: true, cap: true,
      }, { p: 'process', d: 'detach', t: 'tty', e: 'env', u: 'user', c: 'cap' }, true);
      if (opts.user || opts.cap) throw new UserError('exec --user/--cap: give them in --process FILE instead');
      if (!args.length) throw new UserError('usage: box exec [--process FILE] [-d] [--pid-file FILE] ID [COMMAND...]');
      return ociExec(realSys(trace), {
        root: g.root, id: args[0], args: args.slice(1), processFile: opts.process as string | undefined, detach: !!opts.detach,
        pidFile: opts['pid-file'] as string | undefined, cwd: opts.cwd as string | undefined, env: opts.env ? [opts.env as string] : [],
        tty: !!opts.tty, consoleSocket: opts['console-socket'] as string | undefined, preserveFds: preserveFds(opts['preserve-fds']),
      });
    }
    case 'features':
      process.stdout.write(`${JSON.stringify(features(), null, 2)}\n`);
      return 0;
    case 'spec': {
      const { opts } = flags(argv, { bundle: true, rootless: false }, { b: 'bundle' });
      if (opts.rootless) throw new UserError('spec --rootless: box\'s OCI runtime runs as root; for a user namespace add {"type": "user"} and linux.uidMappings/gidMappings to config.json');
      writeSpec((opts.bundle as string) ?? '.');
      return 0;
    }
    case 'ps': {
      const { opts, args } = flags(argv, { format: true }, { f: 'format' });
      const id = one(args, 'ps');
      const st = readOciState(g.root, id);
      const pids = st.status === 'stopped' ? [] : openCgroup(realSys(trace), st)?.pids() ?? [];
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify(pids)}\n`);
      else if (opts.format && opts.format !== 'table') throw new UserError(`--format ${opts.format}: use table or json`);
      else process.stdout.write(['PID CMD', ...pids.map((p) => `${p} ${cmdline(p)}`)].join('\n') + '\n');
      return 0;
    }
    case 'pause':
    case 'resume': {
      const id = one(argv, name);
      const st = readOciState(g.root, id);
      const want = name === 'pause' ? 'running' : 'paused';
      if (st.status !== want) throw new UserError(`cannot ${name} container "${id}": it is ${st.status}, not ${want}`);
      const cg = openCgroup(realSys(trace), st);
      if (!cg?.freeze || !cg.thaw) throw new UserError(`cannot ${name} container "${id}": this host's cgroups have no freezer`);
      if (name === 'pause') cg.freeze();
      else cg.thaw();
      writeOciState(g.root, { ...st, status: name === 'pause' ? 'paused' : 'running' });
      return 0;
    }
    case 'list':
      process.stdout.write(`${JSON.stringify(listOciIds(g.root).map((id) => publicState(readOciState(g.root, id))))}\n`);
      return 0;
    case undefined:
      process.stdout.write(OCI_HELP);
      return 1;
    default:
      throw new UserError(`'${name}' is not one of box's OCI runtime commands; see 'box oci --help'`);
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function preserveFds(v: string | true | undefined): number | undefined {
  return typeof v === 'string' ? (/^\d+$/.test(v) ? Number(v) : NaN) : undefined;
}

function one(args: string[], cmd: string): string {
  if (args.length !== 1) throw new UserError(`usage: box ${cmd} ID (one container id)`);
  return args[0];
}
