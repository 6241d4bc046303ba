// The OCI runtime's state: one directory per container under --root (default /run/box-oci,
// as runc's /run/runc), holding state.json and, between create and start, exec.fifo.
// `box state ID` prints what the OCI runtime spec calls the state (ociVersion, id, status,
// pid, bundle, annotations), with the status worked out from the kernel, not trusted from
// the file: a pid that is gone means "stopped", whatever was written.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../sys/errors.ts';
import type { Hooks } from './hooks.ts';

export const OCI_VERSION = '1.0.2';
export const DEFAULT_ROOT = '/run/box-oci';

export type OciStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

export interface OciState {
  ociVersion: string;
  id: string;
  status: OciStatus;
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** box's own: the cgroup's name, and the container's first process as the host sees it
   * (the same as pid; a state written by an older box had box-init's reaper as its pid). */
  cgroup?: string;
  cgroupParent?: string;
  initPid?: number;
  /** config.json's hooks, kept for start and delete (the bundle may be gone by then). */
  hooks?: Hooks;
  /** Without a mount namespace: its root, where its mounts are in the host's, and the mount ids there before it (oci/host-mountns.ts). */
  hostMounts?: { root: string; before: number[] };
}

// runc's rule for ids: a name that is safe as one path component.
const ID = /^[\w+.-]+$/;

export function checkId(id: string | undefined): string {
  if (!id) throw new UserError('a container id is required; e.g. box create --bundle DIR ID');
  if (!ID.test(id) || id === '.' || id === '..') throw new UserError(`invalid container id '${id}': use letters, digits, _ + . -`);
  return id;
}

export const containerDir = (root: string, id: string) => path.join(root, checkId(id));
export const fifoPath = (root: string, id: string) => path.join(containerDir(root, id), 'exec.fifo');

export function readOciState(root: string, id: string): OciState {
  let text: string;
  try {
    text = fs.readFileSync(path.join(containerDir(root, id), 'state.json'), 'utf8');
  } catch {
    throw new UserError(`container "${id}" does not exist`);
  }
  const st = JSON.parse(text) as OciState;
  return { ...st, status: liveStatus(root, st) };
}

export function writeOciState(root: string, st: OciState): void {
  const file = path.join(containerDir(root, st.id), 'state.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(st));
  fs.renameSync(`${file}.tmp`, file); // readers see the old state or the new one, never half
}

/** The status as the kernel has it: a process that is gone (or a zombie) is stopped. */
function liveStatus(root: string, st: OciState): OciStatus {
  if (!st.pid) return 'stopped';
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${st.pid}/stat`, 'utf8');
  } catch {
    return 'stopped';
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return 'stopped';
  if (st.status === 'paused') return 'paused';
  return fs.existsSync(fifoPath(root, st.id)) ? 'created' : 'running';
}

/** What `box state` prints: the spec's fields only. */
export function publicState(st: OciState): Omit<OciState, 'cgroup' | 'cgroupParent' | 'initPid' | 'hooks'> {
  const { cgroup: _c, cgroupParent: _p, initPid: _i, hooks: _h, ...pub } = st;
  return { ...pub, pid: st.status === 'stopped' ? 0 : st.pid };
}

export function listOciIds(root: string): string[] {
  try {
    return fs.readdirSync(root).filter((n) => ID.test(n) && fs.existsSync(path.join(root, n, 'state.json'))).sort();
  } catch {
    return [];
  }
}
