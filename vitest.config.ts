import { defineConfig } from 'vitest/config';

// Integration tests touch global kernel state (cgroups, mounts, namespaces) and
// the e2e tests drive one Chromium: run files one at a time, tests in order.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    globalSetup: ['test/reap-networks.ts'], // bridges of removed temporary box roots (net/host-record.ts)
  },
});
