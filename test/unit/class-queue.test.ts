import { describe, expect, it } from 'vitest';
import { WaitQueue } from '../../src/server/queue.ts';

describe('the line for a full lab', () => {
  it('keeps places in order, gives them up when not claimed again, and lets the first go first', () => {
    let t = 0;
    const q = new WaitQueue(30_000, () => t);
    expect(q.place('a')).toBe(1);
    expect(q.place('b')).toBe(2);
    expect(q.place('c')).toBe(3);
    t = 10_000;
    expect(q.place('b')).toBe(2); // a retry keeps its place
    expect(q.ahead('c')).toBe(2);
    expect(q.ahead('newcomer')).toBe(3);
    q.leave('a'); // a got a sandbox
    expect(q.place('c')).toBe(2);
    t = 45_000; // b retried at 10 s and c at 10 s; neither since: both given up
    expect(q.size).toBe(0);
    expect(q.place('d')).toBe(1);
  });
});
