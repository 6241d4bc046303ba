// The panel directories a SIGKILLed lab server leaves behind are removed by the next one,
// and only those: not a live sandbox's, not one that is just starting, not anything else.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepPanelDirs } from '../../src/server/panel-dir.ts';

describe('sweepPanelDirs', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-sweep-'));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const make = (name: string, ageSeconds: number) => {
    const dir = path.join(base, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'trace.jsonl'), '{}\n');
    const t = new Date(Date.now() - ageSeconds * 1000);
    fs.utimesSync(dir, t, t);
  };

  it('removes old directories of sandboxes box no longer has, and keeps the rest', () => {
    make('lab-gone1', 3600);
    make('lab-live', 3600);
    make('lab-starting', 5);
    make('not-a-lab', 3600);
    const removed = sweepPanelDirs(base, (n) => n === 'lab-live');
    expect(removed).toEqual(['lab-gone1']);
    expect(fs.readdirSync(base).sort()).toEqual(['lab-live', 'lab-starting', 'not-a-lab']);
  });

  it('does nothing where there is no base directory', () => {
    expect(sweepPanelDirs(path.join(base, 'missing'), () => false)).toEqual([]);
  });
});
