import { defineConfig } from 'vitest/config';

// Three projects, run one after another (sequence.groupOrder):
//  - unit: a fake syscall layer, no root, no global state: its files run side by side;
//  - integration: touches global kernel state (cgroups, mounts, namespaces): one file at a time;
//  - e2e: lab servers, sandboxes and one Chromium per file: one file at a time.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          globalSetup: [],
          // vitest's default is one worker fewer than the CPUs: one worker on a 2-CPU machine.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // A project's globalSetup replaces the root's: the network reaper is named again.
          globalSetup: ['test/reap-networks.ts', 'test/box-lab-probe.ts'], // box-lab-probe: can a lab sandbox run here, asked once
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // A project's globalSetup replaces the root's: the network reaper is named again.
          globalSetup: ['test/reap-networks.ts', 'test/box-lab-probe.ts'], // box-lab-probe: can a lab sandbox run here, asked once
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
