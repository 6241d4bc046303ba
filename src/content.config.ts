// The lessons collection (see the contract): content/lessons/<lang>/<slug>.mdx, id "<lang>/<slug>".
import { defineCollection } from 'astro:content';
import { glob } from 'astro/loaders';
import { z } from 'astro/zod';

const exercise = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/, 'exercise ids use a-z, 0-9 and -'),
  task: z.string().min(1),
  check: z.string().min(1),
  hint: z.string().default(''),
});

// ISOLAB_LESSONS_DIR points the site at other lessons (the site-build test uses fixtures).
const base = process.env.ISOLAB_LESSONS_DIR ?? './content/lessons';

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
      exercises: z.array(exercise).default([]),
    })
    .refine((d) => new Set(d.exercises.map((e) => e.id)).size === d.exercises.length, {
      message: 'exercise ids must be unique within a lesson',
      path: ['exercises'],
    }),
});

export const collections = { lessons };
