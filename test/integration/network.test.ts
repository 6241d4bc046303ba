// Container networks on the real kernel: bridges, veths, addresses, names, isolation,
// published ports, and that nothing outlives its owner. All traffic stays on this machine:
// containers, their bridges, and one network namespace the test makes itself ("outside"),
// which stands for the world beyond the host.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import dgram from 'node:dgram';
import { box, boxAsync, has, repo, rootReason, tempBoxRoot, until } from './helpers.ts';

const missing = rootReason || (!has('nft') ? 'needs nft (apt-get install nftables)' : !has('ip') ? 'needs ip (apt-get install iproute2)' : '');
if (missing && process.env.CI === 'true') throw new Error(`network tests cannot run: ${missing}`);
if (missing) console.warn(`skipping network tests: ${missing}`);

const root = missing ? '' : tempBoxRoot('net');
const tag = String(process.pid % 100000);
const OUT_NS = `boxtest-out-${tag}`;
const OUT_HOST = `bxo${tag}h`; // the host's end of the cable to "outside"
const HOST_ADDR = '10.213.77.1'; // an address of this machine, made by the test
const OUT_ADDR = '10.213.77.2'; // an address beyond the host, in the test's own namespace

const ok = (args: string[], timeout?: number) => {
  const r = box(root, args, { timeout });
  if (r.code !== 0) throw new Error(`box ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
};
const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 15_000 });
const linkNames = () => new Set(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.split(': ')[1].split('@')[0]));
const ruleset = () => execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
// Other programs (other box roots' tests) may make bridges, veths and tables meanwhile: these
// look only at this box root's networks and what box made for them.
const myNetworks = (): { id: string; bridge: string; table: string }[] =>
  fs.existsSync(path.join(root, 'networks')) ? fs.readdirSync(path.join(root, 'networks')).filter((d) => /^[0-9a-f]{64}$/.test(d))
    .map((id) => JSON.parse(fs.readFileSync(path.join(root, 'networks', id, 'network.json'), 'utf8'))) : [];
/** Our bridges, and veths named for one of our networks (veth<container><network id's first 4>). */
const myLinks = () => {
  const nets = myNetworks();
  return new Set([...linkNames()].filter((l) => nets.some((n) => l === n.bridge || (l.startsWith('veth') && l.endsWith(n.id.slice(0, 4))))));
};
const myRules = () => myNetworks().map((n) => spawnSync('nft', ['list', 'table', 'ip', n.table], { encoding: 'utf8' }).stdout).join('');
/** Every file under the box root's networks/ (leases, name records...), with symlink targets. */
function networkState(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(e.isSymbolicLink() ? `${p} -> ${fs.readlinkSync(p)}` : p);
    }
  };
  if (fs.existsSync(path.join(root, 'networks'))) walk(path.join(root, 'networks'));
  return out.filter((p) => !p.endsWith('/hosts') && !p.endsWith('network.json')).sort();
}

/** GET /hostname over plain TCP with bash's /dev/tcp (no curl needed), run by `prefix` (e.g. ip netns exec). */
function httpGet(host: string, port: number, prefix = ''): string {
  const r = sh(`${prefix} timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port}; printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3' 2>&1`);
  return r.stdout.trim().split('\n').pop() ?? '';
}

/** One DNS question for NAME's A record over UDP; the answer packet (retried: the server may be starting). */
async function askA(host: string, port: number, name: string): Promise<Buffer> {
  const q = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
  for (let attempt = 0; attempt < 20; attempt++) {
    const sock = dgram.createSocket('udp4');
    const got = await new Promise<Buffer | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 250);
      sock.once('message', (m) => { clearTimeout(t); resolve(m); });
      sock.once('error', () => { clearTimeout(t); resolve(null); });
      sock.send(q, port, host);
    });
    sock.close();
    if (got) return got;
  }
  throw new Error(`no DNS answer from ${host}:${port}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '0.0.0.0', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

needs(missing).describe('container networks on the real kernel', () => {
  beforeAll(() => {
    // "Outside": a namespace with an address, cabled to the host, which routes to it.
    execFileSync('ip', ['netns', 'add', OUT_NS]);
    execFileSync('ip', ['link', 'add', OUT_HOST, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT_NS]);
    execFileSync('ip', ['addr', 'add', `${HOST_ADDR}/24`, 'dev', OUT_HOST]);
    execFileSync('ip', ['link', 'set', OUT_HOST, 'up']);
    execFileSync('ip', ['-n', OUT_NS, 'addr', 'add', `${OUT_ADDR}/24`, 'dev', 'eth0']);
    execFileSync('ip', ['-n', OUT_NS, 'link', 'set', 'eth0', 'up']);
    execFileSync('ip', ['-n', OUT_NS, 'link', 'set', 'lo', 'up']);
    ok(['run', '--rm', '--network', 'none', 'busybox', 'true'], 120_000); // builds the busybox image once
    for (const n of ['app', 'front', 'back']) ok(['network', 'create', n]);
    ok(['network', 'create', '--internal', 'intl']);
  }, 180_000);

  afterAll(() => {
    const ours = myNetworks();
    for (const c of ['a1', 'a2', 'b1', 'web', 'dflt', 'srv', 'taken']) box(root, ['rm', '-f', c]);
    for (const n of ['front', 'back', 'intl', 'app', 'bridge']) box(root, ['network', 'rm', n]);
    spawnSync('ip', ['netns', 'del', OUT_NS]);
    fs.rmSync(root, { recursive: true, force: true });
    // Nothing of ours left on the machine: no bridge, veth or table.
    for (const n of ours) expect(ruleset()).not.toContain(`table ip ${n.table} `);
    const left = [...linkNames()].filter((l) => ours.some((n) => l === n.bridge || (l.startsWith('veth') && l.endsWith(n.id.slice(0, 4)))));
    expect(left).toEqual([]);
  }, 60_000);

  it('puts a container on the default bridge: eth0 with an address, a default route, the host\'s resolvers, no names', () => {
    ok(['run', '-d', '--name', 'dflt', 'busybox', 'sleep', '100']);
    const inspect = JSON.parse(ok(['inspect', 'dflt']))[0];
    const ip = inspect.NetworkSettings.Networks.bridge.IPAddress as string;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const r = box(root, ['run', '--rm', 'busybox', 'sh', '-c',
      `ip -4 -o addr show eth0 | wc -l; ip route | grep -c '^default via'; ping -c1 -W2 ${ip} >/dev/null && echo ping-ip-ok; nslookup dflt >/dev/null 2>&1 || echo no-name; grep -c '^nameserver 127' /etc/resolv.conf`]);
    expect(r.stdout.trim().split('\n')).toEqual(['1', '1', 'ping-ip-ok', 'no-name', '0']);
    // What the kernel sees on the host: the bridge, and the container's veth plugged into it.
    const net = JSON.parse(ok(['network', 'inspect', 'bridge']))[0];
    const veth = inspect.NetworkSettings.Networks.bridge.Interface as string;
    expect(sh(`ip -o link show ${veth}`).stdout).toContain(`master ${net.Bridge}`);
    expect(ruleset()).toContain(`table ip ${net.NftablesTable.split(' ')[1]}`);
    ok(['rm', '-f', 'dflt']);
  });

  it('--network none, host and container:NAME: lo only (up), the host\'s interfaces, another container\'s', () => {
    const none = box(root, ['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']).stdout.trim().split('\n');
    expect(none).toHaveLength(1);
    expect(none[0]).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(box(root, ['run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/net/dev']).stdout).toContain(`${OUT_HOST}:`);
    ok(['run', '-d', '--name', 'a1', '--network', 'app', 'busybox', 'sleep', '100']);
    const ip = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings.Networks.app.IPAddress;
    expect(box(root, ['run', '--rm', '--network', 'container:a1', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0']).stdout).toContain(`inet ${ip}/`);
    ok(['rm', '-f', 'a1']);
  });

  it('resolves names and aliases on a user-defined network (ping, nslookup, wget), and forgets a removed container', () => {
    ok(['run', '-d', '--name', 'web', '--network', 'app', '--network-alias', 'www', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const ip = JSON.parse(ok(['inspect', 'web']))[0].NetworkSettings.Networks.app.IPAddress;
    const r = box(root, ['run', '--rm', '--network', 'app', 'busybox', 'sh', '-c',
      `ping -c1 -W2 web | head -1; ping -c1 -W2 ${ip} >/dev/null && echo ping-ip-ok; nslookup www | grep -A1 '^Name:' | tail -1; wget -qO- http://web/hostname`]);
    expect(r.stdout.trim().split('\n')).toEqual([`PING web (${ip}): 56 data bytes`, 'ping-ip-ok', `Address: ${ip}`, 'web']);
    ok(['rm', '-f', 'web']);
    const after = box(root, ['run', '--rm', '--network', 'app', 'busybox', 'nslookup', 'web']);
    expect(after.code).not.toBe(0);
    expect(after.stdout + after.stderr).toContain("can't find web");
  });

  it('keeps two networks apart, and lets an --internal network reach nothing outside', () => {
    ok(['run', '-d', '--name', 'b1', '--network', 'back', 'busybox', 'sleep', '100']);
    const b1 = JSON.parse(ok(['inspect', 'b1']))[0].NetworkSettings.Networks.back.IPAddress;
    const ping = (network: string, to: string) =>
      box(root, ['run', '--rm', '--network', network, 'busybox', 'ping', '-c1', '-W2', to]).code;
    expect(ping('back', b1)).toBe(0); // the same network: yes
    expect(ping('front', b1)).not.toBe(0); // another network: no
    expect(ping('front', OUT_ADDR)).toBe(0); // beyond the host, masqueraded: yes
    expect(ping('intl', OUT_ADDR)).not.toBe(0); // internal: no way out
    expect(ping('intl', HOST_ADDR)).not.toBe(0); // nor to the host's other addresses
    ok(['rm', '-f', 'b1']);
  });

  it('publishes a port on 127.0.0.1 and the host\'s other addresses, refuses it while taken, and frees it after rm', async () => {
    const port = await freePort();
    ok(['run', '-d', '--name', 'srv', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    expect(ok(['port', 'srv'])).toBe(`80/tcp -> 0.0.0.0:${port}`);
    expect(ok(['ps'])).toContain(`0.0.0.0:${port}->80/tcp`);
    expect(httpGet('127.0.0.1', port)).toBe('srv');
    expect(httpGet(HOST_ADDR, port)).toBe('srv');
    expect(httpGet(HOST_ADDR, port, `ip netns exec ${OUT_NS}`)).toBe('srv'); // from beyond the host
    // Hairpin: the container reaches its own published port through the host's address (DNAT
    // back to itself: the bridge port in hairpin mode, the connection masqueraded).
    expect(ok(['exec', 'srv', 'sh', '-c', `timeout 5 wget -O- http://${HOST_ADDR}:${port}/hostname 2>/dev/null`])).toBe('srv');
    const again = box(root, ['run', '--rm', '--name', 'taken', '-p', `${port}:80`, 'busybox', 'true']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toBe(`box: -p: host port 0.0.0.0:${port}/tcp is already in use by container 'srv' (box rm -f srv frees it); pick another host port, or free it\n`);
    ok(['rm', '-f', 'srv']);
    expect(await bindable(port)).toBe(true);
    // -p CONTAINER: the kernel picks a free host port.
    const id = ok(['run', '-d', '--name', 'srv', '-p', '80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const chosen = Number(/:(\d+)$/.exec(ok(['port', 'srv']))![1]);
    expect(chosen).toBeGreaterThan(0);
    expect(httpGet('127.0.0.1', chosen)).toBe('srv');
    ok(['rm', '-f', id]);
  });

  it('-P publishes what the image EXPOSEs; a UDP port too', async () => {
    const ctx = fs.mkdtempSync(path.join(root, 'ctx-'));
    fs.writeFileSync(path.join(ctx, 'Boxfile'), 'FROM busybox\nEXPOSE 80\nCMD ["httpd", "-f", "-p", "80", "-h", "/etc"]\n');
    ok(['build', '-t', 'webimg', ctx]);
    ok(['run', '-d', '--name', 'srv', '-P', 'webimg']);
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(ok(['port', 'srv']));
    expect(m).not.toBeNull();
    expect(httpGet('127.0.0.1', Number(m![1]))).toBe('srv');
    ok(['rm', '-f', 'srv']);
    // UDP (busybox has no UDP server): box-dns itself, bound in from the build, answers a
    // DNS question the host sends to the published port.
    const hosts = path.join(ctx, 'hosts');
    fs.writeFileSync(hosts, '192.0.2.77 udpname\n');
    ok(['run', '-d', '--name', 'srv', '-p', '127.0.0.1::5353/udp', '-v', `${path.join(repo, 'runtime/build/box-dns')}:/box-dns:ro`,
      '-v', `${hosts}:/hosts:ro`, 'busybox', '/box-dns', '--listen', '0.0.0.0:5353', '--hosts', '/hosts']);
    const udp = Number(/^5353\/udp -> 127\.0\.0\.1:(\d+)$/.exec(ok(['port', 'srv']))![1]);
    const answer = await askA('127.0.0.1', udp, 'udpname');
    expect([...answer.subarray(answer.length - 4)].join('.')).toBe('192.0.2.77');
    ok(['rm', '-f', 'srv']);
  });

  it('refuses a port a host process holds, naming it', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = box(root, ['run', '--rm', '-p', `${port}:80`, 'busybox', 'true']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^box: -p: host port 0\\.0\\.0\\.0:${port}/tcp is already in use by process ${process.pid} \\(`));
    } finally {
      server.close();
    }
  });

  it('leaves no veth, rule, lease or name after rm -f', async () => {
    ok(['run', '--rm', '--network', 'app', 'busybox', 'true']); // the network's objects exist before we look
    const [links, rules, state] = [myLinks(), myRules(), networkState()];
    const port = await freePort();
    const id = ok(['run', '-d', '--name', 'a1', '--network', 'app', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80']);
    expect(networkState()).not.toEqual(state);
    expect(myRules()).toContain(`${port} :`);
    ok(['rm', '-f', 'a1']);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await until(() => [...myLinks()].every((l) => links.has(l)), 5000, 'the veth to go');
    expect(myRules()).toBe(rules);
    expect(networkState()).toEqual(state);
    expect(await bindable(port)).toBe(true);
  });

  it('leaves nothing after box is SIGKILLed at any point of the start: the next box reaps it', async () => {
    ok(['run', '--rm', '--network', 'app', 'busybox', 'true']);
    const [links, state, rules] = [myLinks(), networkState(), myRules()];
    const port = await freePort();
    const containerId = () => fs.readdirSync(path.join(root, 'containers')).find((d) => /^[0-9a-f]{64}$/.test(d)) ?? '';
    const veths = () => [...myLinks()].filter((l) => !links.has(l));
    // Each point of the start, seen from outside: at once; its address leased; its veth
    // plugged in; its ports in the ruleset; running.
    const points: [string, () => boolean][] = [
      ['at once', () => true],
      ['address leased', () => networkState().some((p) => p.includes('/leases/'))],
      ['veth plugged in', () => veths().length > 0],
      ['port in the ruleset', () => myRules().includes(`${port} :`)],
      ['running', () => { const id = containerId(); return !!id && fs.readFileSync(path.join(root, 'containers', id, 'state.json'), 'utf8').includes('"running"'); }],
    ];
    for (const [point, reached] of points) {
      const child = boxAsync(root, ['run', '--name', 'killed', '--network', 'app', '-p', `${port}:80`, 'busybox', 'sleep', '100'], { stdio: 'ignore' });
      await until(reached, 10_000, point);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      box(root, ['ps', '-a']); // the next box reaps what the killed one left
      box(root, ['rm', '-f', 'killed']);
      await until(() => veths().length === 0, 5000, `no veth left after a kill ${point}`);
      expect(networkState(), `state after a kill ${point}`).toEqual(state);
      expect(myRules(), `ruleset after a kill ${point}`).toBe(rules);
      expect(await bindable(port), `port after a kill ${point}`).toBe(true);
    }
  }, 90_000);

  it('refuses bad input with one line, a non-zero exit, and nothing made', () => {
    const [links, rules] = [myLinks(), myRules()];
    const networks = ok(['network', 'ls']);
    const fails = (args: string[]) => {
      const r = box(root, args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.split('\n').filter(Boolean), args.join(' ')).toHaveLength(1);
      return r.stderr.trim();
    };
    expect(fails(['network', 'create', '--subnet', '10.1.2.3/33', 'bad'])).toMatch(/^box: --subnet '10\.1\.2\.3\/33': give an IPv4 subnet in CIDR form/);
    expect(fails(['network', 'create', '--subnet', '10.213.77.128/25', 'bad'])).toBe(`box: --subnet 10.213.77.128/25 overlaps the route to 10.213.77.0/24 on ${OUT_HOST}; pick another subnet`);
    const app = JSON.parse(ok(['network', 'inspect', 'app']))[0].IPAM.Config[0].Subnet;
    expect(fails(['network', 'create', '--subnet', app, 'bad'])).toBe(`box: --subnet ${app} overlaps network 'app' (${app}); pick another subnet`);
    expect(fails(['run', '--rm', '-p', '70000:80', 'busybox', 'true'])).toBe(`box: -p 70000:80: host port '70000' is not a port number from 1 to 65535`);
    expect(fails(['run', '--rm', '--network', 'nosuch', 'busybox', 'true'])).toMatch(/^box: no such network: 'nosuch'/);
    ok(['run', '-d', '--name', 'a2', '--network', 'app', 'busybox', 'sleep', '100']);
    expect(fails(['network', 'rm', 'app'])).toBe(`box: network 'app' is in use by 'a2'; remove it first (box rm -f a2)`);
    ok(['rm', '-f', 'a2']);
    expect(ok(['network', 'ls'])).toBe(networks);
    expect([...myLinks()].filter((l) => !links.has(l))).toEqual([]);
    expect(myRules()).toBe(rules);
    expect(myNetworks()).toHaveLength(networks.split('\n').length - 1); // no network record half made
  });

  it('lists networks with their containers, and prunes the unused ones but the default', () => {
    ok(['run', '-d', '--name', 'a1', '--network', 'front', 'busybox', 'sleep', '100']);
    ok(['network', 'create', 'spare']);
    const rows = ok(['network', 'ls']).split('\n').map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'SCOPE', 'CONTAINERS']);
    expect(rows.find((r) => r[1] === 'front')?.at(-1)).toBe('1');
    expect(rows.find((r) => r[1] === 'intl')?.[4]).toBe('internal');
    const spare = JSON.parse(ok(['network', 'inspect', 'spare']))[0];
    expect(linkNames().has(spare.Bridge)).toBe(true);
    const pruned = ok(['network', 'prune']).split('\n');
    expect(pruned).toContain('Deleted Network: spare');
    expect(pruned).not.toContain('Deleted Network: front');
    expect(pruned).not.toContain('Deleted Network: bridge');
    expect(linkNames().has(spare.Bridge)).toBe(false);
    expect(ruleset()).not.toContain(spare.NftablesTable.split(' ')[1]);
    ok(['rm', '-f', 'a1']);
    for (const n of ['app', 'front', 'back']) if (!ok(['network', 'ls']).includes(` ${n} `)) ok(['network', 'create', n]);
  });

  it('connects and disconnects a running container', () => {
    ok(['run', '-d', '--name', 'a1', '--network', 'front', 'busybox', 'sleep', '100']);
    ok(['network', 'connect', 'app', 'a1']);
    const r = box(root, ['run', '--rm', '--network', 'app', 'busybox', 'ping', '-c1', '-W2', 'a1']);
    expect(r.code).toBe(0);
    expect(box(root, ['exec', 'a1', 'ip', '-o', 'link']).stdout).toMatch(/eth1@/);
    ok(['network', 'disconnect', 'app', 'a1']);
    expect(box(root, ['exec', 'a1', 'ip', '-o', 'link']).stdout).not.toMatch(/eth1@/);
    expect(box(root, ['run', '--rm', '--network', 'app', 'busybox', 'nslookup', 'a1']).code).not.toBe(0);
    ok(['rm', '-f', 'a1']);
  });

  it('network connect gives resolv.conf and /etc/hosts what Docker gives them; disconnect takes it back; a changed or planted file is left', () => {
    ok(['run', '-d', '--name', 'a2', '--network', 'app', 'busybox', 'sleep', '100']); // a name on app
    ok(['run', '-d', '--name', 'dflt', 'busybox', 'sleep', '100']); // on the default bridge: the host's resolvers
    const cat = (f: string) => ok(['exec', 'dflt', 'cat', f]);
    const before = { conf: cat('/etc/resolv.conf'), hosts: cat('/etc/hosts') };
    expect(before.conf).toMatch(/^# box: the host's resolvers/);
    expect(box(root, ['exec', 'dflt', 'nslookup', 'a2']).code).not.toBe(0);
    ok(['network', 'connect', 'app', 'dflt']);
    const gateway = JSON.parse(ok(['network', 'inspect', 'app']))[0].IPAM.Config[0].Gateway as string;
    const ip = JSON.parse(ok(['inspect', 'dflt']))[0].NetworkSettings.Networks.app.IPAddress as string;
    expect(cat('/etc/resolv.conf')).toContain(`\nnameserver ${gateway}\n`); // app's box-dns
    expect(cat('/etc/hosts')).toBe(`${before.hosts}\n${ip}\tdflt`); // (ok() trims the output)
    expect(ok(['exec', 'dflt', 'nslookup', 'a2'])).toMatch(/Name:\s+a2/);
    ok(['network', 'disconnect', 'app', 'dflt']);
    expect(cat('/etc/resolv.conf')).toBe(before.conf);
    expect(cat('/etc/hosts')).toBe(before.hosts);

    // The container's own resolv.conf stays (as Docker leaves one the container changed), and
    // a symlink it planted at /etc/hosts resolves inside its root: the host's file of that path is not touched.
    const canary = path.join(root, 'canary');
    fs.writeFileSync(canary, 'the host\'s\n');
    ok(['exec', 'dflt', 'sh', '-c', `echo 'nameserver 192.0.2.1' > /etc/resolv.conf; ln -sf ${canary} /etc/hosts`]);
    ok(['network', 'connect', 'app', 'dflt']);
    expect(cat('/etc/resolv.conf')).toBe('nameserver 192.0.2.1');
    expect(fs.readFileSync(canary, 'utf8')).toBe('the host\'s\n');
    for (const c of ['dflt', 'a2']) ok(['rm', '-f', c]);
  });

  it("shows a stopped container's networks without the address and ports it gave back, as Docker does", () => {
    ok(['run', '-d', '--name', 'a1', '--network', 'app', '-p', '127.0.0.1::80', 'busybox', 'sleep', '100']);
    const running = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings;
    expect(running.Networks.app.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.Ports).toHaveLength(1);
    ok(['stop', '-t', '0', 'a1']);
    const stopped = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings;
    expect(stopped.Networks.app).toMatchObject({ NetworkID: running.Networks.app.NetworkID, IPAddress: '', IPPrefixLen: 0, Gateway: '' });
    expect(stopped.Ports).toEqual([]);
    // The address it held is another container's now.
    ok(['run', '-d', '--name', 'a2', '--network', 'app', 'busybox', 'sleep', '100']);
    expect(JSON.parse(ok(['inspect', 'a2']))[0].NetworkSettings.Networks.app.IPAddress).toBe(running.Networks.app.IPAddress);
    for (const c of ['a1', 'a2']) ok(['rm', '-f', c]);
  });

  it('works inside a lab sandbox: a network, a web server published and reached from the sandbox shell, no way out', () => {
    const script = [
      'box network create labnet >/dev/null',
      'box run -d --name web --network labnet -p 8080:80 busybox httpd -f -p 80 -h /etc >/dev/null',
      'box run --rm --network labnet busybox ping -c1 -W2 web >/dev/null && echo ping-by-name-ok',
      'box run --rm --network labnet busybox wget -qO- http://web/hostname',
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3' | tail -1`,
      `box run --rm busybox ping -c1 -W1 ${OUT_ADDR} >/dev/null 2>&1 || echo no-way-out`,
      `box run --rm busybox ping -c1 -W1 ${HOST_ADDR} >/dev/null 2>&1 || echo not-the-host`,
      'box rm -f web >/dev/null; box network rm labnet >/dev/null; box network rm bridge >/dev/null',
      'ip -o link | grep -c "box-\\|veth"; nft list ruleset | grep -c "^table"',
    ].join('\n');
    const r = box(root, ['run', '--rm', '--lab', '-e', `S=${script}`, 'lab', 'sh', '-c', 'eval "$S"'], { timeout: 90_000 });
    expect(r.stdout.trim().split('\n')).toEqual(['ping-by-name-ok', 'web', 'web', 'no-way-out', 'not-the-host', '0', '0']);
  }, 120_000);
});
