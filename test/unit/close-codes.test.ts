// One table of WebSocket close codes (src/shared/close-codes.ts) for the page and the server,
// and the protocol document says what each means.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/shared/close-codes.ts';
import { CLOSE as PAGE_CLOSE } from '../../src/scripts/terminal/protocol.ts';
import { CLOSE as SERVER_CLOSE } from '../../src/server/terminal.ts';

describe('close codes', () => {
  it('the page uses the shared table, and the server closes with the same numbers', () => {
    expect(PAGE_CLOSE).toBe(CLOSE);
    // The server still names two of them its own way (src/server/terminal.ts): same numbers.
    expect(Object.values(SERVER_CLOSE).sort()).toEqual(Object.values(CLOSE).sort());
  });

  it('every code is in the table of src/server/PROTOCOL.md', () => {
    const doc = fs.readFileSync(new URL('../../src/server/PROTOCOL.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
    for (const code of Object.values(CLOSE)) expect(documented, String(code)).toContain(code);
  });
});
