// Server memory stays bounded while `yes` floods a terminal whose page cannot keep up.
// The server runs as its own process so its resident memory can be read from /proc.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { boxLabAvailable, rssOf, sleep, spawnServer, TEST_TOKEN } from '../e2e/harness.ts';
import type { ServerProcess } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';

const box = await boxLabAvailable();

const MiB = 1024 * 1024;
const FLOOD_MS = 8000;
/** Without flow control, `yes` queues hundreds of MiB in these 8 s. */
const ALLOWED_GROWTH = 48 * MiB;

describe.each([
  { driver: 'host-shell' as const, missing: '' },
  { driver: 'box' as const, missing: box.ok ? '' : box.reason },
])('server memory under a flood ($driver)', ({ driver, missing }) => {
  let server: ServerProcess;
  beforeAll(async () => {
    if (missing) return;
    server = await spawnServer('test/e2e/serve.ts', [JSON.stringify({ driver })]);
  });
  afterAll(async () => { await server?.stop(); });

  async function flooded(ack: 'auto' | 'manual'): Promise<LabClient> {
    const c = new LabClient(server.port, { token: TEST_TOKEN, ack });
    await c.opened();
    await c.message('hello', 60_000);
    c.ack(1e9);
    await c.waitFor(/[#$] $/, 60_000);
    c.ack(1e9);
    c.type('yes isolab-flood-isolab-flood-isolab-flood\r');
    return c;
  }

  /** RSS after warm-up and the most it reaches while the flood goes on. */
  async function watchRss(ms: number): Promise<{ start: number; peak: number }> {
    await sleep(1000);
    const start = rssOf(server.proc.pid!);
    let peak = start;
    for (let t = 0; t < ms; t += 250) {
      await sleep(250);
      peak = Math.max(peak, rssOf(server.proc.pid!));
    }
    return { start, peak };
  }

  needs(missing).it('a page that stops reading altogether', async () => {
    const c = await flooded('manual');
    await c.waitFor('isolab-flood', 30_000);
    ((c.ws as unknown as { _socket: Socket })._socket).pause(); // TCP backs up to the server
    const { start, peak } = await watchRss(FLOOD_MS);
    console.log(`stopped reader: server RSS ${(start / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB`);
    expect(peak - start).toBeLessThan(ALLOWED_GROWTH);
    c.ws.terminate();
  }, 120_000);

  needs(missing).it('a slow page that acks what it has written, late', async () => {
    const slow = await flooded('manual');
    // Ack each frame 30 ms after it arrives, like a busy browser tab.
    slow.ws.on('message', (data, isBinary) => {
      if (isBinary) setTimeout(() => slow.ack((data as Buffer).length), 30);
    });
    const before = slow.received;
    const { start, peak } = await watchRss(FLOOD_MS);
    const moved = slow.received - before;
    console.log(`slow reader: ${(moved / MiB).toFixed(1)} MiB delivered; server RSS ${(start / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB`);
    expect(moved).toBeGreaterThan(1 * MiB); // it does keep flowing
    expect(peak - start).toBeLessThan(ALLOWED_GROWTH);
    slow.ws.terminate();
  }, 120_000);

  needs(missing).it('a page that acks bytes it never read', async () => {
    const c = await flooded('manual');
    await c.waitFor('isolab-flood', 30_000);
    ((c.ws as unknown as { _socket: Socket })._socket).pause();
    const liar = setInterval(() => c.ack(1e12), 10);
    try {
      const { start, peak } = await watchRss(FLOOD_MS);
      console.log(`lying reader: server RSS ${(start / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB`);
      expect(peak - start).toBeLessThan(ALLOWED_GROWTH);
    } finally {
      clearInterval(liar);
      c.ws.terminate();
    }
  }, 120_000);
});
