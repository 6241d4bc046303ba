// What a cluster made on this host, whatever box root it belongs to: /run/box/clusters/<id>
// names the cluster's directory, its control plane and its kubeconfig. Its network
// namespaces, veths and cgroups are machine-wide, but their owner is a directory under some
// $BOX_ROOT; when that is gone (a test removed its temporary root, a reader deleted
// /var/lib/box) while the cluster ran, the next box on the host removes what it left
// (reaper.ts), as net/host-record.ts lets it do for bridges. /run is a tmpfs: a reboot
// empties it, as it empties the kernel of namespaces and cgroups.

import fs from 'node:fs';
import path from 'node:path';
import { currentNetns } from '../net/host-record.ts';

const dir = () => '/run/box/clusters';

export interface ClusterRecord {
  id: string;
  /** $BOX_ROOT/cluster of the box that made it: gone, or holding another cluster, means orphaned. */
  clusterDir: string;
  pid: number;
  pidStart?: string;
  kubeconfig: string;
  server: string;
  /** The network namespace it was made in: a box in another one can neither see nor remove its parts. */
  netns: string;
}

export function recordCluster(r: Omit<ClusterRecord, 'netns'>): void {
  fs.mkdirSync(dir(), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir(), r.id), JSON.stringify({ ...r, netns: currentNetns() }));
}

export function forgetCluster(id: string): void {
  fs.rmSync(path.join(dir(), id), { force: true });
}

/** Is there any record at all? (Every box command asks: one readdir.) */
export function anyClusterRecord(): boolean {
  try { return fs.readdirSync(dir()).length > 0; } catch { return false; }
}

/** Clusters of this network namespace whose box root no longer has them. */
export function orphanClusters(): ClusterRecord[] {
  let names: string[] = [];
  try { names = fs.readdirSync(dir()); } catch { return []; }
  const here = currentNetns();
  return names.flatMap((n) => {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir(), n), 'utf8')) as ClusterRecord;
      if (r.netns !== here) return [];
      let text: string;
      try { text = fs.readFileSync(path.join(r.clusterDir, 'state.json'), 'utf8'); } catch { return [r]; } // its root or its state is gone
      try { return JSON.parse(text).id === r.id ? [] : [r]; } catch { return []; } // being written: not orphaned
    } catch { return []; }
  });
}
