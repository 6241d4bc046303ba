// The search box's filter over Pagefind's results: the stray one-letter matches Pagefind's
// Korean fallback makes are dropped; prefixes, stems and Korean particles still match.
import { describe, expect, it } from 'vitest';
import { isRelevant, markedWords, wordMatches } from '../../src/scripts/search-relevance.ts';

describe('search relevance', () => {
  it('reads the marked words of an excerpt', () => {
    expect(markedWords('$ id <mark>-Z</mark> unconfined_u and <mark>x);</mark>')).toEqual(['z', 'x']);
  });

  it('drops a match on one stray letter or a short shared start (seen on /ko/)', () => {
    expect(isRelevant('zebra', 'Fedora에서 보게 될 것 (SELinux). $ id <mark>-Z</mark> unconfined_u')).toBe(false);
    expect(isRelevant('qqqqqq', 'wget <mark>-q</mark> -O - http://localhost:8080/')).toBe(false);
    expect(isRelevant('없는단어입니다', '여기서는 이름이 <mark>없는</mark> id')).toBe(false);
  });

  it('keeps prefixes, stems and words with a Korean particle', () => {
    expect(wordMatches('prop', 'propagation')).toBe(true);
    expect(wordMatches('running', 'runs')).toBe(true);
    expect(wordMatches('네임스페이스에서', '네임스페이스')).toBe(true);
    expect(wordMatches('ip', 'ip')).toBe(true);
    expect(isRelevant('mount propagation', 'shared <mark>propagation</mark> between')).toBe(true);
  });

  it('keeps a result whose excerpt marks nothing', () => {
    expect(isRelevant('anything', 'a title match only')).toBe(true);
  });
});
