import { describe, expect, it } from 'vitest';
import { isLoopback, parseOptions, UsageError } from '../../src/server/options.ts';

describe('lab server options', () => {
  it('defaults to loopback port 4321 with a fresh 32-byte token', () => {
    const a = parseOptions([]);
    const b = parseOptions([]);
    expect(a).toMatchObject({ host: '127.0.0.1', port: 4321, maxSandboxes: 8, graceSeconds: 60, build: true, tokenGiven: false });
    expect(a.token).toMatch(/^[0-9a-f]{64}$/);
    expect(a.token).not.toBe(b.token);
  });

  it('reads every flag, in both --flag value and --flag=value forms', () => {
    const o = parseOptions(['--host', '::1', '--port=8080', '--max-sandboxes', '3', '--idle-minutes=5',
      '--grace-seconds', '0', '--token', 'correct-horse-battery', '--no-build']);
    expect(o).toMatchObject({ host: '::1', port: 8080, maxSandboxes: 3, idleMinutes: 5, graceSeconds: 0,
      token: 'correct-horse-battery', tokenGiven: true, build: false });
  });

  it('refuses a non-loopback host without an explicit token, with the fix in the message', () => {
    expect(() => parseOptions(['--host', '0.0.0.0'])).toThrow(UsageError);
    expect(() => parseOptions(['--host', '0.0.0.0'])).toThrow(/--token/);
    expect(() => parseOptions(['--host', '192.168.1.5'])).toThrow(/refusing to listen on 192\.168\.1\.5/);
    expect(parseOptions(['--host', '0.0.0.0', '--token', 'a-long-enough-secret']).host).toBe('0.0.0.0');
  });

  it('allows the unsafe host shell on loopback only', () => {
    expect(parseOptions(['--unsafe-host-shell']).unsafeHostShell).toBe(true);
    expect(() => parseOptions(['--unsafe-host-shell', '--host', '10.0.0.1', '--token', 'a-long-enough-secret'])).toThrow(/loopback/);
  });

  it.each([
    [['--port', '70000'], /--port must be from 0 to 65535/],
    [['--port', 'http'], /--port needs a whole number/],
    [['--port'], /got nothing/],
    [['--max-sandboxes', '0'], /--max-sandboxes must be from 1/],
    [['--token', 'short'], /--token needs 16 to 256/],
    [['--token', 'has;semicolon-in-it'], /--token needs/],
    [['--bogus'], /unknown option "--bogus"/],
    [['--host'], /--host needs an address/],
  ])('refuses %j in one line', (argv, message) => {
    let err: unknown;
    try { parseOptions(argv as string[]); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('knows which addresses are loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1']) expect(isLoopback(h), h).toBe(false);
  });
});
