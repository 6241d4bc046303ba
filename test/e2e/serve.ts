// A lab server in its own process for tests that measure it (RSS) or signal it:
//   node test/e2e/serve.ts '{"driver":"host-shell","maxSandboxes":2}'
// It prints "the lab is at <url>" like main.ts, and removes its sandboxes on SIGTERM.

import { driverByName, makeTestDist, makeTestLessons, startInProcess } from './harness.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  driver?: 'box' | 'host-shell'; maxSandboxes?: number; graceMs?: number; idleMs?: number;
};
const server = await startInProcess({
  driver: driverByName(config.driver ?? 'host-shell'),
  maxSandboxes: config.maxSandboxes,
  graceMs: config.graceMs,
  idleMs: config.idleMs,
  dist: makeTestDist(),
  lessonsDir: makeTestLessons(),
  log: (line) => console.error(line),
});
console.log(`isolab: the lab is at ${server.url}`);
const stop = () => { server.close().then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
