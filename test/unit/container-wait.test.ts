// waitForContainer (what `box wait` and `box compose`'s depends_on use) over state files a
// test writes itself, as the engine would: the conditions, their failures in one line, the
// timeout. The real engine writes them in test/integration/restart-health.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerState } from '../../runtime/src/container/state.ts';

describe('waitForContainer', () => {
  let root: string;
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env.BOX_ROOT;
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxwait-'));
    process.env.BOX_ROOT = root;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.BOX_ROOT;
    else process.env.BOX_ROOT = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  const state = (name: string, change: Partial<ContainerState>): ContainerState => {
    const id = Buffer.from(name.padEnd(32, '_')).toString('hex').slice(0, 64);
    const s = {
      id, name, image: 'busybox', imageId: 'sha256:x', command: ['true'], created: new Date().toISOString(), status: 'running',
      pid: 1, monitorPid: 1, monitorStart: '', exitCode: null, oomKilled: false, finished: null, autoRemove: false, cgroup: null,
      namespaces: {}, config: {}, ...change,
    } as ContainerState;
    fs.mkdirSync(path.join(root, 'containers', id), { recursive: true });
    fs.writeFileSync(path.join(root, 'containers', id, 'state.json'), JSON.stringify(s));
    fs.mkdirSync(path.join(root, 'names'), { recursive: true });
    fs.rmSync(path.join(root, 'names', name), { force: true });
    fs.symlinkSync(id, path.join(root, 'names', name));
    return s;
  };
  const health = (Status: 'starting' | 'healthy' | 'unhealthy', Output = '') => ({ Status, FailingStreak: 0, Log: [{ Start: '', End: '', ExitCode: 1, Output }] });

  it('resolves once the state is reached, waiting through a restart', async () => {
    const { waitForContainer } = await import('../../runtime/src/container/wait.ts');
    state('db', { status: 'restarting', exitCode: 1 });
    const waiting = waitForContainer('db', 'exited', { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    state('db', { status: 'exited', exitCode: 0, started: new Date().toISOString() });
    expect((await waiting).exitCode).toBe(0);
    expect((await waitForContainer('db', 'completed')).status).toBe('exited');
    expect((await waitForContainer('db', 'running')).name).toBe('db'); // it has run: a one-shot counts as started
    state('never', { status: 'exited', exitCode: 125 });
    await expect(waitForContainer('never', 'running')).rejects.toThrow("container 'never' exited before it started");
  });

  it('healthy: waits through starting; fails at once when unhealthy, exited, or without a check', async () => {
    const { waitForContainer } = await import('../../runtime/src/container/wait.ts');
    state('web', { health: health('starting') });
    const waiting = waitForContainer('web', 'healthy', { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    state('web', { health: health('healthy') });
    expect((await waiting).health?.Status).toBe('healthy');
    state('sick', { health: health('unhealthy', 'curl: connection refused\nmore') });
    await expect(waitForContainer('sick', 'healthy')).rejects.toThrow("container 'sick' is unhealthy: curl: connection refused");
    state('gone', { status: 'exited', exitCode: 2, health: health('starting') });
    await expect(waitForContainer('gone', 'healthy')).rejects.toThrow("container 'gone' exited (code 2) before it was healthy");
    state('plain', {});
    await expect(waitForContainer('plain', 'healthy')).rejects.toThrow("container 'plain' has no health check");
  });

  it('completed fails on a non-zero exit; a timeout and an abort end the wait', async () => {
    const { waitForContainer } = await import('../../runtime/src/container/wait.ts');
    state('job', { status: 'exited', exitCode: 3 });
    await expect(waitForContainer('job', 'completed')).rejects.toThrow("container 'job' did not complete successfully: exit code 3");
    state('slow', { health: health('starting') });
    await expect(waitForContainer('slow', 'healthy', { timeoutMs: 50, pollMs: 5 })).rejects.toThrow("timed out after 0 s waiting for 'slow' to be healthy (it is running, starting)");
    const abort = new AbortController();
    const waiting = waitForContainer('slow', 'exited', { signal: abort.signal, pollMs: 5 });
    abort.abort(new Error('interrupted'));
    await expect(waiting).rejects.toThrow('interrupted');
    await expect(waitForContainer('nosuch', 'exited')).rejects.toThrow("no such container: 'nosuch'");
  });
});
