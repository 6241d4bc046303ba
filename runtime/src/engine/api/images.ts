// /images/...: the image store (image/) as the Engine API shows it: list and inspect.

import { listIds, readState } from '../../container/state.ts';
import { boxRoot, listImages, resolveImage } from '../../image/index.ts';
import { removeImage } from '../../image/remove.ts';
import { tagImage } from '../../image/tag.ts';
import { pullImage } from '../../image/registry/pull.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { saveImages } from '../../image/save.ts';
import { loadArchive, MAX_ARCHIVE_BYTES } from '../../image/load.ts';
import { ApiError, commonHeaders, send, type Route } from './http.ts';
import { isNotFound } from '../../sys/errors.ts';
import { emitEvent } from './events.ts';
import { goArch } from './system.ts';

const sha = (id: string) => `sha256:${id.replace(/^sha256:/, '')}`;

/** The containers made from an image id: it stays while they exist (as dockerd's 409). */
const usedBy = (id: string) => listIds().map(readState).filter((s) => s && s.imageId === id).map((s) => s!.name);

/** docker save: box's OCI archive (which docker load, umoci and skopeo read), written to a temporary file, then sent. */
function save(res: import('node:http').ServerResponse, refs: string[]): void {
  for (const r of refs) {
    try {
      resolveImage(r);
    } catch {
      throw new ApiError(404, `No such image: ${r}`);
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'box-save-'));
  const file = path.join(dir, 'images.tar');
  try {
    saveImages(boxRoot(), refs, { file });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Length': fs.statSync(file).size, ...commonHeaders() });
  const stream = fs.createReadStream(file);
  stream.pipe(res);
  stream.on('close', () => fs.rmSync(dir, { recursive: true, force: true }));
}

export const imageRoutes: Route[] = [
  ['GET', /^\/images\/get$/, ({ res, query }) => save(res, query.getAll('names'))],
  ['GET', /^\/images\/(.+)\/get$/, ({ res, params }) => save(res, [params[0]])],
  ['POST', /^\/images\/load$/, async ({ res, req, body }) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_ARCHIVE_BYTES) throw new ApiError(413, `the archive is over ${MAX_ARCHIVE_BYTES} bytes`);
    const loaded = loadArchive(boxRoot(), await body(), 'the request body');
    res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
    for (const l of loaded) res.write(JSON.stringify({ stream: `${l.tag ? `Loaded image: ${l.tag}` : `Loaded image ID: ${l.id}`}\n` }) + '\n');
    res.end();
  }],
  // docker pull: box's registry client (image/registry/pull.ts), its progress as the API's JSON
  // messages; an error after the first message is an {"error"} message, as dockerd sends it.
  ['POST', /^\/images\/create$/, async ({ res, query }) => {
    const from = query.get('fromImage');
    if (!from) throw new ApiError(501, "box's engine pulls images only (POST /images/create?fromImage=...), not imports (fromSrc)");
    const ref = `${from}${query.get('tag') && !from.includes('@') ? `:${query.get('tag')}` : ''}`;
    // The first line ("Pulling from") is held back until the manifest is found, so that a
    // name the registry lacks is an HTTP error (the CLI's "Error response from daemon").
    let held: Record<string, unknown> | null = null;
    let first = true;
    const say = (msg: Record<string, unknown>) => {
      if (first) {
        first = false;
        held = msg;
        return;
      }
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
      if (held) res.write(JSON.stringify(held) + '\n');
      held = null;
      res.write(JSON.stringify(msg) + '\n');
    };
    try {
      await pullImage(boxRoot(), ref, {
        progress: {
          layer: (id, status, bytes) => say({ status, id, ...(bytes ? { progressDetail: { current: bytes.done, total: bytes.total } } : { progressDetail: {} }) }),
          line: (text) => say({ status: text }),
        },
      });
      emitEvent('image', 'pull', ref, { name: ref });
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
      if (held) res.write(JSON.stringify(held) + '\n');
      res.end();
    } catch (err) {
      if (!res.headersSent) {
        throw isNotFound(err) ? new ApiError(404, String(err.message).split('\n')[0]) : err;
      }
      const message = String((err as Error)?.message ?? err).split('\n')[0];
      say({ errorDetail: { message }, error: message });
      res.end();
    }
  }],
  ['POST', /^\/images\/(.+)\/tag$/, ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw new ApiError(400, 'repository name must have at least one component');
    const target = `${repo}:${query.get('tag') || 'latest'}`;
    try {
      resolveImage(params[0]);
    } catch {
      throw new ApiError(404, `No such image: ${params[0]}`);
    }
    tagImage(boxRoot(), params[0], target);
    emitEvent('image', 'tag', params[0], { name: target });
    res.writeHead(201, commonHeaders()).end();
  }],
  ['DELETE', /^\/images\/(.+)$/, ({ res, params, query }) => {
    try {
      resolveImage(params[0]);
    } catch {
      throw new ApiError(404, `No such image: ${params[0]}`);
    }
    const r = removeImage(boxRoot(), params[0], { force: ['1', 'true'].includes(query.get('force') ?? ''), usedBy });
    for (const t of r.untagged) emitEvent('image', 'untag', t, { name: t });
    send(res, 200, [...r.untagged.map((t) => ({ Untagged: t })), ...r.deleted.map((d) => ({ Deleted: d }))]);
  }],
  ['GET', /^\/images\/json$/, ({ res }) => {
    const byId = new Map<string, { Id: string; RepoTags: string[]; Created: number; Size: number }>();
    for (const i of listImages()) {
      if (i.problem) continue;
      const e = byId.get(i.id) ?? { Id: sha(i.id), RepoTags: [], Created: Math.floor(Date.parse(i.created ?? '1970-01-01') / 1000), Size: i.size };
      e.RepoTags.push(`${i.name}:${i.tag}`);
      byId.set(i.id, e);
    }
    send(res, 200, [...byId.values()].map((e) => ({
      ...e, ParentId: '', RepoDigests: [], SharedSize: -1, VirtualSize: e.Size, Labels: {}, Containers: -1,
    })));
  }],
  ['GET', /^\/images\/(.+)\/json$/, ({ res, params }) => {
    let img;
    try {
      img = resolveImage(params[0]);
    } catch {
      throw new ApiError(404, `No such image: ${params[0]}`);
    }
    const c = img.config;
    send(res, 200, {
      Id: sha(img.id), RepoTags: [params[0]], RepoDigests: [], Parent: '', Comment: '', Created: '1970-01-01T00:00:00Z',
      Container: '', DockerVersion: '', Author: '', Architecture: goArch(), Os: 'linux', Size: 0, VirtualSize: 0,
      Config: { Env: c.Env ?? [], Cmd: c.Cmd ?? [], Entrypoint: c.Entrypoint ?? [], WorkingDir: c.WorkingDir ?? '', User: c.User ?? '',
        ExposedPorts: c.ExposedPorts ?? {}, Labels: {}, Healthcheck: c.Healthcheck },
      GraphDriver: { Name: 'overlay2', Data: {} }, RootFS: { Type: 'layers', Layers: [] }, Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    });
  }],
];
