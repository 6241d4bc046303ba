// The kinds the API server knows, and where each lives in the REST shape: a core kind under
// /api/v1, a grouped one under /apis/GROUP/VERSION. kubectl learns all of this from the
// discovery documents made from this table (discovery.ts), never from a list of its own.

export interface Resource {
  kind: string;
  plural: string;
  singular: string;
  group: string; // '' for the core group
  version: string;
  namespaced: boolean;
  shortNames: string[];
}

export const RESOURCES: Resource[] = [
  { kind: 'Namespace', plural: 'namespaces', singular: 'namespace', group: '', version: 'v1', namespaced: false, shortNames: ['ns'] },
  { kind: 'Node', plural: 'nodes', singular: 'node', group: '', version: 'v1', namespaced: false, shortNames: ['no'] },
  { kind: 'Pod', plural: 'pods', singular: 'pod', group: '', version: 'v1', namespaced: true, shortNames: ['po'] },
  { kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', group: '', version: 'v1', namespaced: true, shortNames: ['cm'] },
  { kind: 'Service', plural: 'services', singular: 'service', group: '', version: 'v1', namespaced: true, shortNames: ['svc'] },
  { kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints', group: '', version: 'v1', namespaced: true, shortNames: ['ep'] },
  { kind: 'Event', plural: 'events', singular: 'event', group: '', version: 'v1', namespaced: true, shortNames: ['ev'] },
  { kind: 'EndpointSlice', plural: 'endpointslices', singular: 'endpointslice', group: 'discovery.k8s.io', version: 'v1', namespaced: true, shortNames: [] },
  { kind: 'Deployment', plural: 'deployments', singular: 'deployment', group: 'apps', version: 'v1', namespaced: true, shortNames: ['deploy'] },
  { kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset', group: 'apps', version: 'v1', namespaced: true, shortNames: ['rs'] },
];

export const apiVersionOf = (r: Resource) => (r.group ? `${r.group}/${r.version}` : r.version);

export function byPlural(group: string, version: string, plural: string): Resource | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** "Pod, Deployment, ...": what an error about an unknown kind names. */
export const knownKinds = () => RESOURCES.map((r) => r.kind).join(', ');
