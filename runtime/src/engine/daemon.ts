// The box engine: a long-lived box that starts containers for box-client, as dockerd does
// for `docker`. Started by `box engine start` (engine/control.ts), it listens on
// $BOX_ROOT/engine.sock and serves `box run` in the foreground and `box exec`, the commands
// the course runs most; everything else the client hands back to the ordinary CLI ("fallback").
//
// Why it is faster: the engine has paid once for what every box process pays at its start
// (Node itself, loading and compiling box, the first cgroup migration's wait), so a run
// costs only its own work: the overlay, the cgroup, box-init's plan, the exit. The work is
// the same code as the CLI's (container/run.ts); only the caller's environment, terminal and
// messages come from the request (sys/invocation.ts) instead of from this process.
//
// It also keeps containers (supervisor.ts): `box run -d` with a restart policy or a health
// check, and `box start` of one, are served here, because something must watch the container
// after the client has gone; restarts and health probes then happen in this process.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execConfigFrom, runConfigFrom, oomNotice } from '../container/run-flags.ts';
import { execInContainer } from '../container/exec.ts';
import { startContainer } from '../container/run.ts';
import type { RunConfig } from '../container/config.ts';
import { needsEngine } from '../container/restart.ts';
import { resolveImage } from '../image/index.ts';
import { boxRoot } from '../image/paths.ts';
import { UserError } from '../sys/errors.ts';
import { serveInvocation, type Invocation } from '../sys/invocation.ts';
import { realSys } from '../sys/sys.ts';
import { Trace } from '../sys/trace.ts';
import { copyFds } from '../sys/pidfd.ts';
import { peerOf } from './peer.ts';
import { Supervisor } from './supervisor.ts';
import { startCommandIn } from './start.ts';
import { MAX_REQUEST, parseRequest, sayLines, type Request } from './protocol.ts';
import { apiServer, looksLikeHttp, serveHttp, useApiSupervisor } from './api/index.ts';

export const engineSocket = () => path.join(boxRoot(), 'engine.sock');
export const enginePidFile = () => path.join(boxRoot(), 'engine.pid');

/** Variables that change what box does: a client whose differ is served by the CLI instead. */
const ENGINE_ENV = ['BOX_ROOT', 'BOX_CGROUP_PARENT', 'BOX_BUSYBOX'];

/** A process the engine started for a client: a container's first process, or an exec'd one. */
interface Target {
  kill(signal: NodeJS.Signals | number): void;
  exited: Promise<number>;
}

interface Stats {
  since: Date;
  served: number;
  running: Set<Target>;
  /** The containers the engine keeps: restart policies and health checks. */
  supervisor: Supervisor;
}

/** Serve until SIGTERM or SIGINT. `ready` is called once the socket accepts connections. */
export async function serveEngine(ready: () => void): Promise<void> {
  const stats: Stats = { since: new Date(), served: 0, running: new Set(), supervisor: new Supervisor() };
  useApiSupervisor(stats.supervisor);
  const sock = engineSocket();
  fs.mkdirSync(boxRoot(), { recursive: true, mode: 0o711 });
  fs.rmSync(sock, { force: true }); // a stale socket: control.ts made sure no engine answers it

  const server = net.createServer((conn) => handle(conn, stats));
  // 0600 from birth (umask, not a chmod afterwards): only root may connect, because whoever
  // connects gets containers started for them as root.
  const umask = process.umask(0o177);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, resolve);
  });
  process.umask(umask);
  fs.writeFileSync(enginePidFile(), `${process.pid}\n`, { mode: 0o600 });
  console.error(`${new Date().toISOString()} engine ${process.pid} listening on ${sock}`);
  await stats.supervisor.restore(); // as dockerd at its start: `always` containers run again
  ready();

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      console.error(`${new Date().toISOString()} ${sig}: stopping ${stats.running.size} container(s)`);
      server.close();
      apiServer.close();
      fs.rmSync(sock, { force: true });
      fs.rmSync(enginePidFile(), { force: true });
      // The containers' first stage dies with us anyway (PR_SET_PDEATHSIG); kill them first
      // so that each is cleaned up (cgroup, overlay, state) and its client told why.
      for (const r of stats.running) r.kill('SIGKILL');
      const kept = stats.supervisor.shutdown();
      Promise.allSettled([...[...stats.running].map((r) => r.exited), kept]).then(() => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** Signal `pid`, or kill `child` (box-init) while there is no pid yet. */
function signalProcess(pid: number | null, child: ChildProcess | null, sig: NodeJS.Signals | number): void {
  try {
    if (pid) process.kill(pid, sig);
    else child?.kill('SIGKILL');
  } catch {
    /* gone already */
  }
}

/** One connection: read the request, then serve it or send the client back to the CLI. */
function handle(conn: net.Socket, stats: Stats): void {
  let buf = Buffer.alloc(0);
  let session: Session | null = null;
  let refused = false;
  conn.on('error', () => {}); // a client that vanished: 'close' follows
  const onData = (chunk: Buffer) => {
    if (refused) return; // the rest of an oversized request: read and dropped
    if (session) return session.input(chunk);
    buf = Buffer.concat([buf, chunk]);
    // The same socket speaks the Docker Engine API (api/): an HTTP request line, not "box-engine 1".
    const http = looksLikeHttp(buf);
    if (http === null) return;
    if (http) {
      conn.off('data', onData); // by reference: removeAllListeners would also cut the stream's flow
      // Root only, as for box-client: the kernel says who connected (SO_PEERCRED).
      if (peerOf(conn).uid !== 0) return void conn.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"message":"only root may use box\'s engine"}\n');
      return serveHttp(conn, buf);
    }
    if (buf.length > MAX_REQUEST) {
      // A command line or environment this large is the CLI's to judge (it says what is too
      // big in one line): send the client back to it rather than drop the connection.
      console.error(`${new Date().toISOString()} request over ${MAX_REQUEST} bytes: fallback`);
      conn.end('fallback\n');
      refused = true;
      return;
    }
    let parsed;
    try {
      parsed = parseRequest(buf);
    } catch (err) {
      console.error(`${new Date().toISOString()} bad request: ${(err as Error).message}`);
      conn.destroy();
      return;
    }
    if (!parsed) return;
    session = new Session(conn, parsed.request, stats);
    const rest = buf.subarray(parsed.length);
    if (rest.length) session.input(rest);
    session.serve().catch((err) => console.error(`${new Date().toISOString()} ${err?.stack ?? err}`));
  };
  conn.on('data', onData);
}

class Session {
  private lines = '';
  private pendingSignals: number[] = [];
  private target: Target | null = null;
  private gotTerminal: (() => void) | null = null;
  private closed = false;
  private readonly closedPromise: Promise<void>;
  private readonly conn: net.Socket;
  private readonly req: Request;
  private readonly stats: Stats;

  constructor(conn: net.Socket, req: Request, stats: Stats) {
    this.conn = conn;
    this.req = req;
    this.stats = stats;
    this.closedPromise = new Promise((resolve) => conn.once('close', () => {
      this.closed = true;
      // The client is gone (killed, or its terminal closed) before the container exited: as
      // a foreground `box run` would, the container goes with it.
      this.target?.kill('SIGKILL');
      resolve();
    }));
  }

  input(chunk: Buffer): void {
    this.lines += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.lines.indexOf('\n')) >= 0) {
      const line = this.lines.slice(0, nl);
      this.lines = this.lines.slice(nl + 1);
      if (line === 'got') this.gotTerminal?.();
      else if (/^sig \d{1,2}$/.test(line)) this.signal(Number(line.slice(4)));
    }
  }

  private signal(n: number): void {
    if (this.target) this.target.kill(n);
    else this.pendingSignals.push(n); // not started yet: deliver once it is
  }

  private send(text: string): void {
    if (!this.closed) this.conn.write(text);
  }

  private finish(code: number): void {
    this.send(`exit ${code}\n`);
    this.conn.end();
  }

  async serve(): Promise<void> {
    const peer = peerOf(this.conn);
    let argv = [...this.req.argv];
    let echo = false;
    if (argv[0] === '--trace') {
      echo = true;
      argv = argv.slice(1);
    }
    const sameEnv = ENGINE_ENV.every((k) => (this.req.env[k] ?? '') === (process.env[k] ?? ''));
    // `box engine status` (control.ts) asks this way; its answer goes to the CLI, not to a terminal.
    if (argv[0] === '__engine' && argv[1] === 'status' && argv.length === 2) return this.status();
    // Root only (the socket is 0600; this is the second lock). `run -d` stays with the CLI:
    // its monitor process is what `box logs` and `box stop` know.
    const served = ['run', 'exec', 'start', '__run-kept'].includes(argv[0]);
    // A help flag is box's only before the image or container (`box run busybox httpd -h /www`:
    // the -h is httpd's), as the CLI reads it (cli/commands.ts afterCommand).
    const words = argv.slice(1);
    const first = words.findIndex((a) => !a.startsWith('-'));
    const help = words.some((a, i) => (a === '--help' || a === '-h') && (first < 0 || i < first));
    if (peer.uid !== 0 || !sameEnv || !served || help) {
      return void this.send('fallback\n');
    }
    const inv: Invocation = {
      env: this.req.env,
      cwd: this.req.cwd,
      stderr: (text) => this.send(sayLines(text)),
      stderrIsTTY: this.req.stderrIsTTY,
      terminalSize: () => (this.req.stdoutIsTTY && this.req.cols ? { cols: this.req.cols, rows: this.req.rows } : null),
    };
    const trace = () => new Trace({
      echo,
      sinkPath: this.req.env.BOX_TRACE_FILE,
      command: ['box', ...this.req.argv],
      invocation: `${peer.pid}-${Date.now()}`,
    });
    const serve = { run: this.run, exec: this.exec, start: this.start, '__run-kept': this.runConfig }[argv[0] as 'run'].bind(this);
    await serveInvocation(inv, () => serve(argv.slice(1), trace, peer.pid));
  }

  private async run(args: string[], trace: () => Trace, client: number): Promise<void> {
    let fds: number[] = [];
    try {
      const cfg = runConfigFrom(args);
      // -d stays with the CLI (its monitor process), unless the container needs the engine.
      if (cfg.detach) {
        if (!needsEngine(cfg, resolveImage(cfg.image).config.Healthcheck)) return void this.send('fallback\n');
        return await this.runKept(cfg, trace(), client);
      }
      this.stats.served++;
      fds = this.clientStdio(client, cfg.tty, cfg.interactive);
      const stdio = cfg.tty ? [] : cfg.interactive ? fds : ['ignore' as const, ...fds];
      const takeConsole = (pid: number, fd: number) => this.handOver(pid, fd);
      // A restart policy without -d (Docker allows it): the client stays with the first run
      // and exits with its status; the supervisor keeps the policy and restarts it, logged.
      const kept = cfg.restart && cfg.restart.name !== 'no';
      const running = kept
        ? await this.stats.supervisor.start(cfg, undefined, trace(), false, { stdio, takeConsole })
        : await startContainer(realSys(trace()), cfg, stdio, takeConsole);
      fds = this.closeAll(fds);
      if (!kept) this.stats.supervisor.watchHealth(running);
      const code = await this.follow({ kill: (sig) => signalProcess(running.state.pid, running.child, sig), exited: running.exited });
      if (running.state.oomKilled) this.send(sayLines(oomNotice(cfg.memoryBytes)));
      this.finish(code);
    } catch (err) {
      this.closeAll(fds);
      this.fail(err);
    }
  }

  /** `box run -d` of a container the engine keeps (a restart policy, a health check): the id on the client's stdout. */
  private async runKept(cfg: RunConfig, trace: Trace, client: number): Promise<void> {
    this.stats.served++;
    const running = await this.stats.supervisor.start(cfg, undefined, trace);
    this.toStdout(client, `${running.state.id}\n`);
    this.finish(0);
  }

  /** A RunConfig as JSON (control.ts runKeptInEngine, for `box compose`): run -d, kept here. */
  private async runConfig(args: string[], trace: () => Trace, client: number): Promise<void> {
    try {
      if (args.length !== 1) throw new UserError('__run-kept takes one RunConfig as JSON');
      await this.runKept({ ...(JSON.parse(args[0]) as RunConfig), detach: true, interactive: false, tty: false }, trace(), client);
    } catch (err) {
      this.fail(err);
    }
  }

  /** `box start`: containers the engine keeps start here; any other, with the CLI. */
  private async start(args: string[], trace: () => Trace, client: number): Promise<void> {
    try {
      const said = await startCommandIn(this.stats.supervisor, args, trace);
      if (said === null) return void this.send('fallback\n');
      this.stats.served++;
      this.toStdout(client, said);
      this.finish(0);
    } catch (err) {
      this.fail(err);
    }
  }

  private toStdout(client: number, text: string): void {
    const [out] = copyFds(client, [1]);
    try {
      fs.writeSync(out, text);
    } finally {
      fs.closeSync(out);
    }
  }

  /** `box exec`: another process in a running container, the client's stdio or terminal. */
  private async exec(args: string[], trace: () => Trace, client: number): Promise<void> {
    let fds: number[] = [];
    try {
      const { ref, command, opts } = execConfigFrom(args);
      this.stats.served++;
      fds = this.clientStdio(client, opts.tty, opts.interactive);
      const stdio = opts.interactive ? fds : ['ignore' as const, ...fds];
      const { running, exited } = await execInContainer(realSys(trace()), ref, command, {
        ...opts, stdio, takeConsole: (pid, fd) => this.handOver(pid, fd),
      });
      fds = this.closeAll(fds);
      this.finish(await this.follow({ kill: (sig) => signalProcess(running.state.pid, null, sig), exited }));
    } catch (err) {
      this.closeAll(fds);
      this.fail(err);
    }
  }

  /** Copies of the client's fds 0, 1, 2 (1 and 2 only without -i): the process's own stdio. */
  private clientStdio(client: number, tty: boolean, interactive: boolean): number[] {
    return tty ? [] : copyFds(client, interactive ? [0, 1, 2] : [1, 2]);
  }

  private closeAll(fds: number[]): number[] {
    for (const fd of fds) fs.closeSync(fd);
    return [];
  }

  /** Wait for the process, forwarding the client's signals; a client that is gone takes it along. */
  private async follow(target: Target): Promise<number> {
    this.target = target;
    this.stats.running.add(target);
    if (this.closed) target.kill('SIGKILL');
    for (const n of this.pendingSignals.splice(0)) target.kill(n);
    try {
      return await target.exited;
    } finally {
      this.stats.running.delete(target);
    }
  }

  private fail(err: unknown): void {
    if (err instanceof UserError) {
      this.send(sayLines(`box: ${err.message}`));
      return this.finish(err.exitCode);
    }
    console.error(`${new Date().toISOString()} ${(err as Error)?.stack ?? err}`);
    this.send(sayLines(`box: ${String((err as Error)?.message ?? err).split('\n')[0]}`));
    this.finish(125);
  }

  /** `-it`: the client takes the terminal's master out of box-init, which waits meanwhile. */
  private handOver(pid: number, fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.gotTerminal = resolve;
      this.closedPromise.then(() => reject(new UserError('the client went away before it took the terminal')));
      this.send(`pty ${pid} ${fd}\n`);
    });
  }

  private status(): void {
    const up = Math.round((Date.now() - this.stats.since.getTime()) / 1000);
    this.send(sayLines([
      `engine: running, pid ${process.pid}, up ${up} s, node ${process.versions.node}`,
      `socket: ${engineSocket()}`,
      `containers: ${this.stats.running.size} running, ${this.stats.served} served`,
      `kept: ${this.stats.supervisor.size} (restart policies, health checks)`,
    ].join('\n')));
    this.finish(0);
  }
}
