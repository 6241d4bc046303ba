// What box has made on this host (or in this lab sandbox's network namespace), whatever box
// root it belongs to: /run/box/networks/<bridge> names the network's directory. A bridge and
// its table are machine-wide, but their owner is a directory under some $BOX_ROOT; when that
// directory is gone (a test removed its temporary root, a reader deleted /var/lib/box), the
// next box on the host removes what it left. /run is a tmpfs: a reboot empties it, as it
// empties the kernel of bridges.
//
// IPv4 forwarding: box turns it on for its first network with a way out; if it was off, box
// notes that here and turns it off again when its last network on the host is gone.

import fs from 'node:fs';
import path from 'node:path';
import type { Trace } from '../sys/trace.ts';
import { writeProc } from './tools.ts';

const dir = () => '/run/box/networks';
const forwardNote = () => '/run/box/ip_forward-was-off';
const FORWARD = '/proc/sys/net/ipv4/ip_forward';

export interface HostRecord {
  bridge: string;
  networkId: string;
  /** The network's directory under its box root: gone means orphaned. */
  networkDir: string;
  /** The network namespace the bridge is in ("net:[4026531840]"): /run/box is shared by every
   * box on the host, but a box run in another namespace (nsenter --net) can neither see nor
   * remove that bridge, and /sys still shows the host's links to it. */
  netns?: string;
}

/** This process's network namespace, as /proc names it. */
export const currentNetns = () => fs.readlinkSync('/proc/self/ns/net');

export function recordNetwork(r: HostRecord): void {
  fs.mkdirSync(dir(), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir(), r.bridge), JSON.stringify({ ...r, netns: r.netns ?? currentNetns() }));
}

export function forgetNetwork(trace: Trace | null, bridge: string): void {
  fs.rmSync(path.join(dir(), bridge), { force: true });
  if (records().length === 0 && fs.existsSync(forwardNote())) {
    writeProc(trace, FORWARD, '0');
    fs.rmSync(forwardNote(), { force: true });
  }
}

export function records(): HostRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir());
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      return [JSON.parse(fs.readFileSync(path.join(dir(), n), 'utf8')) as HostRecord];
    } catch {
      return [];
    }
  });
}

/** Networks of this network namespace whose box root no longer has them. */
export function orphans(): HostRecord[] {
  const here = currentNetns();
  return records().filter((r) => (r.netns ?? here) === here && !fs.existsSync(path.join(r.networkDir, 'network.json')));
}

/** Turn forwarding on, noting it if box is the one that did. */
export function enableForwarding(trace: Trace | null): void {
  if (fs.readFileSync(FORWARD, 'utf8').trim() === '1') return;
  fs.mkdirSync(path.dirname(forwardNote()), { recursive: true, mode: 0o700 });
  fs.writeFileSync(forwardNote(), '');
  writeProc(trace, FORWARD, '1');
}
