// The store: every object, keyed by resource, namespace and name, each write stamped with the
// next resourceVersion, and every change told to the watchers. In Kubernetes this is etcd: a
// replicated key-value store whose revision number is the resourceVersion and whose watch is
// the same event stream; etcd adds durability across machines (Raft consensus, so the control
// plane survives losing one) that a map in one process cannot. Here a snapshot file is
// rewritten after each change, so a restarted API server starts from what it had.

import fs from 'node:fs';

export type Obj = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface WatchEvent { type: EventType; plural: string; object: Obj }
type Watcher = (e: WatchEvent) => void;

const HISTORY = 2000;
const keyOf = (plural: string, ns: string, name: string) => `${plural}/${ns}/${name}`;

export class Store {
  private objects = new Map<string, Obj>();
  private watchers = new Set<Watcher>();
  private rv = 0;
  /** The latest events, so a watch that starts from a resourceVersion misses none since (etcd keeps such a window too). */
  private history: WatchEvent[] = [];
  private snapshotTimer: NodeJS.Timeout | undefined;

  private snapshotPath?: string;

  constructor(snapshotPath?: string) {
    this.snapshotPath = snapshotPath;
    if (snapshotPath && fs.existsSync(snapshotPath)) {
      const saved = JSON.parse(fs.readFileSync(snapshotPath, 'utf8')) as { rv: number; objects: [string, Obj][] };
      this.rv = saved.rv;
      this.objects = new Map(saved.objects);
    }
  }

  get resourceVersion(): string { return String(this.rv); }

  get(plural: string, ns: string, name: string): Obj | undefined {
    const o = this.objects.get(keyOf(plural, ns, name));
    return o && structuredClone(o);
  }

  /** All objects of a resource, in one namespace or ('' ) in all. */
  list(plural: string, ns: string): Obj[] {
    const out: Obj[] = [];
    for (const [k, o] of this.objects) {
      if (k.startsWith(`${plural}/`) && (!ns || (o.metadata.namespace ?? '') === ns)) out.push(structuredClone(o));
    }
    return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** Write an object (the caller checked conflicts); returns it with its new resourceVersion. */
  put(plural: string, o: Obj): Obj {
    const key = keyOf(plural, o.metadata.namespace ?? '', o.metadata.name);
    const type: EventType = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    o.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, structuredClone(o));
    this.emit({ type, plural, object: o });
    return structuredClone(o);
  }

  remove(plural: string, ns: string, name: string): Obj | undefined {
    const key = keyOf(plural, ns, name);
    const o = this.objects.get(key);
    if (!o) return undefined;
    this.objects.delete(key);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', plural, object: o });
    return structuredClone(o);
  }

  watch(fn: Watcher): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /**
   * The events after resourceVersion `rv`, for a watch that listed at `rv` and watches from
   * there: undefined when they are older than the window kept (the client lists again, on
   * the 410 Gone the API server answers then).
   */
  since(rv: number): WatchEvent[] | undefined {
    if (rv >= this.rv) return [];
    const first = this.history[0];
    if (!first || Number(first.object.metadata.resourceVersion) > rv + 1) return undefined;
    return this.history.filter((e) => Number(e.object.metadata.resourceVersion) > rv).map((e) => structuredClone(e));
  }

  private emit(e: WatchEvent): void {
    this.history.push(structuredClone(e));
    if (this.history.length > HISTORY) this.history.shift();
    for (const w of this.watchers) w(structuredClone(e));
    this.scheduleSnapshot();
  }

  private scheduleSnapshot(): void {
    if (!this.snapshotPath || this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      const tmp = `${this.snapshotPath}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ rv: this.rv, objects: [...this.objects] }));
      fs.renameSync(tmp, this.snapshotPath!);
    }, 100);
  }
}
