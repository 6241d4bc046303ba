// API conformance: box's answers on the endpoints it supports, validated against the Engine
// API's published description for the version it speaks (moby's v1.41.yaml, kept in
// test/fixtures/docker-engine-api with its source and commit). Every answer's status must be
// one the description defines for that operation, and its body must fit the schema the
// description gives that status (test/support/engine-openapi.ts: the description's own
// schemas as JSON Schema, checked by ajv). Errors are the description's ErrorResponse.
// What the description does not cover (501 for an endpoint box lacks, version refusal) is
// asserted as box words it.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { conformance, spec } from '../support/engine-openapi.ts';
import { needs } from '../support/requires.ts';
import { box, rootReason, tempBoxRoot } from './helpers.ts';

needs(rootReason).describe(`Engine API answers conform to moby's v1.41.yaml`, () => {
  let root: string;
  const raw = (method: string, url: string, body?: unknown) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const req = http.request({ socketPath: path.join(root, 'engine.sock'), method, path: url, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
  /** Call `url` (an instance of `template`), and validate the answer against v1.41.yaml. */
  const call = async (method: string, template: string, url: string, body?: unknown) => {
    const r = await raw(method, `/v1.41${url}`, body);
    const json = r.text && /json/.test(String(r.headers['content-type'])) ? JSON.parse(r.text) : r.text;
    return { status: r.status, json, problems: conformance(method, template, r.status, json) };
  };

  beforeAll(() => {
    root = tempBoxRoot('apiconform');
    expect(box(root, ['engine', 'start']).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await raw('DELETE', '/v1.41/containers/conform-a?force=1');
    await raw('DELETE', '/v1.41/containers/conform-b?force=1');
    box(root, ['engine', 'stop']);
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('the description is the one for 1.41, and the validator tells a wrong answer apart', () => {
    expect(spec).toMatchObject({ swagger: '2.0', info: { version: '1.41' } });
    expect(conformance('POST', '/containers/create', 201, { Id: 1 })).toEqual(["$ must have required property 'Warnings'", '/Id must be string']);
    expect(conformance('GET', '/containers/{id}/json', 200, { State: { Pid: 'x' } })).toEqual(['/State/Pid must be integer']);
    expect(conformance('GET', '/containers/{id}/json', 418, {})[0]).toMatch(/^status 418 is not one v1.41.yaml defines/);
  });

  it('system: _ping, version, info', async () => {
    const ping = await call('GET', '/_ping', '/_ping');
    expect(ping).toMatchObject({ status: 200, json: 'OK', problems: [] });
    expect((await raw('GET', '/_ping')).headers['api-version']).toBe('1.41');
    for (const [template] of [['/version'], ['/info']]) expect(await call('GET', template, template)).toMatchObject({ status: 200, problems: [] });
  });

  it('containers: create, start, list, inspect, top, stats, exec, wait, stop, kill, delete, and their errors', async () => {
    const created = await call('POST', '/containers/create', '/containers/create?name=conform-a', { Image: 'busybox', Cmd: ['sleep', '300'], Labels: { k: 'v' } });
    expect(created).toMatchObject({ status: 201, problems: [] });
    const id = created.json.Id as string;
    expect(await call('POST', '/containers/{id}/start', `/containers/${id}/start`)).toMatchObject({ status: 204, problems: [] });
    expect(await call('POST', '/containers/{id}/start', `/containers/${id}/start`)).toMatchObject({ status: 304, problems: [] });
    const list = await call('GET', '/containers/json', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['k=v'] }))}`);
    expect(list).toMatchObject({ status: 200, problems: [] });
    expect(list.json.map((c: { Id: string }) => c.Id)).toEqual([id]);
    const inspect = await call('GET', '/containers/{id}/json', '/containers/conform-a/json');
    expect(inspect).toMatchObject({ status: 200, problems: [], json: { Name: '/conform-a', State: { Status: 'running' }, Config: { Labels: { k: 'v' } } } });
    expect(await call('GET', '/containers/{id}/top', `/containers/${id}/top`)).toMatchObject({ status: 200, problems: [] });
    expect(await call('GET', '/containers/{id}/stats', `/containers/${id}/stats?stream=false`)).toMatchObject({ status: 200, problems: [] });
    const exec = await call('POST', '/containers/{id}/exec', `/containers/${id}/exec`, { Cmd: ['true'] });
    expect(exec).toMatchObject({ status: 201, problems: [] });
    expect(await call('GET', '/exec/{id}/json', `/exec/${exec.json.Id}/json`)).toMatchObject({ status: 200, problems: [] });
    expect(await call('POST', '/containers/{id}/kill', `/containers/${id}/kill`)).toMatchObject({ status: 204, problems: [] });
    const waited = await call('POST', '/containers/{id}/wait', `/containers/${id}/wait`);
    expect(waited).toMatchObject({ status: 200, problems: [], json: { StatusCode: 137 } });
    expect(await call('POST', '/containers/{id}/stop', `/containers/${id}/stop`)).toMatchObject({ status: 304, problems: [] });
    expect(await call('DELETE', '/containers/{id}', `/containers/${id}`)).toMatchObject({ status: 204, problems: [] });

    // Errors: the statuses the description lists for each, with its ErrorResponse body.
    expect(await call('GET', '/containers/{id}/json', '/containers/nope/json')).toMatchObject({ status: 404, problems: [], json: { message: 'No such container: nope' } });
    expect(await call('POST', '/containers/create', '/containers/create', { Image: 'no-such-image' })).toMatchObject({ status: 404, problems: [], json: { message: 'No such image: no-such-image' } });
    expect((await call('POST', '/containers/create', '/containers/create?name=conform-b', { Image: 'busybox', Cmd: ['sleep', '300'] })).status).toBe(201);
    expect(await call('POST', '/containers/create', '/containers/create?name=conform-b', { Image: 'busybox' })).toMatchObject({ status: 409, problems: [] });
    expect(await call('POST', '/containers/{id}/start', '/containers/conform-b/start')).toMatchObject({ status: 204, problems: [] });
    expect(await call('DELETE', '/containers/{id}', '/containers/conform-b')).toMatchObject({ status: 409, problems: [] });
    expect(await call('DELETE', '/containers/{id}', '/containers/conform-b?force=1')).toMatchObject({ status: 204, problems: [] });
    expect(await call('POST', '/containers/{id}/kill', '/containers/nope/kill')).toMatchObject({ status: 404, problems: [] });

    // Outside the description: an endpoint box lacks, a version above 1.41.
    const unsupported = await raw('GET', `/v1.41/containers/${id}/changes`);
    expect(unsupported.status).toBe(501);
    expect(conformance('GET', '/containers/{id}/changes', 500, JSON.parse(unsupported.text))).toEqual([]); // its body is an ErrorResponse too
    expect(JSON.parse(unsupported.text).message).toContain(`GET /containers/${id}/changes`);
    const tooNew = await raw('GET', '/v1.99/version');
    expect({ status: tooNew.status, json: JSON.parse(tooNew.text) }).toEqual({ status: 400, json: { message: 'client version 1.99 is too new. Maximum supported API version is 1.41' } });
  }, 120_000);

  it('images: list, inspect, tag, delete', async () => {
    expect(await call('GET', '/images/json', '/images/json')).toMatchObject({ status: 200, problems: [] });
    expect(await call('GET', '/images/{name}/json', '/images/busybox/json')).toMatchObject({ status: 200, problems: [] });
    expect(await call('GET', '/images/{name}/json', '/images/no-such-image/json')).toMatchObject({ status: 404, problems: [] });
    expect(await call('POST', '/images/{name}/tag', '/images/busybox/tag?repo=conform&tag=v1')).toMatchObject({ status: 201, problems: [] });
    expect(await call('DELETE', '/images/{name}', '/images/conform:v1')).toMatchObject({ status: 200, problems: [] });
    expect(await call('DELETE', '/images/{name}', '/images/conform:v1')).toMatchObject({ status: 404, problems: [] });
  });

  it('networks and volumes: create, list, inspect, delete', async () => {
    expect(await call('POST', '/networks/create', '/networks/create', { Name: 'conform-net' })).toMatchObject({ status: 201, problems: [] });
    expect(await call('GET', '/networks', '/networks')).toMatchObject({ status: 200, problems: [] });
    expect(await call('GET', '/networks/{id}', '/networks/conform-net')).toMatchObject({ status: 200, problems: [] });
    expect(await call('DELETE', '/networks/{id}', '/networks/conform-net')).toMatchObject({ status: 204, problems: [] });
    expect(await call('GET', '/networks/{id}', '/networks/conform-net')).toMatchObject({ status: 404, problems: [] });
    expect(await call('POST', '/volumes/create', '/volumes/create', { Name: 'conform-vol' })).toMatchObject({ status: 201, problems: [] });
    expect(await call('GET', '/volumes', '/volumes')).toMatchObject({ status: 200, problems: [] });
    expect(await call('GET', '/volumes/{name}', '/volumes/conform-vol')).toMatchObject({ status: 200, problems: [] });
    expect(await call('DELETE', '/volumes/{name}', '/volumes/conform-vol')).toMatchObject({ status: 204, problems: [] });
    expect(await call('GET', '/volumes/{name}', '/volumes/conform-vol')).toMatchObject({ status: 404, problems: [] });
  });
});
