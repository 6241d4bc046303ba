// The lab server speaks English and says which sentence it said (a code, src/shared/
// server-sentences.ts); a Korean page shows the sentence of that code in Korean. Text that
// comes without a code (a check's own output) is shown as it came.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { SERVER_SENTENCES, clientStrings, type ServerSentence } from '../../src/lib/i18n.ts';
import { english, isSaid } from '../../src/shared/server-sentences.ts';
import { localizeServerMessage } from '../../src/scripts/server-messages.ts';
import { runCheck } from '../../src/server/checks.ts';
import type { Sandbox } from '../../src/server/sandbox.ts';

const SERVER = path.resolve(import.meta.dirname, '..', '..', 'src', 'server');
// What the server's modules may send (its own log lines, in English only, are left out).
const sources = fs.readdirSync(SERVER).filter((f) => f.endsWith('.ts'))
  .flatMap((f) => fs.readFileSync(path.join(SERVER, f), 'utf8').split('\n')).filter((line) => !/\blog\(/.test(line)).join('\n');
const ko = clientStrings('ko');
const en = clientStrings('en');
const placeholders = (t: string) => [...t.matchAll(/\{[ns]\}/g)].map((m) => m[0]).sort();

describe('the lab server\'s sentences, by code', () => {
  it('every code has its sentence in each language, with the same {n} and {s}', () => {
    for (const key of Object.keys(SERVER_SENTENCES) as ServerSentence[]) {
      expect(en[key], key).toBe(SERVER_SENTENCES[key]);
      expect(ko[key], key).not.toBe(SERVER_SENTENCES[key]);
      expect(placeholders(ko[key]), key).toEqual(placeholders(SERVER_SENTENCES[key]));
    }
  });

  it('the server says them by code, never as a sentence of its own', () => {
    for (const [key, template] of Object.entries(SERVER_SENTENCES)) {
      const longest = template.split(/\{[ns]\}/).sort((a, b) => b.length - a.length)[0]!;
      expect(sources.includes(longest), `${key}: src/server writes "${longest}" itself; send { code: '${key}' }`).toBe(false);
    }
  });

  it('a check that timed out or printed nothing comes with its code, and shows in Korean', async () => {
    const slow = { exec: async () => ({ code: null, output: '', timedOut: true }) } as unknown as Sandbox;
    const timeout = await runCheck(slow, { id: 'x', check: 'sleep 30' }, 2000);
    expect(timeout.detail).toBe('the check did not finish within 2 s');
    expect(localizeServerMessage(timeout.detail, timeout.said, ko, 'ko')).toBe('확인이 2초 안에 끝나지 않았습니다');
    const quiet = { exec: async () => ({ code: 3, output: '', timedOut: false }) } as unknown as Sandbox;
    const status = await runCheck(quiet, { id: 'x', check: 'exit 3' });
    expect(localizeServerMessage(status.detail, status.said, ko, 'ko')).toBe('확인 명령이 종료 코드 3으로 끝났습니다');
    const said = { exec: async () => ({ code: 1, output: 'fail: no-slow\n', timedOut: false }) } as unknown as Sandbox;
    expect((await runCheck(said, { id: 'x', check: 'false' })).said).toBeUndefined();
  });

  it('fills numbers, texts and durations in the page\'s words', () => {
    const idle = { code: 'srvIdleRemoved', s: '60 minutes', n: 3600 } as const;
    expect(english(idle)).toBe('this sandbox was removed after 60 minutes without input; start a new one to go on');
    expect(localizeServerMessage(english(idle), idle, ko, 'ko')).toBe('입력이 60분 동안 없어서 이 샌드박스를 지웠습니다. 새로 시작해서 이어 가세요');
    const noBox = { code: 'srvNoSandbox', s: 'box: no such image' } as const;
    expect(localizeServerMessage(english(noBox), noBox, ko, 'ko')).toBe('샌드박스를 시작하지 못했습니다: box: no such image');
    expect(localizeServerMessage('x', { code: 'srvQueue', n: 4 }, ko, 'ko')).toBe('실습실이 꽉 찼습니다. 대기열 4번째이며, 이 페이지가 알아서 다시 시도합니다');
  });

  it('leaves an English page, text without a code, and a code it does not know as they are', () => {
    expect(localizeServerMessage('the check exited with status 3', { code: 'srvCheckStatus', n: 3 }, en, 'en')).toBe('the check exited with status 3');
    expect(localizeServerMessage('cat: /root/answer: No such file or directory', undefined, ko, 'ko')).toBe('cat: /root/answer: No such file or directory');
    expect(localizeServerMessage('something new', { code: 'srvNoSuchThing' }, ko, 'ko')).toBe('something new');
    expect(isSaid({ code: 'srvQueue', n: '4' })).toBe(false);
    expect(isSaid({ code: 'toString' })).toBe(false);
  });
});
