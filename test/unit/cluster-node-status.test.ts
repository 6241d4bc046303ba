// What a node agent tells the API server about its node (agent.ts heartbeat): its address in
// its own network namespace as the InternalIP, and the capacity its cgroup enforces. The agent
// is given a stand-in API client that records each request; test/integration/cluster-isolation
// checks the same fields through kubectl on real nodes.

import { describe, expect, it } from 'vitest';
import { NodeAgent } from '../../runtime/src/cluster/agent.ts';
import type { ApiClient } from '../../runtime/src/cluster/client.ts';

function recordingApi(existing?: object) {
  const calls: { method: string; path: string; body?: any }[] = [];
  const api = {
    async request(method: string, path: string, body?: unknown) {
      calls.push({ method, path, body });
      return method === 'GET' ? (existing ? { code: 200, body: existing } : { code: 404, body: {} }) : { code: 200, body: {} };
    },
    async must(method: string, path: string, body?: unknown) { calls.push({ method, path, body }); return {}; },
  };
  return { api: api as unknown as ApiClient, calls };
}

describe('a node agent\'s heartbeat', () => {
  it('creates its Node with its address as InternalIP and its cgroup\'s capacity as capacity and allocatable', async () => {
    const { api, calls } = recordingApi();
    await new NodeAgent(api, 'node-2', { address: '172.26.0.4', capacity: { cpu: '500m', memory: '256Mi' } }).heartbeat();
    const post = calls.find((c) => c.method === 'POST')!;
    expect(post.path).toBe('/api/v1/nodes');
    expect(post.body.metadata.name).toBe('node-2');
    expect(post.body.status.addresses).toEqual([{ type: 'InternalIP', address: '172.26.0.4' }, { type: 'Hostname', address: 'node-2' }]);
    expect(post.body.status.capacity).toEqual({ cpu: '500m', memory: '256Mi', pods: '110' });
    expect(post.body.status.allocatable).toEqual(post.body.status.capacity);
  });

  it('updates an existing Node through its status, keeping the Ready transition time while it stays Ready', async () => {
    const since = '2026-01-01T00:00:00Z';
    const { api, calls } = recordingApi({ metadata: { name: 'node-1' }, status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] } });
    await new NodeAgent(api, 'node-1', { address: '172.26.0.3' }).heartbeat();
    const put = calls.find((c) => c.method === 'PUT')!;
    expect(put.path).toBe('/api/v1/nodes/node-1/status');
    expect(put.body.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True', lastTransitionTime: since });
    expect(put.body.status.addresses[0]).toEqual({ type: 'InternalIP', address: '172.26.0.3' });
  });
});
