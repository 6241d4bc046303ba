// Image references: `busybox`, `busybox:1.36`, `localhost:5000/team/app:v2`,
// `alpine@sha256:…`. The grammar is the one Docker and the OCI distribution spec use:
//
//   [DOMAIN/]PATH[:TAG][@DIGEST]
//
// A first component with a dot or a colon in it (or `localhost`) is a registry domain;
// without one the image comes from Docker Hub, where one-word names live under `library/`.

import { UserError } from '../sys/errors.ts';

export interface ImageRef {
  /** The repository as a user writes it: `busybox`, `localhost:5000/team/app`. */
  name: string;
  /** `latest` when none is given. */
  tag: string;
  /** `name:tag` (or `name@digest`): the key of the image in the store. */
  canonical: string;
  /** `sha256:…` when the reference pins a manifest digest. */
  digest?: string;
  /** Registry host for push and pull: `docker.io` when none is given. */
  domain: string;
  /** Repository path on that registry: `library/busybox` for `busybox` on Docker Hub. */
  path: string;
}

export const DEFAULT_DOMAIN = 'docker.io';

// One path component: lowercase letters and digits, joined by `.`, `_`, `__` or dashes.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(ref: string, why: string): UserError {
  return new UserError(`invalid image reference '${ref}': ${why}`);
}

/** Parse and check a reference; throws UserError naming what is wrong with it. */
export function normalizeRef(ref: string): ImageRef {
  if (ref.trim() === '') throw new UserError('image name is empty; give one such as busybox or busybox:latest');
  if (/\s/.test(ref)) throw bad(ref, 'it contains whitespace');

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, 'a digest is sha256: followed by 64 lowercase hex digits');
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw bad(ref, 'a tag is up to 128 letters, digits, `_`, `.` and `-`, and does not start with `.` or `-`');
    }
  }

  const parts = rest.split('/');
  let domain = DEFAULT_DOMAIN;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad(ref, `'${domain}' is not a registry host[:port]`);
  }
  for (const part of parts) {
    if (part === '') throw bad(ref, 'it has an empty path component');
    if (part !== part.toLowerCase()) throw bad(ref, 'repository names must be lowercase');
    if (!COMPONENT.test(part)) {
      throw bad(ref, `'${part}' may hold only lowercase letters, digits and single separators (. _ -)`);
    }
  }

  // Docker Hub's names are shown the short way: docker.io/library/busybox is `busybox`.
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  let repoPath = parts.join('/');
  if (domain === DEFAULT_DOMAIN && parts.length === 1) repoPath = `library/${repoPath}`;
  const name = domain === DEFAULT_DOMAIN ? repoPath.replace(/^library\//, '') : `${domain}/${repoPath}`;
  if (name.length > 255) throw bad(ref, 'the name is longer than 255 characters');

  const canonical = digest ? `${name}${tag ? `:${tag}` : ''}@${digest}` : `${name}:${tag ?? 'latest'}`;
  tag ??= 'latest';
  return { name, tag, canonical, domain, path: repoPath, ...(digest ? { digest } : {}) };
}
