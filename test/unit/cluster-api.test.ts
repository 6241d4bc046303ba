// The cluster's API pieces without root: patches as kubectl sends them, validation with field
// paths, the store's resourceVersions and watch, the REST path parser.

import { describe, expect, it } from 'vitest';
import { parsePath } from '../../runtime/src/cluster/apiserver.ts';
import { jsonMergePatch, strategicMergePatch } from '../../runtime/src/cluster/patch.ts';
import { Store } from '../../runtime/src/cluster/store.ts';
import { defaults, validate } from '../../runtime/src/cluster/validate.ts';

const deployment = () => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
  spec: {
    replicas: 3, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [
      { name: 'web', image: 'busybox', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
      { name: 'side', image: 'busybox' },
    ] } },
  },
});

describe('strategic merge patch', () => {
  it('merges a list of containers by name, changing one and keeping the other', () => {
    const out = strategicMergePatch(deployment(), { spec: { template: { spec: { containers: [{ name: 'web', image: 'busybox:2' }] } } } }) as any;
    expect(out.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['web=busybox:2', 'side=busybox']);
    expect(out.spec.template.spec.containers[0].env).toHaveLength(2);
  });
  it('deletes a list item with $patch: delete and a key with null, and keeps $setElementOrder', () => {
    const out = strategicMergePatch(deployment(), {
      spec: { replicas: null, template: { spec: {
        '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }],
        containers: [{ name: 'web', env: [{ name: 'A', $patch: 'delete' }] }],
      } } },
    }) as any;
    expect(out.spec.replicas).toBeUndefined();
    expect(out.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['side', 'web']);
    expect(out.spec.template.spec.containers[1].env).toEqual([{ name: 'B', value: '2' }]);
  });
  it('replaces a list without a merge key', () => {
    const out = strategicMergePatch({ spec: { args: ['a', 'b'] } }, { spec: { args: ['c'] } }) as any;
    expect(out.spec.args).toEqual(['c']);
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it('replaces lists whole and deletes keys given null', () => {
    const out = jsonMergePatch(deployment(), { spec: { replicas: 5, template: { spec: { containers: [{ name: 'only', image: 'x' }] } } }, metadata: { labels: null } }) as any;
    expect(out.spec.replicas).toBe(5);
    expect(out.spec.template.spec.containers).toEqual([{ name: 'only', image: 'x' }]);
    expect(out.spec.selector.matchLabels.app).toBe('web');
  });
});

describe('validation', () => {
  it('names the field paths that are wrong', () => {
    const bad = deployment() as any;
    bad.spec.template.spec.containers[1] = { name: 'Side' };
    bad.spec.template.metadata.labels = { app: 'other' };
    const fields = validate('Deployment', bad).map((c) => c.field);
    expect(fields).toEqual(['spec.template.metadata.labels', 'spec.template.spec.containers[1].name', 'spec.template.spec.containers[1].image']);
  });
  it('accepts a good Deployment and fills in the rolling update defaults', () => {
    const d = deployment();
    expect(validate('Deployment', d)).toEqual([]);
    expect((defaults('Deployment', d) as any).spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
  });
});

describe('store', () => {
  it('stamps each write with the next resourceVersion and tells watchers', () => {
    const s = new Store();
    const seen: string[] = [];
    s.watch((e) => seen.push(`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`));
    s.put('pods', { metadata: { name: 'a', namespace: 'default' } });
    s.put('pods', { metadata: { name: 'a', namespace: 'default' } });
    s.remove('pods', 'default', 'a');
    expect(seen).toEqual(['ADDED a 1', 'MODIFIED a 2', 'DELETED a 3']);
    expect(s.list('pods', '')).toEqual([]);
  });
});

describe('REST paths', () => {
  it('finds the resource, namespace, name and subresource', () => {
    expect(parsePath('/api/v1/namespaces/default/pods/web/log')).toMatchObject({ res: { kind: 'Pod' }, ns: 'default', name: 'web', sub: 'log' });
    expect(parsePath('/apis/apps/v1/deployments')).toMatchObject({ res: { kind: 'Deployment' }, ns: '', name: undefined });
    expect(parsePath('/api/v1/namespaces/kube-system')).toMatchObject({ res: { kind: 'Namespace' }, name: 'kube-system' });
    expect(parsePath('/api/v1/widgets')).toBeUndefined();
  });
});
