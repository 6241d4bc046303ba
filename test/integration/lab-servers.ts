// What the lab server's integration tests share: the two sandbox drivers each runs with (the
// host-shell driver, plumbing only, and real `box --lab` sandboxes where this machine can run
// them), and the servers and clients a test opened, all closed after it.
import { afterEach } from 'vitest';
import type { LabServer } from '../../src/server/app.ts';
import { boxLabAvailable, driverByName, makeTestLessons, startInProcess } from '../e2e/harness.ts';
import type { InProcessOptions } from '../e2e/harness.ts';
import type { LabClient } from '../e2e/lab-client.ts';

const box = await boxLabAvailable();

/** describe.each over these: `missing` says why the box driver cannot run here ('' when it can). */
export const LAB_DRIVERS = [
  { driver: 'host-shell' as const, missing: '' },
  { driver: 'box' as const, missing: box.ok ? '' : box.reason },
];
export type LabDriver = (typeof LAB_DRIVERS)[number]['driver'];

/** A bound for one step: a real sandbox starts in seconds, a host shell at once. */
export const stepTimeout = (driver: LabDriver) => (driver === 'box' ? 60_000 : 20_000);

/**
 * Call once at the top of a test file: the lists to push servers and clients into, emptied
 * after each test (clients cut off, servers closed with their sandboxes).
 */
export function closedAfterEach(): { open: LabServer[]; clients: LabClient[] } {
  const open: LabServer[] = [];
  const clients: LabClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return { open, clients };
}

/** A lab server in this process with `driver` and the test lessons, kept in `open`. */
export async function startLab(driver: LabDriver, open: LabServer[], o: InProcessOptions = {}): Promise<LabServer> {
  const s = await startInProcess({ driver: driverByName(driver), lessonsDir: makeTestLessons(), ...o });
  open.push(s);
  return s;
}
