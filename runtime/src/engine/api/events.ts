// /events: the states containers pass through, as dockerd reports them (create, start, die,
// stop, kill, destroy), streamed as one JSON object per line while the client listens.
// Only what goes through the API is seen (box's own CLI writes state files, not events).

import { EventEmitter } from 'node:events';
import { commonHeaders, type Call } from './http.ts';

const bus = new EventEmitter();
bus.setMaxListeners(0);

export interface DockerEvent {
  Type: 'container' | 'image' | 'network' | 'volume';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

export function emitEvent(type: DockerEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
  const now = Date.now();
  const e = {
    Type: type, Action: action, Actor: { ID: id, Attributes: attributes },
    // the pre-1.22 fields the CLI still prints from
    status: action, id, from: attributes.image, scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1e6,
  };
  bus.emit('event', e);
}

export function eventsHandler({ res, query }: Call): void {
  const filters = query.get('filters') ? JSON.parse(query.get('filters')!) as Record<string, string[] | Record<string, boolean>> : {};
  const want = (key: string, value: string) => {
    const f = filters[key];
    if (!f) return true;
    const values = Array.isArray(f) ? f : Object.keys(f).filter((k) => f[k]);
    return values.includes(value);
  };
  res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
  res.flushHeaders();
  const on = (e: { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }) => {
    if (!want('type', e.Type) || !want('event', e.Action)) return;
    if (filters.container && !want('container', e.Actor.ID) && !want('container', e.Actor.Attributes.name ?? '')) return;
    res.write(JSON.stringify(e) + '\n');
  };
  bus.on('event', on);
  res.on('close', () => bus.off('event', on));
  const until = query.get('until');
  if (until) setTimeout(() => res.end(), Math.max(0, Number(until) * 1000 - Date.now()));
}
