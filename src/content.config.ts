// Two collections (see the contract):
//  - lessons: content/lessons/<lang>/<slug>.mdx, id "<lang>/<slug>": the text in one language,
//    with each exercise's task and hint in that language;
//  - exercises: content/exercises/<slug>.yaml, id "<slug>": the list of {id, check} of that
//    lesson, defined once and shared by every language (the lab server runs the checks).
import { defineCollection } from 'astro:content';
import { glob } from 'astro/loaders';
import { z } from 'astro/zod';

const exerciseId = z.string().regex(/^[a-z0-9-]+$/, 'exercise ids use a-z, 0-9 and -');

// strict: a "check" (or anything else not written in the lesson's language) belongs in
// content/exercises/<slug>.yaml, not in a lesson's frontmatter.
const exerciseText = z
  .object({
    id: exerciseId,
    task: z.string().min(1),
    hint: z.string().default(''),
    // Why a check failed, in this language: each `fail: <key>` its check can print (its `why`
    // calls in content/exercises/<slug>.yaml) -> the sentence the reader sees.
    reasons: z.record(z.string().regex(/^[a-z0-9-]+$/), z.string().min(1)).default({}),
    // A worked answer, offered after two failed checks (Markdown).
    solution: z.string().default(''),
  })
  .strict();

// ISOLAB_LESSONS_DIR points the site at other lessons (the site-build test uses fixtures); their
// exercises are the "exercises" folder beside it.
const base = process.env.ISOLAB_LESSONS_DIR ?? './content/lessons';
const exercisesBase = `${base.replace(/\/+$/, '')}/../exercises`;

const lessons = defineCollection({
  loader: glob({ pattern: '**/*.mdx', base }),
  schema: z
    .object({
      title: z.string().min(1),
      chapter: z.number(),
      part: z.string().min(1),
      summary: z.string().min(1),
      runs: z.array(z.string()).default([]),
      terminal: z.boolean().default(true),
      exercises: z.array(exerciseText).default([]),
    })
    .refine((d) => new Set(d.exercises.map((e) => e.id)).size === d.exercises.length, {
      message: 'exercise ids must be unique within a lesson',
      path: ['exercises'],
    }),
});

const exercises = defineCollection({
  loader: glob({ pattern: '*.yaml', base: exercisesBase }),
  schema: z
    .array(z.object({ id: exerciseId, check: z.string().min(1) }).strict())
    .refine((list) => new Set(list.map((e) => e.id)).size === list.length, {
      message: 'exercise ids must be unique within a file',
    }),
});

export const collections = { lessons, exercises };
