// The kernel panel on the server (src/server/panel.ts) and on the wire: a session's panel
// reads its trace file all the time, and sends frames only while the page says it shows the
// panel. The last tests go through a real lab server and WebSocket, with the host-shell
// driver (no box needed): its shell has BOX_TRACE_FILE too.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KernelPanel } from '../../src/server/panel.ts';
import type { KernelView, PanelSink } from '../../src/server/panel.ts';
import { parseClientMessage } from '../../src/server/protocol.ts';
import { startInProcess, TEST_TOKEN } from '../e2e/harness.ts';
import type { LabServer } from '../../src/server/app.ts';
import { LabClient } from '../e2e/lab-client.ts';

type Frame = Record<string, unknown> & { type: string };

let dir = '';
let traceFile = '';
let panel: KernelPanel | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isolab-panel-server-'));
  traceFile = path.join(dir, 'trace.jsonl');
});
afterEach(() => {
  panel?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function sink(): PanelSink & { frames: Frame[]; of(type: string): Frame[] } {
  const frames: Frame[] = [];
  return {
    frames,
    send: (f) => { frames.push(f); },
    congested: () => false,
    of: (type) => frames.filter((f) => f.type === type),
  };
}

/** This very process stands in for the sandbox: its namespaces are the host's. */
const view = (): KernelView => ({ traceFile, locate: async () => ({ pid: process.pid, cgroup: null }), processes: () => [process.pid] });
const ev = (inv: string, call: string) => JSON.stringify({ kind: 'syscall', who: 'init', call, args: '', result: 0, t: 1, invocation: inv }) + '\n';

async function until<T>(get: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('KernelPanel', () => {
  it('sends the record so far when shown, then each new line as box writes it', async () => {
    fs.writeFileSync(traceFile, ev('1-1', 'unshare'));
    panel = new KernelPanel(view());
    const s = sink();
    panel.show(s);
    expect(s.of('trace')[0]).toMatchObject({ reset: true, events: [{ call: 'unshare', inv: '1-1' }] });
    fs.appendFileSync(traceFile, ev('1-1', 'pivot_root') + 'junk line\n');
    const next = await until(() => s.of('trace')[1]);
    expect(next).toMatchObject({ reset: false, events: [{ call: 'pivot_root' }] });
    expect((next.events as unknown[]).length).toBe(1);
  });

  it('reads the trace while hidden, and sends none of it until shown again', async () => {
    panel = new KernelPanel(view());
    const s = sink();
    panel.show(s);
    panel.hide(s);
    const before = s.frames.length;
    fs.appendFileSync(traceFile, ev('2-1', 'mount'));
    await new Promise((r) => setTimeout(r, 300));
    expect(s.frames.length).toBe(before);
    const again = sink();
    panel.show(again);
    expect(again.of('trace')[0]).toMatchObject({ reset: true, events: [{ call: 'mount' }] });
  });

  it('says why there are no counters, and sends namespaces only when they change', async () => {
    panel = new KernelPanel(view());
    const s = sink();
    panel.show(s);
    const stats = await until(() => s.of('stats')[0]);
    expect(stats.unavailable).toMatch(/no cgroup of its own/);
    const ns = await until(() => s.of('namespaces')[0]);
    expect((ns.processes as { pid: number }[]).map((p) => p.pid)).toEqual([process.pid]);
    await new Promise((r) => setTimeout(r, 1200)); // two more samples, nothing changed
    expect(s.of('namespaces')).toHaveLength(1);
    panel.hide(s);
    const n = s.frames.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(s.frames.length).toBe(n);
  });

  it('looks at namespaces only while their view is shown; the counters go on under every view', async () => {
    panel = new KernelPanel(view());
    const s = sink();
    panel.show(s, 'trace');
    await until(() => s.of('stats')[0]);
    await new Promise((r) => setTimeout(r, 700));
    expect(s.of('namespaces')).toEqual([]);
    panel.show(s, 'namespaces'); // the reader turned to the Namespaces tab
    await until(() => s.of('namespaces')[0]);
    expect(s.of('trace')).toHaveLength(1); // no second copy of the record for a change of view
    panel.show(s, 'resources');
    const n = s.of('namespaces').length;
    await new Promise((r) => setTimeout(r, 700));
    expect(s.of('namespaces')).toHaveLength(n);
  });

  it('a hide from a socket that was replaced does not stop the new one', async () => {
    panel = new KernelPanel(view());
    const old = sink();
    const current = sink();
    panel.show(old);
    panel.show(current);
    panel.hide(old);
    expect(panel.showing).toBe(true);
  });
});

describe('the panel message', () => {
  it('is {"type":"panel","on":true|false}', () => {
    expect(parseClientMessage('{"type":"panel","on":true}')).toEqual({ ok: true, message: { type: 'panel', on: true } });
    expect(parseClientMessage('{"type":"panel","on":false}')).toEqual({ ok: true, message: { type: 'panel', on: false } });
    expect(parseClientMessage('{"type":"panel","on":"yes"}')).toEqual({ ok: false, error: 'panel needs "on": true or false' });
    expect(parseClientMessage('{"type":"panel"}')).toMatchObject({ ok: false });
    expect(parseClientMessage('{"type":"panel","on":true,"tab":"namespaces"}')).toEqual({ ok: true, message: { type: 'panel', on: true, tab: 'namespaces' } });
    expect(parseClientMessage('{"type":"panel","on":true,"tab":"../etc"}')).toMatchObject({ ok: false, error: expect.stringMatching(/trace, resources, namespaces/) });
  });
});

describe('the panel over a lab WebSocket (host shell)', () => {
  let server: LabServer;
  beforeAll(async () => { server = await startInProcess(); });
  afterAll(async () => { await server?.close(); });

  it('sends nothing for the panel until the page asks, then what box writes to BOX_TRACE_FILE', async () => {
    const c = new LabClient(server.port, { token: TEST_TOKEN });
    await c.until(() => c.messages.find((m) => m.type === 'hello'));
    await c.until(() => /\$ $/.test(c.text()), 15_000, 'prompt');
    const line = JSON.stringify({ kind: 'command', who: 'box', t: 0, argv: ['box', 'run', 'x'], invocation: '9-9' });
    c.ws.send(Buffer.from(`echo '${line}' >> "$BOX_TRACE_FILE"; echo WRO""TE\n`));
    await c.until(() => /WROTE\r\n/.test(c.text()), 15_000, 'write');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.messages.filter((m) => ['trace', 'stats', 'namespaces'].includes(m.type))).toEqual([]);

    c.ws.send(JSON.stringify({ type: 'panel', on: true }));
    const trace = await c.until(() => c.messages.find((m) => m.type === 'trace'));
    expect(trace).toMatchObject({ reset: true, events: [{ kind: 'command', argv: ['box', 'run', 'x'], inv: '9-9' }] });
    // The shell's processes and their namespaces (the host's, in this mode).
    const ns = await c.until(() => c.messages.find((m) => m.type === 'namespaces'));
    expect((ns.processes as { comm: string }[]).map((p) => p.comm)).toContain('bash');

    c.ws.send(JSON.stringify({ type: 'panel', on: 'maybe' }));
    await c.until(() => c.messages.find((m) => m.type === 'error'));
    c.ws.close();
  });
});
