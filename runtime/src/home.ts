// Where box is installed (the repository root). This file sits two levels below it, and so
// does the bundle runtime/build/box.cjs that `npm install` makes from these sources
// (runtime/scripts/build-box.ts), so the same relative URL is right in both.

import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const BOX_HOME = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const inHome = (...parts: string[]) => path.join(BOX_HOME, ...parts);
