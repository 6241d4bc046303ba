// box: the command line. Parsing and printing only; the work is in container/, image/...
// Every failure reaches the user as one line, `box: <what failed and what to do>`, never a
// stack trace.

import { Trace } from '../sys/trace.ts';
import { UserError } from '../sys/errors.ts';
import { COMMANDS, globalHelp } from './commands.ts';
import { readClusterState } from '../cluster/paths.ts';
import { anyClusterRecord } from '../cluster/host-record.ts';
import { isOciCall, ociMain } from './oci-commands.ts';

async function main(argv: string[]): Promise<number> {
  // runc's command line (box as an OCI runtime): the rule is in oci-commands.ts.
  if (isOciCall(argv, new Set(Object.keys(COMMANDS)))) return ociMain(argv, new Trace({ sinkPath: process.env.BOX_TRACE_FILE, command: ['box', ...process.argv.slice(2)] }));
  let traceEcho = false;
  while (argv[0]?.startsWith('-')) {
    const flag = argv.shift()!;
    if (flag === '--trace') traceEcho = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(globalHelp());
      return 0;
    } else if (flag === '--version' || flag === '-v') {
      process.stdout.write(`box 0.1.0 (node ${process.versions.node})\n`);
      return 0;
    } else throw new UserError(`unknown flag: ${flag}; see 'box --help'`);
  }
  const name = argv.shift();
  if (!name || name === 'help') {
    process.stdout.write(globalHelp());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) throw new UserError(`'${name}' is not a box command; see 'box --help'`);
  if (argv.includes('--help') && !command.passHelp?.(argv)) {
    process.stdout.write(await command.help());
    return 0;
  }
  // BOX_TRACE_FILE: where the lab server's panel reads this command's system calls. Each
  // invocation starts with its command line; the monitor of `box run -d` (a box process
  // of its own, which inherits our environment) goes on with the invocation that made it.
  const monitor = name === '__monitor' ? process.env.BOX_TRACE_INVOCATION : undefined;
  const trace = new Trace({
    echo: traceEcho,
    sinkPath: process.env.BOX_TRACE_FILE,
    command: monitor ? undefined : ['box', ...process.argv.slice(2)],
    invocation: monitor,
  });
  process.env.BOX_TRACE_INVOCATION = trace.invocation;
  // A cluster whose control plane was killed: any box removes what it left (cluster/reaper.ts).
  if (name !== 'cluster' && name !== '__monitor' && (readClusterState() || anyClusterRecord())) await (await import('../cluster/reaper.ts')).reapBeforeCommand();
  return command.run(argv, trace);
}

function run(): void {
  // `box ps | head`: the reader went away. Stop quietly, as other Unix tools do, not with a
  // stack trace about EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof UserError) {
      process.stderr.write(`box: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      // An error we did not expect: still one line, but say it is a bug, and how to see more.
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`box: ${msg.split('\n')[0]}\n`);
      if (process.env.BOX_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
      process.exitCode = 125;
    }
  },
  );
}

run();
