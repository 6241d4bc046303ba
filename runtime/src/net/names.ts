// Names on a network. A user-defined network gets its own DNS server, box-dns (a small
// static C responder, dns/box-dns.c), listening on the network's gateway address, as podman's aardvark-dns
// does: it answers A queries from the network's hosts file (each container's name, its
// aliases and its short id) and forwards other names to the host's resolvers. box rewrites
// that file atomically (write, rename) whenever a container joins or leaves; box-dns re-reads
// it when it changes. It starts with the network's first container and stops with its last.
// The default `bridge` network has no names, as Docker's has none: its containers get the
// host's resolvers instead.
//
// The container's /etc/resolv.conf, /etc/hosts and /etc/hostname are files box writes into
// the container's directory and binds over the image's, as Docker does.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Trace } from '../sys/trace.ts';
import { UserError } from '../sys/errors.ts';
import { dnsPath } from '../init/build.ts';
import { hostsFile, networkDir, writeNetwork, type Network } from './store.ts';

/** box-dns, built on demand as box-init is; false where no C compiler could build it. */
export function dnsAvailable(): boolean {
  try {
    return fs.existsSync(dnsPath());
  } catch {
    return false;
  }
}

/** One endpoint's names, kept beside its lease: what the hosts file is made of. */
export interface NameRecord {
  containerId: string;
  ip: string;
  names: string[];
}

const recordsDir = (n: Network) => path.join(networkDir(n.id), 'endpoints');

export function addNameRecord(n: Network, r: NameRecord): void {
  fs.mkdirSync(recordsDir(n), { recursive: true });
  atomicWrite(path.join(recordsDir(n), r.containerId), JSON.stringify(r));
}

export function removeNameRecord(n: Network, containerId: string): void {
  fs.rmSync(path.join(recordsDir(n), containerId), { force: true });
}

export function nameRecords(n: Network): NameRecord[] {
  let files: string[];
  try {
    files = fs.readdirSync(recordsDir(n)).filter((f) => /^[0-9a-f]{64}$/.test(f));
  } catch {
    return [];
  }
  return files.flatMap((f) => {
    try {
      return [JSON.parse(fs.readFileSync(path.join(recordsDir(n), f), 'utf8')) as NameRecord];
    } catch {
      return [];
    }
  });
}

/** The hosts file box-dns serves: `IP name alias... shortid`, one line per container. */
export function hostsText(records: NameRecord[]): string {
  return records.map((r) => `${r.ip}\t${r.names.join(' ')}\n`).join('');
}

/** Names no container holds (a cluster's Services, cluster/service-dns.ts): a file of their own, kept whole. */
const extraNamesFile = (n: Network) => path.join(networkDir(n.id), 'extra-hosts');

export function setExtraNames(n: Network, records: { ip: string; names: string[] }[]): void {
  atomicWrite(extraNamesFile(n), hostsText(records.map((r) => ({ containerId: '', ...r }))));
  writeHosts(n);
}

export function writeHosts(n: Network): void {
  atomicWrite(hostsFile(n.id), hostsText(nameRecords(n)) + readOr(extraNamesFile(n)));
}

function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  fs.renameSync(tmp, file); // box-dns never reads half a file
}

/** Is the recorded box-dns still that process? Its command line names this network's hosts file. */
export function dnsRunning(n: Network): boolean {
  if (!n.dnsPid) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${n.dnsPid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${n.dnsPid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.includes(hostsFile(n.id));
  } catch {
    return false;
  }
}

/** Start the network's box-dns unless it runs; resolves when it listens. Call with the network lock held. */
export async function startDns(trace: Trace | null, n: Network, upstreams: string[]): Promise<void> {
  if (dnsRunning(n)) return;
  if (!fs.existsSync(hostsFile(n.id))) writeHosts(n);
  const args = ['--listen', `${n.gateway}:53`, '--hosts', hostsFile(n.id), ...upstreams.flatMap((u) => ['--upstream', u]), '--ready-fd', '3'];
  trace?.record({ kind: 'note', text: `box-dns ${args.join(' ')}` });
  const child = spawn(dnsPath(), args, { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = await new Promise<boolean>((resolve) => {
    child.stdio[3]!.once('data', () => resolve(true));
    child.once('exit', () => resolve(false));
    child.once('error', () => resolve(false));
  });
  child.stdio[3]!.destroy();
  child.stderr!.destroy();
  if (!ready) throw new UserError(`network '${n.name}': its DNS server (box-dns) did not start on ${n.gateway}:53: ${stderr.trim().split('\n').pop() || 'it exited'}`);
  child.unref();
  n.dnsPid = child.pid!;
  writeNetwork(n);
}

export function stopDns(trace: Trace | null, n: Network): void {
  if (dnsRunning(n)) {
    trace?.record({ kind: 'note', text: `kill ${n.dnsPid} (box-dns of ${n.name})` });
    try {
      process.kill(n.dnsPid!, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  if (n.dnsPid) {
    n.dnsPid = null;
    writeNetwork(n);
  }
}

/** The host's resolvers, minus loopback ones (a container's 127.0.0.1 is its own), as Docker copies them. */
export function hostResolvers(resolvConf = readOr('/etc/resolv.conf')): { nameservers: string[]; search: string[] } {
  const nameservers: string[] = [];
  const search: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1] && !f[1].startsWith('127.') && f[1] !== '::1' && /^[\d.]+$/.test(f[1])) nameservers.push(f[1]);
    if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) search.push(...f.slice(1));
  }
  return { nameservers, search };
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The container's /etc/resolv.conf: its network's box-dns, or the host's resolvers. */
export function resolvConf(dnsServer: string | null, given: { dnsSearch?: string[]; dnsOptions?: string[] } = {}): string {
  const options = given.dnsOptions?.length ? given.dnsOptions : null;
  const searchLine = (s: string[]) => (s.length ? [`search ${s.join(' ')}`] : []);
  if (dnsServer) {
    return [`# box: this network's DNS (box-dns): container names, then the host's resolvers\nnameserver ${dnsServer}`,
      ...searchLine(given.dnsSearch ?? []), `options ${(options ?? ['ndots:0']).join(' ')}`].join('\n') + '\n';
  }
  const { nameservers, search } = hostResolvers();
  return ['# box: the host\'s resolvers, without loopback ones (the default network has no container names)',
    ...nameservers.map((s) => `nameserver ${s}`), ...searchLine(given.dnsSearch?.length ? given.dnsSearch : search),
    ...(options ? [`options ${options.join(' ')}`] : [])].join('\n') + '\n';
}

/** The container's /etc/hosts: localhost, and its own name on its address. */
export function etcHosts(ip: string | null, names: string[]): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ip ? `${ip}\t${names.join(' ')}\n` : ''}`;
}
