// The points at which box-init stops and waits for box: one number each, the same in
// box-init.c's `enum sync_point` (test/unit/sync-point.test.ts compares the two). The
// number is the control key on both sides; the words are only for the trace.
// (youki's process/message.rs does the same with a Rust enum and its Display.)

export const SyncPoint = {
  /** box-init has unshared its user namespace: box writes uid_map and gid_map. */
  IdMap: 1,
  /** box-init's namespaces exist: box has put it in its cgroup and plugs the network in. */
  Cgroup: 2,
  /** A lab sandbox: box moves it into a leaf cgroup, so that it may hand controllers down. */
  Leaf: 3,
  /** OCI create: box records the container as created; box-init waits on exec.fifo next. */
  Created: 4,
  /** OCI create: box runs the prestart, createRuntime and createContainer hooks (before pivot_root). */
  Hooks: 5,
  /** box exec: box puts the new process in the container's cgroup before it joins anything. */
  JoinCgroup: 6,
} as const;

export type SyncPoint = (typeof SyncPoint)[keyof typeof SyncPoint];

/** How the trace tells each point. */
export const SYNC_TEXT: Record<SyncPoint, string> = {
  [SyncPoint.IdMap]: 'box writes uid_map and gid_map',
  [SyncPoint.Cgroup]: 'box has put the container in its cgroup',
  [SyncPoint.Leaf]: 'box moves the sandbox into a leaf cgroup, so it may hand controllers down',
  [SyncPoint.Created]: 'box create records the container: it waits on exec.fifo next',
  [SyncPoint.Hooks]: 'box runs the prestart, createRuntime and createContainer hooks (before pivot_root)',
  [SyncPoint.JoinCgroup]: "box puts us in the container's cgroup",
};

/** The point a number from box-init's SYNC line names, or undefined if it names none. */
export function syncPoint(n: number): SyncPoint | undefined {
  return Object.values(SyncPoint).find((p) => p === n);
}
