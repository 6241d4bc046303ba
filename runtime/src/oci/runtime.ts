// runc's lifecycle on box's start path: create builds the container up to the point just
// before execve and leaves it waiting; start lets it exec; kill signals it; delete removes
// what is left. The container's parent is a detached box (the monitor) that drives box-init,
// as `box run -d` does, because box-init's sync points are answered by its parent.
//
// The wait between create and start is a fifo, exec.fifo, as runc's: at the sync point just
// before exec the monitor opens it for writing, which blocks in the kernel until a reader
// opens it. `box start` is that reader. A fifo needs no listener process of its own and no
// protocol, survives `box create` exiting (runc's create exits too), and a start that comes
// before the monitor is ready still finds it, since open(2) waits for the other end.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { detectCgroups } from '../cgroups/index.ts';
import type { Cgroup } from '../cgroups/types.ts';
import { containerPlan, SYNC_CGROUP } from '../container/build-plan.ts';
import { spawnInit } from '../container/init-stage.ts';
import { Plan } from '../container/plan.ts';
import { UserError } from '../sys/errors.ts';
import type { Sys } from '../sys/sys.ts';
import { readBundle } from './bundle.ts';
import { checkId, containerDir, fifoPath, OCI_VERSION, readOciState, writeOciState, type OciState } from './state.ts';

export const SYNC_START = 'box start opens exec.fifo: the container may exec';

const cgroupName = (id: string) => `box-oci-${id}`;

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
}

/** `box create`: check the bundle, start the monitor, return once the container waits before exec. */
export async function createContainer(o: CreateOptions): Promise<void> {
  checkId(o.id);
  if (process.getuid?.() !== 0) throw new UserError('box create needs root (it makes namespaces, mounts and cgroups): run it with sudo');
  readBundle(o.bundle); // a bad config fails here, in one line, before anything exists
  const dir = containerDir(o.root, o.id);
  fs.mkdirSync(o.root, { recursive: true, mode: 0o700 });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`container "${o.id}" already exists; box delete ${o.id} first`);
    throw err;
  }
  try {
    execFileSync('mkfifo', ['-m', '0600', fifoPath(o.root, o.id)]);
    // The monitor is this same program (bundle or sources); it keeps our stdin, stdout and
    // stderr for the container, as runc's container keeps runc create's.
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'oci', '--root', o.root, '__monitor', o.id, path.resolve(o.bundle)], {
      detached: true,
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    });
    let out = '';
    const pipe = child.stdio[3] as Readable;
    pipe.setEncoding('utf8');
    for await (const chunk of pipe) out += chunk;
    child.unref();
    const line = out.trim();
    if (!line.startsWith('ok ')) throw new UserError(line.startsWith('err ') ? line.slice(4) : 'the container was not created (its monitor exited)');
    if (o.pidFile) fs.writeFileSync(o.pidFile, line.slice(3)); // runc writes the pid without a newline
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The monitor: box-init's parent for the container's whole life. Reports on fd 3 once created. */
export async function monitor(sys: Sys, root: string, id: string, bundleDir: string): Promise<number> {
  const report = fs.createWriteStream('', { fd: 3 }) as Writable;
  let cgroup: Cgroup | null = null;
  let st: OciState | null = null;
  try {
    const b = readBundle(bundleDir);
    st = {
      ociVersion: OCI_VERSION, id, status: 'creating', pid: 0, bundle: b.dir, rootfs: b.rootfs.rootfs,
      created: new Date().toISOString(), owner: '', annotations: b.spec.annotations ?? {},
      monitorPid: process.pid, cgroup: cgroupName(id),
    };
    writeOciState(root, st);
    cgroup = detectCgroups(sys).create(cgroupName(id));
    cgroup.setLimits(b.limits);
    const plan = containerPlan(b.cfg, b.rootfs, b.proc);
    // Joined namespaces first, while we are still the host's root (after PR_SET_PDEATHSIG).
    plan.ops.splice(1, 0, ...b.joins.flatMap((j) => new Plan().setns(j.path, j.flag).ops));
    // The stop before exec: after everything else, before close_range closes box-init's
    // plan and report pipes (fds 3 and 4), which the sync answers travel on.
    const at = plan.ops.findIndex((op) => op.args[0] === 'close_range');
    plan.ops.splice(at, 0, new Plan().sync(SYNC_START).ops[0]);
    const cg = cgroup;
    const created = st;
    const init = spawnInit({
      plan, trace: sys.trace, stdio: [0, 1, 2],
      onProcess: (pid) => cg.addProcess(pid),
      onSync: async (pid, why) => {
        if (why === SYNC_CGROUP) return;
        if (why !== SYNC_START) return;
        writeOciState(root, Object.assign(created, { status: 'created', pid }));
        report.end(`ok ${pid}\n`);
        const fifo = await fs.promises.open(fifoPath(root, id), 'w'); // blocks until box start opens it
        await fifo.write('0');
        await fifo.close();
      },
    });
    const exit = new Promise<number>((resolve) => init.child.once('exit', (code, sig) => resolve(code ?? 128 + (osConstants.signals[sig ?? 'SIGKILL'] ?? 9))));
    await init.started;
    writeOciState(root, Object.assign(created, { status: 'running' }));
    const code = await exit;
    writeOciState(root, Object.assign(created, { status: 'stopped' }));
    return code;
  } catch (err) {
    report.end(`err ${(err as Error).message}\n`);
    if (st) writeOciState(root, Object.assign(st, { status: 'stopped' }));
    return 1;
  } finally {
    try {
      cgroup?.killAll();
      cgroup?.destroy();
    } catch {
      /* delete tries again */
    }
  }
}

/** `box start`: open exec.fifo for reading, which releases the monitor's open and so the exec. */
export async function startContainer(root: string, id: string): Promise<void> {
  const st = readOciState(root, id);
  if (st.status !== 'created') throw new UserError(`cannot start container "${id}": it is ${st.status}, not created`);
  const fifo = fifoPath(root, id);
  // O_NONBLOCK: open at once even if the monitor is gone, rather than wait forever.
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (n === 1) break;
      if (readOciState(root, id).status !== 'created') throw new UserError(`cannot start container "${id}": its process is gone`);
      await new Promise((r) => setTimeout(r, 5)); // the monitor has not opened its end yet
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(fifo, { force: true });
  // Return once the monitor has seen the exec (or the failure), so `box state` says running.
  while (readOciState(root, id).status === 'created') await new Promise((r) => setTimeout(r, 5));
}

export function parseSignal(sig: string | undefined): NodeJS.Signals | number {
  if (!sig) return 'SIGTERM';
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals)) throw new UserError(`unknown signal '${sig}'; e.g. TERM, KILL or 9`);
  return name;
}

/** `box kill ID [SIGNAL]` (default TERM); --all: every process in its cgroup. */
export function killContainer(sys: Sys, root: string, id: string, signal: string | undefined, all: boolean): void {
  const sig = parseSignal(signal);
  const st = readOciState(root, id);
  if (st.status !== 'created' && st.status !== 'running' && st.status !== 'paused') throw new UserError(`container "${id}" is not running`);
  const pids = all ? detectCgroups(sys).open(st.cgroup ?? cgroupName(id))?.pids() ?? [st.pid] : [st.pid];
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

/** `box delete [--force] ID`: a stopped container's state and cgroup; --force kills a live one first. */
export async function deleteContainer(sys: Sys, root: string, id: string, force: boolean): Promise<void> {
  const st = readOciState(root, id);
  if (st.status !== 'stopped' && st.status !== 'created' && !force) {
    throw new UserError(`cannot delete container "${id}": it is ${st.status}; stop it first or use --force`);
  }
  const cg = detectCgroups(sys).open(st.cgroup ?? cgroupName(id));
  if (cg) {
    cg.killAll();
    cg.destroy();
  }
  // The monitor (box-init's parent) goes with it: PR_SET_PDEATHSIG takes box-init down too.
  if (st.monitorPid && st.status !== 'stopped') {
    try {
      process.kill(st.monitorPid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  fs.rmSync(containerDir(root, id), { recursive: true, force: true });
}

export { readOciState };
