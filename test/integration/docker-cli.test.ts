// The real docker CLI (Debian's docker.io, API 1.41; and a newer one at /usr/local/bin/docker
// if present) driving box's engine through the Docker Engine API on $BOX_ROOT/engine.sock
// (runtime/src/engine/api). What a user sees: output, exit codes, `docker ps` columns,
// `docker inspect` fields, logs, and the daemon's errors as one clear line.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, cgroupDirsFor, rawHttpGet as httpGet, rootReason, tempBoxRoot } from './helpers.ts';
import { registryReason, startRegistry } from './registry-server.ts';

const DOCKER = '/usr/bin/docker';
const NEWER = '/usr/local/bin/docker';
const missing = !fs.existsSync(DOCKER) ? 'needs the docker CLI (apt-get install docker.io: /usr/bin/docker)' : '';
const reason = rootReason || missing;

needs(reason).describe('the docker CLI against box engine', () => {
  let root: string;
  const env = () => ({ ...process.env, BOX_ROOT: root, DOCKER_HOST: `unix://${root}/engine.sock`, DOCKER_CONFIG: path.join(root, 'docker-config') });
  const docker = (args: string[], bin = DOCKER, input?: string) => {
    const r = spawnSync(bin, args, { env: env(), encoding: 'utf8', timeout: 60_000, input });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    root = tempBoxRoot('dockerapi');
    const start = box(root, ['engine', 'start']);
    expect(start.code, start.stderr).toBe(0);
  }, 60_000);
  afterAll(() => {
    for (const name of ['dapi-again', 'dapi-follow', 'dapi-joiner', 'dapi-held', 'dapi-web', 'dapi-sleeper', 'dapi-execloop', 'dapi-streams', 'dapi-par-a', 'dapi-par-b']) docker(['rm', '-f', name]);
    docker(['network', 'rm', 'dapi-par']);
    docker(['network', 'rm', 'dapi-join']);
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('negotiates the API version: docker version names box engine and API 1.41', () => {
    const v = docker(['version', '--format', '{{.Server.Platform.Name}} {{.Server.APIVersion}} {{.Client.APIVersion}}']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('box engine 1.41 1.41');
    expect(fs.statSync(path.join(root, 'engine.sock')).mode & 0o777).toBe(0o600);
  });

  it.skipIf(!fs.existsSync(NEWER))('a newer CLI negotiates down to 1.41 and runs a container', () => {
    const v = docker(['version', '--format', '{{.Server.APIVersion}} {{.Client.APIVersion}}'], NEWER);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('1.41 1.41');
    expect(docker(['run', '--rm', 'busybox', 'echo', 'from a newer CLI'], NEWER)).toMatchObject({ code: 0, stdout: 'from a newer CLI\n' });
  });

  it('docker run (attached) prints the output and exits with the command\'s code; --rm removes it', () => {
    const r = docker(['run', '--name', 'dapi-three', 'busybox', 'sh', '-c', 'echo out; exit 3']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('out\n');
    const ps = docker(['ps', '-a', '--filter', 'name=dapi-three', '--format', '{{.Names}} {{.Status}}']);
    expect(ps.stdout).toMatch(/^dapi-three Exited \(3\) (\d+ seconds?|Less than a second) ago\n$/);
    expect(docker(['rm', 'dapi-three'])).toMatchObject({ code: 0, stdout: 'dapi-three\n' });
    const gone = docker(['run', '--rm', '--name', 'dapi-gone', '-e', 'GREETING=hi there', 'busybox', 'sh', '-c', 'echo "$GREETING"']);
    expect(gone).toMatchObject({ code: 0, stdout: 'hi there\n' });
    expect(docker(['ps', '-a', '--filter', 'name=dapi-gone', '-q']).stdout).toBe('');
  });

  it('docker run -i: the piped input is the container\'s stdin, its end ends cat; without -i nothing is sent', () => {
    expect(docker(['run', '-i', '--rm', 'busybox', 'cat'], DOCKER, 'hi\n')).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect(docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'wc -l; exit 3'], DOCKER, 'a\nb\nc\n')).toMatchObject({ code: 3, stdout: '3\n' });
    expect(docker(['run', '--rm', 'busybox', 'cat'], DOCKER, 'not sent\n')).toMatchObject({ code: 0, stdout: '' });
    const open = docker(['create', '-i', '--name', 'dapi-stdin', 'busybox', 'cat']);
    expect(open.code, open.stderr).toBe(0);
    expect(docker(['inspect', '-f', '{{.Config.OpenStdin}}', 'dapi-stdin']).stdout).toBe('true\n');
    expect(docker(['rm', 'dapi-stdin'])).toMatchObject({ code: 0 });
  });

  it('run -d with -p, memory, pids and CPU limits: ps columns, inspect fields, the port answers, logs, stop, rm', async () => {
    const html = path.join(root, 'www');
    fs.mkdirSync(html);
    fs.writeFileSync(path.join(html, 'index.html'), 'served by box\n');
    const run = docker(['run', '-d', '--name', 'dapi-web', '-p', '127.0.0.1:18089:80', '--memory', '64m', '--pids-limit', '20', '--cpus', '0.5',
      '-v', `${html}:/www:ro`, 'busybox', 'sh', '-c', 'echo starting; exec httpd -f -p 80 -h /www']);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const ps = docker(['ps']);
    const [head, ...rows] = ps.stdout.trim().split('\n');
    expect(head).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const row = rows.find((r) => r.endsWith('dapi-web'));
    expect(row).toContain(id.slice(0, 12));
    expect(row).toMatch(/busybox\s+"sh -c echo starting…"\s+.*Up (\d+ seconds?|Less than a second)\s+127\.0\.0\.1:18089->80\/tcp\s+dapi-web$/);

    const info = JSON.parse(docker(['inspect', 'dapi-web']).stdout)[0];
    expect(info).toMatchObject({
      Id: id, Name: '/dapi-web', State: { Status: 'running', Running: true },
      HostConfig: { Memory: 64 * 1024 * 1024, PidsLimit: 20, NanoCpus: 500_000_000 },
      Config: { Image: 'busybox' },
    });
    expect(info.State.Pid).toBeGreaterThan(0);
    // The limits in the kernel: half a CPU is 50 ms of every 100 ms period (v1 here, or v2's cpu.max).
    const quota = cgroupDirsFor(id).map((d) => ['cpu.cfs_quota_us', 'cpu.max'].map((f) => path.join(d, f)).find((f) => fs.existsSync(f))).filter(Boolean);
    expect(quota.map((f) => fs.readFileSync(f!, 'utf8').trim())).toContainEqual(expect.stringMatching(/^50000( 100000)?$/));
    expect(info.NetworkSettings.Ports['80/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: '18089' }]);
    expect(docker(['port', 'dapi-web'])).toMatchObject({ code: 0, stdout: '80/tcp -> 127.0.0.1:18089\n' });
    expect(info.Mounts.map((m: { Destination: string }) => m.Destination)).toContain('/www');

    const body = await httpGet(18089);
    expect(body).toContain('served by box');
    expect(docker(['logs', 'dapi-web'])).toMatchObject({ code: 0, stdout: 'starting\n' });
    const stats = docker(['stats', '--no-stream', 'dapi-web']);
    expect(stats.code, stats.stderr).toBe(0);
    const [statsHead, statsRow] = stats.stdout.trim().split('\n');
    expect(statsHead).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(statsRow).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+dapi-web\\s+\\d+\\.\\d+%\\s+[\\d.]+[KMG]?i?B \\/ 64MiB\\s+[\\d.]+%\\s+.*\\s1$`));

    expect(docker(['stop', '-t', '1', 'dapi-web'])).toMatchObject({ code: 0, stdout: 'dapi-web\n' });
    expect(docker(['inspect', '-f', '{{.State.Status}}', 'dapi-web']).stdout).toBe('exited\n');
    expect(docker(['rm', 'dapi-web'])).toMatchObject({ code: 0, stdout: 'dapi-web\n' });
  });

  it('create, start, kill, wait, rm -f', () => {
    const create = docker(['create', '--name', 'dapi-sleeper', 'busybox', 'sleep', '300']);
    expect(create.code, create.stderr).toBe(0);
    expect(docker(['ps', '-a', '--filter', 'name=dapi-sleeper', '--format', '{{.Status}}']).stdout).toBe('Created\n');
    expect(docker(['start', 'dapi-sleeper'])).toMatchObject({ code: 0, stdout: 'dapi-sleeper\n' });
    expect(docker(['inspect', '-f', '{{.State.Running}}', 'dapi-sleeper']).stdout).toBe('true\n');
    const pid = docker(['inspect', '-f', '{{.State.Pid}}', 'dapi-sleeper']).stdout.trim();
    const top = docker(['top', 'dapi-sleeper']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toMatch(new RegExp(`^UID\\s+PID\\s+PPID\\s+CMD\\n0\\s+${pid}\\s+\\d+\\s+sleep 300\\n$`));
    const ex = docker(['exec', '-e', 'WHO=exec', 'dapi-sleeper', 'sh', '-c', 'echo "$WHO out"; echo "$WHO err" >&2; exit 5']);
    expect(ex).toMatchObject({ code: 5, stdout: 'exec out\n', stderr: 'exec err\n' });
    // exec -i: the piped input reaches the process; the client's half-close is its end-of-file.
    expect(docker(['exec', '-i', 'dapi-sleeper', 'cat'], DOCKER, 'hi\n')).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect(docker(['exec', '-i', 'dapi-sleeper', 'sh', '-c', 'wc -l; exit 4'], DOCKER, 'a\nb\n')).toMatchObject({ code: 4, stdout: '2\n' });
    expect(docker(['kill', 'dapi-sleeper'])).toMatchObject({ code: 0, stdout: 'dapi-sleeper\n' });
    expect(docker(['wait', 'dapi-sleeper'])).toMatchObject({ code: 0, stdout: '137\n' });
    expect(docker(['start', 'dapi-sleeper']).code).toBe(0);
    const rm = docker(['rm', 'dapi-sleeper']);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/^Error response from daemon: You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove\n$/);
    expect(docker(['rm', '-f', 'dapi-sleeper'])).toMatchObject({ code: 0, stdout: 'dapi-sleeper\n' });
  });

  it('docker exec, 80 times in a row: every one prints its output and exits (an exec that ended before the engine read its pipes once hung the CLI)', () => {
    expect(docker(['run', '-d', '--name', 'dapi-execloop', 'busybox', 'sleep', '300']).code).toBe(0);
    // The old race (exec-output.test.ts) hit about 1 run in 20 with a quick command: 80 runs
    // missed it with odds near 1 in 200. A hang shows as spawnSync's timeout (code -1).
    const runs = Array.from({ length: 80 }, (_, i) => {
      const cmd = i % 2 ? ['echo', `hi ${i}`] : ['true'];
      return { i, ...docker(['exec', 'dapi-execloop', ...cmd]) };
    });
    const bad = runs.filter((r) => r.code !== 0 || r.stdout !== (r.i % 2 ? `hi ${r.i}\n` : '') || r.stderr !== '');
    expect(bad.map((r) => `run ${r.i}: code ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`)).toEqual([]);
    expect(docker(['rm', '-f', 'dapi-execloop']).code).toBe(0);
  }, 600_000);

  it('stdout and stderr stay apart: docker logs, an attached docker run and box logs print each on its own stream; an old raw log still reads', async () => {
    const script = 'echo out 1; echo err 1 >&2; echo out 2; echo err 2 >&2';
    expect(docker(['run', '-d', '--name', 'dapi-streams', 'busybox', 'sh', '-c', script]).code).toBe(0);
    expect(docker(['wait', 'dapi-streams']).stdout).toBe('0\n');
    expect(docker(['logs', 'dapi-streams'])).toMatchObject({ code: 0, stdout: 'out 1\nout 2\n', stderr: 'err 1\nerr 2\n' });
    const tail = docker(['logs', '--tail', '1', 'dapi-streams']); // the last line written, on its own stream
    expect([tail.stdout, tail.stderr]).toContainEqual(expect.stringMatching(/^(out|err) 2\n$/));
    expect(`${tail.stdout}${tail.stderr}`.split('\n')).toHaveLength(2);
    expect(box(root, ['logs', 'dapi-streams'])).toMatchObject({ code: 0, stdout: 'out 1\nout 2\n', stderr: 'err 1\nerr 2\n' });
    // -t: each line behind the time it was written; --since/--until pick by that time.
    const stamped = docker(['logs', '-t', 'dapi-streams']);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out 1\n\S+Z out 2\n$/);
    expect(stamped.stderr).toMatch(/^\S+Z err 1\n\S+Z err 2\n$/);
    expect(docker(['logs', '--since', '1h', 'dapi-streams'])).toMatchObject({ stdout: 'out 1\nout 2\n', stderr: 'err 1\nerr 2\n' });
    expect(docker(['logs', '--until', '1h', 'dapi-streams'])).toMatchObject({ code: 0, stdout: '', stderr: '' }); // all written after an hour ago
    expect(docker(['logs', '--since', new Date(Date.now() + 60_000).toISOString(), 'dapi-streams'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(docker(['run', '--rm', 'busybox', 'sh', '-c', script])).toMatchObject({ code: 0, stdout: 'out 1\nout 2\n', stderr: 'err 1\nerr 2\n' });
    // Its log on disk: Docker's json-file records, each tagged by its stream.
    const logPath = docker(['inspect', '-f', '{{.LogPath}}', 'dapi-streams']).stdout.trim();
    const recs = fs.readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
    expect(recs.map((r) => `${r.stream} ${r.log}`).sort()).toEqual(['stderr err 1\n', 'stderr err 2\n', 'stdout out 1\n', 'stdout out 2\n']);
    expect(recs.every((r) => !Number.isNaN(Date.parse(r.time)))).toBe(true);
    // A container made before: one raw container.log holding both streams, read as stdout.
    const dir = path.dirname(logPath);
    fs.rmSync(logPath);
    fs.writeFileSync(path.join(dir, 'container.log'), 'old out\nold err\n');
    expect(box(root, ['logs', 'dapi-streams'])).toMatchObject({ code: 0, stdout: 'old out\nold err\n', stderr: '' });
    expect(docker(['logs', 'dapi-streams'])).toMatchObject({ code: 0, stdout: 'old out\nold err\n', stderr: '' });
    // Started again, it keeps the old lines and tags the new ones.
    expect(docker(['start', 'dapi-streams']).code).toBe(0);
    expect(docker(['wait', 'dapi-streams']).stdout).toBe('0\n');
    expect(box(root, ['logs', 'dapi-streams'])).toMatchObject({ code: 0, stdout: 'old out\nold err\nout 1\nout 2\n', stderr: 'err 1\nerr 2\n' });
    expect(docker(['rm', 'dapi-streams']).code).toBe(0);
  }, 120_000);

  it('--health-* and --restart: the engine keeps them (healthy; two restarts, then exited)', async () => {
    expect(docker(['run', '-d', '--name', 'dapi-health', '--health-cmd', 'true', '--health-interval', '1s', 'busybox', 'sleep', '300']).code).toBe(0);
    expect(docker(['run', '-d', '--name', 'dapi-restart', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']).code).toBe(0);
    const health = () => docker(['inspect', '-f', '{{.State.Health.Status}}', 'dapi-health']).stdout;
    const restarts = () => docker(['inspect', '-f', '{{.RestartCount}} {{.State.Status}} {{.HostConfig.RestartPolicy.Name}}', 'dapi-restart']).stdout;
    for (let i = 0; i < 100 && (health() !== 'healthy\n' || restarts() !== '2 exited on-failure\n'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(health()).toBe('healthy\n');
    expect(docker(['ps', '--filter', 'name=dapi-health', '--format', '{{.Status}}']).stdout).toMatch(/^Up .* \(healthy\)\n$/);
    expect(restarts()).toBe('2 exited on-failure\n');
    expect(docker(['rm', '-f', 'dapi-health', 'dapi-restart']).code).toBe(0);
  }, 60_000);

  it('errors are one line from the daemon, and an endpoint box lacks answers 501 naming it', () => {
    const none = docker(['inspect', 'no-such-thing']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('Error: No such object: no-such-thing\n');
    const kill = docker(['kill', 'no-such-thing']);
    expect(kill.code).toBe(1);
    expect(kill.stderr).toBe('Error response from daemon: No such container: no-such-thing\n');
    const images = docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(images.stdout.split('\n')).toContain('busybox:latest');
    // -t without the client's own terminal: the container still gets a pty, its output raw (a terminal's \r\n).
    expect(docker(['run', '-t', '--rm', 'busybox', 'sh', '-c', 'tty; exit 2'])).toMatchObject({ code: 2, stdout: '/dev/pts/0\r\n' });
    const unsupported = docker(['system', 'df']);
    expect(unsupported.code).toBe(1);
    expect(unsupported.stderr).toMatch(/Error response from daemon: box's engine does not implement GET \/system\/df/);
  });

  it('docker start -a of a stopped container prints its new run, on its own streams, and exits with its code', () => {
    const script = 'echo "run $(cat /proc/uptime)"; echo err >&2; exit 4';
    const first = docker(['run', '--name', 'dapi-again', 'busybox', 'sh', '-c', script]);
    expect(first).toMatchObject({ code: 4, stdout: expect.stringMatching(/^run [\d.]+ [\d.]+\n$/), stderr: 'err\n' });
    const again = docker(['start', '-a', 'dapi-again']);
    expect(again).toMatchObject({ code: 4, stdout: expect.stringMatching(/^run [\d.]+ [\d.]+\n$/), stderr: 'err\n' });
    expect(again.stdout).not.toBe(first.stdout); // the new run's line, not the old one replayed
    expect(docker(['rm', 'dapi-again']).code).toBe(0);
  });

  it('--security-opt seccomp=FILE (sent inline by the CLI) and unconfined, --mount, --init and --device are honoured; --privileged, --pid, --ulimit are refused, not ignored', () => {
    const profile = path.join(root, 'no-mkdir.json');
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
    expect(docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'mkdir', '/tmp/d'])).toMatchObject({ code: 1, stderr: "mkdir: can't create directory '/tmp/d': Permission denied\n" });
    expect(docker(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', 'Seccomp:', '/proc/self/status'])).toMatchObject({ code: 0, stdout: 'Seccomp:\t0\n' });
    expect(docker(['run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status'])).toMatchObject({ code: 0, stdout: 'Seccomp:\t2\n' });
    const host = path.join(root, 'mounted');
    fs.mkdirSync(host);
    expect(docker(['run', '--rm', '--mount', `type=bind,source=${host},target=/m`, 'busybox', 'sh', '-c', 'echo kept > /m/f']).code).toBe(0);
    expect(fs.readFileSync(path.join(host, 'f'), 'utf8')).toBe('kept\n');
    expect(docker(['run', '--rm', '--mount', 'type=bind,source=' + host + ',target=/m,readonly', 'busybox', 'touch', '/m/g']).code).not.toBe(0);
    expect(docker(['run', '--rm', '--init', 'busybox', 'cat', '/proc/1/comm'])).toMatchObject({ code: 0, stdout: 'box-init\n' });
    // --device: a host device at its own path (as box run --device); a renamed one is refused.
    const dev = ['/dev/kvm', '/dev/net/tun', '/dev/fuse'].find((d) => fs.existsSync(d))!;
    expect(docker(['run', '--rm', '--device', dev, 'busybox', 'ls', dev])).toMatchObject({ code: 0, stdout: `${dev}\n` });
    expect(docker(['run', '--rm', '--device', `${dev}:/dev/other`, 'busybox', 'true']).stderr).toMatch(/^docker: Error response from daemon: --device \S+:\/dev\/other:rwm: box's engine passes a device at its own path with rwm only/);
    for (const [flag, args] of [['--privileged', ['--privileged']], ['--pid', ['--pid', 'host']], ['--ulimit', ['--ulimit', 'nofile=10:10']]] as const) {
      const r = docker(['run', '--rm', ...args, 'busybox', 'true']);
      expect(r.code, flag).toBe(125);
      expect(r.stderr.split('\n')[0], flag).toBe(`docker: Error response from daemon: box's engine does not take ${flag} yet; leave it out (runtime/src/engine/api/README.md lists what it takes).`);
    }
    expect(docker(['ps', '-aq']).stdout).toBe('');
  }, 120_000);

  it('bad input: the daemon\'s one line, a non-zero exit, and nothing left behind (--rm means removed, even when the start fails)', () => {
    const containers = () => (fs.existsSync(path.join(root, 'containers')) ? fs.readdirSync(path.join(root, 'containers')).sort() : []);
    const before = containers();
    const daemonSays = (r: { stderr: string }) => r.stderr.split('\n').filter((l) => /Error response from daemon/.test(l));
    const cases: [string[], number, RegExp][] = [
      [['run', '--rm', '--memory', '1k', 'busybox', 'true'], 125, /--memory 1k: the smallest limit is 6m/],
      [['run', '--rm', '--network', 'dapi-nonet', 'busybox', 'true'], 125, /network dapi-nonet not found; docker network create dapi-nonet makes it/],
      [['run', '--rm', 'busybox', 'no-such-command'], 127, /no-such-command: executable file not found/],
      [['run', '--rm', '-v', '/no/such/dir:/x', 'busybox', 'true'], 125, /\/no\/such\/dir does not exist on the host/],
      [['run', '--rm', '127.0.0.1:9/dapi/nothing:v1', 'true'], 125, /127\.0\.0\.1:9/], // a registry port nothing listens on
      [['create', '--network', 'dapi-nonet', 'busybox', 'true'], 1, /network dapi-nonet not found/],
      [['exec', 'no-such-thing', 'true'], 1, /No such container: no-such-thing/],
      [['network', 'connect', 'dapi-nonet', 'no-such-thing'], 1, /dapi-nonet|no-such-thing/],
      [['volume', 'rm', 'dapi-no-volume'], 1, /dapi-no-volume/],
    ];
    for (const [args, code, message] of cases) {
      const r = docker(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      const said = daemonSays(r).length ? daemonSays(r) : r.stderr.trim().split('\n');
      expect(said, args.join(' ')).toHaveLength(1);
      expect(said[0], args.join(' ')).toMatch(message);
    }
    // Client-side checks: the CLI refuses before it asks the daemon.
    expect(docker(['run', '--rm', '-p', '99999:80', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/Invalid hostPort: 99999/) });
    expect(docker(['run', '--rm', '--memory', 'lots', 'busybox', 'true']).code).toBe(125);
    // A name in use: dockerd's words, naming the container that holds it.
    const held = docker(['create', '--name', 'dapi-held', 'busybox', 'true']).stdout.trim();
    const again = docker(['create', '--name', 'dapi-held', 'busybox', 'true']);
    expect(again.code).toBe(1);
    expect(daemonSays(again)).toEqual([`Error response from daemon: Conflict. The container name "/dapi-held" is already in use by container "${held}". You have to remove (or rename) that container to be able to reuse that name.`]);
    expect(docker(['rm', 'dapi-held']).code).toBe(0);
    // Nothing left: no container (ps, box's store), no mount under the root.
    expect(docker(['ps', '-aq']).stdout).toBe('');
    expect(containers()).toEqual(before);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${root}/containers/`);
  }, 120_000);

  it('two docker run -d at once on one network both start, and the engine answers /_ping meanwhile', async () => {
    expect(docker(['network', 'create', 'dapi-par']).code).toBe(0);
    const runAsync = (name: string) => new Promise<{ code: number; stderr: string }>((resolve) => {
      const p = spawn(DOCKER, ['run', '-d', '--name', name, '--network', 'dapi-par', 'busybox', 'sleep', '60'], { env: env() });
      let stderr = '';
      p.stderr.on('data', (d) => { stderr += d; });
      p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    });
    const both = Promise.all([runAsync('dapi-par-a'), runAsync('dapi-par-b')]);
    const ping = new Promise<string>((resolve, reject) => {
      const c = net.connect(path.join(root, 'engine.sock'), () => c.end('GET /_ping HTTP/1.0\r\n\r\n'));
      let text = '';
      c.on('data', (d) => { text += d; });
      c.on('end', () => resolve(text));
      c.on('error', reject);
    });
    expect(await ping).toMatch(/^HTTP\/1\.[01] 200 [^]*OK$/);
    for (const r of await both) expect(r.code, r.stderr).toBe(0);
    const ps = docker(['ps', '--filter', 'name=dapi-par-', '--format', '{{.Names}}']);
    expect(ps.stdout.trim().split('\n').sort()).toEqual(['dapi-par-a', 'dapi-par-b']);
    const ips = ['dapi-par-a', 'dapi-par-b'].map((n) => docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "dapi-par").IPAddress}}', n]).stdout.trim());
    expect(new Set(ips).size).toBe(2);
    expect(docker(['rm', '-f', 'dapi-par-a', 'dapi-par-b']).code).toBe(0);
    expect(docker(['network', 'rm', 'dapi-par']).code).toBe(0);
  }, 120_000);

  it('network create|ls|rm, volume create|ls|rm, and a container on both', () => {
    expect(docker(['network', 'create', 'dapi-net']).code).toBe(0);
    expect(docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).stdout).toContain('dapi-net bridge\n');
    expect(docker(['volume', 'create', 'dapi-vol'])).toMatchObject({ code: 0, stdout: 'dapi-vol\n' });
    expect(docker(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']).stdout).toContain('local dapi-vol\n');
    const r = docker(['run', '--rm', '--network', 'dapi-net', '-v', 'dapi-vol:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f; ip -4 -o addr show eth0']);
    expect(r.code, r.stderr).toBe(0);
    const subnet = JSON.parse(docker(['network', 'inspect', 'dapi-net']).stdout)[0].IPAM.Config[0].Subnet as string;
    expect(r.stdout).toContain(`inet ${subnet.split('.').slice(0, 2).join('.')}.`);
    expect(docker(['run', '--rm', '-v', 'dapi-vol:/data', 'busybox', 'cat', '/data/f'])).toMatchObject({ code: 0, stdout: 'kept\n' });
    expect(docker(['volume', 'rm', 'dapi-vol'])).toMatchObject({ code: 0, stdout: 'dapi-vol\n' });
    expect(docker(['network', 'rm', 'dapi-net'])).toMatchObject({ code: 0, stdout: 'dapi-net\n' });
    const again = docker(['network', 'rm', 'dapi-net']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('dapi-net');
  });

  it('tag, save, load and rmi', () => {
    expect(docker(['tag', 'busybox', 'dapi-bb:1']).code).toBe(0);
    expect(docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n')).toContain('dapi-bb:1');
    const archive = path.join(root, 'saved.tar');
    expect(docker(['save', '-o', archive, 'dapi-bb:1']).code).toBe(0);
    expect(docker(['rmi', 'dapi-bb:1'])).toMatchObject({ code: 0, stdout: 'Untagged: dapi-bb:1\n' });
    expect(docker(['load', '-i', archive])).toMatchObject({ code: 0, stdout: 'Loaded image: dapi-bb:1\n' });
    expect(docker(['run', '--rm', 'dapi-bb:1', 'echo', 'loaded'])).toMatchObject({ code: 0, stdout: 'loaded\n' });
    expect(docker(['rmi', 'dapi-bb:1']).code).toBe(0);
    const nope = docker(['rmi', 'dapi-bb:1']);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toBe('Error: No such image: dapi-bb:1\n');
  });

  it('docker events shows the states a container passes through', async () => {
    const events = spawn(DOCKER, ['events', '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { env: env() });
    let seen = '';
    events.stdout.on('data', (d) => { seen += d; });
    try {
      // Listening once a container's events come through (box keeps no history to replay).
      for (let i = 0; i < 20 && !seen.includes('destroy dapi-warm'); i++) {
        docker(['run', '--rm', '--name', 'dapi-warm', 'busybox', 'true']);
        for (let j = 0; j < 10 && !seen.includes('destroy dapi-warm'); j++) await new Promise((r) => setTimeout(r, 100));
      }
      seen = '';
      expect(docker(['run', '--rm', '--name', 'dapi-events', 'busybox', 'true']).code).toBe(0);
      for (let i = 0; i < 50 && !seen.includes('destroy'); i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      events.kill();
    }
    expect(seen).toBe('create dapi-events\nstart dapi-events\ndie dapi-events\ndestroy dapi-events\n');
  });

  needs(registryReason).it('docker pull from a registry on loopback', async () => {
    const registry = await startRegistry();
    try {
      expect(box(root, ['push', 'busybox', `${registry.host}/dapi/bb:v1`]).code).toBe(0);
      const pull = docker(['pull', `${registry.host}/dapi/bb:v1`]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout).toContain(`Status: Downloaded newer image for ${registry.host}/dapi/bb:v1`);
      expect(docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n')).toContain(`${registry.host}/dapi/bb:v1`);
      expect(docker(['run', '--rm', `${registry.host}/dapi/bb:v1`, 'echo', 'pulled']).stdout).toBe('pulled\n');
      const missing = docker(['pull', `${registry.host}/dapi/nothing:v1`]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^Error response from daemon: .*nothing/);
    } finally {
      await registry.stop();
    }
  }, 120_000);

  it('a caller that is not root is refused on the socket', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true'], {});
      if (r.status !== 0) return resolve('setpriv missing');
      // The socket is 0600: a non-root process cannot even connect.
      const c = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', DOCKER, 'version'], { env: env(), encoding: 'utf8' });
      resolve(c.stderr);
      void reject;
    });
    expect(answer).toMatch(/permission denied/);
    // Behind the mode, the engine's own check (SO_PEERCRED): with the socket opened to everyone,
    // a caller that is not root connects, and is refused before any request is served.
    const sock = path.join(root, 'engine.sock');
    const rootMode = fs.statSync(root).mode & 0o777;
    fs.chmodSync(root, 0o711); // the path to it, searchable
    fs.chmodSync(sock, 0o666);
    try {
      const c = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', DOCKER, 'ps'], { env: env(), encoding: 'utf8' });
      expect(c.status).toBe(1);
      expect(c.stderr).toMatch(/^Error response from daemon: only root may use box's engine$/m);
    } finally {
      fs.chmodSync(sock, 0o600);
      fs.chmodSync(root, rootMode);
    }
  });

  it('the documented symlink: a client that only knows a socket path reaches the engine through a link to it', () => {
    const link = path.join(root, 'docker.sock');
    fs.symlinkSync(path.join(root, 'engine.sock'), link);
    try {
      const r = spawnSync(DOCKER, ['version', '--format', '{{.Server.Platform.Name}}'], { env: { ...env(), DOCKER_HOST: `unix://${link}` }, encoding: 'utf8' });
      expect(r).toMatchObject({ status: 0, stdout: 'box engine\n' });
    } finally {
      fs.rmSync(link);
    }
  });

  it('logs -f follows a running container until it exits; network connect gives a running one a second interface, disconnect takes it away', () => {
    expect(docker(['run', '-d', '--name', 'dapi-follow', 'busybox', 'sh', '-c', 'echo first; sleep 1; echo second; exit 3']).code).toBe(0);
    // Attached while it runs (the second line is a second away): -f returns when it exits.
    expect(docker(['logs', '-f', 'dapi-follow'])).toMatchObject({ code: 0, stdout: 'first\nsecond\n' });
    expect(docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'dapi-follow']).stdout).toBe('exited 3\n');
    expect(docker(['rm', 'dapi-follow']).code).toBe(0);

    expect(docker(['network', 'create', 'dapi-join']).code).toBe(0);
    expect(docker(['run', '-d', '--name', 'dapi-joiner', 'busybox', 'sleep', '300']).code).toBe(0);
    const ifaces = () => docker(['exec', 'dapi-joiner', 'sh', '-c', 'ip -4 -o addr | grep -v " lo " | wc -l']).stdout.trim();
    expect(ifaces()).toBe('1');
    expect(docker(['network', 'connect', 'dapi-join', 'dapi-joiner'])).toMatchObject({ code: 0 });
    expect(ifaces()).toBe('2');
    const ip = docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "dapi-join").IPAddress}}', 'dapi-joiner']).stdout.trim();
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(docker(['exec', 'dapi-joiner', 'ip', '-4', '-o', 'addr']).stdout).toContain(`inet ${ip}/`);
    const twice = docker(['network', 'connect', 'dapi-join', 'dapi-joiner']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^Error response from daemon: .*already on network 'dapi-join'\n$/);
    expect(docker(['network', 'disconnect', 'dapi-join', 'dapi-joiner']).code).toBe(0);
    expect(ifaces()).toBe('1');
    expect(docker(['rm', '-f', 'dapi-joiner']).code).toBe(0);
    expect(docker(['network', 'rm', 'dapi-join']).code).toBe(0);
  }, 60_000);
});
