// IPAM, rule generation, -p parsing and resolv.conf: pure functions, no root.

import { describe, expect, it } from 'vitest';
import { contains, formatSubnet, intToIp, ipToInt, overlaps, parseCidr, parseRoutes, pickAddress, pickSubnet } from '../../runtime/src/net/ipam.ts';
import { addPortsRules, deletePortsRules, tableRules } from '../../runtime/src/net/nat.ts';
import { exposedPorts, formatPort, parsePublish } from '../../runtime/src/net/ports.ts';
import { etcHosts, hostResolvers, hostsText, resolvConf } from '../../runtime/src/net/names.ts';
import type { Network } from '../../runtime/src/net/store.ts';
import { runConfigFrom } from '../../runtime/src/container/run-flags.ts';
import { userError } from './user-error.ts';

const net = (over: Partial<Network> = {}): Network => ({
  id: 'ab'.repeat(32), name: 'app', driver: 'bridge', subnet: '172.20.0.0/16', gateway: '172.20.0.1', internal: false,
  created: '', bridge: 'box-ababababab', table: 'box_abababababab', dns: true, ...over,
});

describe('ipam', () => {
  it('turns addresses into numbers and back', () => {
    expect(ipToInt('172.17.0.1')).toBe(0xac110001);
    expect(intToIp(0xac110001)).toBe('172.17.0.1');
    expect(ipToInt('256.1.1.1')).toBeNull();
    expect(ipToInt('1.2.3')).toBeNull();
  });

  it('parses a CIDR, refusing host bits and odd prefixes with the fix in the message', () => {
    expect(formatSubnet(parseCidr('10.0.0.0/8'))).toBe('10.0.0.0/8');
    expect(() => parseCidr('10.0.0.1/24')).toThrow("--subnet '10.0.0.1/24': host bits are set; did you mean 10.0.0.0/24?");
    expect(() => parseCidr('10.0.0.0/31')).toThrow(/prefix from \/8 to \/30/);
    expect(() => parseCidr('nope')).toThrow(/CIDR form/);
  });

  it('knows overlap and containment', () => {
    const a = parseCidr('172.17.0.0/16');
    expect(overlaps(a, parseCidr('172.17.5.0/24'))).toBe(true);
    expect(overlaps(a, parseCidr('172.18.0.0/16'))).toBe(false);
    expect(contains(a, ipToInt('172.17.255.254')!)).toBe(true);
  });

  it('picks the first pool subnet nothing uses, and the lowest free address', () => {
    expect(formatSubnet(pickSubnet([parseCidr('172.17.0.0/16'), parseCidr('172.18.3.0/24')])!)).toBe('172.19.0.0/16');
    const all = [...Array(15)].map((_, i) => parseCidr(`172.${17 + i}.0.0/16`));
    expect(formatSubnet(pickSubnet(all)!)).toBe('192.168.0.0/20');
    const s = parseCidr('10.0.0.0/30');
    expect(intToIp(pickAddress(s, new Set([ipToInt('10.0.0.1')!]))!)).toBe('10.0.0.2');
    expect(pickAddress(s, new Set([ipToInt('10.0.0.1')!, ipToInt('10.0.0.2')!]))).toBeNull(); // .3 is broadcast
  });

  it('reads /proc/net/route, skipping the default route', () => {
    const text = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
    expect(parseRoutes(text).map((r) => `${r.iface} ${formatSubnet(r.subnet)}`)).toEqual(['eth0 192.0.2.0/24']);
  });
});

describe('nftables rules', () => {
  it('masquerades what leaves a network, isolates it from other box bridges, and maps published ports', () => {
    const t = tableRules(net());
    expect(t).toMatch(/^table ip box_abababababab\ndelete table ip box_abababababab\ntable ip box_abababababab \{/);
    expect(t).toContain('ip saddr 172.20.0.0/16 oifname != "box-ababababab" masquerade');
    expect(t).toContain('ip saddr 127.0.0.0/8 oifname "box-ababababab" masquerade');
    expect(t).toContain('iifname "box-ababababab" oifname "box-*" drop');
    expect(t).toContain('fib daddr type local meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @ports_any');
    expect(t).not.toContain('chain input');
  });

  it('gives an --internal network no masquerade and no way out but its DNS', () => {
    const t = tableRules(net({ internal: true }));
    expect(t).not.toContain('oifname != "box-ababababab" masquerade');
    expect(t).toContain('    iifname "box-ababababab" drop\n    oifname "box-ababababab" drop');
    expect(t).toContain('iifname "box-ababababab" ip daddr 172.20.0.1 udp dport 53 accept');
  });

  it('adds and deletes port elements by key', () => {
    const rules = [
      { proto: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 8080, containerIp: '172.20.0.2', containerPort: 80 },
      { proto: 'udp' as const, hostIp: '127.0.0.1', hostPort: 53, containerIp: '172.20.0.2', containerPort: 5353 },
    ];
    expect(addPortsRules('ab'.repeat(32), rules)).toBe(
      'add element ip box_abababababab ports_any { tcp . 8080 : 172.20.0.2 . 80 }\n'
      + 'add element ip box_abababababab ports_at { 127.0.0.1 . udp . 53 : 172.20.0.2 . 5353 }\n');
    expect(deletePortsRules('ab'.repeat(32), rules)).toBe(
      'delete element ip box_abababababab ports_any { tcp . 8080 }\n'
      + 'delete element ip box_abababababab ports_at { 127.0.0.1 . udp . 53 }\n');
  });
});

describe('-p and -P', () => {
  it('parses every form docker run accepts', () => {
    expect(parsePublish('8080:80')).toEqual({ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 });
    expect(parsePublish('127.0.0.1:8080:80/udp')).toEqual({ proto: 'udp', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 });
    expect(parsePublish('80')).toEqual({ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 0, containerPort: 80 });
    expect(parsePublish('127.0.0.1::80')).toEqual({ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 });
  });

  it('refuses what is not a port, naming it', () => {
    expect(() => parsePublish('70000:80')).toThrow("-p 70000:80: host port '70000' is not a port number from 1 to 65535");
    expect(() => parsePublish('8080:0')).toThrow("container port '0'");
    expect(() => parsePublish('8080:80/sctp')).toThrow(/use \[IP:\]HOST_PORT:CONTAINER_PORT/);
    expect(() => parsePublish('1.2.3.999:80:80')).toThrow("'1.2.3.999' is not an IPv4 address");
  });

  it('turns EXPOSE into ports on free host ports, and prints them as docker port does', () => {
    expect(exposedPorts({ '80/tcp': {}, '53/udp': {} })).toEqual([
      { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 0, containerPort: 80 },
      { proto: 'udp', hostIp: '0.0.0.0', hostPort: 0, containerPort: 53 },
    ]);
    expect(formatPort({ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 })).toBe('80/tcp -> 0.0.0.0:8080');
  });
});

describe('names', () => {
  it('copies the host\'s resolvers without loopback ones, as Docker does', () => {
    expect(hostResolvers('nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\n'))
      .toEqual({ nameservers: ['10.0.0.2'], search: ['example.org'] });
  });

  it('points a user network\'s containers at its box-dns', () => {
    expect(resolvConf('172.20.0.1')).toContain('nameserver 172.20.0.1\n');
  });

  it('writes the hosts file box-dns serves, and the container\'s own /etc/hosts', () => {
    expect(hostsText([{ containerId: 'x', ip: '172.20.0.2', names: ['web', 'www', 'abcdef012345'] }])).toBe('172.20.0.2\tweb www abcdef012345\n');
    // x and z are on this network and on another: that network's names, for each of them alone
    // (@its address); z itself is named by this network's own line already.
    const here = [{ containerId: 'x', ip: '172.20.0.2', names: ['web'] }, { containerId: 'z', ip: '172.20.0.4', names: ['both'] }];
    const there = [{ containerId: 'x', ip: '172.21.0.5', names: ['web'] }, { containerId: 'y', ip: '172.21.0.6', names: ['db', 'database'] }, { containerId: 'z', ip: '172.21.0.7', names: ['both'] }];
    const apart = [{ containerId: 'w', ip: '172.22.0.2', names: ['alone'] }];
    expect(hostsText(here, [there, apart])).toBe('172.20.0.2\tweb\n172.20.0.4\tboth\n@172.20.0.2\t172.21.0.6\tdb database\n@172.20.0.4\t172.21.0.6\tdb database\n');
    expect(etcHosts('172.20.0.2', ['web'])).toContain('172.20.0.2\tweb\n');
  });
});

describe('box run --network', () => {
  it('joins the default bridge unless --ns or --lab says how the namespaces are', () => {
    expect(runConfigFrom(['busybox']).network).toBe('bridge');
    expect(runConfigFrom(['--ns', 'net,mnt', 'busybox']).network).toBeUndefined();
    expect(runConfigFrom(['--lab', 'lab']).network).toBeUndefined();
  });

  it('shares the host\'s or another container\'s network namespace instead of making one', () => {
    expect(runConfigFrom(['--network', 'host', 'busybox']).namespaces).not.toContain('net');
    expect(runConfigFrom(['--network', 'container:web', 'busybox']).namespaces).not.toContain('net');
    expect(runConfigFrom(['--network', 'none', 'busybox']).namespaces).toContain('net');
  });

  it('refuses -p where there is no bridge network to publish from', () => {
    expect(userError(() => runConfigFrom(['--network', 'none', '-p', '80', 'busybox'])))
      .toBe('-p needs a bridge network, and this container has none; use --network bridge or a network of yours');
    expect(userError(() => runConfigFrom(['--network', 'host', '--ip', '1.2.3.4', 'busybox']))).toMatch(/^--ip needs a bridge network/);
  });
});
