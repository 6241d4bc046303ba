// Services' names (the cluster DNS, CoreDNS in Kubernetes): `web.default.svc.cluster.local`
// and `web.default.svc` answer with the ClusterIP of Service `web` in namespace `default`.
// The cluster network's own DNS server (box-dns, held by the container `box-cluster-dns`)
// answers them: box writes them into the network's hosts file beside the containers' names,
// and box-dns reads that file again when it changes. A short `web` works from a pod because
// its resolv.conf has the search domains `NS.svc.cluster.local svc.cluster.local
// cluster.local` (agent.ts), which the pod's resolver tries in turn.

import { setExtraNames } from '../net/names.ts';
import { findNetwork } from '../net/store.ts';
import type { Obj, Store } from './store.ts';

export const CLUSTER_DOMAIN = 'cluster.local';

/** One line per Service with a ClusterIP: its IP and its two names. */
export function serviceNames(services: Obj[]): { ip: string; names: string[] }[] {
  return services.filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== 'None')
    .map((s) => {
      const base = `${s.metadata.name}.${s.metadata.namespace}.svc`;
      return { ip: s.spec.clusterIP as string, names: [`${base}.${CLUSTER_DOMAIN}`, base] };
    });
}

/** The search domains of a pod's resolv.conf, as the kubelet writes them. */
export const podSearch = (ns: string) => [`${ns}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN];

/** Keeps the network's names in step with the Services (and writes them again if lost). */
export class ServiceNames {
  private last = '';
  /** The records last logged: the 5 s repair pass rewrites the file without a word. */
  private said = '';
  private pending = false;
  private store: Store;
  private network: string;
  log: (line: string) => void = () => {};

  constructor(store: Store, network: string) {
    this.store = store;
    this.network = network;
    store.watch((e) => { if (e.plural === 'services') this.soon(); });
    setInterval(() => { this.last = ''; this.soon(); }, 5000).unref(); // a container's start rewrote the file meanwhile: harmless, but look
    this.soon();
  }

  private soon(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      try { this.sync(); } catch (err) { this.log(`service names: ${(err as Error).message}`); }
    }, 10);
  }

  sync(): void {
    const n = findNetwork(this.network);
    if (!n) return;
    const records = serviceNames(this.store.list('services', ''));
    const text = JSON.stringify(records);
    if (text === this.last) return;
    setExtraNames(n, records);
    // The 5 s rewrite is a repair, not news: say only what changed since it was last said.
    if (text !== this.said && (this.said !== '' || records.length)) {
      this.log(`service names: ${records.map((r) => `${r.names[1]} ${r.ip}`).join(', ') || 'none'}`);
    }
    this.said = text;
    this.last = text;
  }
}
