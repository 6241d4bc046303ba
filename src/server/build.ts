// Build the site with `astro build` when dist/ is missing or older than its sources.
// "Older" compares modification times: the newest file among the site's sources against
// dist/index.html (a build rewrites it every time). src/server/ is not part of the site.

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

const SOURCES = ['src', 'content', 'public', 'astro.config.mjs'];
const SKIP = new Set(['node_modules', '.git', '.astro', 'dist']);

/** The newest mtime (ms) of any file under `p` (0 when nothing is there). */
export function newestMtime(p: string, skip: (p: string) => boolean = () => false): number {
  let st: fs.Stats;
  try { st = fs.lstatSync(p); } catch { return 0; }
  if (skip(p)) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file shows up as a newer directory
  for (const entry of fs.readdirSync(p)) {
    if (SKIP.has(entry)) continue;
    newest = Math.max(newest, newestMtime(path.join(p, entry), skip));
  }
  return newest;
}

export interface Staleness {
  stale: boolean;
  reason: string;
}

export function siteStaleness(repo: string): Staleness {
  const dist = path.join(repo, 'dist');
  const stamp = path.join(dist, 'index.html');
  let built: number;
  try { built = fs.statSync(stamp).mtimeMs; } catch {
    return { stale: true, reason: 'dist/ has not been built yet' };
  }
  const serverDir = path.join(repo, 'src', 'server');
  const skip = (p: string) => p === serverDir;
  for (const source of SOURCES) {
    const t = newestMtime(path.join(repo, source), skip);
    if (t > built) return { stale: true, reason: `${source} changed since the last build` };
  }
  return { stale: false, reason: 'dist/ is up to date' };
}

/** Run `astro build` with this same Node (24); resolves when it succeeds, rejects otherwise. */
export function buildSite(repo: string, log: (line: string) => void = console.log): Promise<void> {
  const astro = path.join(repo, 'node_modules', 'astro', 'bin', 'astro.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [astro, 'build'], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' },
    });
    let tail = '';
    const collect = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (e) => reject(new Error(`could not start astro build: ${e.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) { log('site built'); resolve(); return; }
      const last = tail.trim().split('\n').slice(-15).join('\n');
      reject(new Error(`astro build failed (${signal ?? `exit ${code}`}); fix the site and run again. Its last output:\n${last}`));
    });
  });
}
