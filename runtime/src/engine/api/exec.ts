// /containers/{id}/exec, /exec/{id}/start, /exec/{id}/json: another process in a running
// container (container/exec.ts joins its namespaces and cgroup). `docker exec` creates the
// exec, starts it on a hijacked connection that carries its output (stdout as stream 1,
// stderr as stream 2, stdcopy-framed), then reads its exit code from /exec/{id}/json.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import type net from 'node:net';
import { execInContainer } from '../../container/exec.ts';
import { isPaused } from '../../container/pause.ts';
import type { Pty } from '../../container/pty.ts';
import { realSys } from '../../sys/sys.ts';
import { nullTrace } from '../../sys/trace.ts';
import { frame } from './attach.ts';
import { find } from './containers.ts';
import { emitEvent } from './events.ts';
import { ApiError, apiError, send, type Route } from './http.ts';

interface ExecRecord {
  id: string;
  container: string;
  cmd: string[];
  env: string[];
  workdir?: string;
  user?: string;
  /** AttachStdin (docker exec -i): the hijacked connection's input becomes the process's stdin. */
  stdin: boolean;
  /** Tty (docker exec -t): a pty of its own, raw bytes both ways, resizable. */
  tty: boolean;
  pty?: Pty | null;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

/** Execs by id; forgotten a minute after they end (dockerd keeps them while the container lives). */
const execs = new Map<string, ExecRecord>();

export const execRoutes: Route[] = [
  ['POST', /^\/containers\/([^/]+)\/exec$/, async ({ res, params, json }) => {
    const s = find(params[0]);
    const b = await json<{ Cmd?: string[]; Env?: string[]; WorkingDir?: string; User?: string; Tty?: boolean; AttachStdin?: boolean }>();
    if (!b.Cmd?.length) throw new ApiError(400, 'No exec command specified');
    if (s.status !== 'running') throw new ApiError(409, `Container ${s.id} is not running`);
    if (isPaused(s)) throw new ApiError(409, `Container ${s.id} is paused, unpause the container before exec`);
    const id = randomBytes(32).toString('hex');
    execs.set(id, { id, container: s.id, cmd: b.Cmd, env: b.Env ?? [], workdir: b.WorkingDir || undefined, user: b.User || undefined, stdin: !!b.AttachStdin, tty: !!b.Tty, running: false, exitCode: null, pid: 0 });
    send(res, 201, { Id: id });
  }],
  ['POST', /^\/exec\/([^/]+)\/resize$/, ({ res, params, query }) => {
    const e = lookupExec(params[0]);
    const cols = Number(query.get('w')), rows = Number(query.get('h'));
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 65535 || rows > 65535) {
      throw new ApiError(400, 'resize needs h and w, whole numbers of rows and columns (1 to 65535)');
    }
    if (!e.pty) throw new ApiError(409, `exec ${e.id} has no terminal to resize (it was not made with -t, or it is not running)`);
    e.pty.resize(cols, rows);
    res.writeHead(200).end();
  }],
  ['GET', /^\/exec\/([^/]+)\/json$/, ({ res, params }) => {
    const e = lookupExec(params[0]);
    // ExitCode is an integer in the API's description: 0 until it has exited (Running says which).
    send(res, 200, {
      ID: e.id, Running: e.running, ExitCode: e.exitCode ?? 0, ContainerID: e.container, Pid: e.pid, CanRemove: false, OpenStdin: e.stdin,
      OpenStdout: true, OpenStderr: true, DetachKeys: '',
      ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: false, user: e.user ?? '' },
    });
  }],
  ['POST', /^\/exec\/([^/]+)\/start$/, async ({ res, params, json }) => {
    const b = await json<{ Detach?: boolean }>();
    const e = lookupExec(params[0]);
    if (!b.Detach) throw new ApiError(400, 'an attached exec start needs an upgraded connection (Connection: Upgrade, Upgrade: tcp)');
    await run(e, null);
    res.writeHead(200).end();
  }],
];

function lookupExec(id: string): ExecRecord {
  const e = execs.get(id);
  if (!e) throw new ApiError(404, `No such exec instance: ${id}`);
  return e;
}

/** Start the exec; with a socket, its output goes there and the socket ends once it has exited. */
async function run(e: ExecRecord, socket: net.Socket | null): Promise<void> {
  if (e.running || e.exitCode !== null) throw new ApiError(409, `exec ${e.id} has already been started`);
  const { running, exited, child, output } = await execInContainer(realSys(nullTrace), e.container, e.cmd, {
    interactive: false, tty: e.tty, env: e.env, workdir: e.workdir, user: e.user,
    stdio: [socket && e.stdin ? 'pipe' : 'ignore', socket ? 'pipe' : 'ignore', socket ? 'pipe' : 'ignore'],
  });
  // stdin is raw bytes on the hijacked connection (no framing that way). The client's
  // CloseWrite (a TCP/unix half-close: shutdown(SHUT_WR)) arrives as 'end', and closing the
  // pipe's write end gives the process end-of-file, so `cat` finishes.
  e.pty = running.pty;
  const pty = running.pty;
  if (socket && pty) {
    // A terminal: what the process writes comes raw from the master, what the client
    // types goes into it (the master reads EIO once the process and its children are gone).
    pty.master.on('error', () => {});
    pty.master.on('data', (d: Buffer) => socket.write(d));
    if (e.stdin) {
      socket.on('data', (d: Buffer) => { try { fs.writeSync(pty.masterFd, d); } catch { /* gone */ } });
      socket.resume(); // paused since its request body was read (http.ts)
    }
  }
  if (socket && child.stdin) {
    const stdin = child.stdin;
    stdin.on('error', () => {}); // the process may exit without reading all of it (EPIPE)
    socket.pipe(stdin);
  }
  e.running = true;
  e.pid = running.state.pid ?? 0;
  emitEvent('container', `exec_start: ${e.cmd.join(' ')}`, e.container, {});
  const drained = socket ? Promise.all([output.stdout, output.stderr].map((stream, i) => new Promise<void>((resolve) => {
    if (!stream) return resolve();
    stream.on('data', (d: Buffer) => socket.write(frame((i + 1) as 1 | 2, d)));
    stream.on('end', () => resolve());
    stream.on('error', () => resolve());
  }))) : Promise.resolve();
  const done = exited.then(async (code) => {
    await drained;
    if (e.pty) await new Promise((r) => setTimeout(r, 100)); // the last output still in the master
    e.pty?.close();
    e.pty = null;
    e.running = false;
    e.exitCode = code;
    emitEvent('container', 'exec_die', e.container, { exitCode: String(code) });
    setTimeout(() => execs.delete(e.id), 60_000).unref();
    socket?.end();
  });
  if (!socket) void done;
}

/** POST /exec/{id}/start on a hijacked connection (docker exec without -d). */
export function execStartUpgrade(_req: http.IncomingMessage, socket: net.Socket, id: string): void {
  socket.allowHalfOpen = true; // the client half-closes when it has no stdin to send
  let e: ExecRecord;
  try {
    e = lookupExec(id);
  } catch (err) {
    const x = apiError(err);
    const body = JSON.stringify({ message: x.message });
    return void socket.end(`HTTP/1.1 ${x.status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${e.tty ? 'raw' : 'multiplexed'}-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
  run(e, socket).catch((err) => {
    const x = apiError(err);
    socket.write(e.tty ? `${x.message}\r\n` : frame(2, Buffer.from(`${x.message}\n`)));
    e.exitCode = 126;
    socket.end();
  });
}
