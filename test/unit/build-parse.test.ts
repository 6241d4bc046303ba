// The Boxfile parser and the word rules of its arguments: what a Dockerfile author writes,
// and what box makes of it (or the one line that says why not).

import { describe, expect, it } from 'vitest';
import { expand, keyValues, parseBoxfile, words } from '../../runtime/src/build/parse.ts';
import { parseBuildArgs } from '../../runtime/src/cli/build-command.ts';
import { userError } from './user-error.ts';

const vars = (o: Record<string, string>) => new Map(Object.entries(o));

describe('parseBoxfile', () => {
  it('reads instructions with their line numbers, any case, comments and blank lines skipped', () => {
    const { instructions } = parseBoxfile('# a comment\nfrom busybox\n\n  # indented comment\nRun echo hi\nCMD ["sh"]\n');
    expect(instructions.map((i) => [i.line, i.keyword, i.args])).toEqual([
      [2, 'FROM', 'busybox'], [5, 'RUN', 'echo hi'], [6, 'CMD', '["sh"]'],
    ]);
    expect(instructions[2].json).toEqual(['sh']);
  });

  it('joins continuation lines, dropping comment lines inside them, and keeps the first line number', () => {
    const { instructions } = parseBoxfile('FROM busybox\nRUN echo a \\\n# not part of it\n  && echo b \\   \n  && echo c\nENV A=1\n');
    expect(instructions[1]).toMatchObject({ line: 2, keyword: 'RUN', args: 'echo a   && echo b   && echo c' });
    expect(instructions[2]).toMatchObject({ line: 6, keyword: 'ENV' });
  });

  it('honours the escape directive (backtick, as on Windows)', () => {
    const { instructions, escape } = parseBoxfile('# escape=`\nFROM busybox\nRUN echo a `\n  b\n');
    expect(escape).toBe('`');
    expect(instructions[1].args).toBe('echo a   b');
  });

  it('treats an invalid JSON array as the shell form, as docker does', () => {
    const { instructions } = parseBoxfile('FROM busybox\nCMD [not json]\nENTRYPOINT ["a", 1]\n');
    expect(instructions[1].json).toBeUndefined();
    expect(instructions[2].json).toBeUndefined();
  });

  it('reads COPY flags', () => {
    const { instructions } = parseBoxfile('FROM busybox\nCOPY --chown=1:2 --chmod=640 a b\n');
    expect(instructions[1]).toMatchObject({ flags: { chown: '1:2', chmod: '640' }, args: 'a b' });
  });

  it('names the line and the instruction of what it does not support', () => {
    expect(userError(() => parseBoxfile('FROM busybox\nRUN true\n\nONBUILD RUN true\n'))).toMatch(/^Boxfile line 4: ONBUILD is not supported: /);
    expect(userError(() => parseBoxfile('FROM busybox\nONBUILD RUN x\n', 'Dockerfile'))).toMatch(/^Dockerfile line 2: ONBUILD is not supported/);
    expect(userError(() => parseBoxfile('FROM busybox\nCOPY --from=build /a /b\n'))).toMatch(/^Boxfile line 2: COPY --from: .*multi-stage/);
    expect(userError(() => parseBoxfile('FROM busybox\nRUN <<EOF\necho\nEOF\n'))).toMatch(/^Boxfile line 2: RUN with a here-document/);
    expect(userError(() => parseBoxfile('FROM busybox\nCOPY <<-"END" /x\nEND\n'))).toMatch(/^Boxfile line 2: COPY with a here-document/);
    expect(userError(() => parseBoxfile('FROM busybox\nRUN --mount=type=cache,target=/c make\n'))).toMatch(/^Boxfile line 2: RUN --mount/);
    expect(userError(() => parseBoxfile('FROM busybox\nFROM alpine\n'))).toMatch(/^Boxfile line 2: a second FROM/);
    expect(userError(() => parseBoxfile('FROM busybox\nFETCH x\n'))).toMatch(/^Boxfile line 2: unknown instruction 'FETCH'/);
    expect(userError(() => parseBoxfile('FROM busybox\nCOPY --owner=1 a b\n'))).toMatch(/^Boxfile line 2: COPY has no flag --owner/);
  });

  it('does not mistake a shift or a quoted << for a here-document', () => {
    expect(parseBoxfile('FROM busybox\nRUN echo $((1<<3))\n').instructions[1].args).toBe('echo $((1<<3))');
  });

  it('wants FROM first (only ARG may come before it)', () => {
    expect(parseBoxfile('ARG V=1\nFROM busybox:$V\n').instructions.map((i) => i.keyword)).toEqual(['ARG', 'FROM']);
    expect(userError(() => parseBoxfile('RUN true\nFROM busybox\n'))).toMatch(/^Boxfile line 1: RUN before FROM/);
    expect(userError(() => parseBoxfile('# only a comment\n'))).toMatch(/no FROM instruction/);
  });
});

describe('words and variables', () => {
  const v = vars({ NAME: 'box', EMPTY: '', DIR: '/app' });

  it('expands $X, ${X}, defaults and alternatives', () => {
    expect(expand('$NAME ${NAME}s ${MISSING:-dflt} ${EMPTY:-e} ${EMPTY-set} ${NAME:+alt} ${MISSING:+alt}.', v)).toBe('box boxs dflt e  alt .');
  });

  it('keeps an escaped dollar literal', () => {
    expect(expand('\\$NAME costs $$5', v)).toBe('$NAME costs $$5');
  });

  it('splits on blanks, groups quotes, and expands inside double quotes only', () => {
    expect(words(`a "b c" 'd $NAME' "$NAME e" f\\ g`, v)).toEqual(['a', 'b c', 'd $NAME', 'box e', 'f g']);
    expect(words('"" x', v)).toEqual(['', 'x']);
  });

  it('says which quote is unmatched', () => {
    expect(userError(() => words('"open', v))).toMatch(/unmatched "/);
  });

  it('reads NAME=value pairs and the old one-pair form', () => {
    expect(keyValues('A=1 B="two words" C=$DIR/bin', v)).toEqual([['A', '1'], ['B', 'two words'], ['C', '/app/bin']]);
    expect(keyValues('GREETING hello there $NAME', v, { allowOldForm: true })).toEqual([['GREETING', 'hello there box']]);
    expect(keyValues('ONLY', v, { valueOptional: true })).toEqual([['ONLY', undefined]]);
    expect(userError(() => keyValues('A=1 B', v))).toMatch(/'B' is not NAME=value/);
  });
});

describe('parseBuildArgs', () => {
  it('takes NAME=value, and NAME alone from the environment (skipped when unset)', () => {
    expect([...parseBuildArgs(['A=1', 'B=x=y', 'HOMEY', 'UNSET'], { HOMEY: '/h' })]).toEqual([['A', '1'], ['B', 'x=y'], ['HOMEY', '/h']]);
    expect(userError(() => parseBuildArgs(['1A=x']))).toMatch(/--build-arg '1A=x'/);
  });
});
