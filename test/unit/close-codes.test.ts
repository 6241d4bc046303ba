// One table of WebSocket close codes (src/shared/close-codes.ts) for the page and the server,
// and the protocol document says what each means.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/shared/close-codes.ts';
import { CLOSE as PAGE_CLOSE } from '../../src/scripts/terminal/protocol.ts';

describe('close codes', () => {
  it('the page and the server use the one shared table', () => {
    expect(PAGE_CLOSE).toBe(CLOSE);
    // The server's modules close with CLOSE.* names, never numbers of their own.
    for (const file of ['terminal.ts', 'app.ts', 'viewer.ts']) {
      const src = fs.readFileSync(new URL(`../../src/server/${file}`, import.meta.url), 'utf8');
      expect(src, file).not.toMatch(/\.close\(\s*\d{4}/);
      expect(src, file).not.toMatch(/export const CLOSE\b/);
    }
  });

  it('every code is in the table of src/server/PROTOCOL.md', () => {
    const doc = fs.readFileSync(new URL('../../src/server/PROTOCOL.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
    for (const code of Object.values(CLOSE)) expect(documented, String(code)).toContain(code);
  });
});
