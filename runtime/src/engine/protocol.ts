// What the engine and its client say to each other over $BOX_ROOT/engine.sock. The client
// side is runtime/src/engine/box-client.c; its header comment has the whole exchange.
//
//   request (client -> engine): NUL-terminated strings
//     "box-engine 1", cwd, rows, cols, tty flags (1 stdin, 2 stdout, 4 stderr), argc, argv...,
//     envc, env ("K=V")...
//   then lines both ways:
//     client -> engine  "got" (the terminal's master is taken), "sig N" (forward signal N)
//     engine -> client  "fallback", "say TEXT", "pty PID FD", "exit CODE"

export const MAGIC = 'box-engine 1';
/** The largest request the engine reads: a command line and an environment, not data. */
export const MAX_REQUEST = 1 << 20;

export interface Request {
  cwd: string;
  rows: number;
  cols: number;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  argv: string[];
  env: Record<string, string>;
}

/**
 * Parse a request from the bytes received so far. Returns null while it is incomplete, the
 * request and the number of bytes it took once complete; throws on a malformed one.
 */
export function parseRequest(buf: Buffer): { request: Request; length: number } | null {
  let at = 0;
  const next = (): string | null => {
    const end = buf.indexOf(0, at);
    if (end < 0) return null;
    const s = buf.toString('utf8', at, end);
    at = end + 1;
    return s;
  };
  const num = (what: string): number | null => {
    const s = next();
    if (s === null) return null;
    if (!/^\d{1,6}$/.test(s)) throw new Error(`bad ${what} in request: ${JSON.stringify(s.slice(0, 20))}`);
    return Number(s);
  };
  const magic = next();
  if (magic === null) return null;
  if (magic !== MAGIC) throw new Error(`not a box-engine request (${JSON.stringify(magic.slice(0, 20))})`);
  const cwd = next();
  const rows = num('rows');
  const cols = num('cols');
  const flags = num('flags');
  const argc = num('argc');
  if (cwd === null || rows === null || cols === null || flags === null || argc === null) return null;
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) {
    const a = next();
    if (a === null) return null;
    argv.push(a);
  }
  const envc = num('envc');
  if (envc === null) return null;
  const env: Record<string, string> = {};
  for (let i = 0; i < envc; i++) {
    const e = next();
    if (e === null) return null;
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return {
    request: { cwd, rows, cols, stdinIsTTY: !!(flags & 1), stdoutIsTTY: !!(flags & 2), stderrIsTTY: !!(flags & 4), argv, env },
    length: at,
  };
}

/** Encode a request as the client does (for tests, and for `box engine status`). */
export function encodeRequest(r: Request): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  const flags = (r.stdinIsTTY ? 1 : 0) | (r.stdoutIsTTY ? 2 : 0) | (r.stderrIsTTY ? 4 : 0);
  const parts = [MAGIC, r.cwd, String(r.rows), String(r.cols), String(flags), String(r.argv.length), ...r.argv, String(env.length), ...env];
  return Buffer.from(parts.map((p) => `${p}\0`).join(''));
}

/** A message for the client's stderr: one line each (newlines would end the message early). */
export function sayLines(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `say ${l}\n`).join('');
}
