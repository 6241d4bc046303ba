// The lab server's defences against its own readers (issue 12), piece by piece: the frame
// parser under type confusion, redirects that stay on this server, rate budgets, the per-client
// sandbox limits, and the capped walk of a sandbox's cgroup tree. The same behaviours are
// attacked for real, against box sandboxes, in test/integration/server-attacks.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseClientMessage, terminalIndex } from '../../src/server/protocol.ts';
import { WarmPool } from '../../src/server/warm.ts';
import { MAX_TERMINALS as PAGE_MAX_TERMINALS } from '../../src/scripts/terminal/protocol.ts';
import { localLocation, requestUrl } from '../../src/server/auth.ts';
import { TokenBucket } from '../../src/server/flow.ts';
import { parseOptions } from '../../src/server/options.ts';
import { SessionManager, REATTACH, MAX_TERMINALS } from '../../src/server/sessions.ts';
import type { Attachment } from '../../src/server/sessions.ts';
import type { Sandbox, SandboxDriver } from '../../src/server/sandbox.ts';
import { cgroupProcesses, childCgroups, subdirectories, WalkBudget, WALK_LIMITS } from '../../src/server/panel-stats.ts';

describe('the frame parser under type confusion', () => {
  const WRONG = ['{"toString":1}', '{"valueOf":1,"toString":1}', '[]', 'null', '1e400', '"NaN"', '{"__proto__":{"a":1}}'];
  const FIELDS: Record<string, string[]> = { resize: ['cols', 'rows'], ack: ['bytes'], check: ['lesson', 'exercise'], panel: ['on', 'tab'] };

  it('never throws, and names a wrong "type" by its kind (String() of {"toString":1} threw)', () => {
    expect(parseClientMessage('{"type":{"toString":1}}')).toEqual({ ok: false, error: 'unknown message type an object' });
    expect(parseClientMessage('{"type":["resize"]}')).toEqual({ ok: false, error: 'unknown message type a list' });
    expect(parseClientMessage(`{"type":"${'x'.repeat(1000)}"}`)).toEqual({ ok: false, error: `unknown message type "${'x'.repeat(32)}"` });
    for (const [type, fields] of Object.entries(FIELDS)) {
      for (const f of fields) {
        for (const w of WRONG) {
          const text = `{"type":"${type}","${f}":${w}}`;
          const r = parseClientMessage(text);
          expect(r.ok, text).toBe(false);
        }
      }
    }
  });

  it('reads own properties only: a "__proto__" key is data, not a prototype', () => {
    expect(parseClientMessage('{"__proto__":{"type":"ack","bytes":1}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"ack","__proto__":{"bytes":5}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"panel","on":true,"__proto__":{"tab":"nope"}}')).toEqual({ ok: true, message: { type: 'panel', on: true } });
    expect(({} as Record<string, unknown>).bytes).toBeUndefined(); // nothing was polluted
  });
});

describe('redirects stay on this server', () => {
  it.each([
    ['/.//evil.example/', '/evil.example/'],
    ['//evil.example/', '/evil.example/'],
    ['/\\evil.example/', '/evil.example/'],
    ['/%2F%2Fevil.example/', '/%2F%2Fevil.example/'],
    ['///evil.example/a?b=1', '/evil.example/a?b=1'],
    ['/lessons/en/pid/?x=1', '/lessons/en/pid/?x=1'],
  ])('%s -> %s', (target, location) => {
    const url = requestUrl(target)!;
    const got = localLocation(url.pathname + url.search);
    expect(got).toBe(location);
    expect(new URL(got, 'http://lab.example:4321/').host).toBe('lab.example:4321');
  });

  it('encodes what a browser would read as a host or drop', () => {
    expect(localLocation('/\\\\evil.example')).toBe('/%5C%5Cevil.example');
    expect(localLocation('//\t/evil.example')).toBe('/%09/evil.example');
    expect(requestUrl('http://evil.example/a?b=1')!.host).toBe('x');
    expect(requestUrl('http://evil.example/a?b=1')!.pathname).toBe('/a');
    expect(requestUrl('*')).toBeNull();
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then refills at its rate; a big take goes into debt', () => {
    let now = 0;
    const b = new TokenBucket(3, 2, () => now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    expect(b.waitMs()).toBe(500);
    now += 500;
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    now += 10_000;
    expect(b.take(10)).toBe(true); // 3 tokens, 10 taken: 7 in debt
    expect(b.take()).toBe(false);
    expect(b.waitMs()).toBe(4000);
  });
});

describe('sandbox limits per client', () => {
  function fakeDriver(): SandboxDriver & { started: number; shells: number } {
    const shell = () => ({ write() {}, resize() {}, pause() {}, resume() {}, onData() {}, onExit() {}, destroy: async () => {} });
    const d = {
      kind: 'fake',
      started: 0,
      shells: 0,
      start(name: string): Sandbox {
        d.started++;
        return {
          ...shell(), name,
          exec: async () => ({ code: 0, output: '', timedOut: false }),
          openShell: () => { d.shells++; return shell(); },
        };
      },
    };
    return d;
  }
  const page = (): Attachment => ({ output() {}, ended() {}, takenOver() {}, shutdown() {} });

  it('counts by client id and by address; a client without an id is held to the address limit', async () => {
    const m = new SessionManager({ driver: fakeDriver(), maxSandboxes: 10, maxPerClient: 2, maxPerAddress: 3, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const a = { id: 'browser-a-0123456789', address: '10.0.0.1' };
    expect(m.attach('session-a1', page(), 80, 24, a).ok).toBe(true);
    expect(m.attach('session-a2', page(), 80, 24, a).ok).toBe(true);
    expect(m.attach('session-a3', page(), 80, 24, a)).toMatchObject({ ok: false, full: true, said: { code: 'srvClientLimit', n: 2 } });
    // The same session again is a reload, not a new sandbox.
    expect(m.attach('session-a1', page(), 80, 24, a)).toMatchObject({ ok: true, resumed: true });
    expect(m.attach('session-b1', page(), 80, 24, { id: 'browser-b-0123456789', address: '10.0.0.1' }).ok).toBe(true);
    expect(m.attach('session-c1', page(), 80, 24, { id: null, address: '10.0.0.1' })).toMatchObject({ ok: false, said: { code: 'srvAddressLimit', n: 3 } });
    expect(m.attach('session-d1', page(), 80, 24, { id: null, address: '10.0.0.2' }).ok).toBe(true);
    expect(m.size).toBe(4);
    await m.close();
  });

  it('more terminals in one sandbox: up to MAX_TERMINALS, its own browser only, no new sandbox', async () => {
    const driver = fakeDriver();
    const m = new SessionManager({ driver, maxSandboxes: 10, maxPerClient: 1, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const a = { id: 'browser-a-0123456789', address: '10.0.0.1' };
    expect(m.attachExtra('session-a1', 2, page(), 80, 24, a)).toMatchObject({ ok: false, said: { code: 'srvNoFirstTerminal' } });
    expect(m.attach('session-a1', page(), 80, 24, a).ok).toBe(true);
    const extras = [2, 3, 4].map((n) => m.attachExtra('session-a1', n, page(), 80, 24, a));
    for (const r of extras) expect(r.ok).toBe(true);
    expect(m.attachExtra('session-a1', 4, page(), 80, 24, a)).toMatchObject({ ok: true, resumed: true });
    // The limit of one sandbox per browser is not touched: they are terminals, not sandboxes.
    expect(driver.started).toBe(1);
    expect(driver.shells).toBe(3);
    expect(m.attachExtra('session-a1', 2, page(), 80, 24, { id: 'browser-b-0123456789', address: '10.0.0.1' })).toMatchObject({ ok: false, said: { code: 'srvOtherBrowser' } });
    const first = extras[0]!;
    if (!first.ok) throw new Error('unreachable');
    m.closeExtra(first.terminal);
    expect(m.get('session-a1')!.extras.size).toBe(2);
    expect(m.attachExtra('session-a1', 2, page(), 80, 24, a)).toMatchObject({ ok: true, resumed: false });
    await m.close();
  });

  it('a fifth terminal is refused, saying why and what to do', async () => {
    const m = new SessionManager({ driver: fakeDriver(), maxSandboxes: 10, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const a = { id: 'browser-a-0123456789', address: '10.0.0.1' };
    m.attach('session-a1', page(), 80, 24, a);
    for (const n of [2, 3, 4]) expect(m.attachExtra('session-a1', n, page(), 80, 24, a).ok).toBe(true);
    expect(m.attachExtra('session-a1', 5, page(), 80, 24, a)).toMatchObject({ ok: false, said: { code: 'srvTerminalLimit', n: MAX_TERMINALS } });
    expect(m.get('session-a1')!.extras.size).toBe(3);
    await m.close();
  });

  it("refuses another browser's session id: a session is its own browser's, token or not", async () => {
    const m = new SessionManager({ driver: fakeDriver(), maxSandboxes: 10, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const a = { id: 'browser-a-0123456789', address: '10.0.0.1' };
    expect(m.attach('session-a1', page(), 80, 24, a).ok).toBe(true);
    expect(m.attach('session-a1', page(), 80, 24, { id: 'browser-b-0123456789', address: '10.0.0.1' }))
      .toMatchObject({ ok: false, full: false, said: { code: 'srvOtherBrowser' } });
    expect(m.attach('session-a1', page(), 80, 24, { id: null, address: '10.0.0.1' })).toMatchObject({ ok: false });
    expect(m.attach('session-a1', page(), 80, 24, a)).toMatchObject({ ok: true, resumed: true });
    // Without a client id, the address it came from is what it has.
    expect(m.attach('session-n1', page(), 80, 24, { id: null, address: '10.0.0.2' }).ok).toBe(true);
    expect(m.attach('session-n1', page(), 80, 24, { id: null, address: '10.0.0.3' })).toMatchObject({ ok: false });
    expect(m.attach('session-n1', page(), 80, 24, { id: null, address: '10.0.0.2' })).toMatchObject({ ok: true, resumed: true });
    await m.close();
  });

  it("a browser's new tab replaces the sandbox of a tab it closed, never one with a page", async () => {
    const m = new SessionManager({ driver: fakeDriver(), maxSandboxes: 3, maxPerClient: 2, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const a = { id: 'browser-a-0123456789', address: '10.0.0.1' };
    const tab1 = page();
    const first = m.attach('session-a1', tab1, 80, 24, a);
    expect(m.attach('session-a2', page(), 80, 24, a).ok).toBe(true);
    expect(m.attach('session-a3', page(), 80, 24, a).ok).toBe(false); // both tabs still open
    if (first.ok) m.detach(first.session, tab1); // the first tab is closed
    expect(m.attach('session-a3', page(), 80, 24, a).ok).toBe(true);
    expect(m.get('session-a1')).toBeUndefined();
    expect(m.size).toBe(2);
    // The lab full: another browser's closed tab is not this one's to take.
    const b = { id: 'browser-b-0123456789', address: '10.0.0.2' };
    const tabB = page();
    const rb = m.attach('session-b1', tabB, 80, 24, b);
    if (rb.ok) m.detach(rb.session, tabB);
    expect(m.attach('session-c1', page(), 80, 24, { id: 'browser-c-0123456789', address: '10.0.0.3' })).toMatchObject({ ok: false, full: true });
    await m.close();
  });

  it('refuses a loop of re-attaches to one session, and lets it back after a pause', async () => {
    const m = new SessionManager({ driver: fakeDriver(), maxSandboxes: 10, graceMs: 60_000, idleMs: 3_600_000, log: () => {} });
    const c = { id: null, address: '127.0.0.1' };
    expect(m.attach('session-loop', page(), 80, 24, c).ok).toBe(true);
    const results = Array.from({ length: REATTACH.burst + 5 }, () => m.attach('session-loop', page(), 80, 24, c));
    expect(results.filter((r) => r.ok)).toHaveLength(REATTACH.burst);
    expect(results.at(-1)).toMatchObject({ ok: false, retry: true });
    await m.close();
  });

  it('options: three per browser and forty per address by default, both settable', () => {
    expect(parseOptions([])).toMatchObject({ maxPerClient: 3, maxPerAddress: 40 });
    expect(parseOptions(['--max-per-client', '1', '--max-per-address=100'])).toMatchObject({ maxPerClient: 1, maxPerAddress: 100 });
    expect(() => parseOptions(['--max-per-client', '0'])).toThrow(/--max-per-client must be from 1/);
  });
});

describe('the walk of a big cgroup tree is capped', () => {
  let root = '';
  beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-walk-')); });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads at most its budget of entries of a directory of thousands, and says it stopped short', async () => {
    const top = path.join(root, 'pids/box/box-sandbox');
    fs.mkdirSync(top, { recursive: true });
    fs.writeFileSync(path.join(top, 'cgroup.procs'), '101\n');
    for (let i = 0; i < 3000; i++) fs.mkdirSync(path.join(top, `g${i}`));
    const budget = new WalkBudget(100);
    const names = await subdirectories(top, budget);
    expect(names.length).toBeLessThan(100);
    expect(budget.capped).toBe(true);

    const layout = { version: 1 as const, dirs: { pids: top } };
    const groups = await childCgroups(layout);
    expect(groups.capped).toBe(true);
    const procs = await cgroupProcesses(layout);
    expect(procs).toEqual({ found: [101], capped: true });
    // A small tree is read whole.
    fs.rmSync(top, { recursive: true });
    fs.mkdirSync(path.join(top, 'box', 'box-aaaaaaaaaaaa'), { recursive: true });
    expect(await childCgroups(layout)).toEqual({ found: ['box/box-aaaaaaaaaaaa'], capped: false });
    expect(WALK_LIMITS.entries).toBeGreaterThan(24);
  });
});

describe('terminal tabs and warm sandboxes: parsing and the pool', () => {
  it('reads term=, the close frame and --warm-sandboxes', () => {
    expect(terminalIndex(null)).toBe(1);
    expect(terminalIndex('2')).toBe(2);
    for (const bad of ['0', '02', '-1', '2.0', 'x', '100', '']) expect(terminalIndex(bad), bad).toBeNull();
    expect(parseClientMessage('{"type":"close"}')).toEqual({ ok: true, message: { type: 'close' } });
    // The page's "+" stops where the server does.
    expect(PAGE_MAX_TERMINALS).toBe(MAX_TERMINALS);
    expect(parseOptions([], {}).warmSandboxes).toBe(1);
    expect(parseOptions(['--warm-sandboxes', '0'], {}).warmSandboxes).toBe(0);
    expect(() => parseOptions(['--warm-sandboxes', 'many'], {})).toThrow(/--warm-sandboxes needs a whole number from 0 to 100, got "many"/);
  });

  /** A driver whose sandboxes the test ends by hand (`exit(i, code)`). */
  function scriptedDriver() {
    const made: { name: string; exit: (code: number) => void; data: (s: string) => void; destroyed: boolean }[] = [];
    const driver: SandboxDriver = {
      kind: 'scripted',
      start(name: string): Sandbox {
        const exits: ((code: number) => void)[] = [];
        const datas: ((b: Buffer) => void)[] = [];
        const entry = { name, exit: (c: number) => exits.forEach((f) => f(c)), data: (s: string) => datas.forEach((f) => f(Buffer.from(s))), destroyed: false };
        made.push(entry);
        return {
          name, write() {}, resize() {}, pause() {}, resume() {},
          onData: (f) => { datas.push(f); }, onExit: (f) => { exits.push(f); },
          exec: async () => ({ code: 0, output: '', timedOut: false }),
          openShell: () => { throw new Error('not here'); },
          destroy: async () => { entry.destroyed = true; },
        };
      },
    };
    return { driver, made };
  }

  it('hands the prompt printed while waiting to the reader, and one that dies before is replaced later', async () => {
    const { driver, made } = scriptedDriver();
    const logs: string[] = [];
    let room = true;
    const pool = new WarmPool({ driver, size: 1, room: () => room, log: (l) => logs.push(l) });
    pool.fill();
    expect(pool.names()).toEqual([made[0]!.name]);
    expect(pool.names(true)).toEqual([]);
    made[0]!.data('lab# ');
    expect(pool.names(true)).toEqual([made[0]!.name]);
    room = false; // the lab is full: nothing is made after this one is taken
    const got = pool.take()!;
    const seen: string[] = [];
    got.hand((b) => seen.push(b.toString()), () => {});
    made[0]!.data('more');
    expect(seen).toEqual(['lab# ', 'more']);
    await new Promise((r) => setImmediate(r));
    expect(made).toHaveLength(1);
    room = true;
    pool.fill();
    expect(made).toHaveLength(2);
    // It ends before anyone had it: removed, and the next is not made at once (no busy loop).
    made[1]!.exit(1);
    expect(made[1]!.destroyed).toBe(true);
    expect(pool.names()).toEqual([]);
    pool.fill();
    expect(made).toHaveLength(2);
    expect(logs.some((l) => /made ahead, ended by itself \(status 1\)/.test(l))).toBe(true);
    await pool.close();
  });

  it('close removes the ones waiting and makes no more', async () => {
    const { driver, made } = scriptedDriver();
    const pool = new WarmPool({ driver, size: 2, room: () => true, log: () => {} });
    pool.fill();
    expect(made).toHaveLength(2);
    await pool.close();
    expect(made.every((m) => m.destroyed)).toBe(true);
    pool.fill();
    expect(made).toHaveLength(2);
    expect(pool.take()).toBeUndefined();
  });
});
