// The node agent's container runtime is box itself, called as a command: the agent is to box
// what the kubelet is to containerd (which it reaches through the CRI instead of a command
// line). Every pod container is an ordinary box container, seen by `box ps`.

import { execFile } from 'node:child_process';

export interface BoxResult { code: number; stdout: string; stderr: string }

export function boxCli(args: string[], timeoutMs = 60_000): Promise<BoxResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...process.execArgv, process.argv[1], ...args], { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Where a box process reads the box command: the same program as this one (bundle or sources). */
export const boxCommand = () => [process.execPath, ...process.execArgv, process.argv[1]];
