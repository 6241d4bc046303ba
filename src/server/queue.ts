// The line for a full lab. A page told "the lab is full" tries again by itself with the same
// session id; each try keeps its place. When a sandbox frees up, it goes to the first in line,
// not to whoever happens to retry first. A place not claimed again within `expireMs` (the tab
// was closed) is given up.

export class WaitQueue {
  readonly #seen = new Map<string, number>();
  readonly #expireMs: number;
  readonly #now: () => number;

  constructor(expireMs: number, now: () => number = Date.now) {
    this.#expireMs = expireMs;
    this.#now = now;
  }

  #sweep(): void {
    const t = this.#now();
    for (const [id, at] of this.#seen) if (t - at > this.#expireMs) this.#seen.delete(id);
  }

  /** Join the line (or keep one's place) and say which place it is, from 1. */
  place(id: string): number {
    this.#sweep();
    this.#seen.set(id, this.#now()); // Map keeps the first insertion's order
    return [...this.#seen.keys()].indexOf(id) + 1;
  }

  /** How many are waiting before `id` (everyone, when it is not in line). */
  ahead(id: string): number {
    this.#sweep();
    const i = [...this.#seen.keys()].indexOf(id);
    return i < 0 ? this.#seen.size : i;
  }

  leave(id: string): void { this.#seen.delete(id); }

  get size(): number { this.#sweep(); return this.#seen.size; }
}
