// /images/...: the image store (image/) as the Engine API shows it: list and inspect.

import { listImages, resolveImage } from '../../image/index.ts';
import { ApiError, send, type Route } from './http.ts';
import { goArch } from './system.ts';

const sha = (id: string) => `sha256:${id.replace(/^sha256:/, '')}`;

export const imageRoutes: Route[] = [
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
      Config: { Env: c.Env ?? [], Cmd: c.Cmd ?? null, Entrypoint: c.Entrypoint ?? null, WorkingDir: c.WorkingDir ?? '', User: c.User ?? '',
        ExposedPorts: c.ExposedPorts ?? {}, Labels: {}, Healthcheck: c.Healthcheck },
      GraphDriver: { Name: 'overlay2', Data: {} }, RootFS: { Type: 'layers', Layers: [] }, Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    });
  }],
];
