// A node's process: `box cluster __agent NODE`, detached, its pid in
// $BOX_ROOT/cluster/nodes/NODE.pid. Stopping a node kills its agent and the containers of its
// pods, as a machine that loses power takes both; the control plane notices only that the
// heartbeats stop (node-lifecycle.ts).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NodeAgent, nodeContainers } from './agent.ts';
import { boxCli, boxCommand } from './box-cli.ts';
import { ApiClient } from './client.ts';
import { clusterFile, readClusterState } from './paths.ts';

const pidFile = (node: string) => clusterFile(path.join('nodes', `${node}.pid`));

export function nodeNames(): string[] {
  try { return fs.readdirSync(clusterFile('nodes')).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)).sort(); } catch { return []; }
}

export function agentPid(node: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(node), 'utf8'));
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__agent') ? pid : undefined;
  } catch { return undefined; }
}

export function startNode(node: string): number {
  fs.mkdirSync(clusterFile('nodes'), { recursive: true });
  const log = fs.openSync(clusterFile(path.join('nodes', `${node}.log`)), 'a');
  const [cmd, ...args] = boxCommand();
  const child = spawn(cmd, [...args, 'cluster', '__agent', node], { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(pidFile(node), String(child.pid));
  return child.pid!;
}

/** Power off: the agent, then every container it ran. */
export async function stopNode(node: string): Promise<void> {
  const pid = agentPid(node);
  if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ } }
  for (const name of nodeContainers(node)) await boxCli(['rm', '-f', name]);
}

/** The agent's main loops: heartbeat and sync once a second, until killed. */
export async function agentMain(node: string): Promise<number> {
  const state = readClusterState();
  if (!state) throw new Error('no cluster state');
  const token = fs.readFileSync(clusterFile('token'), 'utf8').trim();
  const ca = fs.readFileSync(clusterFile('apiserver.crt'), 'utf8');
  const agent = new NodeAgent(new ApiClient(state.server, token, ca), node);
  agent.log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  // two loops: a slow sync (starting containers takes seconds) must not silence the heartbeat
  const beat = async () => {
    try { await agent.heartbeat(); } catch (err) { agent.log(`heartbeat: ${(err as Error).message}`); }
    setTimeout(beat, 1000);
  };
  void beat();
  for (;;) {
    try { await agent.sync(); } catch (err) { agent.log(`sync: ${(err as Error).message}`); }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
