// box-init as a unit test's fake Sys spawns it: it reads the plan box writes on its fd 3 (a
// size line, then one op a line, fields split by 0x1f, "end") and answers on fd 4 as
// box-init.c does, without making any of the calls: `OK i result` for each op, `SYNC i pid
// point` at a sync op and `PTY i fd` at a console op (each then waits for box's newline),
// `OK i <child pid>` at a fork, and at exec the report pipe's EOF (it is close-on-exec: the
// command runs). An op told to fail is reported `ERR i errno` and box-init exits 1, as the
// real one does. The command then "runs" until the test calls exit() or box kills it.

import { EventEmitter } from 'node:events';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { NAMESPACES, type NamespaceName } from '../../runtime/src/sys/constants.ts';

export interface FakeInit {
  /** box-init's pid (the one box spawned). */
  readonly pid: number;
  /** The container's process: box-init's, or its child's after a fork. */
  readonly commandPid: number;
  /** The plan's ops as box-init parsed them, each its fields: ['sync', '2'], ['exec', 'echo', 'echo', 'hi']. */
  readonly ops: string[][];
  /** The namespaces its unshare ops made (the rest it shares with the host). */
  readonly unshared: Set<NamespaceName>;
  /** What happened, in order: 'OK 3 0', 'SYNC 5 2', 'answered 5', 'ERR 7 1', 'exec', 'exit 0', 'killed SIGKILL'. */
  readonly log: string[];
  /** Resolves once box-init has exec'd the command, refused the plan, or failed at an op. */
  readonly done: Promise<void>;
  /** The child process box holds. */
  readonly child: ChildProcess;
  /** The command exits with this status; box-init mirrors it. */
  exit(code: number): void;
}

export interface InitFaults {
  /** The errno box-init reports at the first op named `call` (an op's first field: 'unshare', 'mount', 'sync'...). */
  failAt?: { call: string; errno: number };
}

/**
 * Start a fake box-init with these descriptors. `live` holds the pids alive (its own, its
 * child's after a fork, until they end); `onKill` records box's signals.
 */
export function fakeInit(pid: number, stdio: StdioOptions, faults: InitFaults, live: Set<number>,
  onKill: (pid: number, sig: string) => void): FakeInit {
  const fds = (stdio as unknown[]).map((s) => (s === 'pipe' ? new PassThrough() : null));
  const planPipe = fds.at(-2)!; // box writes, box-init reads
  const reports = fds.at(-1)!; // box-init writes, box reads
  const child = Object.assign(new EventEmitter(), {
    pid, stdio: fds, stdin: fds[0], stdout: fds[1], stderr: fds[2], exitCode: null as number | null, signalCode: null as string | null,
    killed: false,
    kill(sig: NodeJS.Signals | number = 'SIGTERM') {
      if (ended) return false;
      onKill(pid, String(sig));
      log.push(`killed ${sig}`);
      setImmediate(() => end(null, String(sig)));
      return true;
    },
  }) as unknown as ChildProcess;
  live.add(pid);
  const log: string[] = [];
  const ops: string[][] = [];
  const unshared = new Set<NamespaceName>();
  let commandPid = pid;
  let ended = false;

  // What box wrote on fd 3 so far, and readers waiting for more of it.
  let input = '';
  let wake = () => {};
  planPipe.setEncoding('utf8');
  planPipe.on('data', (chunk: string) => { input += chunk; wake(); });
  async function take(until: (s: string) => number): Promise<string> {
    for (;;) {
      const n = until(input);
      if (n >= 0) {
        const got = input.slice(0, n);
        input = input.slice(n);
        return got;
      }
      await new Promise<void>((r) => { wake = r; });
    }
  }
  const line = () => take((s) => (s.includes('\n') ? s.indexOf('\n') + 1 : -1)).then((l) => l.slice(0, -1));
  const report = (text: string) => { log.push(text.replace(/^(SYNC \d+) \d+/, '$1')); reports.write(`${text}\n`); };

  function end(code: number | null, signal: string | null): void {
    if (ended) return;
    ended = true;
    if (!reports.writableEnded) reports.end();
    for (const s of [fds[1], fds[2]]) if (s && !s.writableEnded) s.end();
    Object.assign(child, { exitCode: code, signalCode: signal });
    log.push(code === null ? `signal ${signal}` : `exit ${code}`);
    live.delete(pid);
    live.delete(commandPid);
    child.emit('exit', code, signal);
    setImmediate(() => child.emit('close', code, signal));
  }

  async function run(): Promise<void> {
    const size = Number(await line());
    const body = await take((s) => (Buffer.byteLength(s) >= size ? size : -1)); // ASCII here: its size in bytes is its length
    for (const l of body.split('\n')) {
      if (l === 'end') break;
      ops.push(l.split('\x1f'));
    }
    for (const [i, op] of ops.entries()) {
      if (ended) return;
      if (faults.failAt && op[0] === faults.failAt.call) {
        report(`ERR ${i} ${faults.failAt.errno}`);
        end(1, null);
        return;
      }
      switch (op[0]) {
        case 'sync':
          report(`SYNC ${i} 1 ${op[1]}`); // getpid() is 1 in a new PID namespace: box must not trust it
          await line();
          log.push(`answered ${i}`);
          break;
        case 'console':
          report(`PTY ${i} 5`);
          await line();
          break;
        case 'fork':
          commandPid = pid + 1;
          live.add(commandPid);
          report(`OK ${i} ${commandPid}`);
          break;
        case 'unshare':
          for (const [name, flag] of Object.entries(NAMESPACES)) if (Number(op[1]) & flag) unshared.add(name as NamespaceName);
          report(`OK ${i} 0`);
          break;
        case 'exec':
          log.push('exec');
          reports.end(); // close-on-exec: EOF tells box the command runs
          return;
        default:
          report(`OK ${i} 0`);
      }
    }
  }

  const init: FakeInit = {
    pid, ops, unshared, log, child,
    get commandPid() { return commandPid; },
    done: run(),
    exit: (code) => end(code, null),
  };
  return init;
}
