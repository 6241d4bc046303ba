// The port proxy's address parsing (src/server/port-proxy.ts): which ports and paths are
// accepted. The proxy itself is tested for real in test/integration/port-proxy.test.ts.
import { describe, expect, it } from 'vitest';
import { parsePort, parsePortPath } from '../../src/server/port-proxy.ts';

describe('parsePort', () => {
  it('takes whole numbers 1..65535 written plainly', () => {
    for (const [text, port] of [['1', 1], ['80', 80], ['8080', 8080], ['65535', 65535]] as const) expect(parsePort(text)).toBe(port);
  });
  it('refuses everything else', () => {
    for (const text of ['0', '65536', '99999', '123456', '-1', '+80', '080', '80.0', '8e3', '0x50', ' 80', '80 ', '', 'abc', '８０']) {
      expect(parsePort(text), text).toBeNull();
    }
  });
});

describe('parsePortPath', () => {
  const sid = 'abcdEFGH1234_-xy';
  it('splits /port/<session>/<port><rest>', () => {
    expect(parsePortPath(`/port/${sid}/8080/a/b.html`)).toEqual({ ok: true, session: sid, port: 8080, prefix: `/port/${sid}/8080`, rest: '/a/b.html' });
    expect(parsePortPath(`/port/${sid}/8080`)).toMatchObject({ ok: true, rest: '' });
    expect(parsePortPath(`/port/${sid}/8080/`)).toMatchObject({ ok: true, rest: '/' });
  });
  it('answers 400 naming the range for a bad port, 404 for a bad shape or session', () => {
    expect(parsePortPath(`/port/${sid}/0/`)).toMatchObject({ ok: false, status: 400 });
    expect(parsePortPath(`/port/${sid}/70000/`)).toMatchObject({ ok: false, status: 400, message: expect.stringContaining('1 to 65535') });
    expect(parsePortPath(`/port/${sid}//`)).toMatchObject({ ok: false, status: 400 });
    expect(parsePortPath('/port/short/8080/')).toMatchObject({ ok: false, status: 404 });
    expect(parsePortPath(`/port/${sid}`)).toMatchObject({ ok: false, status: 404 });
    expect(parsePortPath('/port/a..b/c/8080/')).toMatchObject({ ok: false, status: 404 });
  });
});
