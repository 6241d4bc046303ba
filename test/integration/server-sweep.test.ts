// A lab server killed with SIGKILL leaves its sandboxes' panel directories in /run/isolab; the
// next server's box driver removes those whose sandbox box no longer has, and only those.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { panelDirBase } from '../../src/server/panel-dir.ts';
import { boxDriver } from '../../src/server/sandbox.ts';
import { box, boxBin, rootReason, tempBoxRoot } from './helpers.ts';
import { needs } from '../support/requires.ts';

needs(rootReason).describe('panel directories of sandboxes that are gone', () => {
  const root = tempBoxRoot('sweep');
  // A base of its own: a real server's sandboxes on this machine are not this test's to sweep.
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-panel-sweep-'));
  const dead = `lab-sweepdead${process.pid}`;
  const live = `lab-sweeplive${process.pid}`;
  afterAll(() => {
    box(root, ['rm', '-f', live]);
    fs.rmSync(base, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('are removed when the next server starts; a live sandbox keeps its directory', () => {
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const n of [dead, live]) {
      fs.mkdirSync(path.join(base, n), { recursive: true });
      fs.writeFileSync(path.join(base, n, 'trace.jsonl'), '');
      fs.utimesSync(path.join(base, n), hourAgo, hourAgo);
    }
    expect(box(root, ['run', '-d', '--name', live, 'busybox', 'sleep', '60']).code).toBe(0);
    const saved = { BOX_ROOT: process.env.BOX_ROOT, ISOLAB_PANEL_DIR: process.env.ISOLAB_PANEL_DIR };
    process.env.BOX_ROOT = root; // the driver asks this box root which sandboxes exist
    process.env.ISOLAB_PANEL_DIR = base;
    expect(panelDirBase()).toBe(base);
    const said: string[] = [];
    try {
      boxDriver(boxBin, (line) => said.push(line));
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(fs.existsSync(path.join(base, dead))).toBe(false);
    expect(fs.existsSync(path.join(base, live))).toBe(true);
    expect(said.join('\n')).toMatch(/removed \d+ panel director(y|ies) of sandboxes that are gone/);
  });
});
