// `box start`, `box wait`: a stopped container started again with the same configuration
// (id, name, writable layer), and waiting for containers to stop.
// A container the engine keeps (a restart policy, a health check) starts in the engine;
// any other gets a detached monitor, as `box run -d` does.

import type { RunConfig } from '../container/config.ts';
import { clearStoppedByHand, configForRestart, needsEngine } from '../container/restart.ts';
import { lookup } from '../container/state.ts';
import { waitForContainer } from '../container/wait.ts';
import { UserError } from '../sys/errors.ts';
import { runDetached } from './run-command.ts';

/** Start one stopped container. False when the engine did, and printed its name already. */
export async function startOne(ref: string): Promise<boolean> {
  const s = lookup(ref);
  if (s.status === 'running') return true; // as docker: nothing to do
  if (s.status === 'created') throw new UserError(`container '${s.name}' is being started; try again`);
  const cfg = configForRestart(s);
  const why = needsEngine(s.config as unknown as RunConfig, undefined);
  if (why) {
    const code = await (await import('../engine/control.ts')).runThroughEngine(['start', ref], why);
    if (code !== 0) throw new UserError(`container '${s.name}' did not start`, code);
    return false;
  }
  clearStoppedByHand(s.id);
  await runDetached(cfg, s.id);
  return true;
}

export async function startCommand(_opts: Record<string, unknown>, args: string[]): Promise<number> {
  if (!args.length) throw new UserError(`'box start' needs a container; usage: box start CONTAINER...`);
  for (const ref of args) {
    if (await startOne(ref)) process.stdout.write(`${ref}\n`);
  }
  return 0;
}

/** `box wait`: block until each container stops, and print its exit code. */
export async function waitCommand(_opts: Record<string, unknown>, args: string[]): Promise<number> {
  if (!args.length) throw new UserError(`'box wait' needs a container; usage: box wait CONTAINER...`);
  for (const ref of args) {
    const s = await waitForContainer(ref, 'exited');
    process.stdout.write(`${s.exitCode}\n`);
  }
  return 0;
}
