// Builds what `box` starts from (`npm install` runs this; so does `npm run build:box`):
//   runtime/build/box.cjs         the TypeScript sources bundled into one file (esbuild);
//   runtime/build/compile-cache/  V8's compiled code for it (NODE_COMPILE_CACHE);
//   runtime/build/box-init        the C init stage;
//   runtime/build/box-client      the engine's client (runtime/src/engine/box-client.c);
//   runtime/build/box-dns         a user-defined network's name server (runtime/src/net/dns/box-dns.c).
// `box run` is measured against runc, and stripping types from ~60 files and compiling them
// at every start was a third of its time. (A V8 start-up snapshot of the bundle was no
// faster than the compile cache here, and Node does not yet vouch for child_process in one.)

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildClient, buildDns, buildInit } from '../src/init/build.ts';
import { inHome } from '../src/home.ts';

function build(): void {
  const esbuild = inHome('node_modules/.bin/esbuild');
  const bundle = inHome('runtime/build/box.cjs');
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

  // Fill V8's compile cache once, here, where runtime/build is writable: lab sandboxes see it
  // read-only, and every box after this starts without compiling the bundle again.
  const cache = inHome('runtime/build/compile-cache');
  fs.rmSync(cache, { recursive: true, force: true });
  execFileSync(process.execPath, [bundle, '--version'], { stdio: 'ignore', env: { ...process.env, NODE_COMPILE_CACHE: cache } });
  fs.rmSync(inHome('runtime/build/box.mjs'), { force: true }); // the old ESM bundle
  buildInit();
  buildClient();
  buildDns();
  fs.rmSync(inHome('runtime/build/box.blob'), { force: true }); // from an older build
  console.log('box: built runtime/build/box.cjs, box-init, box-client and box-dns');
}

try {
  build();
} catch (err) {
  // One line, the fix in it (buildInit's UserError names the packages); npm shows the rest.
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  console.error(`box: ${msg.startsWith('box: ') ? msg.slice(5) : msg}`);
  process.exit(1);
}
