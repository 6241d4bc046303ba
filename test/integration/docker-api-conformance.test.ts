// API conformance, fallback form: the Engine API's published OpenAPI description for v1.41
// (moby's api/swagger.yaml) is not available offline here: Debian's docker.io ships no
// swagger.yaml (dpkg -L docker.io), and the npm packages looked at (@docker/node-sdk 0.0.17,
// dockerode) ship generated code, not the description. So the answers of the supported
// endpoints are checked against hand-written schemas of the fields the docker CLI and
// docker-compose read, with the types swagger.yaml gives them; and the status codes and
// error bodies ({"message": string}) the API defines.

import http from 'node:http';
import { Ajv } from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';

// Shorthand for the fields the clients read, turned into JSON Schema that ajv checks: every
// listed field required, other fields allowed (an answer may carry more than the clients read).
type Shape = 'string' | 'number' | 'boolean' | 'object' | 'string[]' | 'null|string[]' | { [k: string]: Shape } | [Shape];

function schemaOf(shape: Shape): object {
  if (Array.isArray(shape)) return { type: 'array', items: schemaOf(shape[0]) };
  if (typeof shape === 'object') {
    return { type: 'object', required: Object.keys(shape), properties: Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, schemaOf(s)])) };
  }
  if (shape === 'string[]') return { type: 'array', items: { type: 'string' } };
  if (shape === 'null|string[]') return { type: ['array', 'null'], items: { type: 'string' } };
  return { type: shape };
}

const ajv = new Ajv({ allErrors: true });

/** Where `value` differs from `shape`, as ajv words it ("/State/Pid must be number"); [] when it fits. */
function mismatches(value: unknown, shape: Shape): string[] {
  const validate = ajv.compile(schemaOf(shape));
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message}`);
}

// The fields of swagger.yaml v1.41 definitions the clients read.
const SystemVersion: Shape = { Version: 'string', ApiVersion: 'string', MinAPIVersion: 'string', Os: 'string', Arch: 'string', KernelVersion: 'string', Components: [{ Name: 'string', Version: 'string' }] };
const SystemInfo: Shape = { ID: 'string', Containers: 'number', ContainersRunning: 'number', ContainersStopped: 'number', Images: 'number', Driver: 'string', NCPU: 'number', MemTotal: 'number', ServerVersion: 'string', OperatingSystem: 'string', OSType: 'string', Architecture: 'string', KernelVersion: 'string', DockerRootDir: 'string', Name: 'string', Swarm: { LocalNodeState: 'string' } };
const ContainerSummary: Shape = { Id: 'string', Names: 'string[]', Image: 'string', ImageID: 'string', Command: 'string', Created: 'number', Ports: [{ PrivatePort: 'number', Type: 'string' }], Labels: 'object', State: 'string', Status: 'string', HostConfig: { NetworkMode: 'string' }, NetworkSettings: { Networks: 'object' }, Mounts: ['object'] };
const ContainerInspect: Shape = {
  Id: 'string', Created: 'string', Path: 'string', Args: 'string[]', Name: 'string', RestartCount: 'number', Image: 'string',
  State: { Status: 'string', Running: 'boolean', Paused: 'boolean', Restarting: 'boolean', OOMKilled: 'boolean', Dead: 'boolean', Pid: 'number', ExitCode: 'number', Error: 'string', StartedAt: 'string', FinishedAt: 'string' },
  Config: { Hostname: 'string', User: 'string', Env: 'string[]', Cmd: 'string[]', Image: 'string', WorkingDir: 'string', Labels: 'object', Tty: 'boolean', OpenStdin: 'boolean' },
  HostConfig: { NetworkMode: 'string', RestartPolicy: { Name: 'string', MaximumRetryCount: 'number' }, AutoRemove: 'boolean', Memory: 'number', LogConfig: { Type: 'string' } },
  NetworkSettings: { Ports: 'object', Networks: 'object' }, Mounts: ['object'],
};
const CreateResponse: Shape = { Id: 'string', Warnings: 'string[]' };
const WaitResponse: Shape = { StatusCode: 'number' };
const ImageSummary: Shape = { Id: 'string', ParentId: 'string', RepoTags: 'null|string[]', RepoDigests: 'string[]', Created: 'number', Size: 'number', SharedSize: 'number', VirtualSize: 'number', Labels: 'object', Containers: 'number' };
const Network: Shape = { Name: 'string', Id: 'string', Created: 'string', Scope: 'string', Driver: 'string', EnableIPv6: 'boolean', Internal: 'boolean', IPAM: { Driver: 'string', Config: [{ Subnet: 'string', Gateway: 'string' }] }, Containers: 'object', Options: 'object', Labels: 'object' };
const Volume: Shape = { Name: 'string', Driver: 'string', Mountpoint: 'string', Labels: 'object', Scope: 'string', Options: 'object' };
const ErrorResponse: Shape = { message: 'string' };

needs(rootReason).describe('Engine API answers have the shapes of swagger.yaml v1.41', () => {
  let root: string;
  const call = (method: string, url: string, body?: unknown) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; json: any }>((resolve, reject) => {
    const req = http.request({ socketPath: path.join(root, 'engine.sock'), method, path: url, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });

  beforeAll(() => {
    root = tempBoxRoot('apishapes');
    expect(box(root, ['engine', 'start']).code).toBe(0);
  }, 60_000);
  afterAll(() => {
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('system: _ping, version, info', async () => {
    const ping = await new Promise<http.IncomingMessage>((resolve) => http.get({ socketPath: path.join(root, 'engine.sock'), path: '/_ping' }, resolve));
    expect(ping.statusCode).toBe(200);
    expect(ping.headers['api-version']).toBe('1.41');
    expect(mismatches((await call('GET', '/v1.41/version')).json, SystemVersion)).toEqual([]);
    expect(mismatches((await call('GET', '/v1.41/info')).json, SystemInfo)).toEqual([]);
    // The checker itself tells a wrong answer apart.
    expect(mismatches({ Id: 1 }, CreateResponse)).toEqual(["$ must have required property 'Warnings'", '/Id must be string']);
  });

  it('containers: create 201, start 204, list, inspect, wait, remove 204; errors 404, 409, 501', async () => {
    const created = await call('POST', '/v1.41/containers/create?name=shape-a', { Image: 'busybox', Cmd: ['sh', '-c', 'exit 7'], Labels: { k: 'v' } });
    expect(created.status).toBe(201);
    expect(mismatches(created.json, CreateResponse)).toEqual([]);
    const id = created.json.Id;
    expect((await call('POST', `/v1.41/containers/${id}/start`)).status).toBe(204);
    const waited = await call('POST', `/v1.41/containers/${id}/wait`);
    expect(mismatches(waited.json, WaitResponse)).toEqual([]);
    expect(waited.json.StatusCode).toBe(7);
    const list = await call('GET', `/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['k=v'] }))}`);
    expect(list.json.map((c: { Id: string }) => c.Id)).toEqual([id]);
    expect(mismatches(list.json, [ContainerSummary])).toEqual([]);
    const inspect = await call('GET', `/v1.41/containers/shape-a/json`);
    expect(mismatches(inspect.json, ContainerInspect)).toEqual([]);
    expect(inspect.json).toMatchObject({ Name: '/shape-a', State: { Status: 'exited', ExitCode: 7 }, Config: { Labels: { k: 'v' } } });

    const dup = await call('POST', '/v1.41/containers/create?name=shape-a', { Image: 'busybox' });
    expect(dup.status).toBe(409);
    expect(mismatches(dup.json, ErrorResponse)).toEqual([]);
    const missing = await call('GET', '/v1.41/containers/nope/json');
    expect(missing).toMatchObject({ status: 404, json: { message: 'No such container: nope' } });
    const noImage = await call('POST', '/v1.41/containers/create', { Image: 'no-such-image' });
    expect(noImage).toMatchObject({ status: 404, json: { message: 'No such image: no-such-image' } });
    const unsupported = await call('GET', `/v1.41/containers/${id}/changes`);
    expect(unsupported.status).toBe(501);
    expect(unsupported.json.message).toContain(`GET /containers/${id}/changes`);
    const tooNew = await call('GET', '/v1.99/version');
    expect(tooNew).toMatchObject({ status: 400, json: { message: 'client version 1.99 is too new. Maximum supported API version is 1.41' } });
    expect((await call('DELETE', `/v1.41/containers/${id}`)).status).toBe(204);
  });

  it('images, networks, volumes', async () => {
    expect(mismatches((await call('GET', '/v1.41/images/json')).json, [ImageSummary])).toEqual([]);
    const net = await call('POST', '/v1.41/networks/create', { Name: 'shape-net' });
    expect(net.status).toBe(201);
    expect(mismatches((await call('GET', '/v1.41/networks')).json, [Network])).toEqual([]);
    expect((await call('DELETE', '/v1.41/networks/shape-net')).status).toBe(204);
    const vol = await call('POST', '/v1.41/volumes/create', { Name: 'shape-vol' });
    expect(vol.status).toBe(201);
    expect(mismatches(vol.json, Volume)).toEqual([]);
    expect(mismatches((await call('GET', '/v1.41/volumes')).json, { Volumes: [Volume], Warnings: 'string[]' })).toEqual([]);
    expect((await call('DELETE', '/v1.41/volumes/shape-vol')).status).toBe(204);
    expect((await call('GET', '/v1.41/volumes/shape-vol')).status).toBe(404);
  });
});
