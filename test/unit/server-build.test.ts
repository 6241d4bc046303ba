import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { siteStaleness } from '../../src/server/build.ts';

let repo: string;
afterEach(() => fs.rmSync(repo, { recursive: true, force: true }));

function touch(rel: string, secondsAgo: number): void {
  const p = path.join(repo, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, rel);
  const t = new Date(Date.now() - secondsAgo * 1000);
  fs.utimesSync(p, t, t);
  // Directories get the same old time, so only the files decide.
  for (let d = path.dirname(p); d.startsWith(repo) && d !== repo; d = path.dirname(d)) fs.utimesSync(d, t, t);
}

describe('site staleness', () => {
  it('builds when dist is missing', () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-build-'));
    touch('src/pages/index.astro', 100);
    expect(siteStaleness(repo)).toEqual({ stale: true, reason: 'dist/ has not been built yet' });
  });

  it('is fresh when dist is newer than every source, stale when a lesson or the config changes', () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-build-'));
    touch('src/pages/index.astro', 300);
    touch('content/lessons/en/pid.mdx', 300);
    touch('astro.config.mjs', 300);
    touch('dist/index.html', 200);
    expect(siteStaleness(repo).stale).toBe(false);
    touch('content/lessons/en/pid.mdx', 100);
    expect(siteStaleness(repo)).toEqual({ stale: true, reason: 'content changed since the last build' });
    touch('dist/index.html', 50);
    touch('astro.config.mjs', 10);
    expect(siteStaleness(repo)).toEqual({ stale: true, reason: 'astro.config.mjs changed since the last build' });
  });

  it('ignores the server code under src/server', () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-build-'));
    touch('src/pages/index.astro', 300);
    touch('dist/index.html', 200);
    touch('src/server/main.ts', 10);
    fs.utimesSync(path.join(repo, 'src'), new Date(Date.now() - 300_000), new Date(Date.now() - 300_000));
    expect(siteStaleness(repo).stale).toBe(false);
  });
});
