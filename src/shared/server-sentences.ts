// What the lab server tells a reader, by code. The server sends each sentence in English (its
// `message`, `reason` or `detail`, for logs and for clients that know no codes) together with
// `said`: the sentence's code and the number or text that fills it. A page in another language
// writes its own sentence for the code (src/scripts/server-messages.ts); a frame without `said`
// (a check's own output, box's messages) is shown as it came.

/** {n} stands for a number, {s} for a text (a name, an error). */
export const SERVER_SENTENCES = {
  srvCheckTimeout: 'the check did not finish within {n} s',
  srvCheckStatus: 'the check exited with status {n}',
  srvTakenOver: 'this terminal was opened in another tab or window; it continues there',
  srvShuttingDown: 'the lab server is shutting down; your sandbox is being removed',
  srvShutDown: 'the lab server is shutting down',
  srvCheckRunning: 'a check is already running; wait for its answer',
  srvTooManyChecks: 'too many checks at once; wait {n} s and check again',
  srvSandboxEnded: 'the sandbox has ended; restart it to check exercises',
  /** {s}: "60 minutes"; {n}: the same in seconds, for a page to say in its own words. */
  srvIdleRemoved: 'this sandbox was removed after {s} without input; start a new one to go on',
  srvNoSandbox: 'could not start a sandbox: {s}',
  srvCheckFailed: 'the check could not run: {s}',
  srvInstructorReset: 'your instructor reset your sandbox; start a new one to go on',
  srvClassClosed: 'your instructor closed the class',
  srvQueue: 'the lab is full; you are number {n} in the queue, and this page tries again by itself',
  srvStudentLimit: 'you already have {n} lab terminals open, the most one student may have; close another lab tab (its sandbox goes a minute later) and try again',
  srvClientLimit: 'this browser already has {n} lab terminals open, the most one reader may have; close another lab tab (its sandbox goes a minute later) and try again',
  srvAddressLimit: 'your network address already has {n} lab terminals open, the most one address may have; close a lab tab and try again',
  srvTerminalLimit: 'this sandbox already has {n} terminals, the most one sandbox may have; close one of its tabs to open another',
  srvNoFirstTerminal: 'this sandbox is not running; open its first terminal again',
  srvNoTerminal: 'could not open another terminal: {s}',
  srvOtherBrowser: 'this terminal belongs to another browser',
  srvReconnects: 'this terminal was reconnected too often; trying again shortly',
};
export type ServerSentence = keyof typeof SERVER_SENTENCES;

/** One thing the server said: which sentence, and what fills it. */
export interface Said {
  code: ServerSentence;
  n?: number;
  s?: string;
}

/** The sentence in `template` (English, or a page's own) with its number and text filled in. */
export function fill(template: string, said: Said): string {
  return template.replace('{n}', String(said.n ?? '')).replace('{s}', said.s ?? '');
}

/** What the server sends as text beside the code: the English sentence. */
export function english(said: Said): string {
  return fill(SERVER_SENTENCES[said.code], said);
}

/** A frame's fields for one sentence: the English text under `field`, and the code. */
export function sayIn<F extends string>(field: F, said: Said): Record<F, string> & { said: Said } {
  return { [field]: english(said), said } as Record<F, string> & { said: Said };
}

/** Is this a `said` a page can use (a known code, a number and a text of the right types)? */
export function isSaid(x: unknown): x is Said {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.code === 'string' && Object.hasOwn(SERVER_SENTENCES, o.code)
    && (o.n === undefined || typeof o.n === 'number') && (o.s === undefined || typeof o.s === 'string');
}
