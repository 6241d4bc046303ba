// The discovery documents: how kubectl learns which kinds exist, under which path, whether
// they are namespaced and what their short names are (`kubectl get po`). kubectl first asks
// for the aggregated form (apidiscovery.k8s.io/v2); a server that answers plain JSON gets the
// older per-group documents asked for instead, which is what these are.

import { apiVersionOf, RESOURCES } from './resources.ts';

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export const version = () => ({
  major: '1', minor: '32', gitVersion: 'v1.32.0-box', gitCommit: '', gitTreeState: 'clean',
  buildDate: '', goVersion: '', compiler: 'box', platform: 'linux/amd64',
});

export const coreVersions = () => ({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });

export function groupList() {
  const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: groups.map((name) => {
      const v = { groupVersion: `${name}/v1`, version: 'v1' };
      return { name, versions: [v], preferredVersion: v };
    }),
  };
}

/** The APIResourceList of one group version, or undefined if there is no such one. */
export function resourceList(group: string, version: string) {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const resources = rs.flatMap((r) => [
    { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS, shortNames: r.shortNames },
    ...(r.kind === 'Deployment' || r.kind === 'ReplicaSet'
      ? [{ name: `${r.plural}/scale`, singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }] : []),
    ...(r.kind === 'Pod' ? [{ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(rs[0]), resources };
}

/**
 * The OpenAPI v3 documents, as small as kubectl accepts: for each kind a PATCH operation that
 * names its kind and takes the fieldValidation parameter. From that kubectl learns that the
 * server validates (`apply`'s default --validate=strict sends fieldValidation=Strict and
 * leaves the checking to validate.ts) instead of downloading full schemas to check itself.
 * Without these it fails with "failed to download openapi", or needs --validate=false.
 */
export function openapiRoot() {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of ['api/v1', 'apis/apps/v1']) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=box1` };
  return { paths };
}

export function openapiGroupVersion(gv: string) {
  const [group, version] = gv === 'api/v1' ? ['', 'v1'] : gv === 'apis/apps/v1' ? ['apps', 'v1'] : [];
  if (version === undefined) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of RESOURCES.filter((x) => x.group === group && x.version === version)) {
    const at = r.namespaced ? `/${gv}/namespaces/{namespace}/${r.plural}/{name}` : `/${gv}/${r.plural}/{name}`;
    paths[at] = {
      patch: {
        'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: {},
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'box', version: 'v1.32.0-box' }, paths };
}
