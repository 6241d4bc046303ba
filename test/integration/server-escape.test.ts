// Sandbox escape attempts, made the way a reader would: typed into a lab terminal that the
// lab server started with `box run --lab`. Every attempt must fail, and the host must show
// that nothing happened. (Writes that could matter only ever write back the current value.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { LabServer } from '../../src/server/app.ts';
import { BOX, boxLabAvailable, driverByName, REPO, startInProcess, TEST_TOKEN } from '../e2e/harness.ts';
import { LabClient } from '../e2e/lab-client.ts';
import { needs } from '../support/requires.ts';

const box = await boxLabAvailable();
const T = 60_000;

const tag = randomBytes(6).toString('hex');
const hostSecrets = [
  path.join('/root', `isolab-escape-secret-${tag}`),
  path.join(os.tmpdir(), `isolab-escape-secret-${tag}`),
  path.join('/var/tmp', `isolab-escape-secret-${tag}`),
  path.join(REPO, 'test', 'e2e', `.isolab-escape-secret-${tag}`),
];

let server: LabServer;
let a: LabClient;
let b: LabClient;
let hostSleeper: ChildProcess;
let hostListener: http.Server;
let hostPort = 0;

async function terminal(): Promise<LabClient> {
  const c = new LabClient(server.port, { token: TEST_TOKEN });
  await c.opened();
  await c.message('hello', T);
  expect(await c.run('echo ready', T)).toBe('ready');
  return c;
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

needs(box.ok ? '' : box.reason).describe('a lab sandbox cannot reach the host or another sandbox', () => {
  beforeAll(async () => {
    for (const f of hostSecrets) fs.writeFileSync(f, `host secret ${tag}\n`);
    hostSleeper = spawn('sleep', ['7654321'], { stdio: 'ignore' });
    hostListener = http.createServer((_req, res) => res.end(`host service ${tag}`));
    await new Promise<void>((r) => hostListener.listen(0, '0.0.0.0', () => r()));
    hostPort = (hostListener.address() as { port: number }).port;
    server = await startInProcess({ driver: driverByName('box') });
    a = await terminal();
    b = await terminal();
  }, 3 * T);

  afterAll(async () => {
    for (const f of hostSecrets) fs.rmSync(f, { force: true });
    hostSleeper?.kill('SIGKILL');
    hostListener?.close();
    await server?.close();
  });

  it('cannot read host files outside it: the repository, /etc/shadow, secrets in /root and /tmp', async () => {
    const repoFile = await a.runStatus(`cat ${REPO}/package.json`);
    expect(repoFile.status).not.toBe(0);
    expect(repoFile.out).not.toContain('"name": "isolab"');
    for (const f of hostSecrets) {
      const r = await a.runStatus(`cat ${f}`);
      expect(r.status, f).not.toBe(0);
      expect(r.out).not.toContain(`host secret ${tag}`);
    }
    // Search the whole tree: no host secret, and none of the repo's own files but the
    // read-only parts box needs to run (the server's code and the lessons are not there).
    const found = await a.run(`find / -xdev \\( -name 'isolab-escape-secret-*' -o -name '.isolab-escape-secret-*' -o -name PROTOCOL.md -o -name DESIGN.md \\) 2>/dev/null; echo end`, T);
    expect(found).toBe('end');
    const shadow = fs.readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith('root:'))!;
    const inside = await a.run('cat /etc/shadow 2>&1');
    expect(inside).not.toContain(shadow);
  }, T);

  it('cannot change the host files it can see: /usr and the box runtime are read-only', async () => {
    const before = sha(BOX);
    for (const cmd of ['touch /usr/bin/isolab-escape', 'echo pwned >> /opt/box/runtime/bin/box', 'mount -o remount,rw /usr']) {
      const r = await a.runStatus(`${cmd} 2>&1`);
      expect(r.status, cmd).not.toBe(0);
    }
    expect(fs.existsSync('/usr/bin/isolab-escape')).toBe(false);
    expect(sha(BOX)).toBe(before);
  }, T);

  it('root inside is an unprivileged user outside', async () => {
    expect(await a.run('id -u')).toBe('0');
    a.type('sleep 5551234 &\r');
    await expect.poll(() => {
      try { return execFileSync('pgrep', ['-f', 'sleep 5551234'], { encoding: 'utf8' }).trim(); } catch { return ''; }
    }, { timeout: 10_000 }).not.toBe('');
    const pid = execFileSync('pgrep', ['-f', 'sleep 5551234'], { encoding: 'utf8' }).trim().split('\n')[0];
    const uid = Number(/Uid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(uid).not.toBe(0);
    await a.run('kill %1; wait 2>/dev/null; echo stopped');
  }, T);

  it('cannot see or kill a host process', async () => {
    const pid = hostSleeper.pid!;
    expect(await a.run('ps -eo args | grep -c "[s]leep 7654321"')).toBe('0');
    const r = await a.runStatus(`kill -9 ${pid} 2>&1`);
    expect(r.status).not.toBe(0);
    // Signal every process it can (kill -1 spares only the caller and the sandbox's init, its
    // shell keeper): the sandbox's own processes die, its shell too, which the keeper starts
    // again (and says so); nothing outside it.
    const c = await terminal();
    const from = c.text().length;
    c.type('sleep 1000 & sh -c "kill -9 -1"\r');
    await c.waitFor('\x1b]777;isolab;shell-restarted\x07', T, from);
    expect(await c.run('pgrep -c -f "^sleep 1000" || true', T)).toBe('0');
    c.ws.terminate();
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(hostSleeper.exitCode).toBeNull();
    expect(await a.run('echo a-survived')).toBe('a-survived');
  }, 2 * T);

  it('cannot write /proc/sysrq-trigger or kernel settings', async () => {
    if (!fs.existsSync('/proc/sysrq-trigger')) console.warn('server-escape: this host kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off): the write is tried but proves less here');
    const sysrq = await a.runStatus('echo h > /proc/sysrq-trigger');
    expect(sysrq.status).not.toBe(0);
    // core_pattern is the classic escape (a host program run on every crash). Writing back
    // its own value changes nothing even if it were allowed, but it must not be allowed.
    const corePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    const core = await a.runStatus(`echo '${corePattern}' > /proc/sys/kernel/core_pattern`);
    expect(core.status).not.toBe(0);
    const panic = fs.readFileSync('/proc/sys/kernel/panic', 'utf8').trim();
    expect((await a.runStatus(`echo ${panic} > /proc/sys/kernel/panic`)).status).not.toBe(0);
    expect(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()).toBe(corePattern);
    expect((await a.runStatus('head -c 1 /proc/kcore > /dev/null 2>&1')).status).not.toBe(0);
  }, T);

  it('cannot mount the host disk', async () => {
    const dev = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '/'], { encoding: 'utf8' }).trim();
    const st = fs.statSync(dev);
    const major = Math.floor(st.rdev / 256), minor = st.rdev % 256;
    expect((await a.runStatus(`mkdir -p /tmp/hostdisk; mount ${dev} /tmp/hostdisk 2>&1`)).status).not.toBe(0);
    expect((await a.runStatus(`mknod /tmp/disk b ${major} ${minor} 2>&1`)).status).not.toBe(0);
    // Not even from a fresh user and mount namespace made inside.
    expect((await a.runStatus(`unshare -Urm sh -c 'mknod /tmp/disk2 b ${major} ${minor} || mount ${dev} /tmp/hostdisk' 2>&1`)).status).not.toBe(0);
    expect(await a.run('ls -A /tmp/hostdisk | wc -l')).toBe('0');
  }, T);

  it("cannot see another sandbox's processes or files", async () => {
    await b.run(`echo only-in-b-${tag} > /root/b-secret-${tag}; sleep 4441234 & echo started`);
    expect(await b.run('ps -eo args | grep -c "[s]leep 4441234"')).toBe('1');
    expect(await a.run('ps -eo args | grep -c "[s]leep 4441234"')).toBe('0');
    expect(await a.run(`cat /root/b-secret-${tag} 2>&1 || true`)).not.toContain(`only-in-b-${tag}`);
    expect(await a.run(`find / -xdev -name 'b-secret-*' 2>/dev/null; cat /proc/*/root/root/b-secret-${tag} 2>/dev/null; echo end`)).toBe('end');
  }, T);

  it("cannot reach another sandbox's network, the host's, or the lab server", async () => {
    // Loopback may start down in a new network namespace; root inside may bring it up.
    for (const c of [a, b]) await c.run('ip link set lo up 2>/dev/null; echo up');
    await b.run('python3 -m http.server 7777 --bind 127.0.0.1 >/dev/null 2>&1 & echo started');
    // b reaches its own service, so the attempts below are not failing for another reason.
    await expect.poll(async () => (await b.run('curl -s -m 2 http://127.0.0.1:7777/ >/dev/null; echo $?')), { timeout: 20_000 }).toBe('0');
    const hostIp = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const targets = [
      'http://127.0.0.1:7777/',                  // b's service, at the same address a uses
      `http://127.0.0.1:${hostPort}/`,           // a host service on loopback
      `http://127.0.0.1:${server.port}/`,        // the lab server itself
      ...(hostIp ? [`http://${hostIp}:${hostPort}/`] : []), // the host on its own network
    ];
    for (const url of targets) {
      const r = await a.runStatus(`curl -s -m 3 ${url}`, T);
      expect(r.status, url).not.toBe(0);
      expect(r.out).not.toContain(`host service ${tag}`);
    }
    expect(await a.run("ls /sys/class/net | tr '\\n' ' '")).toBe('lo');
  }, 2 * T);

  it('a memory hog and a fork bomb stay inside their limits', async () => {
    const hog = await a.runStatus(`python3 -c "b = bytearray(900 * 1024 * 1024); print(len(b))" 2>&1`, T);
    expect(hog.status).not.toBe(0); // killed by the 512m limit (137) or MemoryError
    // Fork until the kernel says no (dash gives up at the first failed fork).
    const bomb = await a.runStatus(`sh -c 'for i in $(seq 700); do sleep 60 >/dev/null 2>&1 & done' 2>&1 | tail -1; pgrep -c sleep`, T);
    expect(bomb.out).toContain('Cannot fork');
    const sleepers = Number(bomb.out.split('\n').pop());
    expect(sleepers).toBeGreaterThan(100);
    expect(sleepers).toBeLessThan(512); // --pids-limit 512, the shell and friends included
    expect(await a.run('pkill sleep; sleep 0.5; pgrep -c sleep')).toBe('0');
    expect(await a.run('echo still-alive')).toBe('still-alive');
    expect(hostSleeper.exitCode).toBeNull();
  }, 3 * T);
});
