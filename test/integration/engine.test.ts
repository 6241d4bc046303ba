// The engine (`box engine start`) and its C client, on the real kernel: `box run` served by a
// long-lived box must behave exactly as the CLI does (output, exit codes, stdin, terminals,
// signals, errors, clean-up), and everything the engine does not serve must still work.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { box, boxAsync, boxInTerminal, checkTerminalBasics, cgroupDirsFor, inspect, rootReason, tempBoxRoot, until } from './helpers.ts';
import { needs } from '../support/requires.ts';

const served = (root: string): number => Number(/(\d+) served/.exec(box(root, ['engine', 'status']).stdout)?.[1] ?? -1);

needs(rootReason).describe('box engine', () => {
  let root: string;
  beforeAll(() => {
    root = tempBoxRoot('engine');
  });
  afterAll(() => {
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('says when it is not running, starts, and listens on a socket only root may use', () => {
    const status = box(root, ['engine', 'status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("the engine is not running; 'box engine start' starts it");
    const start = box(root, ['engine', 'start']);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/engine started \(pid \d+\)/);
    const sock = fs.statSync(path.join(root, 'engine.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(box(root, ['engine', 'start']).stdout).toContain('already running');
    expect(box(root, ['engine', 'status']).stdout).toMatch(/engine: running, pid \d+[\s\S]*0 running, 0 served/);
  });

  it('serves box run: the output, the exit code, stdin, -e from the caller, --trace', () => {
    const before = served(root);
    const hi = box(root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(hi).toMatchObject({ code: 3, stdout: 'hi\n', stderr: 'oops\n' });
    expect(box(root, ['run', '--rm', '-i', 'busybox', 'sh'], { input: 'echo from-stdin $((6*7))\n' }).stdout).toBe('from-stdin 42\n');
    expect(box(root, ['run', '--rm', '-e', 'GREETING', 'busybox', 'sh', '-c', 'echo $GREETING'], { env: { GREETING: 'hello-from-client' } }).stdout)
      .toBe('hello-from-client\n');
    const traced = box(root, ['--trace', 'run', '--rm', '--memory', '32m', 'busybox', 'true']);
    expect(traced.stderr).toMatch(/pivot_root\(/);
    expect(traced.stderr).toMatch(/memory\.(max|limit_in_bytes) <- "33554432"/);
    // The engine ran all four: the client only relayed.
    expect(served(root)).toBe(before + 4);
  });

  it('hands 100 arguments whole to the container, and sends an oversized request back to the CLI', () => {
    const before = served(root);
    const words = Array.from({ length: 100 }, (_, i) => String(i + 1));
    expect(box(root, ['run', '--rm', 'busybox', 'echo', ...words]).stdout).toBe(`${words.join(' ')}\n`);
    expect(served(root)).toBe(before + 1);
    // Over the engine's 1 MiB request limit (ten 120 KiB variables in the client's environment):
    // the engine answers "fallback" and the ordinary CLI runs the container, not a lost connection.
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`BIG${i}`, 'x'.repeat(120 * 1024)]));
    const r = box(root, ['run', '--rm', 'busybox', 'echo', 'via-the-cli'], { env: big });
    expect(r).toMatchObject({ code: 0, stdout: 'via-the-cli\n', stderr: '' });
    expect(served(root)).toBe(before + 1);
    expect(fs.readFileSync(path.join(root, 'engine.log'), 'utf8')).toMatch(/request over 1048576 bytes: fallback/);
  });

  it('gives a one-line error for bad input, with the CLI exit codes, and leaves nothing', () => {
    const noImage = box(root, ['run', '--rm', 'nosuchimage', 'true']);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toBe("box: image 'nosuchimage' not found; `box images` lists what you have (busybox is built in)\n");
    const noCommand = box(root, ['run', '--rm', 'busybox', 'nosuchcommand']);
    expect(noCommand.code).toBe(127);
    expect(noCommand.stderr.trim().split('\n')).toHaveLength(1);
    expect(box(root, ['run', '--memory', 'lots', 'busybox', 'true']).stderr).toMatch(/^box: --memory: 'lots' is not a size[^\n]*\n$/);
    expect(box(root, ['ps', '-a']).stdout.trim().split('\n')).toHaveLength(1); // the header only
  });

  it('reports an OOM kill in words, as the CLI does', () => {
    const oom = box(root, ['run', '--rm', '--memory', '16m', 'busybox', 'sh', '-c', 'x=a; while :; do x=$x$x; done'], { timeout: 60_000 });
    expect(oom.code).toBe(137);
    expect(oom.stderr).toContain("killed by the kernel's OOM killer: it ran out of memory (limit of 16 MiB)");
  });

  it('hands -it a real terminal: the client takes the master, sizes it, relays keys, returns the exit code', async () => {
    const before = served(root);
    const t = await boxInTerminal(root, ['run', '--rm', '-it', 'busybox', 'sh']);
    await checkTerminalBasics(t);
    t.term.write('exit 7\r');
    expect(await t.exited).toBe(7);
    expect(served(root)).toBe(before + 1);
  });

  it('serves box exec: joins the container, the caller\'s stdio or a terminal, the exit code', async () => {
    expect(box(root, ['run', '-d', '--name', 'ex', 'busybox', 'sleep', '100']).code).toBe(0);
    const before = served(root);
    const r = box(root, ['exec', 'ex', 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; exit 4']);
    expect(r).toMatchObject({ code: 4, stdout: 'ex\nsleep 100 ' }); // PID 1 is the container's sleep
    expect(box(root, ['exec', '-i', 'ex', 'sh'], { input: 'echo in-$((6*7))\n' }).stdout).toBe('in-42\n');
    const t = await boxInTerminal(root, ['exec', '-it', 'ex', 'sh']);
    await t.prompt();
    await t.type('tty; stty size\r', /\/dev\/pts\/\d+\s+30 100/);
    t.term.write('exit 3\r');
    expect(await t.exited).toBe(3);
    expect(served(root)).toBe(before + 3);
    const gone = box(root, ['exec', 'nosuch', 'true']);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toMatch(/^box: no such container: 'nosuch'[^\n]*\n$/);
    expect(box(root, ['rm', '-f', 'ex']).code).toBe(0);
  });

  it('forwards signals to PID 1, and a killed client takes its container with it', async () => {
    const child = boxAsync(root, ['run', '--rm', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
    await until(() => inspect(root, 'trapper')?.State.Status === 'running', 20_000, 'the container to run');
    await new Promise((r) => setTimeout(r, 200)); // and its shell to set the trap
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.on('exit', r))).toBe(42);

    const victim = boxAsync(root, ['run', '--name', 'victim', 'busybox', 'sleep', '100']);
    await until(() => inspect(root, 'victim')?.State.Status === 'running', 20_000, 'the victim to run');
    const id = inspect(root, 'victim').Id as string;
    victim.kill('SIGKILL');
    await until(() => inspect(root, 'victim')?.State.Status === 'exited', 10_000, 'the engine to stop the victim');
    expect(cgroupDirsFor(id)).toEqual([]);
    expect(box(root, ['rm', 'victim']).code).toBe(0);
  });

  it('leaves what it does not serve to the CLI: ps, run -d, stop, rm', async () => {
    const before = served(root);
    const d = box(root, ['run', '-d', '--name', 'bg', 'busybox', 'sleep', '100']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(box(root, ['ps']).stdout).toContain('bg');
    expect(box(root, ['rm', '-f', 'bg']).code).toBe(0);
    expect(box(root, ['run', '--help']).stdout).toContain('Usage: box run');
    expect(served(root)).toBe(before);
  });

  it('stops, killing what it serves; then box runs without it, also past a stale socket', async () => {
    const long = boxAsync(root, ['run', '--rm', '--name', 'long', 'busybox', 'sleep', '100']);
    await until(() => inspect(root, 'long')?.State.Status === 'running', 20_000, 'the container to run');
    const stopped = box(root, ['engine', 'stop']);
    expect(stopped.stdout).toMatch(/engine stopped \(pid \d+\)/);
    expect(await new Promise((r) => long.on('exit', r))).toBe(137);
    expect(inspect(root, 'long')).toBeNull(); // --rm: cleaned up by the engine on its way out
    expect(fs.existsSync(path.join(root, 'engine.sock'))).toBe(false);
    expect(box(root, ['run', '--rm', 'busybox', 'echo', 'without']).stdout).toBe('without\n');

    // An engine killed with SIGKILL leaves its socket behind: the client falls back.
    expect(box(root, ['engine', 'start']).code).toBe(0);
    const pid = Number(fs.readFileSync(path.join(root, 'engine.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await until(() => !fs.existsSync(`/proc/${pid}`), 5_000, 'the engine to die');
    expect(fs.existsSync(path.join(root, 'engine.sock'))).toBe(true);
    expect(box(root, ['run', '--rm', 'busybox', 'echo', 'stale']).stdout).toBe('stale\n');
    expect(box(root, ['engine', 'start']).code).toBe(0);
    expect(box(root, ['run', '--rm', 'busybox', 'echo', 'again']).stdout).toBe('again\n');
  });
});
