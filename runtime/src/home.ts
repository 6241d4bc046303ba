// Where box is installed (the repository root). This file sits two levels below it, and so
// does the bundle runtime/build/box.mjs that `npm install` makes from these sources, so the
// same relative URL is right in both.

import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const BOX_HOME = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const inHome = (...parts: string[]) => path.join(BOX_HOME, ...parts);
