import { defineConfig } from 'vitest/config';

// Three projects, run one after another (sequence.groupOrder):
//  - unit: a fake syscall layer, no root, no global state: its files run side by side;
//  - integration: touches global kernel state (cgroups, mounts, namespaces): one file at a time;
//  - e2e: lab servers, sandboxes and one Chromium per file: one file at a time.

/** A project whose files run one at a time, after those of a lower `order`. */
function oneFileAtATime(name: string, order: number) {
  return {
    extends: true,
    test: {
      name,
      include: [`test/${name}/**/*.test.ts`],
      // test/reap-networks.ts: bridges of removed temporary box roots, reaped after the run;
      // test/box-lab-probe.ts: can a lab sandbox run here, asked once per run, not per file.
      // (A project's globalSetup replaces the root's.)
      globalSetup: ['test/reap-networks.ts', 'test/box-lab-probe.ts'],
      fileParallelism: false,
      sequence: { groupOrder: order },
    },
  };
}

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
      oneFileAtATime('integration', 1),
      oneFileAtATime('e2e', 2),
    ],
  },
});
