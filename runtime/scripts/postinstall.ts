// Runs after `npm install`. box builds its offline busybox image from a statically linked
// busybox (Debian's busybox-static). If the machine has none, fetch the package with
// apt-get (which needs no root for `download`) and unpack it into node_modules/.cache/box,
// where box looks too. This script never fails the install: whatever happens, it prints at
// most one line and exits 0.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What happened, in one line; undefined when a static busybox was already there. */
export async function ensureStaticBusybox(opts: { cacheDir?: string; force?: boolean } = {}): Promise<string | undefined> {
  let tmp: string | undefined;
  try {
    const { findStaticBusybox, BUSYBOX_CACHE } = await import('../src/image/busybox.ts');
    const cacheDir = opts.cacheDir ?? BUSYBOX_CACHE;
    if (!opts.force) {
      try {
        findStaticBusybox();
        return undefined;
      } catch {
        /* none yet: fetch it */
      }
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'box-busybox-'));
    execFileSync('apt-get', ['download', 'busybox-static'], { cwd: tmp, stdio: 'ignore', timeout: 120_000 });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download produced no .deb');
    fs.rmSync(cacheDir, { recursive: true, force: true });
    fs.mkdirSync(cacheDir, { recursive: true });
    execFileSync('dpkg-deb', ['-x', path.join(tmp, deb), cacheDir], { stdio: 'ignore', timeout: 60_000 });
    const busybox = findStaticBusybox([path.join(cacheDir, 'bin/busybox'), path.join(cacheDir, 'usr/bin/busybox')]);
    const shown = path.relative(process.cwd(), busybox);
    return `box: fetched busybox-static into ${shown.startsWith('..') ? busybox : shown} for the offline busybox image`;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'apt-get or dpkg-deb is not available' : (err as Error).message.split('\n')[0];
    return `box: no static busybox here and fetching busybox-static failed (${reason}); \`apt-get install busybox-static\` before \`box run busybox\``;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const line = await ensureStaticBusybox({ force: process.argv.includes('--force') });
    if (line) console.log(line);
  } catch {
    /* never fail the install */
  }
  process.exitCode = 0;
}
