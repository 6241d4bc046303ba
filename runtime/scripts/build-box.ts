// Builds what `box` starts from (`npm install` runs this; so does `npm run build:box`):
//   runtime/build/box.cjs   the TypeScript sources bundled into one file (esbuild);
//   runtime/build/box.blob  a V8 startup snapshot of that bundle: Node starts with box's
//                           code already loaded and compiled (node --snapshot-blob);
//   runtime/build/box-init  the C init stage.
// `box run` is measured against runc, and loading and compiling ~5000 lines of JavaScript
// at every start was a third of its time. runtime/bin/box falls back from the snapshot to
// the bundle to the sources, whichever is fresh.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildInit } from '../src/init/build.ts';
import { inHome } from '../src/home.ts';

const esbuild = inHome('node_modules/.bin/esbuild');
const bundle = inHome('runtime/build/box.cjs');
const blob = inHome('runtime/build/box.blob');
fs.mkdirSync(path.dirname(bundle), { recursive: true });

execFileSync(esbuild, [
  inHome('runtime/src/cli/main.ts'), '--bundle', '--platform=node', '--format=cjs', '--target=node22',
  '--external:koffi', '--external:node-pty', `--outfile=${bundle}.tmp`, '--log-level=warning',
  // CommonJS has no import.meta.url: give the bundle its own file's URL instead.
  '--define:import.meta.url=__boxModuleUrl',
  '--banner:js=// Built from runtime/src by runtime/scripts/build-box.ts: edit the sources, not this file.\n' +
    'const __boxModuleUrl = require("node:url").pathToFileURL(__filename).href;',
], { stdio: 'inherit' });
fs.renameSync(`${bundle}.tmp`, bundle);

try {
  execFileSync(process.execPath, ['--no-warnings', '--snapshot-blob', `${blob}.tmp`, '--build-snapshot', bundle], {
    stdio: ['ignore', 'ignore', 'pipe'], cwd: path.dirname(bundle),
  });
  fs.renameSync(`${blob}.tmp`, blob);
} catch (err) {
  fs.rmSync(`${blob}.tmp`, { force: true });
  fs.rmSync(blob, { force: true });
  const why = String((err as { stderr?: Buffer }).stderr ?? err).trim().split('\n').pop();
  console.log(`box: no start-up snapshot (${why}); box starts from the bundle instead`);
}
fs.rmSync(inHome('runtime/build/box.mjs'), { force: true }); // the old ESM bundle
buildInit();
console.log('box: built runtime/build/box.blob, box.cjs and box-init');
