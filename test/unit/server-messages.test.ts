// The lab server speaks English; a Korean page shows what it says in Korean. These tests hold
// the page's table to the server's real sentences: when a sentence changes in src/server, the
// first test names it.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { SERVER_SENTENCES, clientStrings, type ServerSentence } from '../../src/lib/i18n.ts';
import { localizeServerMessage } from '../../src/scripts/server-messages.ts';
import { duration } from '../../src/server/sessions.ts';
import { runCheck } from '../../src/server/checks.ts';
import type { Sandbox } from '../../src/server/sandbox.ts';

const SERVER = path.resolve(import.meta.dirname, '..', '..', 'src', 'server');
const sources = fs.readdirSync(SERVER).filter((f) => f.endsWith('.ts')).map((f) => fs.readFileSync(path.join(SERVER, f), 'utf8')).join('\n');
const ko = clientStrings('ko');

describe('the lab server\'s sentences on a Korean page', () => {
  it('knows sentences the server really sends', () => {
    for (const [key, template] of Object.entries(SERVER_SENTENCES)) {
      for (const part of template.split(/\{[ns]\}/).filter((p) => p.length > 2)) {
        expect(sources.includes(part), `${key}: the server no longer says "${part}"`).toBe(true);
      }
    }
  });

  it('shows each of them in Korean, with its number or its rest', async () => {
    const slow = { exec: async () => ({ code: null, output: '', timedOut: true }) } as unknown as Sandbox;
    const timeout = (await runCheck(slow, { id: 'x', check: 'sleep 30' }, 2000)).detail;
    expect(localizeServerMessage(timeout, ko, 'ko')).toBe('확인이 2초 안에 끝나지 않았습니다');
    const quiet = { exec: async () => ({ code: 3, output: '', timedOut: false }) } as unknown as Sandbox;
    const status = (await runCheck(quiet, { id: 'x', check: 'exit 3' })).detail;
    expect(localizeServerMessage(status, ko, 'ko')).toBe('확인 명령이 종료 코드 3으로 끝났습니다');
    const idle = `this sandbox was removed after ${duration(3_600_000)} without input; start a new one to go on`;
    expect(localizeServerMessage(idle, ko, 'ko')).toBe('입력이 60분 동안 없어서 이 샌드박스를 지웠습니다. 새로 시작해서 이어 가세요');
    expect(localizeServerMessage('could not start a sandbox: box: no such image', ko, 'ko')).toBe('샌드박스를 시작하지 못했습니다: box: no such image');
    expect(localizeServerMessage('the lab server is shutting down', ko, 'ko')).toBe('실습 서버가 종료되고 있습니다');
    for (const key of Object.keys(SERVER_SENTENCES) as ServerSentence[]) {
      const sample = SERVER_SENTENCES[key].replace('{n}', '7').replace('{s}', 'x');
      expect(localizeServerMessage(sample, ko, 'ko'), key).not.toBe(sample);
    }
  });

  it('leaves an English page, and what it does not know (a check\'s own output), as they are', () => {
    expect(localizeServerMessage('the check exited with status 3', clientStrings('en'), 'en')).toBe('the check exited with status 3');
    expect(localizeServerMessage('cat: /root/answer: No such file or directory', ko, 'ko')).toBe('cat: /root/answer: No such file or directory');
  });
});
