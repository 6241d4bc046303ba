// The node agent's container runtime is box itself, called as a command: the agent is to box
// what the kubelet is to containerd (which it reaches through the CRI instead of a command
// line). Every pod container is an ordinary box container, seen by `box ps`.

import { execFile } from 'node:child_process';

export interface BoxResult { code: number; stdout: string; stderr: string }

let runtimeNetns: string | undefined;

/**
 * A node agent runs in its node's network namespace, but the cluster network's bridge, where
 * box plugs each pod's veth, is in the machine's own: the agent runs box there, as a CNI
 * plugin is handed the switch (`nsenter --net=/proc/<control plane>/ns/net box ...`).
 */
export function runBoxInNetns(nsPath: string): void {
  runtimeNetns = nsPath;
}

export function boxCli(args: string[], timeoutMs = 60_000): Promise<BoxResult> {
  const [cmd, ...rest] = boxCommand();
  const argv = runtimeNetns ? ['nsenter', `--net=${runtimeNetns}`, '--', cmd, ...rest, ...args] : [cmd, ...rest, ...args];
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, maxBuffer: 4 << 20, env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}` } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Where a box process reads the box command: the same program as this one (bundle or sources). */
export const boxCommand = () => [process.execPath, ...process.execArgv, process.argv[1]];
