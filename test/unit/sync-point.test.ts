// The sync points between box and box-init: one number each, declared twice (TypeScript in
// container/sync-point.ts, C in box-init.c). This reads the C enum and compares, so the two
// cannot drift; then it runs box-init (no namespaces, no root) through one stop.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyncPoint, SYNC_TEXT, syncPoint } from '../../runtime/src/init/sync-point.ts';
import { spawnInit } from '../../runtime/src/container/init-stage.ts';
import { Plan } from '../../runtime/src/init/plan.ts';
import { initSource } from '../../runtime/src/init/build.ts';
import { Trace } from '../../runtime/src/sys/trace.ts';

/** IdMap -> SYNC_ID_MAP: the C name of a TypeScript key. */
const cName = (key: string) => `SYNC_${key.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;

function cEnum(): Map<string, number> {
  const src = fs.readFileSync(initSource, 'utf8');
  const body = /enum sync_point \{([^}]*)\}/.exec(src)?.[1];
  if (!body) throw new Error('box-init.c has no enum sync_point');
  const entries = [...body.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/(\w+)\s*=\s*(\d+)/g)];
  return new Map(entries.map((m) => [m[1], Number(m[2])]));
}

describe('sync points', () => {
  it('box-init.c declares the same points with the same numbers as sync-point.ts', () => {
    const ts = new Map(Object.entries(SyncPoint).map(([k, v]) => [cName(k), v as number]));
    expect(cEnum()).toEqual(ts);
  });

  it('box-init accepts exactly the points from the first to the last (its range check names both)', () => {
    const src = fs.readFileSync(initSource, 'utf8');
    const values = Object.values(SyncPoint) as number[];
    const first = cName(Object.keys(SyncPoint)[values.indexOf(Math.min(...values))]);
    const last = cName(Object.keys(SyncPoint)[values.indexOf(Math.max(...values))]);
    expect(src).toContain(`p < ${first} || p > ${last}`);
    expect([...values].sort((a, b) => a - b)).toEqual(values.map((_, i) => i + 1)); // no gaps
  });

  it('every point has its words for the trace, and only known numbers name a point', () => {
    for (const p of Object.values(SyncPoint)) expect(SYNC_TEXT[p]).toMatch(/^box /);
    expect(syncPoint(SyncPoint.Leaf)).toBe(SyncPoint.Leaf);
    expect(syncPoint(0)).toBeUndefined();
    expect(syncPoint(99)).toBeUndefined();
  });

  it('a plan carries the number, and box-init reports it back: onSync gets the typed point', async () => {
    const plan = new Plan().sync(SyncPoint.Cgroup).sync(SyncPoint.JoinCgroup).exec('/bin/true', ['true']);
    expect(plan.ops[0].args).toEqual(['sync', String(SyncPoint.Cgroup)]);
    const seen: SyncPoint[] = [];
    const trace = new Trace();
    const init = spawnInit({ plan, trace, stdio: ['ignore', 'ignore', 'ignore'], onSync: (_pid, p) => { seen.push(p); } });
    await init.started;
    await new Promise((r) => init.child.once('close', r));
    expect(seen).toEqual([SyncPoint.Cgroup, SyncPoint.JoinCgroup]);
    expect(trace.events.filter((e) => e.kind === 'note').map((e) => (e as { text: string }).text)).toEqual([
      `spawn box-init (fork + execve): pid ${init.child.pid}`, // Sys.spawn says when it starts
      `sync: ${SYNC_TEXT[SyncPoint.Cgroup]}`, `sync: ${SYNC_TEXT[SyncPoint.JoinCgroup]}`,
    ]);
  });

  it('box-init refuses a sync point it does not know, before waiting', async () => {
    const plan = new Plan().exec('/bin/true', ['true']);
    plan.ops.unshift({ args: ['sync', '42'], call: 'sync', text: 'not a point' });
    const init = spawnInit({ plan, trace: new Trace(), stdio: ['ignore', 'ignore', 'ignore'] });
    await expect(init.started).rejects.toThrow(/container setup failed: .*EINVAL/);
  });
});
