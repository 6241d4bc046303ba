// The engine's request format: what box-client.c sends, read back piece by piece as it may
// arrive over a socket, and refused when it is not a request.

import { describe, expect, it } from 'vitest';
import { encodeRequest, parseRequest, sayLines, type Request } from '../../runtime/src/engine/protocol.ts';

const req: Request = {
  cwd: '/home/reader', rows: 30, cols: 100, stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: false,
  argv: ['run', '--rm', 'busybox', 'sh', '-c', 'echo "a\nb" = ok'], env: { PATH: '/usr/bin', EMPTY: '', 'WITH=EQ': 'x' },
};

describe('engine protocol', () => {
  it('reads a whole request back, with arguments that hold newlines and spaces', () => {
    const buf = encodeRequest(req);
    const parsed = parseRequest(buf);
    expect(parsed?.length).toBe(buf.length);
    expect(parsed?.request.argv).toEqual(req.argv);
    expect(parsed?.request).toMatchObject({ cwd: '/home/reader', rows: 30, cols: 100, stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: false });
    expect(parsed?.request.env).toEqual({ PATH: '/usr/bin', EMPTY: '', WITH: 'EQ=x' });
  });

  it('waits for the rest of a request that arrives in pieces, and leaves what follows it', () => {
    const buf = Buffer.concat([encodeRequest(req), Buffer.from('got\n')]);
    for (let cut = 0; cut < buf.length - 4; cut += 7) expect(parseRequest(buf.subarray(0, cut))).toBeNull();
    const parsed = parseRequest(buf)!;
    expect(buf.subarray(parsed.length).toString()).toBe('got\n');
  });

  it('refuses what is not a request', () => {
    expect(() => parseRequest(Buffer.from('GET / HTTP/1.1\0'))).toThrow(/not a box-engine request/);
    expect(() => parseRequest(Buffer.from('box-engine 1\0/\0many\0'))).toThrow(/bad rows/);
  });

  it('sends a message of several lines as one say line each', () => {
    expect(sayLines('box: one\nbox: two\n')).toBe('say box: one\nsay box: two\n');
  });
});
