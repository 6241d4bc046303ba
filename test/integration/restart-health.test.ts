// Restart policies and health checks, kept by the engine, on the real kernel: a crashing
// container restarted with Docker's growing back-off, on-failure:N, a stop by hand, `always`
// across an engine restart, health going starting -> healthy -> unhealthy with the probes in
// `box inspect`, the image's HEALTHCHECK, and bad values refused with nothing made.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, cgroupDirsFor, inspect, processesInCgroupOf, rootReason, tempBoxRoot, until } from './helpers.ts';

needs(rootReason).describe('restart policies and health checks', () => {
  let root: string;
  const ids: string[] = [];
  const run = (args: string[]) => {
    const r = box(root, ['run', '-d', ...args]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    ids.push(id);
    return { ...r, id };
  };
  const ps = () => box(root, ['ps', '-a']).stdout;
  const row = (name: string) => ps().split('\n').find((l) => l.endsWith(` ${name}`)) ?? '';
  const enginePid = () => Number(fs.readFileSync(path.join(root, 'engine.pid'), 'utf8'));

  beforeAll(() => {
    root = tempBoxRoot('restart');
  });
  afterAll(() => {
    box(root, ['engine', 'stop']);
    for (const l of ps().trim().split('\n').slice(1)) box(root, ['rm', '-f', l.split(/\s+/).at(-1)!]);
    const left = ids.flatMap(cgroupDirsFor);
    fs.rmSync(root, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it('refuses bad values in one line, with a non-zero exit, and makes nothing (not even an engine)', () => {
    for (const [args, message] of [
      [['--restart', 'sometimes'], "box: --restart 'sometimes': use no, on-failure[:N], always or unless-stopped, e.g. --restart on-failure:3\n"],
      [['--health-cmd', 'true', '--health-interval', '5x'], "box: --health-interval '5x': give a duration with a unit (ms, s, m, h), e.g. --health-interval 30s or 1m30s\n"],
      [['--restart', 'always', '--rm'], 'box: --restart always and --rm conflict: a container removed when it exits cannot be restarted; give one of them\n'],
    ] as const) {
      const r = box(root, ['run', '-d', ...args, 'busybox', 'true']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toBe(message);
      expect(r.stdout).toBe('');
    }
    expect(ps().trim().split('\n')).toHaveLength(1); // the header only
    expect(fs.existsSync(path.join(root, 'engine.sock'))).toBe(false);
  });

  it('restarts a crashing container with a back-off that doubles (100, 200, 400, 800, 1600 ms)', async () => {
    // The engine starts on demand, and says so in one line.
    const r = run(['--name', 'crash', '--restart', 'always', 'busybox', 'sh', '-c', 'cut -d" " -f1 /proc/uptime; exit 1']);
    expect(r.stderr).toMatch(/^box: started the engine \(pid \d+\) to keep the restart policy always; 'box engine stop' stops it\n$/);
    let sawRestarting = false;
    await until(() => {
      sawRestarting ||= /Restarting \(1\) \d+ seconds? ago/.test(row('crash'));
      return box(root, ['logs', 'crash']).stdout.trim().split('\n').length >= 6;
    }, 60_000, 'five restarts');
    expect(sawRestarting).toBe(true); // `box ps` during a back-off
    expect(box(root, ['stop', '-t', '1', 'crash']).code).toBe(0);
    const count = inspect(root, 'crash').RestartCount as number;
    expect(inspect(root, 'crash').State.Status).toBe('exited');
    // Each start wrote the machine's uptime to the log (one container, one log, across restarts).
    const starts = box(root, ['logs', 'crash']).stdout.trim().split('\n').map((s) => Math.round(Number(s) * 1000));
    // As in Docker, RestartCount counts a restart when it is decided, before its back-off:
    // a stop during the back-off leaves one counted that never started.
    expect([count, count + 1]).toContain(starts.length);
    expect(starts.length).toBeGreaterThanOrEqual(6);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    gaps.slice(0, 5).forEach((gap, i) => expect(gap, `gap ${i}: ${gaps}`).toBeGreaterThanOrEqual(100 * 2 ** i - 10)); // uptime has 10 ms steps
    // And they grow: 400 -> 800 -> 1600 ms of back-off outweigh how long a start takes.
    for (let i = 3; i < Math.min(gaps.length, 5); i++) expect(gaps[i], `gaps ${gaps}`).toBeGreaterThan(gaps[i - 1]);
  });

  it('on-failure:2 restarts twice and gives up; an exit 0 is not restarted', () => {
    run(['--name', 'twice', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3']);
    const waited = box(root, ['wait', 'twice'], { timeout: 30_000 });
    expect(waited).toMatchObject({ code: 0, stdout: '3\n' });
    expect(inspect(root, 'twice')).toMatchObject({ RestartCount: 2, State: { Status: 'exited', ExitCode: 3 }, HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } });
    expect(box(root, ['logs', 'twice']).stdout).toBe('run\nrun\nrun\n');

    run(['--name', 'fine', '--restart', 'on-failure', 'busybox', 'sh', '-c', 'echo once']);
    expect(box(root, ['wait', 'fine']).stdout).toBe('0\n');
    expect(inspect(root, 'fine').RestartCount).toBe(0);
    expect(box(root, ['logs', 'fine']).stdout).toBe('once\n');

    // A restart keeps the container's volumes, an anonymous one too (as in Docker).
    run(['--name', 'kept-data', '--restart', 'on-failure:1', '-v', '/data', 'busybox', 'sh', '-c', 'echo x >> /data/f; wc -l < /data/f; exit 1']);
    expect(box(root, ['wait', 'kept-data']).stdout).toBe('1\n');
    expect(box(root, ['logs', 'kept-data']).stdout).toBe('1\n2\n');
    expect(box(root, ['rm', '-v', 'kept-data']).code).toBe(0);
  });

  it('--restart without -d, as Docker: box run exits with the first run, the engine (started on demand) restarts it', () => {
    expect(box(root, ['engine', 'stop']).code).toBe(0); // so that this run starts it
    const r = box(root, ['run', '--name', 'attached', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3'], { timeout: 60_000 });
    ids.push(inspect(root, 'attached').Id);
    expect(r.code).toBe(3); // the first run's status
    expect(r.stdout).toBe('run\n'); // on the terminal
    expect(r.stderr).toMatch(/^box: started the engine \(pid \d+\) to keep the restart policy on-failure:2; 'box engine stop' stops it\n$/);
    // The engine kept the policy: two restarts after box run returned, their output logged.
    expect(box(root, ['wait', 'attached'], { timeout: 30_000 })).toMatchObject({ code: 0, stdout: '3\n' });
    expect(inspect(root, 'attached')).toMatchObject({ RestartCount: 2, State: { Status: 'exited', ExitCode: 3 }, HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } });
    expect(row('attached')).toMatch(/ Exited \(3\) /);
    expect(box(root, ['logs', 'attached']).stdout).toBe('run\nrun\n');
    // An exit 0 ends it: no restart, box run's status 0.
    const fine = box(root, ['run', '--name', 'attached-ok', '--restart', 'on-failure', 'busybox', 'echo', 'done']);
    ids.push(inspect(root, 'attached-ok').Id);
    expect(fine).toMatchObject({ code: 0, stdout: 'done\n', stderr: '' }); // the engine runs already: no line
    expect(box(root, ['wait', 'attached-ok']).stdout).toBe('0\n');
    expect(inspect(root, 'attached-ok').RestartCount).toBe(0);
    for (const name of ['attached', 'attached-ok']) expect(box(root, ['rm', name]).code).toBe(0);
  });

  it('a stop by hand holds: unless-stopped stays stopped, also across an engine restart; always comes back', async () => {
    run(['--name', 'keeper', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']);
    run(['--name', 'stopped', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000']);
    run(['--name', 'always', '--restart', 'always', 'busybox', 'sleep', '1000']);
    expect(box(root, ['stop', '-t', '1', 'stopped']).stdout).toBe('stopped\n');
    expect(inspect(root, 'stopped').State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    await new Promise((r) => setTimeout(r, 500)); // longer than the first back-off: nothing restarts it
    expect(inspect(root, 'stopped').State.Status).toBe('exited');
    expect(row('stopped')).toMatch(/Exited \(137\)/);

    const pids = { keeper: inspect(root, 'keeper').State.Pid, always: inspect(root, 'always').State.Pid };
    const before = enginePid();
    expect(box(root, ['engine', 'stop'], { timeout: 30_000 }).code).toBe(0);
    for (const name of ['keeper', 'always', 'stopped']) expect(inspect(root, name).State.Status).toBe('exited');
    expect(box(root, ['engine', 'start']).code).toBe(0);
    expect(enginePid()).not.toBe(before);
    for (const name of ['keeper', 'always'] as const) {
      const s = inspect(root, name).State;
      expect(s.Status, name).toBe('running');
      expect(s.Pid).not.toBe(pids[name]);
      expect(fs.existsSync(`/proc/${s.Pid}`)).toBe(true);
    }
    expect(inspect(root, 'stopped').State.Status).toBe('exited');

    // `box start` starts it again (the same container), `box restart` too.
    expect(box(root, ['start', 'stopped']).stdout).toBe('stopped\n');
    expect(inspect(root, 'stopped').State.Status).toBe('running');
    const pid = inspect(root, 'stopped').State.Pid;
    expect(box(root, ['restart', '-t', '1', 'stopped']).stdout).toBe('stopped\n');
    expect(inspect(root, 'stopped').State).toMatchObject({ Status: 'running' });
    expect(inspect(root, 'stopped').State.Pid).not.toBe(pid);
    for (const name of ['keeper', 'always', 'stopped']) expect(box(root, ['rm', '-f', name]).code).toBe(0);
  });

  it('reports health: starting, then healthy, then unhealthy after the retries, with the probes in inspect', async () => {
    const { id } = run(['--name', 'doc', '--health-cmd', 'cat /ready', '--health-interval', '200ms', '--health-retries', '2',
      '--health-start-period', '1h', 'busybox', 'sleep', '1000']);
    // Within the start period, failures do not count: it stays starting, and the log fills.
    await until(() => inspect(root, 'doc').State.Health.Log.length >= 2, 20_000, 'two probes');
    let h = inspect(root, 'doc').State.Health;
    expect(h).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    expect(h.Log[0]).toMatchObject({ ExitCode: 1, Output: "cat: can't open '/ready': No such file or directory\n" });
    expect(row('doc')).toMatch(/Up (\d+ seconds?|Less than a second) \(health: starting\)/);

    expect(box(root, ['exec', 'doc', 'sh', '-c', 'echo all good > /ready']).code).toBe(0);
    await until(() => inspect(root, 'doc').State.Health.Status === 'healthy', 20_000, 'healthy');
    h = inspect(root, 'doc').State.Health;
    expect(h.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: 'all good\n' });
    expect(Date.parse(h.Log.at(-1).End)).toBeGreaterThanOrEqual(Date.parse(h.Log.at(-1).Start));
    expect(row('doc')).toMatch(/Up (\d+ seconds?|Less than a second) \(healthy\)/);

    // The API `box compose` waits with.
    process.env.BOX_ROOT = root;
    const { waitForContainer } = await import('../../runtime/src/container/wait.ts');
    expect((await waitForContainer('doc', 'healthy', { timeoutMs: 10_000 })).health?.Status).toBe('healthy');

    expect(box(root, ['exec', 'doc', 'rm', '/ready']).code).toBe(0);
    await until(() => inspect(root, 'doc').State.Health.Status === 'unhealthy', 20_000, 'unhealthy');
    h = inspect(root, 'doc').State.Health;
    expect(h.FailingStreak).toBeGreaterThanOrEqual(2); // 2 made it unhealthy; probes go on
    expect(h.Log).toHaveLength(5);
    expect(h.Log.slice(-2).map((p: { ExitCode: number }) => p.ExitCode)).toEqual([1, 1]);
    expect(row('doc')).toMatch(/\(unhealthy\)/);
    await expect(waitForContainer('doc', 'healthy', { timeoutMs: 10_000 })).rejects.toThrow("container 'doc' is unhealthy: cat: can't open '/ready'");
    expect(inspect(root, 'doc').Config.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'cat /ready'], Interval: 200e6, Retries: 2, StartPeriod: 3600e9 });
    expect(box(root, ['rm', '-f', 'doc']).code).toBe(0);
    expect(cgroupDirsFor(id)).toEqual([]);
  });

  it('kills a probe that overruns its timeout, and counts it as a failure', async () => {
    const { id } = run(['--name', 'slow', '--health-cmd', 'sleep 77', '--health-timeout', '300ms', '--health-interval', '400ms',
      '--health-retries', '1', 'busybox', 'sleep', '1000']);
    await until(() => inspect(root, 'slow').State.Health.Status === 'unhealthy', 20_000, 'unhealthy');
    await until(() => inspect(root, 'slow').State.Health.Log.length >= 3, 20_000, 'three probes');
    const last = inspect(root, 'slow').State.Health.Log.at(-1);
    expect(last).toMatchObject({ ExitCode: -1, Output: 'Health check exceeded timeout (0.3s)' });
    // No probe outlives its timeout for long: at most the one running now.
    const sleepers = () => processesInCgroupOf(id).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x0077\x00';
      } catch {
        return false;
      }
    });
    expect(sleepers().length).toBeLessThanOrEqual(1);
    expect(box(root, ['rm', '-f', 'slow']).code).toBe(0);
  });

  it("runs the image's HEALTHCHECK from a Boxfile; --no-healthcheck turns it off", async () => {
    const dir = fs.mkdtempSync(path.join(root, 'ctx-'));
    fs.writeFileSync(path.join(dir, 'Boxfile'), 'FROM busybox\nHEALTHCHECK --interval=200ms --timeout=5s --retries=2 CMD echo fine from $HOSTNAME\nCMD ["sleep", "1000"]\n');
    const built = box(root, ['build', '-t', 'checked:1', dir], { timeout: 60_000 });
    expect(built.code, built.stderr).toBe(0);
    const image = JSON.parse(box(root, ['inspect', 'checked:1']).stdout)[0];
    expect(JSON.stringify(image)).toContain('"Healthcheck":{"Test":["CMD-SHELL","echo fine from $HOSTNAME"],"Interval":200000000,"Timeout":5000000000,"Retries":2}');

    run(['--name', 'img', 'checked:1']);
    await until(() => inspect(root, 'img').State.Health?.Status === 'healthy', 20_000, 'healthy');
    expect(inspect(root, 'img').State.Health.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: 'fine from img\n' });
    expect(inspect(root, 'img').Config.Healthcheck.Interval).toBe(200e6);

    run(['--name', 'plain', '--no-healthcheck', 'checked:1']);
    expect(inspect(root, 'plain').State.Health).toBeUndefined();
    expect(row('plain')).toMatch(/Up (\d+ seconds?|Less than a second)\s+plain$/);
    for (const name of ['img', 'plain']) expect(box(root, ['rm', '-f', name]).code).toBe(0);
  });

  it('box start and box wait: a container started again is the same container, with its exit code', () => {
    run(['--name', 'again', 'busybox', 'sh', '-c', 'echo run >> /count; wc -l < /count; exit 4']);
    expect(box(root, ['wait', 'again']).stdout).toBe('4\n');
    expect(box(root, ['start', 'again']).stdout).toBe('again\n');
    expect(box(root, ['wait', 'again']).stdout).toBe('4\n');
    expect(box(root, ['logs', 'again']).stdout).toBe('1\n2\n'); // the same writable layer
    expect(box(root, ['wait', 'nosuch'])).toMatchObject({ code: 125, stderr: "box: no such container: 'nosuch'; `box ps -a` lists them\n" });
    expect(box(root, ['rm', 'again']).code).toBe(0);
  });

  it("gives box compose what depends_on needs: a kept run from code, and waits for 'completed' and its failure", async () => {
    process.env.BOX_ROOT = root;
    const { runDetachedInEngine } = await import('../../runtime/src/engine/control.ts');
    const { waitForContainer } = await import('../../runtime/src/container/wait.ts');
    const id = await runDetachedInEngine(['--name', 'migrate', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'echo migrated']);
    ids.push(id);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await waitForContainer('migrate', 'completed', { timeoutMs: 20_000 })).exitCode).toBe(0);
    const bad = await runDetachedInEngine(['--name', 'broken', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'exit 5']);
    ids.push(bad);
    await expect(waitForContainer('broken', 'completed', { timeoutMs: 20_000 })).rejects.toThrow("container 'broken' did not complete successfully: exit code 5");
    expect(inspect(root, 'broken').RestartCount).toBe(1); // it waited through the restart, not the first exit
    await expect(runDetachedInEngine(['--restart', 'always', 'nosuchimage'])).rejects.toThrow("image 'nosuchimage' not found");
    for (const name of ['migrate', 'broken']) expect(box(root, ['rm', name]).code).toBe(0);

    // A RunConfig made in code, kept by the engine, waited for until healthy.
    const { runKeptInEngine } = await import('../../runtime/src/engine/control.ts');
    const { runConfigFrom } = await import('../../runtime/src/container/run-flags.ts');
    const cfg = runConfigFrom(['-d', '--name', 'api', '--restart', 'unless-stopped', '--health-cmd', 'echo up', '--health-interval', '100ms', 'busybox', 'sleep', '1000']);
    const api = await runKeptInEngine(cfg);
    ids.push(api);
    expect((await waitForContainer(api, 'healthy', { timeoutMs: 20_000 })).name).toBe('api');
    expect(inspect(root, 'api').HostConfig.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(box(root, ['rm', '-f', 'api']).code).toBe(0);
  });
});
