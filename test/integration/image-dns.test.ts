// The busybox image's everyday tools resolve names through DNS, as on a user-defined network:
// a `box run` container whose /etc/resolv.conf names a box-dns reaches a busybox httpd by its
// name with wget, nc and ping. All traffic stays in two network namespaces this file makes
// (a veth pair between them): box-dns and the web server on one side, the container on the
// other (box joins it with nsenter and runs with --ns pid,mnt,uts,ipc: no network namespace
// of its own until box has container networks).

import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsPath } from '../../runtime/src/init/build.ts';
import { findStaticBusybox } from '../../runtime/src/image/busybox.ts';
import { boxBin, has, isRoot, tempBoxRoot } from './helpers.ts';
import { needs } from '../support/requires.ts';

function staticBusybox(): string {
  try {
    return findStaticBusybox();
  } catch {
    return '';
  }
}

const busybox = staticBusybox();
const missing = !isRoot ? 'needs root (network namespaces, box run)' : !busybox ? 'needs busybox-static: apt-get install busybox-static'
  : !has('ip') || !has('nsenter') ? 'needs ip and nsenter: apt-get install iproute2 util-linux' : '';

const tag = `${process.pid % 100000}`;
const serverNs = `boxnm-s${tag}`;
const clientNs = `boxnm-c${tag}`;
const SERVER = '10.213.98.1';
const CLIENT = '10.213.98.2';
let root = '';
let scratch = '';
const children: ChildProcess[] = [];

/** Start a process in the server's network namespace; resolves once `ready` says it listens. */
function inServerNs(argv: string[], ready: () => boolean): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/run/netns/${serverNs}`, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`${argv[0]} exited: ${stderr}`));
      } else if (ready()) {
        clearInterval(poll);
        resolve(child);
      }
    }, 20);
  });
}

/** Is something listening on SERVER:port (TCP) in the server's namespace? */
const listening = (port: number) =>
  spawnSync('ip', ['netns', 'exec', serverNs, 'ss', '-Htln', `sport = :${port}`], { encoding: 'utf8' }).stdout.includes(SERVER);

/** A shell command in a busybox container on the client's side, resolv.conf naming box-dns. */
function inContainer(script: string) {
  const r = spawnSync('nsenter', [`--net=/run/netns/${clientNs}`, boxBin, 'run', '--rm', '--ns', 'pid,mnt,uts,ipc',
    '-v', `${path.join(scratch, 'resolv.conf')}:/etc/resolv.conf:ro`, 'busybox', 'sh', '-c', script], {
    env: { ...process.env, BOX_ROOT: root }, encoding: 'utf8', timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

needs(missing).describe('busybox resolves names through DNS', () => {
  beforeAll(async () => {
    root = tempBoxRoot('image-dns');
    scratch = fs.mkdtempSync(path.join(root, 'files-'));
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', serverNs);
    ip('netns', 'add', clientNs);
    ip('link', 'add', `bn${tag}s`, 'netns', serverNs, 'type', 'veth', 'peer', 'name', `bn${tag}c`, 'netns', clientNs);
    ip('-n', serverNs, 'addr', 'add', `${SERVER}/30`, 'dev', `bn${tag}s`);
    ip('-n', clientNs, 'addr', 'add', `${CLIENT}/30`, 'dev', `bn${tag}c`);
    for (const [ns, dev] of [[serverNs, `bn${tag}s`], [clientNs, `bn${tag}c`]]) {
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    fs.mkdirSync(path.join(scratch, 'www'));
    fs.writeFileSync(path.join(scratch, 'www/index.html'), 'hello from web\n');
    fs.writeFileSync(path.join(scratch, 'hosts'), `${SERVER} web www.lab\n`);
    fs.writeFileSync(path.join(scratch, 'resolv.conf'), `nameserver ${SERVER}\n`);
    await inServerNs([dnsPath(), '--listen', SERVER, '--hosts', path.join(scratch, 'hosts')], () => listening(53));
    await inServerNs([busybox, 'httpd', '-f', '-p', `${SERVER}:8080`, '-h', path.join(scratch, 'www')], () => listening(8080));
  }, 120_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    if (missing) return;
    spawnSync('ip', ['netns', 'del', serverNs]); // the veth pair goes with its namespaces
    spawnSync('ip', ['netns', 'del', clientNs]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('wget fetches a page from a server it knows only by name', () => {
    const r = inContainer('wget -q -O- http://web:8080/ && wget -q -O- http://www.lab:8080/');
    expect(r).toEqual({ code: 0, out: 'hello from web\nhello from web\n' });
  });

  it('nc connects by name', () => {
    const r = inContainer(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 8080`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nhello from web\n$/);
  });

  it('ping and nslookup find the address', () => {
    const r = inContainer('ping -c1 web && nslookup web');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`PING web (${SERVER})`);
    expect(r.out).toContain('1 packets transmitted, 1 packets received');
    expect(r.out).toMatch(new RegExp(`Name:\\s+web\\s+Address: ${SERVER.replaceAll('.', '\\.')}`));
  });

  it('a name no one has is "bad address" for wget and nc: an error, not a crash', () => {
    const r = inContainer('wget -q -O- http://nothere:8080/ 2>&1; echo "wget $?"; echo | nc nothere 8080 2>&1; echo "nc $?"');
    expect(r.out).toBe("wget: bad address 'nothere:8080'\nwget 1\nnc: bad address 'nothere'\nnc 1\n");
  });
});
