// The engine's supervisor: the containers the engine keeps, as dockerd keeps its own. It
// starts them (`box run -d` with a restart policy or a health check, `box start`), sees each
// exit, applies the restart policy with Docker's back-off (container/restart.ts), runs the
// health probes (prober.ts), starts the right ones again when the engine starts, and stops
// them all when the engine stops.
//
// How this maps onto Docker: dockerd's container monitor (daemon/monitor.go) gets the exit
// from containerd, asks the container's restart manager, waits, and starts the same
// container again; containerd and its shim only run the process and report its exit. Here
// box-init is the shim (it holds PID 1), and this file is dockerd's monitor. dockerd without
// live-restore stops its containers when it stops and restores them at its start; so does
// the engine. A container's writable layer and its id survive a restart, as in Docker.

import { startContainer, type Running } from '../container/run.ts';
import type { RunConfig } from '../container/config.ts';
import { reapStale } from '../container/cleanup.ts';
import {
  clearStoppedByHand, configForRestart, nextDelay, NO_RESTART, shouldRestart, startsWithEngine, stoppedByHand,
} from '../container/restart.ts';
import { listIds, readState, updateState, type ContainerState, type Status } from '../container/state.ts';
import type { Healthcheck } from '../container/health.ts';
import { serveInvocation, type Invocation } from '../sys/invocation.ts';
import { realSys } from '../sys/sys.ts';
import { nullTrace, Trace } from '../sys/trace.ts';
import { Prober } from './prober.ts';

/** How long a container may take to stop on SIGTERM when the engine stops (dockerd's default is 10 s). */
const SHUTDOWN_GRACE_MS = 2_000;
/** How often a container waiting out its back-off checks for `box stop` (a file, see restart.ts). */
const STOP_POLL_MS = 100;

/** Restarts happen outside any client's request: their messages go to the engine's log. */
const engineItself: Invocation = {
  env: process.env,
  stderr: (text) => void process.stderr.write(`${new Date().toISOString()} ${text}`),
  stderrIsTTY: false,
  terminalSize: () => null,
};

const log = (text: string) => console.error(`${new Date().toISOString()} ${text}`);

/** The client's stdio for an attached first run (engine/daemon.ts `run`). */
export interface Attached {
  stdio: Parameters<typeof startContainer>[2];
  takeConsole?: Parameters<typeof startContainer>[3];
}

interface Kept {
  running: Running | null;
  prober: Prober | null;
  /** The last back-off, for the next one (0: none yet). */
  delayMs: number;
  backoff: NodeJS.Timeout | null;
}

export class Supervisor {
  private readonly kept = new Map<string, Kept>();
  private stopping = false;

  /**
   * Start a container the engine keeps: a new one (`box run -d`), or one again (`box start`, a
   * restart). `attached`: `box run --restart` without -d, its first run on the client's
   * stdio (or terminal); the restarts after it write to the log, as Docker's do.
   */
  async start(cfg: RunConfig, again?: ContainerState, trace: Trace = nullTrace, stdin = false, attached?: Attached): Promise<Running> {
    if (again) this.cancelBackoff(again.id);
    if (again && !again.restartCount) this.kept.delete(again.id); // `box start`: the back-off starts over too
    const running = await startContainer(realSys(trace), cfg, attached?.stdio ?? (stdin ? 'log+stdin' : 'log'), attached?.takeConsole, {
      again, nextStatus: (s, code) => this.nextStatus(s, code),
    });
    this.keep(running);
    return running;
  }

  /** A container the engine runs in the foreground for a client: only its health is kept. */
  watchHealth(running: Running): void {
    const hc = running.state.config.healthcheck as Healthcheck | undefined;
    if (!hc) return;
    const prober = new Prober(running.state.id, hc);
    prober.start();
    running.exited.finally(() => prober.stop());
  }

  private keep(running: Running): void {
    const id = running.state.id;
    const k = this.kept.get(id) ?? { running: null, prober: null, delayMs: 0, backoff: null };
    this.kept.set(id, k);
    k.running = running;
    const hc = running.state.config.healthcheck as Healthcheck | undefined;
    k.prober = hc ? new Prober(id, hc) : null;
    serveInvocation(engineItself, () => k.prober?.start()); // probes belong to no client's request
    // Started, and `box stop` came meanwhile (it found no process to signal): stop it now.
    if (stoppedByHand(id) && running.state.pid) this.signal(running, 'SIGTERM');
    running.exited.then(() => serveInvocation(engineItself, () => this.exited(id, running)), (err) => log(`${id.slice(0, 12)}: ${err}`));
  }

  /** Called as the container exits, before its status is written: restart it, or is it done? */
  private nextStatus(s: ContainerState, exitCode: number): Status {
    if (this.stopping) return 'exited';
    const policy = (s.config as unknown as RunConfig).restart ?? NO_RESTART;
    return shouldRestart(policy, exitCode, stoppedByHand(s.id), s.restartCount ?? 0) ? 'restarting' : 'exited';
  }

  private exited(id: string, running: Running): void {
    const k = this.kept.get(id);
    if (!k || k.running !== running) return;
    k.prober?.stop();
    k.prober = null;
    k.running = null;
    const s = readState(id);
    if (!s || s.status !== 'restarting') {
      this.kept.delete(id);
      return;
    }
    const ran = Date.parse(s.finished ?? '') - Date.parse(s.started ?? s.created);
    k.delayMs = nextDelay(k.delayMs, ran);
    const count = (s.restartCount ?? 0) + 1; // counted now, as dockerd does, shown during the wait
    updateState(id, { restartCount: count });
    log(`${s.name}: exited ${s.exitCode}; restart ${count} in ${k.delayMs} ms`);
    this.waitThenRestart(id, k, Date.now() + k.delayMs);
  }

  /** Wait out the back-off, checking for `box stop` and `box rm`, then start it again. */
  private waitThenRestart(id: string, k: Kept, at: number): void {
    k.backoff = setTimeout(() => {
      k.backoff = null;
      if (this.stopping) return;
      const s = readState(id);
      if (!s || s.status !== 'restarting') return void this.kept.delete(id); // removed, or started by hand
      if (stoppedByHand(id)) {
        updateState(id, { status: 'exited' });
        return void this.kept.delete(id);
      }
      if (Date.now() < at) return this.waitThenRestart(id, k, at);
      this.start(configForRestart(s), s).catch((err) => {
        log(`${s.name}: restart failed: ${(err as Error)?.message ?? err}`);
        this.kept.delete(id);
      });
    }, Math.min(STOP_POLL_MS, Math.max(0, at - Date.now())));
  }

  private cancelBackoff(id: string): void {
    const k = this.kept.get(id);
    if (k?.backoff) clearTimeout(k.backoff);
    if (k) k.backoff = null;
  }

  private signal(running: Running, sig: NodeJS.Signals): void {
    try {
      if (running.state.pid) process.kill(running.state.pid, sig);
    } catch {
      /* gone */
    }
  }

  /**
   * At the engine's start (dockerd's restore): the containers a previous engine kept died
   * with it (box-init's PR_SET_PDEATHSIG); start again those whose policy says so.
   */
  async restore(): Promise<void> {
    reapStale(realSys(nullTrace)); // marks them exited: their engine is gone
    for (const id of listIds()) {
      const s = readState(id);
      const policy = (s?.config as unknown as RunConfig | undefined)?.restart;
      if (!s || s.status !== 'exited' || !policy) continue;
      if (!startsWithEngine(policy, s.exitCode, stoppedByHand(id), s.restartCount ?? 0)) continue;
      clearStoppedByHand(id);
      try {
        await serveInvocation(engineItself, () => this.start(configForRestart(s), { ...s, restartCount: 0 }));
        log(`${s.name}: started again (restart policy ${policy.name})`);
      } catch (err) {
        log(`${s.name}: could not start again: ${(err as Error)?.message ?? err}`);
      }
    }
  }

  /** At the engine's stop: no more restarts; SIGTERM, then SIGKILL after a grace period. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const exits: Promise<unknown>[] = [];
    for (const [id, k] of this.kept) {
      if (k.backoff) {
        clearTimeout(k.backoff);
        updateState(id, { status: 'exited' }); // it was waiting to restart: it is stopped now
      }
      k.prober?.stop();
      if (k.running) {
        const running = k.running;
        this.signal(running, 'SIGTERM');
        const timer = setTimeout(() => {
          this.signal(running, 'SIGKILL');
          try {
            running.cgroup?.killAll();
          } catch {
            /* being removed */
          }
        }, SHUTDOWN_GRACE_MS);
        exits.push(running.exited.finally(() => clearTimeout(timer)));
      }
    }
    await Promise.allSettled(exits);
  }

  get size(): number {
    return [...this.kept.values()].filter((k) => k.running).length;
  }
}
