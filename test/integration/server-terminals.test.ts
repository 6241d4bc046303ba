// More terminals in one sandbox (the page's tabs, PROTOCOL.md `term`): each a shell with a pty
// of its own in the SAME sandbox, so what one starts the other sees; closing one ends only it.
// With the host-shell driver (plumbing) and with real `box --lab` sandboxes.
import { describe, expect, it } from 'vitest';
import type { LabServer } from '../../src/server/app.ts';
import { MAX_TERMINALS } from '../../src/server/sessions.ts';
import { TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient, newSessionId } from '../e2e/lab-client.ts';
import type { ClientOptions } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';
import { closedAfterEach, LAB_DRIVERS, startLab, stepTimeout } from './lab-servers.ts';

const { open, clients } = closedAfterEach();

describe.each(LAB_DRIVERS)('terminal tabs in one sandbox ($driver)', ({ driver, missing }) => {
  const T = stepTimeout(driver);
  const clientId = 'browser-tabs-0123456789';

  const server = () => startLab(driver, open, { maxPerClient: 1 });
  async function ready(s: LabServer, o: ClientOptions): Promise<LabClient> {
    const c = new LabClient(s.port, { token: TEST_TOKEN, clientId, ...o });
    clients.push(c);
    await c.opened();
    await c.message('hello', T);
    expect(await c.run('echo ready', T)).toBe('ready');
    return c;
  }

  needs(missing).it('a second terminal sees the first one\'s process; closing it leaves the first working', async () => {
    const s = await server();
    const session = newSessionId();
    const one = await ready(s, { session });
    one.type('sleep 987\r');
    const two = await ready(s, { session, term: 2 });
    const hello2 = two.messages.find((m) => m.type === 'hello')!;
    expect(hello2).toMatchObject({ sandbox: one.messages[0]!.sandbox, resumed: false, term: 2 });
    // Its own pty: a terminal device of its own, and its own size.
    expect(await two.run('tty', T)).not.toBe('');
    // Tab 1's shell forks the sleep in its own time: look until it is there (or 10 s went by).
    const ps = await two.run('for i in $(seq 100); do ps -eo args | grep -qx "sleep 987" && break; sleep 0.1; done; ps -eo args', T);
    expect(ps.split('\n').some((l) => l.trim() === 'sleep 987')).toBe(true);
    // Another terminal is not another sandbox: the one-sandbox limit of this browser allows it.
    expect(s.sessions.size).toBe(1);
    // The reader closes tab 2: only its shell ends (exit, close 1000).
    two.send({ type: 'close' });
    await two.message('exit', T);
    await two.until(() => two.closed, T, 'the close');
    expect(two.closed!.code).toBe(1000);
    // Tab 1 goes on, its sleep too.
    one.type('\x03');
    expect(await one.run('echo still here', T)).toBe('still here');
    expect(s.sessions.get(session)!.extras.size).toBe(0);
  }, 4 * T);

  needs(missing).it('`exit` in a second terminal ends that tab only; a reload comes back to the same shell', async () => {
    const s = await server();
    const session = newSessionId();
    const one = await ready(s, { session });
    const two = await ready(s, { session, term: 2 });
    await two.run('export MARK=tab2-shell', T);
    two.ws.terminate();
    const again = await ready(s, { session, term: 2 });
    expect(again.messages.find((m) => m.type === 'hello')).toMatchObject({ resumed: true, term: 2 });
    expect(await again.run('echo $MARK', T)).toBe('tab2-shell');
    again.type('exit\r');
    expect(await again.message('exit', T)).toMatchObject({ type: 'exit' });
    expect(await one.run('echo first', T)).toBe('first');
  }, 4 * T);

  needs(missing).it(`at most ${MAX_TERMINALS} terminals a sandbox, and none without its first, nor for another browser`, async () => {
    const s = await server();
    const session = newSessionId();
    const orphan = new LabClient(s.port, { token: TEST_TOKEN, clientId, session, term: 2 });
    clients.push(orphan);
    expect(await orphan.message('error', T)).toMatchObject({ message: 'this sandbox is not running; open its first terminal again' });
    await orphan.until(() => orphan.closed, T);
    expect(orphan.closed!.code).toBe(1011);
    await ready(s, { session });
    for (let n = 2; n <= MAX_TERMINALS; n++) await ready(s, { session, term: n });
    const over = new LabClient(s.port, { token: TEST_TOKEN, clientId, session, term: MAX_TERMINALS + 1 });
    clients.push(over);
    expect(String((await over.message('error', T)).message)).toBe(`this sandbox already has ${MAX_TERMINALS} terminals, the most one sandbox may have; close one of its tabs to open another`);
    const stranger = new LabClient(s.port, { token: TEST_TOKEN, clientId: 'browser-other-0123456789', session, term: 2 });
    clients.push(stranger);
    expect(await stranger.message('error', T)).toMatchObject({ message: 'this terminal belongs to another browser' });
  }, 6 * T);
});
