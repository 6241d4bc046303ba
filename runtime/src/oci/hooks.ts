// A bundle's hooks (config.json "hooks"): programs the runtime runs at fixed points of the
// lifecycle (the runtime spec's runtime.md), each given the container's state as JSON on its
// stdin. Engines use them to set up what the runtime does not know about (a network, a GPU).
//
//   prestart, createRuntime  box create, after the namespaces exist and before pivot_root, in
//                            the host's namespaces (prestart is the older name of the same point)
//   createContainer          the same point, inside the container's namespaces
//   startContainer           box start, inside the container, before its process execs
//   poststart                box start, after the process runs, before start returns
//   poststop                 box delete, after the container is gone
//
// A failing hook fails its command and the container is stopped (runtime.md's lifecycle, as
// runc); only a failing poststop hook is a warning, the container being gone already. A hook that runs
// longer than its "timeout" (seconds) is killed and counts as failed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Plan } from '../init/plan.ts';
import { spawnInit } from '../container/init-stage.ts';
import { joinNamespaces } from './join.ts';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export type HookPoint = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
export const HOOK_POINTS: HookPoint[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];
export type Hooks = Partial<Record<HookPoint, OciHook[]>>;

/** What a hook reads on stdin: the spec's state. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: string;
  pid: number;
  bundle: string;
  annotations: Record<string, string>;
}

/** config.json's hooks, checked: each a known point, with an absolute path and a positive timeout. */
export function readHooks(file: string, hooks: Record<string, unknown> | undefined): Hooks {
  const out: Hooks = {};
  for (const [point, list] of Object.entries(hooks ?? {})) {
    if (!HOOK_POINTS.includes(point as HookPoint)) throw new UserError(`${file}: unknown hook point '${point}'; use one of ${HOOK_POINTS.join(', ')}`);
    if (!Array.isArray(list)) throw new UserError(`${file}: hooks.${point} must be a list of {"path": ...}`);
    out[point as HookPoint] = list.map((h: OciHook, i) => {
      if (typeof h?.path !== 'string' || !h.path.startsWith('/')) throw new UserError(`${file}: hooks.${point}[${i}].path must be an absolute path`);
      if (h.timeout !== undefined && !(Number.isInteger(h.timeout) && h.timeout > 0)) throw new UserError(`${file}: hooks.${point}[${i}].timeout must be a whole number of seconds above 0`);
      return { path: h.path, args: h.args, env: h.env, timeout: h.timeout };
    });
  }
  return out;
}

/**
 * Run a point's hooks one after the other. `inside`: the host pid of a process in the
 * container, whose namespaces the hooks enter (box-init joins them and forks into its PID
 * namespace, as for `box exec`). Throws on the first one that fails.
 */
export async function runHooks(point: HookPoint, hooks: Hooks, state: HookState, trace: Trace, inside?: number): Promise<void> {
  for (const [i, h] of (hooks[point] ?? []).entries()) {
    const what = `${point} hook ${i} (${h.path})`;
    trace.record({ kind: 'note', text: `running the ${what}${inside ? ' in the container\'s namespaces' : ''}` }, 'oci');
    // The spec: a hook inside the container is given the pid as the container sees it.
    const given = inside ? { ...state, pid: pidInside(inside) } : state;
    const child = inside ? enterAndRun(h, inside, trace) : spawn(h.path, (h.args ?? [h.path]).slice(1), {
      argv0: h.args?.[0] ?? h.path, env: h.env ? envOf(h.env) : process.env, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let errors = '';
    child.stderr?.on('data', (d: Buffer) => { errors = (errors + d.toString()).slice(-400); });
    child.stdout?.resume();
    child.stdin?.on('error', () => {}); // a hook need not read its stdin
    child.stdin?.end(JSON.stringify(given));
    let timedOut = false;
    const timer = h.timeout ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, h.timeout * 1000) : undefined;
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('error', (err) => { errors = err.message; resolve([127, null]); });
      child.once('close', (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    if (timedOut) throw new UserError(`the ${what} timed out after ${h.timeout}s`);
    if (code !== 0) {
      const why = errors.trim().split('\n').pop();
      throw new UserError(`the ${what} failed (${signal ?? `exit ${code}`})${why ? `: ${why}` : ''}`);
    }
  }
}

/** A host pid as its own PID namespace numbers it (the last of NSpid in /proc/PID/status). */
function pidInside(pid: number): number {
  try {
    const m = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1].trim().split(/\s+/).pop()) : pid;
  } catch {
    return pid;
  }
}

/** Run a point's hooks where a failure is only reported, and the rest still run (poststop). */
export async function runHooksWarn(point: HookPoint, hooks: Hooks, state: HookState, trace: Trace): Promise<void> {
  for (const h of hooks[point] ?? []) {
    try {
      await runHooks(point, { [point]: [h] }, state, trace);
    } catch (err) {
      process.stderr.write(`box: warning: ${(err as Error).message}\n`);
    }
  }
}

function envOf(list: string[]): Record<string, string> {
  return Object.fromEntries(list.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]).filter(([k]) => k));
}

/** box-init joins the namespaces of `pid` (forking into its PID namespace) and execs the hook. */
function enterAndRun(h: OciHook, pid: number, trace: Trace) {
  const plan = new Plan();
  if (joinNamespaces(plan, pid)) plan.fork();
  plan.closeRange(3); // box-init's plan and report pipes stay ours
  for (const e of h.env ?? []) plan.env(e);
  plan.exec(h.path, h.args ?? [h.path]);
  const init = spawnInit({ plan, trace, stdio: ['pipe', 'pipe', 'pipe'] });
  init.started.catch(() => {}); // its exit status says enough
  return init.child;
}
