// The browser side of the terminal protocol: frames, session ids, reconnection, flow control.
import { describe, it, expect, vi } from 'vitest';
import {
  AckBatcher,
  chunkInput,
  newSessionId,
  parseServerFrame,
  reconnectDelay,
  tabSessionId,
  terminalUrl,
  SESSION_KEY,
} from '../../src/scripts/terminal/protocol.ts';

describe('parseServerFrame', () => {
  it('accepts the frames of the contract', () => {
    expect(parseServerFrame('{"type":"hello","session":"abc","sandbox":"lab-1","resumed":true}')).toEqual({
      type: 'hello',
      session: 'abc',
      sandbox: 'lab-1',
      resumed: true,
    });
    expect(parseServerFrame('{"type":"check","exercise":"x","pass":false,"hint":"h"}')?.type).toBe('check');
    expect(parseServerFrame('{"type":"full"}')).toEqual({ type: 'full' });
  });

  it('ignores what is not a frame it knows', () => {
    for (const bad of ['', 'not json', '[]', 'null', '42', '{"type":"launch-missiles"}', '{"no":"type"}']) {
      expect(parseServerFrame(bad), bad).toBeUndefined();
    }
  });
});

describe('session ids', () => {
  function memoryStorage(initial: Record<string, string> = {}) {
    const data = new Map(Object.entries(initial));
    return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), data };
  }

  it('are 128 random bits in hex, different each time', () => {
    const a = newSessionId();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(newSessionId()).not.toBe(a);
  });

  it('are kept per tab so a reload finds the same sandbox', () => {
    const storage = memoryStorage();
    const first = tabSessionId(storage);
    expect(storage.data.get(SESSION_KEY)).toBe(first);
    expect(tabSessionId(storage)).toBe(first);
  });

  it('replace a stored value the server would refuse', () => {
    const storage = memoryStorage({ [SESSION_KEY]: 'x y<script>' });
    const id = tabSessionId(storage);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(storage.data.get(SESSION_KEY)).toBe(id);
  });

  it('still work when storage throws (a sandboxed iframe, storage disabled)', () => {
    const broken = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
    };
    expect(tabSessionId(broken)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('terminalUrl', () => {
  it('follows the page: ws on http, wss on https, same host and port', () => {
    expect(terminalUrl({ protocol: 'http:', host: '127.0.0.1:4321' }, 'abc123ef', 120, 40)).toBe(
      'ws://127.0.0.1:4321/ws/terminal?session=abc123ef&cols=120&rows=40',
    );
    expect(terminalUrl({ protocol: 'https:', host: 'lab.example' }, 'abc123ef', 80, 24)).toMatch(/^wss:\/\/lab\.example\//);
  });
});

describe('reconnectDelay', () => {
  it('starts quick, doubles, and never waits more than 8 s', () => {
    const top = (n: number) => reconnectDelay(n, () => 1);
    const bottom = (n: number) => reconnectDelay(n, () => 0);
    expect([0, 1, 2, 3, 4, 5, 6, 10, 30].map(top)).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
    // Jitter spreads a classroom's tabs over the upper half of each window.
    expect(bottom(0)).toBe(125);
    expect(bottom(5)).toBe(4000);
  });
});

describe('chunkInput', () => {
  it('leaves ordinary input alone', () => {
    expect(chunkInput('ls -l\r')).toEqual(['ls -l\r']);
  });

  it('splits a big paste into pieces the server accepts, without breaking a character', () => {
    const emoji = '😀'; // two UTF-16 units
    const paste = 'a'.repeat(8191) + emoji + 'b'.repeat(20000);
    const chunks = chunkInput(paste);
    expect(chunks.join('')).toBe(paste);
    for (const c of chunks) {
      expect(new TextEncoder().encode(c).length).toBeLessThanOrEqual(64 * 1024);
      expect(c.length).toBeLessThanOrEqual(8192);
      expect(() => encodeURIComponent(c)).not.toThrow(); // no lone surrogate
    }
    expect(chunks[0]).toBe('a'.repeat(8191));
  });
});

describe('AckBatcher', () => {
  it('acks big writes at once and small ones shortly after, as deltas', () => {
    vi.useFakeTimers();
    try {
      const sent: number[] = [];
      const acks = new AckBatcher((n) => sent.push(n), 1000, 20);
      acks.written(600);
      acks.written(600);
      expect(sent).toEqual([1200]);
      acks.written(10);
      acks.written(5);
      expect(sent).toEqual([1200]);
      vi.advanceTimersByTime(20);
      expect(sent).toEqual([1200, 15]);
      vi.advanceTimersByTime(1000);
      expect(sent).toEqual([1200, 15]); // nothing more was written, nothing more is acked
    } finally {
      vi.useRealTimers();
    }
  });

  it('forgets what a dropped socket owed', () => {
    vi.useFakeTimers();
    try {
      const sent: number[] = [];
      const acks = new AckBatcher((n) => sent.push(n), 1000, 20);
      acks.written(100);
      acks.reset();
      vi.advanceTimersByTime(100);
      expect(sent).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
