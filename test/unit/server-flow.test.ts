import { describe, expect, it } from 'vitest';
import { FlowControl, Scrollback } from '../../src/server/flow.ts';

describe('flow control watermarks', () => {
  function recorder(high = 100, low = 20) {
    const events: string[] = [];
    const flow = new FlowControl(() => events.push('pause'), () => events.push('resume'), high, low);
    return { flow, events };
  }

  it('pauses above the high watermark and resumes at the low one', () => {
    const { flow, events } = recorder();
    flow.sent(60, 0);
    flow.sent(40, 0);
    expect(events).toEqual([]); // exactly at high: still flowing
    flow.sent(1, 0);
    expect(events).toEqual(['pause']);
    flow.sent(50, 0); // in flight when we paused: counted, no second pause
    flow.acked(100, 0);
    expect(flow.unacked).toBe(51);
    expect(events).toEqual(['pause']);
    flow.acked(31, 0);
    expect(events).toEqual(['pause', 'resume']);
    expect(flow.paused).toBe(false);
  });

  it('does not let an over-ack go negative', () => {
    const { flow, events } = recorder();
    flow.sent(10, 0);
    flow.acked(1_000_000, 0);
    expect(flow.unacked).toBe(0);
    flow.sent(101, 0);
    expect(events).toEqual(['pause']);
  });

  it('also pauses on a full socket buffer, whatever the acks say', () => {
    const { flow, events } = recorder();
    flow.sent(10, 500);
    flow.acked(10, 500); // a lying client acks at once
    expect(events).toEqual(['pause']);
    flow.drained(50);
    expect(events).toEqual(['pause']);
    flow.drained(20);
    expect(events).toEqual(['pause', 'resume']);
  });
});

describe('scrollback', () => {
  it('keeps the last bytes, cut at a line start', () => {
    const s = new Scrollback(100);
    for (let i = 0; i < 50; i++) s.push(Buffer.from(`line ${i}\r\n`));
    const text = s.contents().toString();
    expect(text.length).toBeLessThanOrEqual(100);
    expect(text.startsWith('line ')).toBe(true);
    expect(text.endsWith('line 49\r\n')).toBe(true);
  });

  it('bounds memory however much is pushed', () => {
    const s = new Scrollback(64 * 1024);
    const chunk = Buffer.alloc(1000, 0x79);
    for (let i = 0; i < 10_000; i++) s.push(chunk);
    expect(s.size).toBeLessThan(64 * 1024 + 1000);
    expect(s.contents().length).toBeLessThanOrEqual(64 * 1024);
  });

  it('does not start inside a UTF-8 character when there is no newline', () => {
    const s = new Scrollback(10);
    s.push(Buffer.from('ééééééééé')); // 18 bytes, 2 each
    const out = s.contents();
    expect(out.toString('utf8')).toMatch(/^é+$/);
  });
});
