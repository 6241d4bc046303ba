// Bundles box's TypeScript sources into runtime/build/box.mjs (one file, no type stripping
// at start-up: `box run` is measured against runc) and compiles box-init. `npm install`
// runs this; so does `npm run build:box`.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { buildInit } from '../src/init/build.ts';
import { inHome } from '../src/home.ts';

const esbuild = inHome('node_modules/.bin/esbuild');
const out = inHome('runtime/build/box.mjs');
execFileSync(esbuild, [
  inHome('runtime/src/cli/main.ts'), '--bundle', '--platform=node', '--format=esm', '--target=node22',
  '--external:koffi', '--external:node-pty', `--outfile=${out}.tmp`, '--log-level=warning',
  // koffi is CommonJS and loaded with createRequire; the bundle is ESM.
  '--banner:js=// Built from runtime/src by runtime/scripts/build-box.ts: edit the sources, not this file.',
], { stdio: 'inherit' });
execFileSync('mv', [`${out}.tmp`, out]);
buildInit();
console.log(`box: built ${path.relative(process.cwd(), out)} and runtime/build/box-init`);
