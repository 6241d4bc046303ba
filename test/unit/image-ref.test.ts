import { describe, expect, it } from 'vitest';
import { normalizeRef } from '../../runtime/src/image/ref.ts';
import { UserError } from '../../runtime/src/sys/errors.ts';

describe('normalizeRef', () => {
  it('adds the latest tag to a bare name, as docker does', () => {
    expect(normalizeRef('busybox')).toEqual({
      name: 'busybox', tag: 'latest', canonical: 'busybox:latest', domain: 'docker.io', path: 'library/busybox',
    });
  });

  it('keeps an explicit tag', () => {
    expect(normalizeRef('alpine:3.20').canonical).toBe('alpine:3.20');
  });

  it('reads a registry with a port, and nested paths', () => {
    const r = normalizeRef('localhost:5000/team/app:v2');
    expect(r).toMatchObject({ name: 'localhost:5000/team/app', tag: 'v2', domain: 'localhost:5000', path: 'team/app' });
    expect(r.canonical).toBe('localhost:5000/team/app:v2');
  });

  it('shows Docker Hub names the short way', () => {
    expect(normalizeRef('docker.io/library/busybox:1.36').canonical).toBe('busybox:1.36');
    expect(normalizeRef('index.docker.io/someone/tool').canonical).toBe('someone/tool:latest');
    expect(normalizeRef('someone/tool').path).toBe('someone/tool');
  });

  it('accepts a pinned digest', () => {
    const digest = 'sha256:' + 'ab'.repeat(32);
    expect(normalizeRef(`busybox@${digest}`)).toMatchObject({ canonical: `busybox@${digest}`, digest });
    expect(normalizeRef(`busybox:1@${digest}`).canonical).toBe(`busybox:1@${digest}`);
  });

  it.each([
    ['', /image name is empty/],
    ['Busybox', /must be lowercase/],
    ['busy box', /whitespace/],
    ['busybox:', /a tag is/],
    ['busybox:-x', /a tag is/],
    ['a//b', /empty path component/],
    ['foo_-bar', /single separators/],
    ['busybox@sha256:1234', /a digest is sha256/],
    ['/busybox', /empty path component/],
  ])('refuses %j with a one-line UserError', (ref, message) => {
    let error: unknown;
    try {
      normalizeRef(ref);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
    if (ref) expect((error as Error).message).toContain(`'${ref}'`);
  });
});
