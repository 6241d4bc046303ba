// Warm sandboxes (src/server/warm.ts): the lab server keeps one made ahead and hands it to the
// next reader who needs a new sandbox, then makes another in the background. Seen from the
// server's state: the name waiting in the pool is the one the reader's hello names, and its
// sandbox was made before the reader asked. Two readers never share one; the pool counts
// against --max-sandboxes and never gets past the per-browser limit; closing removes it.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import type { LabServer } from '../../src/server/app.ts';
import { BOX, TEST_TOKEN } from '../e2e/harness.ts';
import type { InProcessOptions } from '../e2e/harness.ts';
import { LabClient, newSessionId } from '../e2e/lab-client.ts';
import type { ClientOptions } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';
import { closedAfterEach, LAB_DRIVERS, startLab, stepTimeout } from './lab-servers.ts';

const { open, clients } = closedAfterEach();

describe.each(LAB_DRIVERS)('warm sandboxes ($driver)', ({ driver, missing }) => {
  const T = stepTimeout(driver);

  const server = (o: InProcessOptions) => startLab(driver, open, o);
  function connect(s: LabServer, o: ClientOptions = {}): LabClient {
    const c = new LabClient(s.port, { token: TEST_TOKEN, clientId: `browser-${newSessionId()}`, ...o });
    clients.push(c);
    return c;
  }
  async function ready(c: LabClient): Promise<string> {
    const hello = await c.message('hello', T);
    expect(await c.run('echo ready', T)).toBe('ready');
    return String(hello.sandbox);
  }
  /** Wait until the pool holds a sandbox other than those in `not` (`printed`: at its prompt). */
  async function pooled(s: LabServer, not: string[] = [], printed = false): Promise<string> {
    const deadline = Date.now() + T;
    for (;;) {
      const name = s.sessions.warmNames(printed).find((n) => !not.includes(n));
      if (name) return name;
      if (Date.now() > deadline) throw new Error(`no new sandbox made ahead; the pool holds ${JSON.stringify(s.sessions.warmNames())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  needs(missing).it('the first and the second reader each get a sandbox made before they asked, and not the same one', async () => {
    const s = await server({ warmSandboxes: 1 });
    // A reader who comes once it is ready: its prompt was printed before anyone asked.
    const first = await pooled(s, [], true);
    const askedA = Date.now();
    const a = connect(s);
    expect(await ready(a)).toBe(first);
    const sa = s.sessions.get(a.session)!;
    expect(sa.madeAhead).toBe(true);
    expect(sa.madeAt).toBeLessThan(askedA);

    // Another is made in the background, for the next reader.
    const second = await pooled(s, [first], true);
    const askedB = Date.now();
    const b = connect(s);
    const bName = await ready(b);
    expect(bName).toBe(second);
    expect(bName).not.toBe(first);
    expect(s.sessions.get(b.session)!.madeAt).toBeLessThan(askedB);
    // Their shells are their own: what one sets the other does not see.
    await a.run('export WHO=reader-a', T);
    expect(await b.run('echo "[$WHO]"', T)).toBe('[]');
  }, 6 * T);

  needs(missing).it('two readers asking at once never share a sandbox', async () => {
    const s = await server({ warmSandboxes: 1 });
    const warm = await pooled(s);
    const readers = [connect(s), connect(s), connect(s)];
    const names = await Promise.all(readers.map(ready));
    expect(new Set(names).size).toBe(3);
    // One of them had the one made ahead; each of the others a sandbox of its own (from the
    // pool as it refilled between their handshakes, or new).
    expect(names.filter((n) => n === warm)).toHaveLength(1);
    expect(new Set(readers.map((r) => s.sessions.get(r.session)!.sandbox)).size).toBe(3);
    expect(s.sessions.warmNames().filter((n) => names.includes(n))).toEqual([]);
  }, 6 * T);

  needs(missing).it('counts against --max-sandboxes and gives nothing past a browser\'s limit', async () => {
    const s = await server({ warmSandboxes: 1, maxSandboxes: 2, maxPerClient: 1 });
    await pooled(s);
    const a = connect(s, { clientId: 'browser-a-0123456789' });
    await ready(a);
    // Browser a may have one sandbox: a second tab of it is refused though one waits ready.
    const warm = await pooled(s);
    const a2 = connect(s, { clientId: 'browser-a-0123456789' });
    expect(await a2.message('full', T)).toMatchObject({ message: expect.stringMatching(/^this browser already has 1 lab terminals open/) });
    expect(s.sessions.warmNames()).toEqual([warm]);
    // Browser b takes it; the lab (2) is then full: none is made ahead beyond it.
    const b = connect(s, { clientId: 'browser-b-0123456789' });
    expect(await ready(b)).toBe(warm);
    expect(s.sessions.warmNames()).toEqual([]);
    const c = connect(s, { clientId: 'browser-c-0123456789' });
    expect(await c.message('full', T)).toMatchObject({ type: 'full' });
    expect(s.sessions.warmNames()).toEqual([]);
    expect(s.sessions.size).toBe(2);
  }, 6 * T);

  needs(missing).it('0 makes none; closing the server removes the one waiting', async () => {
    const none = await server({ warmSandboxes: 0 });
    expect(none.sessions.warmNames()).toEqual([]);
    const c = connect(none);
    await ready(c);
    expect(none.sessions.get(c.session)!.madeAhead).toBe(false);

    const s = await server({ warmSandboxes: 1 });
    const warm = await pooled(s);
    if (driver === 'box') {
      // Running before the close (once box has made it, its shell answers), gone after it.
      const deadline = Date.now() + T;
      while (!(await boxExec(warm))) {
        if (Date.now() > deadline) throw new Error(`${warm} made ahead never ran`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await s.close();
    expect(s.sessions.warmNames()).toEqual([]);
    if (driver === 'box') await expect(boxExec(warm)).resolves.toBe(false);
  }, 6 * T);
});

/** Does `box exec <name> true` succeed (the sandbox is running)? */
function boxExec(name: string): Promise<boolean> {
  return new Promise((resolve) => execFile(BOX, ['exec', name, 'true'], { timeout: 30_000 }, (e) => resolve(e === null)));
}
