import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate, repositoryScope } from '../../runtime/src/image/registry/auth.ts';
import { isLoopback } from '../../runtime/src/image/registry/client.ts';

describe('parseWwwAuthenticate', () => {
  it("reads Docker Hub's challenge: realm, service, and a scope with colons", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('keeps commas inside quoted values (a scope with two actions), and spaces around the separators', () => {
    expect(parseWwwAuthenticate('Bearer realm="http://127.0.0.1:5001/token" , scope="repository:team/app:pull,push"')[0].params)
      .toEqual({ realm: 'http://127.0.0.1:5001/token', scope: 'repository:team/app:pull,push' });
  });

  it('reads unquoted values, escaped quotes, and lowercases scheme and parameter names', () => {
    expect(parseWwwAuthenticate('BEARER Realm=https://x/token, Error="insufficient_scope", Detail="say \\"hi\\""')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://x/token', error: 'insufficient_scope', detail: 'say "hi"' } },
    ]);
  });

  it('splits several challenges in one header', () => {
    const c = parseWwwAuthenticate('Basic realm="registry", Bearer realm="https://auth.example/token",service="example"');
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[1].params).toEqual({ realm: 'https://auth.example/token', service: 'example' });
  });

  it('a scheme without parameters, and an empty header', () => {
    expect(parseWwwAuthenticate('Negotiate')).toEqual([{ scheme: 'negotiate', params: {} }]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });

  it('makes the scope a request needs', () => {
    expect(repositoryScope('library/busybox', 'pull')).toBe('repository:library/busybox:pull');
    expect(repositoryScope('team/app', 'pull,push')).toBe('repository:team/app:pull,push');
  });
});

describe('isLoopback: registries talked to in plain HTTP without --insecure', () => {
  it('localhost, 127.0.0.0/8 and ::1, with or without a port; nothing else', () => {
    for (const d of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) expect(isLoopback(d)).toBe(true);
    for (const d of ['docker.io', 'registry.example:5000', '10.0.0.1:5000', '127.0.0.1.example.com', 'localhost.example']) expect(isLoopback(d)).toBe(false);
  });
});
