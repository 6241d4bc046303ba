// box-dns, the name server of a user-defined network (runtime/src/net/dns/box-dns.c), run for
// real on loopback addresses and across a veth link between two network namespaces: asked by
// busybox's nslookup and by queries this file builds, the hosts file renamed under it, a
// second box-dns as its upstream, TCP, thousands of broken packets, SIGTERM.

import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDns, dnsBinary, dnsSource } from '../../runtime/src/init/build.ts';
import { has, isRoot } from './helpers.ts';
import { needs } from '../support/requires.ts';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const missing = !isRoot ? 'needs root (port 53, network namespaces)' : !busybox ? 'needs busybox for its nslookup: apt-get install busybox-static' : !has('ip') ? 'needs ip: apt-get install iproute2' : '';

let scratch: string;
const started: ChildProcess[] = [];
// A loopback address of this run's own (127.0.0.0/8 is all loopback), so port 53 is free.
const base = `127.${53 + (process.pid % 100)}.${process.pid % 250}`;
let nextHost = 1;
const freshAddress = () => `${base}.${nextHost++}`;

beforeAll(() => {
  if (missing) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'box-dns-'));
  buildDns();
});
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function hostsFile(text: string): string {
  const file = path.join(scratch, `hosts-${crypto.randomUUID()}`);
  fs.writeFileSync(file, text);
  return file;
}

/** Replace `file` as box does: write another file, rename it over. */
function replaceHosts(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

/** Start box-dns; resolves once it has written its ready byte. */
async function startDns(args: string[], opts: { binary?: string; netns?: string } = {}): Promise<ChildProcess & { stderrText: () => string }> {
  const bin = opts.binary ?? dnsBinary;
  const cmd = opts.netns ? 'ip' : bin;
  const argv = [...(opts.netns ? ['netns', 'exec', opts.netns, bin] : []), ...args, '--ready-fd', '3'];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const ready = child.stdio[3] as NodeJS.ReadableStream;
    ready.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`box-dns exited ${code}: ${stderr}`)));
  });
  return Object.assign(child, { stderrText: () => stderr });
}

/** busybox nslookup's output; with no type it asks A and AAAA, or PTR for an address. */
function nslookup(name: string, server: string, port = 53, type?: string, netns?: string) {
  const argv = [busybox!, 'nslookup', ...(type ? [`-type=${type}`] : []), `-port=${port}`, name, server];
  const r = netns ? spawnSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' }) : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return r.stdout + r.stderr;
}

// ---- a small DNS client of this file's own: a query out, the answer's fields back ----

const TYPES = { A: 1, PTR: 12, MX: 15, AAAA: 28 } as const;

function query(name: string, type: number, opts: { id?: number; cls?: number } = {}): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(opts.id ?? crypto.randomInt(65536), 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(opts.cls ?? 1, 2);
  return Buffer.concat([head, ...labels, Buffer.from([0]), tail]);
}

interface Answer {
  id: number;
  rcode: number;
  tc: boolean;
  aa: boolean;
  records: { type: number; ttl: number; data: string }[];
}

function readName(msg: Buffer, pos: number): [string, number] {
  const labels: string[] = [];
  let end = -1;
  for (let hops = 0; hops < 100; hops++) {
    const n = msg[pos];
    if ((n & 0xc0) === 0xc0) {
      if (end < 0) end = pos + 2;
      pos = msg.readUInt16BE(pos) & 0x3fff;
      continue;
    }
    if (n === 0) return [labels.join('.'), end < 0 ? pos + 1 : end];
    labels.push(msg.subarray(pos + 1, pos + 1 + n).toString());
    pos += 1 + n;
  }
  throw new Error('pointer loop in an answer');
}

function parse(msg: Buffer): Answer {
  const flags = msg.readUInt16BE(2);
  let pos = 12;
  for (let i = 0; i < msg.readUInt16BE(4); i++) pos = readName(msg, pos)[1] + 4;
  const records = [];
  for (let i = 0; i < msg.readUInt16BE(6); i++) {
    pos = readName(msg, pos)[1];
    const type = msg.readUInt16BE(pos);
    const ttl = msg.readUInt32BE(pos + 4);
    const len = msg.readUInt16BE(pos + 8);
    const rdata = msg.subarray(pos + 10, pos + 10 + len);
    const data = type === 1 ? [...rdata].join('.') : type === 12 ? readName(msg, pos + 10)[0] : rdata.toString('hex');
    records.push({ type, ttl, data });
    pos += 10 + len;
  }
  return { id: msg.readUInt16BE(0), rcode: flags & 0xf, tc: !!(flags & 0x200), aa: !!(flags & 0x400), records };
}

function udpAsk(server: string, port: number, msg: Buffer, timeout = 5000, from?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    if (from) sock.bind(0, from);
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no answer from ${server}:${port} in ${timeout} ms`));
    }, timeout);
    sock.on('message', (reply) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.send(msg, port, server);
  });
}

function tcpAsk(server: string, port: number, msg: Buffer, from?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: server, ...(from ? { localAddress: from } : {}) });
    let got = Buffer.alloc(0);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    sock.on('connect', () => sock.write(Buffer.concat([len, msg])));
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        sock.destroy();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('the connection closed without an answer')));
  });
}

const ask = async (server: string, port: number, name: string, type: number, opts = {}) => parse(await udpAsk(server, port, query(name, type, opts)));

needs(missing).describe('box-dns', () => {
  it('answers a name, an alias, any case, with a trailing dot; busybox nslookup reads it', async () => {
    const ip = freshAddress();
    await startDns(['--listen', ip, '--hosts', hostsFile('# box\n10.213.0.2 web www.lab\n10.213.0.3\tDB\n')]);
    expect(nslookup('web', ip)).toMatch(/Name:\s+web\s+Address: 10\.213\.0\.2/);
    expect(nslookup('www.lab', ip)).toMatch(/Address: 10\.213\.0\.2/);
    expect(nslookup('db', ip)).toMatch(/Address: 10\.213\.0\.3/);
    const a = await ask(ip, 53, 'WEB.', TYPES.A);
    expect(a).toMatchObject({ rcode: 0, aa: true, records: [{ type: 1, ttl: 5, data: '10.213.0.2' }] });
  });

  it('says NXDOMAIN for a name it lacks, NODATA for AAAA or MX of one it has, and answers PTR', async () => {
    const ip = freshAddress();
    await startDns(['--listen', ip, '--hosts', hostsFile('10.213.0.2 web\n')]);
    expect(nslookup('nothere', ip)).toContain("can't find nothere: NXDOMAIN");
    expect((await ask(ip, 53, 'nothere', TYPES.A)).rcode).toBe(3);
    expect(await ask(ip, 53, 'web', TYPES.AAAA)).toMatchObject({ rcode: 0, records: [] });
    expect(await ask(ip, 53, 'web', TYPES.MX)).toMatchObject({ rcode: 0, records: [] });
    expect(await ask(ip, 53, '2.0.213.10.in-addr.arpa', TYPES.PTR)).toMatchObject({ rcode: 0, records: [{ type: 12, data: 'web' }] });
    expect(nslookup('10.213.0.2', ip)).toContain('name = web');
    expect((await ask(ip, 53, 'web', TYPES.A, { cls: 3 })).rcode).toBe(5); // CHAOS: REFUSED
  });

  it('answers an @ADDRESS line only to a client asking from that address (a container on several networks), over UDP and TCP', async () => {
    const ip = freshAddress();
    const member = freshAddress(); // on this network and on another one
    const other = freshAddress(); // on this network only
    await startDns(['--listen', ip, '--hosts', hostsFile(`10.213.0.2 web\n@${member} 10.214.0.3 db database\n`)]);
    const from = async (client: string, name: string, type: number = TYPES.A) => parse(await udpAsk(ip, 53, query(name, type), 5000, client));
    expect(await from(member, 'database')).toMatchObject({ rcode: 0, records: [{ type: 1, data: '10.214.0.3' }] });
    expect(await from(member, 'web')).toMatchObject({ rcode: 0, records: [{ type: 1, data: '10.213.0.2' }] }); // and the unscoped ones
    expect(await from(member, '3.0.214.10.in-addr.arpa', TYPES.PTR)).toMatchObject({ rcode: 0, records: [{ type: 12, data: 'db' }] });
    expect((await from(other, 'database')).rcode).toBe(3); // NXDOMAIN: not on that network
    expect((await from(other, '3.0.214.10.in-addr.arpa', TYPES.PTR)).rcode).toBe(3);
    expect(await from(other, 'web')).toMatchObject({ rcode: 0, records: [{ type: 1, data: '10.213.0.2' }] });
    expect(parse(await tcpAsk(ip, 53, query('db', TYPES.A), member))).toMatchObject({ rcode: 0, records: [{ data: '10.214.0.3' }] });
    expect(parse(await tcpAsk(ip, 53, query('db', TYPES.A), other)).rcode).toBe(3);
  });

  it('follows the hosts file when it is replaced by a rename: the new name resolves, the removed one stops', async () => {
    const ip = freshAddress();
    const file = hostsFile('10.213.0.2 web\n');
    await startDns(['--listen', ip, '--hosts', file]);
    expect((await ask(ip, 53, 'web', TYPES.A)).records).toHaveLength(1);
    replaceHosts(file, '10.213.0.4 api\n');
    expect(nslookup('api', ip)).toMatch(/Address: 10\.213\.0\.4/);
    expect((await ask(ip, 53, 'web', TYPES.A)).rcode).toBe(3);
    replaceHosts(file, '10.213.0.4 api\n10.213.0.5 web\n');
    expect((await ask(ip, 53, 'web', TYPES.A)).records[0].data).toBe('10.213.0.5');
  });

  it('forwards what it lacks to its upstreams in order, relaying the answer with the client id', async () => {
    const upstream = freshAddress();
    const dead = freshAddress(); // nothing listens there: refused, so the next upstream is asked
    await startDns(['--listen', `${upstream}:5353`, '--hosts', hostsFile('10.213.1.9 far.example\n')]);
    const front = freshAddress();
    await startDns(['--listen', front, '--hosts', hostsFile('10.213.0.2 web\n'), '--upstream', `${dead}:5353`, '--upstream', `${upstream}:5353`]);
    expect(nslookup('far.example', front)).toMatch(/Address: 10\.213\.1\.9/);
    const a = await ask(front, 53, 'far.example', TYPES.A, { id: 4242 });
    expect(a).toMatchObject({ id: 4242, rcode: 0, records: [{ data: '10.213.1.9' }] });
    expect(await ask(front, 53, 'nowhere.example', TYPES.A, { id: 7 })).toMatchObject({ id: 7, rcode: 3 });
    expect((await ask(front, 53, 'web', TYPES.A)).records[0].data).toBe('10.213.0.2'); // its own names first
  });

  it('asks its upstream over TCP what a client asked over TCP, so a long answer comes whole', async () => {
    const upstream = freshAddress();
    const many = Array.from({ length: 60 }, (_, i) => `10.213.3.${i + 1} many.far\n`).join('');
    await startDns(['--listen', `${upstream}:5353`, '--hosts', hostsFile(many)]);
    const front = freshAddress();
    await startDns(['--listen', front, '--hosts', hostsFile(''), '--upstream', `${upstream}:5353`]);
    expect(await ask(front, 53, 'many.far', TYPES.A, { id: 99 })).toMatchObject({ id: 99, tc: true, records: [] });
    const tcp = parse(await tcpAsk(front, 53, query('many.far', TYPES.A, { id: 100 })));
    expect(tcp).toMatchObject({ id: 100, tc: false, rcode: 0 });
    expect(tcp.records).toHaveLength(60);
    expect(parse(await tcpAsk(front, 53, query('none.far', TYPES.A))).rcode).toBe(3);
  });

  it('asks the next upstream when one takes the question and never answers, over UDP and TCP', async () => {
    const silent = freshAddress();
    const udp = dgram.createSocket('udp4'); // receives and says nothing
    await new Promise<void>((resolve) => udp.bind(5353, silent, resolve));
    const sockets: net.Socket[] = [];
    const tcp = net.createServer((s) => sockets.push(s)); // accepts and says nothing
    await new Promise<void>((resolve) => tcp.listen(5353, silent, resolve));
    try {
      const upstream = freshAddress();
      await startDns(['--listen', `${upstream}:5353`, '--hosts', hostsFile('10.213.1.7 late.example\n')]);
      const front = freshAddress();
      await startDns(['--listen', front, '--hosts', hostsFile(''), '--upstream', `${silent}:5353`, '--upstream', `${upstream}:5353`]);
      expect((await ask(front, 53, 'late.example', TYPES.A)).records[0].data).toBe('10.213.1.7');
      expect(parse(await tcpAsk(front, 53, query('late.example', TYPES.A))).records[0].data).toBe('10.213.1.7');
    } finally {
      udp.close();
      for (const s of sockets) s.destroy();
      tcp.close();
    }
  });

  it('answers SERVFAIL when no upstream answers', async () => {
    const front = freshAddress();
    await startDns(['--listen', front, '--hosts', hostsFile(''), '--upstream', `${freshAddress()}:5353`]);
    expect((await ask(front, 53, 'x.example', TYPES.A)).rcode).toBe(2);
    expect(parse(await tcpAsk(front, 53, query('x.example', TYPES.A))).rcode).toBe(2);
  });

  it('answers over TCP, and sends a UDP answer over 512 bytes cut short with TC', async () => {
    const ip = freshAddress();
    const many = Array.from({ length: 60 }, (_, i) => `10.213.2.${i + 1} many\n`).join('');
    await startDns(['--listen', ip, '--hosts', hostsFile(`10.213.0.2 web\n${many}`)]);
    expect(parse(await tcpAsk(ip, 53, query('web', TYPES.A))).records[0].data).toBe('10.213.0.2');
    const udp = await ask(ip, 53, 'many', TYPES.A);
    expect(udp).toMatchObject({ tc: true, records: [] });
    const tcp = parse(await tcpAsk(ip, 53, query('many', TYPES.A)));
    expect(tcp.tc).toBe(false);
    expect(tcp.records.map((r) => r.data)).toEqual(Array.from({ length: 60 }, (_, i) => `10.213.2.${i + 1}`));
  });

  it('refuses bad arguments and a taken port with one line naming them', async () => {
    const run = (args: string[]) => spawnSync(dnsBinary, args, { encoding: 'utf8' });
    const none = run([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^box-dns: --listen is missing; usage: box-dns --listen/);
    const bad = run(['--listen', '10.0.0.300', '--hosts', '/etc/hosts']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('box-dns: --listen 10.0.0.300: not an address (IPv4 or [IPv6], then :PORT if not 53)');
    const gone = run(['--listen', '127.0.0.1:5300', '--hosts', path.join(scratch, 'absent')]);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toMatch(/^box-dns: cannot read the hosts file .*absent: No such file or directory\n$/);
    const ip = freshAddress();
    await startDns(['--listen', ip, '--hosts', hostsFile('')]);
    const taken = run(['--listen', ip, '--hosts', '/etc/hosts']);
    expect(taken.status).toBe(1);
    expect(taken.stderr).toBe(`box-dns: cannot listen on ${ip}:53 (UDP): the port is in use by another program\n`);
  });

  it('keeps no capability once it listens, and cannot gain one', async () => {
    const dns = await startDns(['--listen', freshAddress(), '--hosts', hostsFile('')]);
    const status = fs.readFileSync(`/proc/${dns.pid}/status`, 'utf8');
    expect(status).toMatch(/^CapEff:\s+0{16}$/m);
    expect(status).toMatch(/^CapPrm:\s+0{16}$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  it('exits 0 on SIGTERM', async () => {
    const dns = await startDns(['--listen', freshAddress(), '--hosts', hostsFile('')]);
    const exit = new Promise<number | null>((resolve) => dns.once('exit', (code) => resolve(code)));
    dns.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('survives thousands of random and mutated packets, built with AddressSanitizer too, and still answers', async () => {
    // The same source built with the sanitizers too: an out-of-bounds read or write, or
    // undefined behaviour, aborts it with a report on stderr.
    const asan = path.join(scratch, 'box-dns-asan');
    execFileSync('gcc', ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', asan, dnsSource]);
    for (const binary of [dnsBinary, asan]) {
      const upstream = freshAddress();
      await startDns(['--listen', `${upstream}:5353`, '--hosts', hostsFile('10.213.1.9 far\n')], { binary });
      const ip = freshAddress();
      const dns = await startDns(['--listen', ip, '--hosts', hostsFile('10.213.0.2 web www\n10.213.0.3 db\n'), '--upstream', `${upstream}:5353`], { binary });
      const seeds = [query('web', 1), query('far', 1), query('2.0.213.10.in-addr.arpa', 12), query('x', 28)];
      // Names with pointers: to itself, forward, into the header, a loop through a label.
      const loops = [Buffer.from('c00c', 'hex'), Buffer.from('c00e', 'hex'), Buffer.from('c002', 'hex'), Buffer.from('0161c00c', 'hex'), Buffer.from('3f', 'hex')];
      for (const l of loops) seeds.push(Buffer.concat([query('', 1).subarray(0, 12), l, Buffer.from('00010001', 'hex')]));
      const sock = dgram.createSocket('udp4');
      const rand = (n: number) => crypto.randomInt(n);
      for (let i = 0; i < 4000; i++) {
        let pkt: Buffer;
        if (i % 4 === 0) pkt = crypto.randomBytes(rand(600));
        else {
          pkt = Buffer.from(seeds[rand(seeds.length)]);
          for (let k = rand(6); k >= 0; k--) {
            const what = rand(4);
            if (what === 0 && pkt.length) pkt[rand(pkt.length)] = rand(256); // a byte changed
            else if (what === 1) pkt = pkt.subarray(0, rand(pkt.length + 1)); // cut short
            else if (what === 2) pkt = Buffer.concat([pkt, crypto.randomBytes(rand(40))]); // garbage after
            else if (pkt.length >= 12) pkt.writeUInt16BE(rand(65536), 4 + 2 * rand(4)); // a count changed
          }
        }
        sock.send(pkt, 53, ip);
        if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5)); // let it keep up
      }
      // Broken TCP too: lengths that lie, a connection closed mid-message.
      for (let i = 0; i < 50; i++) {
        await new Promise<void>((resolve) => {
          const c = net.connect(53, ip, () => {
            c.end(crypto.randomBytes(rand(100)));
          });
          c.on('error', () => resolve());
          c.on('close', () => resolve());
          c.setTimeout(200, () => c.destroy());
        });
      }
      sock.close();
      expect(dns.exitCode).toBe(null);
      expect((await ask(ip, 53, 'www', TYPES.A)).records[0].data).toBe('10.213.0.2');
      expect((await ask(ip, 53, 'far', TYPES.A)).records[0].data).toBe('10.213.1.9');
      expect(parse(await tcpAsk(ip, 53, query('db', TYPES.A))).records[0].data).toBe('10.213.0.3');
      expect(dns.stderrText()).toBe('');
    }
  });

  it('serves across a veth link between two network namespaces, as on a bridge gateway', async () => {
    const tag = `${process.pid % 100000}`;
    const server = `boxdns-s${tag}`;
    const client = `boxdns-c${tag}`;
    const ipCmd = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    try {
      ipCmd('netns', 'add', server);
      ipCmd('netns', 'add', client);
      ipCmd('link', 'add', `bd${tag}s`, 'netns', server, 'type', 'veth', 'peer', 'name', `bd${tag}c`, 'netns', client);
      ipCmd('-n', server, 'addr', 'add', '10.213.99.1/30', 'dev', `bd${tag}s`);
      ipCmd('-n', client, 'addr', 'add', '10.213.99.2/30', 'dev', `bd${tag}c`);
      for (const [ns, dev] of [[server, `bd${tag}s`], [client, `bd${tag}c`]]) {
        ipCmd('-n', ns, 'link', 'set', dev, 'up');
        ipCmd('-n', ns, 'link', 'set', 'lo', 'up');
      }
      await startDns(['--listen', '10.213.99.1', '--hosts', hostsFile('10.213.99.2 client-box\n')], { netns: server });
      expect(nslookup('client-box', '10.213.99.1', 53, undefined, client)).toMatch(/Address: 10\.213\.99\.2/);
      expect(nslookup('gone', '10.213.99.1', 53, undefined, client)).toContain('NXDOMAIN');
    } finally {
      for (const p of started.splice(0)) p.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', server]); // the veth pair goes with its namespaces
      spawnSync('ip', ['netns', 'del', client]);
    }
  });
});
