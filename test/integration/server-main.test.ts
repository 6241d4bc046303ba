// `npm start` itself: the command line is checked before anything starts, and refusals are
// one line on stderr with exit status 2.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { NODE, REPO } from '../e2e/harness.ts';

function start(args: string[]) {
  return spawnSync(NODE, ['src/server/main.ts', ...args], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
}

describe('npm start (src/server/main.ts)', () => {
  it.each([
    [['--host', '0.0.0.0'], /^isolab: refusing to listen on 0\.0\.0\.0 without --token: .* pass --token <secret> or use --host 127\.0\.0\.1\n$/],
    [['--host', '192.0.2.7', '--unsafe-host-shell', '--token', 'a-long-enough-secret'], /^isolab: --unsafe-host-shell .* loopback --host only\n$/],
    [['--port', 'eighty'], /^isolab: --port needs a whole number from 0 to 65535, got "eighty"\n$/],
    [['--frobnicate'], /^isolab: unknown option "--frobnicate" \(see --help\)\n$/],
  ])('refuses %j in one line, exit 2, before building or listening', (args, message) => {
    const r = start(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('says which port is taken, exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = start(['--port', String(port), '--no-build']);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n').pop()).toMatch(new RegExp(`^isolab: (port ${port} is in use; pick another with --port|dist/ has no built site.*)$`));
    } finally {
      blocker.close();
    }
  });
});
