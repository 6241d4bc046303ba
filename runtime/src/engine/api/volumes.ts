// /volumes/...: box's volumes (volume/) as the Engine API shows them: list, inspect, create, remove.

import { containersUsingVolume } from '../../container/state.ts';
import { anonymousName, createVolume, getVolume, listVolumes, removeVolume, volumeView } from '../../volume/store.ts';
import { emitEvent } from './events.ts';
import { ApiError, commonHeaders, send, type Route } from './http.ts';

const NAME = '([^/]+)';
export const volumeRoutes: Route[] = [
  ['GET', /^\/volumes$/, ({ res }) => send(res, 200, { Volumes: listVolumes().map(volumeView), Warnings: [] })],
  ['GET', new RegExp(`^/volumes/${NAME}$`), ({ res, params }) => {
    const v = getVolume(params[0]);
    if (!v) throw new ApiError(404, `get ${params[0]}: no such volume`);
    send(res, 200, volumeView(v));
  }],
  ['POST', /^\/volumes\/create$/, async ({ res, json }) => {
    const b = await json<{ Name?: string; Driver?: string; Labels?: Record<string, string> }>();
    if (b.Driver && b.Driver !== 'local') throw new ApiError(400, `box has the local volume driver only, not '${b.Driver}'`);
    const v = b.Name && getVolume(b.Name) ? getVolume(b.Name)! : createVolume(b.Name || anonymousName(), { labels: b.Labels ?? {} });
    emitEvent('volume', 'create', v.Name, { driver: 'local' });
    send(res, 201, volumeView(v));
  }],
  ['DELETE', new RegExp(`^/volumes/${NAME}$`), ({ res, params }) => {
    if (!getVolume(params[0])) throw new ApiError(404, `get ${params[0]}: no such volume`);
    removeVolume(params[0], containersUsingVolume);
    emitEvent('volume', 'destroy', params[0], { driver: 'local' });
    res.writeHead(204, commonHeaders()).end();
  }],
];
