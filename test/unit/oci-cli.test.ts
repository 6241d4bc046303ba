// Which command lines are runc's (box as an OCI runtime) and which are box's own, and how
// runc's mount options become mount(2) flags and data.

import { describe, expect, it } from 'vitest';
import { isOciCall } from '../../runtime/src/cli/oci-commands.ts';
import { mountOptions } from '../../runtime/src/oci/bundle.ts';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY } from '../../runtime/src/sys/constants.ts';

const box = new Set(['run', 'start', 'kill', 'ps', 'exec', 'rm', 'stop']);

describe('isOciCall', () => {
  it('takes runc global options, `box oci`, and runc-only verbs as runc\'s', () => {
    expect(isOciCall(['--root', '/x', 'start', 'c1'], box)).toBe(true);
    expect(isOciCall(['--log-format=json', 'state', 'c1'], box)).toBe(true);
    expect(isOciCall(['oci', 'list'], box)).toBe(true);
    expect(isOciCall(['create', '--bundle', '/b', '--pid-file', '/p', 'c1'], box)).toBe(true); // podman's call
    expect(isOciCall(['delete', '--force', 'c1'], box)).toBe(true);
    expect(isOciCall(['state', 'c1'], box)).toBe(true);
  });

  it('leaves box\'s own commands alone', () => {
    expect(isOciCall(['run', '--rm', 'busybox'], box)).toBe(false);
    expect(isOciCall(['ps', '-a'], box)).toBe(false);
    expect(isOciCall(['kill', '-s', 'TERM', 'no-such-oci-container-here'], box)).toBe(false);
    expect(isOciCall(['--trace', 'run', 'busybox'], box)).toBe(false);
    expect(isOciCall([], box)).toBe(false);
    // A box that has its own `create` (Docker's) keeps it unless runc's --bundle is given.
    expect(isOciCall(['create', 'busybox'], new Set([...box, 'create']))).toBe(false);
    expect(isOciCall(['create', '-b', '/b', 'c1'], new Set([...box, 'create']))).toBe(true);
  });
});

describe('mountOptions', () => {
  it('sets and clears flags as runc does; the rest is data', () => {
    expect(mountOptions(['nosuid', 'nodev', 'noexec', 'size=1m', 'mode=755'])).toEqual({ flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: 'size=1m,mode=755' });
    expect(mountOptions(['ro', 'nodev', 'dev', 'rw'])).toEqual({ flags: 0, data: '' });
    expect(mountOptions(['ro']).flags).toBe(MS_RDONLY);
  });
});
