// `box start` served by the engine: a stopped container that the engine keeps (a restart
// policy or a health check) starts again here, under the engine's supervisor, with the same
// configuration, id and writable layer (as `docker start`).

import { needsEngine, clearStoppedByHand, configForRestart } from '../container/restart.ts';
import type { RunConfig } from '../container/config.ts';
import { lookup } from '../container/state.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import type { Supervisor } from './supervisor.ts';

/** What to print (each name, as docker does), or null when a container is not the engine's to keep. */
export async function startCommandIn(supervisor: Supervisor, args: string[], trace: () => Trace): Promise<string | null> {
  const refs = args.filter((a) => !a.startsWith('-'));
  if (refs.length !== args.length || refs.length === 0) return null; // flags and mistakes: the CLI says what is wrong
  const states = refs.map(lookup);
  if (!states.every((s) => needsEngine(s.config as unknown as RunConfig, undefined))) return null;
  let said = '';
  for (const [i, s] of states.entries()) {
    if (s.status !== 'running') {
      if (s.status === 'created') throw new UserError(`container '${s.name}' is being started; try again`);
      clearStoppedByHand(s.id); // Docker's start forgets a stop by hand, and the restart count
      await supervisor.start(configForRestart(s), { ...s, restartCount: 0 }, trace());
    }
    said += `${refs[i]}\n`;
  }
  return said;
}
