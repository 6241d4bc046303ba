// The cgroup unit tests' stand-in for /sys/fs/cgroup: temporary directories laid out like a
// hierarchy, and what a fake Sys wrote into them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { FakeSys } from './fake-sys.ts';

/** A maker of temporary trees (`files`: path relative to the tree -> contents), all removed after the file's tests. */
export function temporaryTrees(prefix: string): (files: Record<string, string>) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const t of made) fs.rmSync(t, { recursive: true, force: true });
  });
  return (files) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(root);
    for (const [rel, text] of Object.entries(files)) put(root, rel, text);
    return root;
  };
}

/** One more file in a tree. */
export function put(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

/** The cgroup writes the fake Sys saw, as [path relative to root, value]. */
export function writes(sys: FakeSys, root: string): [string, string][] {
  return sys.trace.events.flatMap((e) => (e.kind === 'write' ? [[path.relative(root, e.path), e.value] as [string, string]] : []));
}

/** The mkdir/rmdir notes in the trace, relative to root. */
export function dirOps(sys: FakeSys, root: string): string[] {
  return sys.trace.events.flatMap((e) => {
    const m = e.kind === 'note' ? /^(mkdir|rmdir) (.*)$/.exec(e.text) : null;
    return m ? [`${m[1]} ${path.relative(root, m[2]!)}`] : [];
  });
}
