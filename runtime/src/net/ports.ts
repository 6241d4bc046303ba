// Published ports: `-p [IP:]HOST:CONTAINER[/tcp|/udp]`, `-p CONTAINER` (the kernel picks a
// free host port), `-P` (every port the image EXPOSEs).
//
// The traffic itself goes through the kernel (nftables DNAT, nat.ts). But a DNAT rule holds
// no port: a host program could bind 8080 later and never see a packet, and two containers
// could both claim it. So, as docker-proxy does, the container's box process (its monitor)
// also binds the host port, and holds it until the container is gone: the kernel then refuses
// the port to anyone else (EADDRINUSE), `ss -ltnp` names box as its holder, and a box killed
// by SIGKILL lets it go with its descriptors. Nothing ever arrives on that socket: every
// packet for the port is DNATed to the container before it could be delivered locally.

import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { ConflictError, UserError } from '../sys/errors.ts';
import { ipToInt } from './ipam.ts';

export interface PortSpec {
  proto: 'tcp' | 'udp';
  hostIp: string;
  /** 0: a free port chosen when the container starts. */
  hostPort: number;
  containerPort: number;
}

function portNumber(text: string, what: string, flag: string, allowZero = false): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw new UserError(`${flag}: ${what} '${text}' is not a port number from 1 to 65535`);
  }
  return n;
}

/** One -p value. */
export function parsePublish(text: string): PortSpec {
  const flag = `-p ${text}`;
  const m = /^(?:(?:([\d.]+):)?(\d*):)?(\d+)(?:\/(tcp|udp))?$/.exec(text);
  if (!m) throw new UserError(`${flag}: use [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp] or CONTAINER_PORT, e.g. -p 8080:80`);
  const [, ip, host, container, proto] = m;
  if (ip !== undefined && ipToInt(ip) === null) throw new UserError(`${flag}: '${ip}' is not an IPv4 address`);
  return {
    proto: (proto as 'tcp' | 'udp' | undefined) ?? 'tcp',
    hostIp: ip ?? '0.0.0.0',
    hostPort: host ? portNumber(host, 'host port', flag) : 0,
    containerPort: portNumber(container, 'container port', flag),
  };
}

/** The image's EXPOSE (config ExposedPorts: {"80/tcp": {}}), each to a free host port. */
export function exposedPorts(exposed: Record<string, unknown> | undefined): PortSpec[] {
  return Object.keys(exposed ?? {}).flatMap((k) => {
    const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(k);
    return m ? [{ proto: (m[2] as 'tcp' | 'udp' | undefined) ?? 'tcp', hostIp: '0.0.0.0', hostPort: 0, containerPort: Number(m[1]) }] : [];
  });
}

export interface HeldPort {
  spec: PortSpec;
  close(): void;
}

/**
 * Bind each host port, in order; on the first that is taken, let go of the others and say
 * who holds it. `owner` names a container of this box root that published the port.
 */
export async function holdPorts(specs: PortSpec[], owner: (p: PortSpec) => string | null): Promise<HeldPort[]> {
  const held: HeldPort[] = [];
  try {
    for (const spec of specs) held.push(await holdOne(spec, owner));
  } catch (err) {
    for (const h of held) h.close();
    throw err;
  }
  return held;
}

function holdOne(spec: PortSpec, owner: (p: PortSpec) => string | null): Promise<HeldPort> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(portError(spec, err, owner));
    if (spec.proto === 'tcp') {
      const server = net.createServer((c) => c.destroy());
      server.once('error', fail);
      server.listen({ host: spec.hostIp, port: spec.hostPort, exclusive: true }, () => {
        const port = (server.address() as net.AddressInfo).port;
        server.unref(); // holding a port must not keep box alive
        resolve({ spec: { ...spec, hostPort: port }, close: () => server.close() });
      });
    } else {
      const sock = dgram.createSocket('udp4');
      sock.once('error', fail);
      sock.bind({ address: spec.hostIp, port: spec.hostPort, exclusive: true }, () => {
        sock.unref();
        resolve({ spec: { ...spec, hostPort: sock.address().port }, close: () => sock.close() });
      });
    }
  });
}

function portError(spec: PortSpec, err: NodeJS.ErrnoException, owner: (p: PortSpec) => string | null): UserError {
  const where = `${spec.hostIp}:${spec.hostPort}/${spec.proto}`;
  if (err.code === 'EADDRINUSE') {
    const who = owner(spec) ?? holderProcess(spec);
    return new ConflictError(`-p: host port ${where} is already in use${who ? ` by ${who}` : ''}; pick another host port, or free it`);
  }
  if (err.code === 'EADDRNOTAVAIL') return new UserError(`-p: ${spec.hostIp} is not an address of this machine; use one \`ip addr\` lists, or leave it out`);
  if (err.code === 'EACCES') return new UserError(`-p: host port ${where}: permission denied (ports below 1024 need root)`);
  return new UserError(`-p: cannot hold host port ${where}: ${err.code ?? err.message}`);
}

/** The process holding a port, from /proc/net/{tcp,udp}{,6} (socket inode) and /proc/PID/fd. */
export function holderProcess(spec: PortSpec): string | null {
  const inodes = new Set<string>();
  for (const file of [`/proc/net/${spec.proto}`, `/proc/net/${spec.proto}6`]) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = parseInt(f[1].split(':')[1], 16);
      const listening = spec.proto === 'udp' || f[3] === '0A';
      if (port === spec.hostPort && listening) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) {
          // The command line, not comm: Node names its main thread "MainThread".
          const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
          return `process ${pid} (${cmd.length > 60 ? `${cmd.slice(0, 59)}…` : cmd})`;
        }
      } catch {
        /* gone */
      }
    }
  }
  return 'a process in another network namespace or one box cannot see';
}

/** `80/tcp -> 0.0.0.0:8080`, as `docker port` prints it. */
export function formatPort(p: { proto: string; hostIp: string; hostPort: number; containerPort: number }): string {
  return `${p.containerPort}/${p.proto} -> ${p.hostIp}:${p.hostPort}`;
}
