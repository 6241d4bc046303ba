// The scheduler (kube-scheduler): give each pod without a node one. Filter, then score: only
// Ready nodes whose free CPU and memory (allocatable minus the requests of the pods already
// placed there) fit the pod's requests; of those, the one with the fewest pods (so replicas
// spread), then the most free CPU. A pod that fits nowhere stays Pending, with a reason.

import { isNodeReady, quantity } from './objects.ts';
import type { Obj } from './store.ts';

const requests = (pod: Obj, what: 'cpu' | 'memory') =>
  pod.spec.containers.reduce((n: number, c: Obj) => n + (quantity(c.resources?.requests?.[what] ?? 0) || 0), 0);

/** The node for this pod, or the reason there is none. A pure function. */
export function schedule(pod: Obj, nodes: Obj[], pods: Obj[]): { node: string } | { reason: string } {
  const ready = nodes.filter(isNodeReady);
  if (ready.length === 0) return { reason: `0/${nodes.length} nodes are available: ${nodes.length ? `${nodes.length} node(s) not ready` : 'no nodes'}.` };
  const scored = ready.map((node) => {
    const placed = pods.filter((p) => p.spec.nodeName === node.metadata.name && !['Succeeded', 'Failed'].includes(p.status?.phase));
    const free = (what: 'cpu' | 'memory') => quantity(node.status?.allocatable?.[what] ?? 0) - placed.reduce((n, p) => n + requests(p, what), 0);
    return { name: node.metadata.name, cpu: free('cpu'), memory: free('memory'), count: placed.length };
  });
  const fits = scored.filter((n) => n.cpu >= requests(pod, 'cpu') && n.memory >= requests(pod, 'memory'));
  if (fits.length === 0) return { reason: `0/${nodes.length} nodes are available: insufficient cpu or memory for requests of ${requests(pod, 'cpu')} cpu, ${requests(pod, 'memory')} bytes.` };
  fits.sort((a, b) => a.count - b.count || b.cpu - a.cpu || a.name.localeCompare(b.name));
  return { node: fits[0].name };
}
