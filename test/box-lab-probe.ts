// vitest globalSetup of the integration and e2e projects: can this machine run a lab sandbox?
// Asked once for the run (a real `box run --lab`, test/e2e/harness.ts: probeBoxLab), and handed
// to every test file through inject('boxLab') (harness.ts: boxLabAvailable), instead of a
// probe sandbox made and removed again by each of the thirty-odd files that need the answer.

import type { TestProject } from 'vitest/node';
import { probeBoxLab } from './e2e/harness.ts';
import type { BoxLabProbe } from './e2e/harness.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    boxLab: BoxLabProbe;
  }
}

export async function setup(project: TestProject): Promise<void> {
  project.provide('boxLab', await probeBoxLab());
}
