// POST /build: docker build. The client sends the context as a tar in the body; the engine
// unpacks it with the image unpacker (image/unpack.ts refuses absolute paths, `..` and
// symlinks that lead out, so a context can write nothing outside its own directory), runs
// box's Boxfile builder on it, and answers with Docker's JSON progress stream, one object a
// line: {"stream": "Step 1/3 : ..."}, {"aux": {"ID": "sha256:..."}}, and on failure
// {"error": ..., "errorDetail": {"message": ...}}, which the CLI prints and exits 1 on.

import fs from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import { Builder } from '../../build/builder.ts';
import { boxRoot } from '../../image/index.ts';
import { unpackTar } from '../../image/unpack.ts';
import { realSys } from '../../sys/sys.ts';
import { nullTrace } from '../../sys/trace.ts';
import { emitEvent } from './events.ts';
import { ApiError, commonHeaders, type Call, type Route } from './http.ts';

/** The context is held in memory to be unpacked: a bound on what one request may take. */
const MAX_CONTEXT_BYTES = 512 * 1024 ** 2;

export const buildRoutes: Route[] = [['POST', /^\/build$/, build]];

function readContext(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_CONTEXT_BYTES) {
        req.destroy();
        reject(new ApiError(413, `the build context is over ${MAX_CONTEXT_BYTES >> 20} MiB; leave large files out with a .dockerignore`));
      } else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

async function build({ req, res, query }: Call): Promise<void> {
  if (query.get('remote')) throw new ApiError(501, "box's engine builds from a context sent in the request body, not a remote URL or Git repository");
  const tar = await readContext(req);
  if (tar[0] === 0x1f && tar[1] === 0x8b) throw new ApiError(400, 'the build context is compressed; send it as a plain tar');
  let buildArgs = new Map<string, string>();
  try {
    const raw = JSON.parse(query.get('buildargs') || '{}') as Record<string, string | null>;
    buildArgs = new Map(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    throw new ApiError(400, 'buildargs is not a JSON object of NAME: value');
  }
  const file = query.get('dockerfile') || undefined;
  if (file && (path.isAbsolute(file) || file.split('/').includes('..'))) {
    throw new ApiError(400, `dockerfile ${file}: name a file inside the build context`);
  }

  const root = boxRoot();
  const dir = fs.mkdtempSync(path.join(root, 'build-context-'));
  res.writeHead(200, { 'Content-Type': 'application/json', ...commonHeaders() });
  const say = (o: object) => res.write(`${JSON.stringify(o)}\n`);
  try {
    unpackTar(tar, dir, { label: 'the build context', chown: false });
    const tags = query.getAll('t');
    const builder = new Builder({
      root, contextDir: dir, tags, buildArgs, noCache: ['1', 'true'].includes(query.get('nocache') ?? ''),
      ...(file ? { file: path.join(dir, file) } : {}),
      sys: realSys(nullTrace),
      progress: (line) => say({ stream: `${line}\n` }),
      warn: (m) => say({ stream: `[Warning] ${m}\n` }),
    });
    res.on('close', () => { if (!res.writableFinished) builder.interrupt('the client went away'); });
    const result = await builder.build();
    say({ aux: { ID: result.id } });
    say({ stream: `Successfully built ${result.id.replace(/^sha256:/, '').slice(0, 12)}\n` });
    for (const t of tags) {
      say({ stream: `Successfully tagged ${t.includes(':') ? t : `${t}:latest`}\n` });
      emitEvent('image', 'tag', result.id, { name: t });
    }
  } catch (err) {
    const message = (err as Error).message.replace(/^(box: )?/, '');
    say({ error: message, errorDetail: { message } });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    res.end();
  }
}
