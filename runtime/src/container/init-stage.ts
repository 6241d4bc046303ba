// Starting box-init and driving its plan: write the plan to its fd 3, read its reports from
// fd 4, answer its sync points, and learn the host PID of the container's first process.

import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { initPath } from '../init/build.ts';
import { SysError, UserError } from '../sys/errors.ts';
import { realSys, type Sys } from '../sys/sys.ts';
import type { Trace } from '../sys/trace.ts';
import type { Plan } from '../init/plan.ts';
import { SYNC_TEXT, syncPoint, type SyncPoint } from '../init/sync-point.ts';

export interface InitStage {
  child: ChildProcess;
  /** The plan and report pipes (box-init's fds 3 and 4, or after the preserved ones). */
  pipes: [Writable, Readable];
  /** Resolves with the host PID of the user's command once it has been exec'd. */
  started: Promise<number>;
}

export interface InitOptions {
  plan: Plan;
  trace: Trace;
  /** stdin, stdout, stderr of the container: 'inherit', 'pipe', 'ignore' or file descriptors. */
  stdio: (number | 'inherit' | 'pipe' | 'ignore')[];
  /** Called at each `sync` op with the pid of the process that waits and the point; resolve to let it go on. */
  onSync?: (pid: number, point: SyncPoint) => void | Promise<void>;
  /**
   * Called once the host PID of the container's process is known: at once when the plan has
   * no fork, else when box-init reports the fork. Put it in the container's cgroup here.
   */
  onProcess?: (pid: number) => void;
  /** Called when box-init has opened the container's terminal: fd is the master, in `pid`. */
  onConsole?: (pid: number, fd: number) => void | Promise<void>;
  /** How box-init is started (fork + execve): a Sys's spawn; default the real one. A unit test's fake Sys answers as box-init would. */
  spawn?: Sys['spawn'];
  /** Our descriptors 3..3+N-1 go to box-init at the same numbers, for the command (runc's --preserve-fds). */
  preserveFds?: number;
}

/**
 * Spawn box-init and feed it its plan. The promise `started` resolves once the user's
 * command has been exec'd.
 */
export function spawnInit(opts: InitOptions): InitStage {
  const encoded = opts.plan.encode(); // refuses an oversized plan before box-init starts
  const kept = Array.from({ length: opts.preserveFds ?? 0 }, (_, k) => 3 + k);
  const spawn = opts.spawn ?? realSys(opts.trace).spawn;
  const child = spawn(initPath(), kept.length ? ['--preserve-fds', String(kept.length)] : [], [...opts.stdio, ...kept, 'pipe', 'pipe'] as StdioOptions);
  const planPipe = child.stdio[3 + kept.length] as Writable;
  const reports = child.stdio[4 + kept.length] as Readable;
  planPipe.on('error', () => {}); // box-init may exit before reading everything: reports say why
  planPipe.write(encoded);
  const forks = opts.plan.ops.some((op) => op.args[0] === 'fork' || op.args[0] === 'detach');
  if (!forks && child.pid) opts.onProcess?.(child.pid);
  const started = new Promise<number>((resolve, reject) => {
    let pid = child.pid!;
    let failed = false;
    let buffered = '';
    let queue = Promise.resolve();
    child.once('error', (err) => reject(new UserError(`cannot start box-init: ${err.message}`)));
    reports.setEncoding('utf8');
    reports.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        queue = queue.then(() => handle(line)).catch((err) => {
          failed = true;
          child.kill('SIGKILL');
          reject(err);
        });
      }
    });
    reports.on('end', () => {
      // EOF with no ERR line: the report pipe is close-on-exec, so the user's command was
      // exec'd. It may have finished already (`true` does): that is still a start.
      queue.then(() => {
        if (!failed) resolve(pid);
      });
    });
    // 'close' comes after the report pipe's 'end', so a quick command that has already
    // exited is still seen as started.
    child.once('close', (code, signal) => {
      queue.then(() => {
        if (!failed) reject(new UserError(`box-init stopped before the command started (${signal ?? `exit ${code}`})`));
      });
    });

    async function handle(line: string): Promise<void> {
      const [kind, idx, value, extra] = line.split(' ');
      const op = opts.plan.ops[Number(idx)];
      const n = Number(value);
      if (kind === 'SYNC') {
        // "SYNC <i> <pid> <point>": the point is the number box-init read from the op, which
        // must be the one we planned there (anything else is a box-init out of step with us).
        const point = syncPoint(Number(extra));
        if (point === undefined || op?.args[0] !== 'sync' || op.args[1] !== String(point)) {
          throw new UserError(`box-init stopped at an unknown sync point (${JSON.stringify(line)}); rebuild it with npm run build:box`);
        }
        // The pid box-init reports is its own getpid(), which is 1 once it is inside a new
        // PID namespace: use the pid the host knows it by, the one we spawned or, after a
        // fork, the child's. (Trusting n here once moved the host's PID 1 into a container cgroup.)
        await opts.onSync?.(pid, point);
        opts.trace.record({ kind: 'note', text: `sync: ${SYNC_TEXT[point]}` }, 'init');
        planPipe.write('\n');
      } else if (kind === 'PTY') {
        await opts.onConsole?.(pid, n);
        if (op) opts.trace.record({ kind: 'syscall', call: op.call, args: op.text, result: n }, 'init');
        planPipe.write('\n');
      } else if (kind === 'OK') {
        if (op) opts.trace.record({ kind: 'syscall', call: op.call, args: op.text, result: n }, 'init');
        if (op?.args[0] === 'fork' || op?.args[0] === 'detach') {
          pid = n;
          opts.onProcess?.(pid);
        }
      } else if (kind === 'ERR' && idx === '-1') {
        // box-init could not take the plan at all (box-init.c: refuse); nothing was done.
        failed = true;
        reject(new UserError(`box-init refused the start plan: ${new SysError('read', 'plan', n).code}${n === 7 /* E2BIG */ ? ' (over its size limit)' : ''}`));
      } else if (kind === 'ERR') {
        failed = true;
        const call = op?.call ?? 'execve';
        const err = new SysError(call, op?.text ?? '', n);
        opts.trace.record({ kind: 'syscall', call, args: op?.text ?? '', result: -1, errno: err.code }, 'init');
        if (op?.args[0] === 'exec') {
          const file = op.args[1];
          reject(new UserError(n === 2 /* ENOENT */
            ? `${file}: executable file not found in the container (check the image and PATH)`
            : `cannot run ${file} in the container: ${err.code}`, n === 2 ? 'command-not-found' : 'command-cannot-run'));
        } else {
          reject(new UserError(`container setup failed: ${err.message}`));
        }
      }
    }
  });
  started.catch(() => {}); // the caller awaits it; avoid an unhandled rejection meanwhile
  return { child, started, pipes: [planPipe, reports] };
}
