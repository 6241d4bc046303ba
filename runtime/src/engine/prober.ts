// The engine's health prober: every interval, the container's health check runs inside it as
// a `box exec` does (container/exec.ts: box-init joins its namespaces and its cgroup), and its
// exit code and output go into state.json (State.Health in `box inspect`, "(healthy)" in
// `box ps`). dockerd's health monitor does the same with an exec through containerd.

import { execInContainer } from '../container/exec.ts';
import {
  applyProbe, intervalMs, MAX_OUTPUT, probeCommand, timeoutMs, type Healthcheck, type ProbeResult,
} from '../container/health.ts';
import { readState, updateState } from '../container/state.ts';
import { realSys } from '../sys/sys.ts';
import { nullTrace } from '../sys/trace.ts';

export class Prober {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private current: { kill(): void } | null = null;
  private readonly id: string;
  private readonly hc: Healthcheck;

  constructor(id: string, hc: Healthcheck) {
    this.id = id;
    this.hc = hc;
  }

  /** The first probe comes one interval after the start, as in Docker. */
  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.current?.kill();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.probeOnce().catch((err) => console.error(`${new Date().toISOString()} probe of ${this.id.slice(0, 12)}: ${(err as Error)?.message ?? err}`))
        .finally(() => this.schedule());
    }, intervalMs(this.hc));
  }

  private async probeOnce(): Promise<void> {
    const before = readState(this.id);
    if (!before || before.status !== 'running' || !before.health) return;
    const result = await this.run();
    if (this.stopped) return; // the container exited meanwhile: its next start begins afresh
    const s = readState(this.id);
    if (!s || s.status !== 'running' || !s.health || s.pid !== before.pid) return;
    updateState(this.id, { health: applyProbe(s.health, result, this.hc, s.started ?? s.created) });
  }

  /** One probe: its exit code and the first 4 KiB of its output; killed (and failed) at the timeout. */
  private async run(): Promise<ProbeResult> {
    const Start = new Date().toISOString();
    const done = (ExitCode: number, Output: string): ProbeResult => ({ Start, End: new Date().toISOString(), ExitCode, Output });
    let probe;
    try {
      probe = await execInContainer(realSys(nullTrace), this.id, probeCommand(this.hc), {
        interactive: false, tty: false, env: [], stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      return done(-1, `the probe did not start: ${(err as Error).message}`);
    }
    const closed = new Promise((resolve) => probe.child.once('close', resolve));
    let output = '';
    const take = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output += d.toString('utf8');
    };
    probe.output.stdout?.on('data', take);
    probe.output.stderr?.on('data', take);
    const pid = probe.running.state.pid;
    // The exec'd process is the probe; box-init (its parent) exits with it.
    const kill = () => {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      probe.child.kill('SIGKILL');
    };
    this.current = { kill };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs(this.hc));
    const code = await probe.exited;
    clearTimeout(timer);
    // The rest of its output; a process it left in the background may hold the pipe open.
    await Promise.race([closed, new Promise((r) => setTimeout(r, 100))]);
    this.current = null;
    // As Docker: a probe that overruns is killed and counts as a failure (exit code -1).
    if (timedOut) return done(-1, `Health check exceeded timeout (${timeoutMs(this.hc) / 1000}s)`);
    return done(code, output.slice(0, MAX_OUTPUT));
  }
}
