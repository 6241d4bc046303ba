import { describe, expect, it } from 'vitest';
import { initialSize, parseClientMessage, SESSION_ID } from '../../src/server/protocol.ts';

describe('terminal protocol parsing', () => {
  it('accepts the three client messages', () => {
    expect(parseClientMessage('{"type":"resize","cols":120,"rows":40}')).toEqual({ ok: true, message: { type: 'resize', cols: 120, rows: 40 } });
    expect(parseClientMessage('{"type":"ack","bytes":4096}')).toEqual({ ok: true, message: { type: 'ack', bytes: 4096 } });
    expect(parseClientMessage('{"type":"check","lesson":"en/pid-namespaces","exercise":"pid-one"}'))
      .toEqual({ ok: true, message: { type: 'check', lesson: 'en/pid-namespaces', exercise: 'pid-one' } });
  });

  it.each([
    ['{"type":"resize","cols":0,"rows":0}', /cols 1\.\.500, rows 1\.\.200/],
    ['{"type":"resize","cols":100000,"rows":100000}', /cols 1\.\.500/],
    ['{"type":"resize","cols":501,"rows":24}', /cols 1\.\.500/],
    ['{"type":"resize","cols":80,"rows":201}', /rows 1\.\.200/],
    ['{"type":"resize","cols":80.5,"rows":24}', /whole numbers/],
    ['{"type":"resize","cols":"80","rows":24}', /whole numbers/],
    ['{"type":"ack","bytes":-1}', /ack needs/],
    ['{"type":"ack"}', /ack needs/],
    ['{"type":"check","lesson":"../../etc/passwd","exercise":"x"}', /lesson/],
    ['{"type":"check","lesson":"en/pid","exercise":"$(reboot)"}', /exercise/],
    ['{"type":"check","lesson":"en/pid","exercise":"x","command":"reboot"}', null],
    ['{"type":"nope"}', /unknown message type "nope"/],
    ['{"cols":1}', /unknown message type/],
    ['[1,2]', /JSON object/],
    ['null', /JSON object/],
    ['42', /JSON object/],
    ['{"type":', /malformed JSON/],
    ['', /malformed JSON/],
  ])('refuses %s with a reason', (text, reason) => {
    const r = parseClientMessage(text);
    if (reason === null) {
      // Extra fields are ignored: a "command" can never reach the check.
      expect(r).toEqual({ ok: true, message: { type: 'check', lesson: 'en/pid', exercise: 'x' } });
      return;
    }
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(reason);
  });

  it('reads the initial size from the URL', () => {
    expect(initialSize(null, null)).toEqual({ cols: 80, rows: 24 });
    expect(initialSize('132', '43')).toEqual({ cols: 132, rows: 43 });
    expect(initialSize('0', '0')).toBeNull();
    expect(initialSize('100000', '100000')).toBeNull();
    expect(initialSize('80x', '24')).toBeNull();
  });

  it('accepts plain session ids only', () => {
    expect(SESSION_ID.test('Ab3_-xyz09')).toBe(true);
    expect(SESSION_ID.test('short')).toBe(false);
    expect(SESSION_ID.test('a'.repeat(65))).toBe(false);
    expect(SESSION_ID.test('../../../etc')).toBe(false);
  });
});
