// The kernel's network objects are made with iproute2 (`ip`) and nftables (`nft`), both
// speaking netlink: one batch per step, so a container start costs two or three short
// processes, and --trace shows the very commands a reader could type.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { UserError } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';

const PACKAGES: Record<string, string> = { ip: 'iproute2', nft: 'nftables', nsenter: 'util-linux' };

/** Look in the usual places first: a lab sandbox's PATH may lack /usr/sbin. */
const PATHS = '/usr/sbin:/usr/bin:/sbin:/bin';

/** Run `tool args`, feeding it `input`; the trace records the command (and each batch line). */
export function runTool(trace: Trace | null, tool: 'ip' | 'nft' | 'nsenter', args: string[], input?: string): string {
  trace?.record({ kind: 'note', text: `${tool} ${args.join(' ')}${input ? `\n    ${input.trim().split('\n').join('\n    ')}` : ''}` });
  try {
    return execFileSync(tool, args, {
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: `${PATHS}:${process.env.PATH ?? ''}`, LC_ALL: 'C' },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new UserError(`box networking needs the '${tool}' command: install the ${PACKAGES[tool]} package (apt-get install ${PACKAGES[tool]}), or run with --network none`);
    }
    const lines = (e.stderr ?? '').trim().split('\n').filter(Boolean);
    const why = (lines.find((l) => /Error:/.test(l)) ?? lines[0] ?? e.message).trim(); // nft: the Error: line, not its carets
    throw new ToolError(`${tool} ${args.filter((a) => a !== '-').join(' ')}: ${why}`, why);
  }
}

export class ToolError extends UserError {
  readonly detail: string;
  constructor(message: string, detail: string) {
    super(message);
    this.detail = detail;
  }
}

/** Write a sysctl-like /proc file, recorded as a kernel write. */
export function writeProc(trace: Trace | null, file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
    trace?.record({ kind: 'write', path: file, value });
  } catch (err) {
    trace?.record({ kind: 'write', path: file, value, errno: (err as NodeJS.ErrnoException).code });
    throw err;
  }
}
