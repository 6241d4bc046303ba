// vitest globalSetup: after the whole run, one more box reaps the bridges and nftables tables
// of networks whose temporary box roots the test files removed (net/host-record.ts), so the
// last file's default network does not outlive the run.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function setup(): () => void {
  return () => {
    if (process.getuid?.() !== 0) return;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-reap-'));
    spawnSync(path.resolve('runtime/bin/box'), ['network', 'ls'], { env: { ...process.env, BOX_ROOT: root }, stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  };
}
