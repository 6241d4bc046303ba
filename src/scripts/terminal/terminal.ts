// The Terminal island: xterm.js in the page, wired to this tab's lab sandbox over a WebSocket.
//
// Public surface (for the lesson page and for tests):
//   window events in:  `isolab:run` {command}            type a command + Enter, focus the terminal
//                      `isolab:check` {lesson, exercise}  ask the server to check an exercise
//                      `isolab:panel` {on, tab}           the kernel panel is shown (or not), on which view
//   window events out: `isolab:check-result` (the server's check frame), `isolab:state` {state},
//                      `isolab:trace`, `isolab:stats`, `isolab:namespaces` (for the kernel panel),
//                      `isolab:control` {state, by, answer(allow)} (an instructor asks to type)
//   window.isolab:     { state, session, sandbox, terminalText(), send(cmd), input(data),
//                        check(lesson, exercise), reconnect(), dropConnection(), focus() }
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
// xterm's stylesheet travels inside this bundle and is added when the terminal mounts: a
// plain CSS import would be inlined into every page of the lesson route, terminal or not.
import xtermCss from '@xterm/xterm/css/xterm.css?inline';
import {
  AckBatcher,
  SESSION_KEY,
  newSessionId,
  chunkInput,
  CLOSE,
  parseServerFrame,
  reconnectDelay,
  RECONNECT_BUDGET_MS,
  tabSessionId,
  terminalUrl,
  MAX_TERMINALS,
  type ClientFrame,
  type ConnectionState,
  type ServerFrame,
} from './protocol.ts';
import { keystrokesFor } from '../../lib/shell-commands.ts';
import { clientStrings } from '../strings.ts';
import { localizeServerMessage } from '../server-messages.ts';
import { bufferText } from './buffer-text.ts';
import { setupSplitter } from './splitter.ts';
import { setupRoom } from './room.ts';
import { isLeaveKey, setupAccess } from './access.ts';
import { followLook, terminalOptions } from './look.ts';
import { setupTabs, type TerminalTabs } from './tabs.ts';
import { SIZE_KEY, replayEarly, takeEarlySocket, type EarlySocket } from './early.ts';

export interface IsolabApi {
  readonly state: ConnectionState;
  readonly session: string;
  readonly sandbox: string;
  /** Everything in the terminal's buffer (scrollback included) as plain text. */
  terminalText(): string;
  /** Type a command followed by Enter, as the Run button does. */
  send(command: string): void;
  /** Send raw keystrokes (no Enter added). */
  input(data: string): void;
  check(lesson: string, exercise: string): void;
  reconnect(): void;
  /** Drop the socket as a network blip would (tests use it to see the reconnection). */
  dropConnection(): void;
  focus(): void;
  /** The terminal's size in character cells, as the shell sees it. */
  readonly cols: number;
  readonly rows: number;
  /** The terminal tabs: more terminals into the same sandbox (tabs.ts). */
  readonly tabs: TerminalTabs;
}

declare global {
  interface Window {
    isolab?: IsolabApi;
    /** The socket the page's inline script opened before this module ran (early.ts). */
    isolabEarly?: EarlySocket;
  }
}

/** States the page does not leave by itself: the reader decides (a button in the notice). */
const END_STATES: ReadonlySet<ConnectionState> = new Set(['exited', 'full', 'unauthorized', 'failed', 'elsewhere']);
const FULL_RETRY_MS = 60_000;
const QUEUE_RETRY_MS = 10_000;
const MAX_QUEUED = 32;

/** A check's answer names its lesson: another page's (an earlier one of this tab) is not for this one. */
function onThisPage(lesson: string | undefined): boolean {
  return !lesson || document.querySelector(`[data-lesson="${CSS.escape(lesson)}"]`) !== null;
}

export function mountTerminal(pane: HTMLElement): IsolabApi {
  const style = document.createElement('style');
  style.dataset.xterm = '';
  style.textContent = xtermCss;
  document.head.append(style);
  const s = clientStrings();
  const html = document.documentElement;
  const host = pane.querySelector<HTMLElement>('[data-testid="terminal"]')!;
  const indicator = pane.querySelector<HTMLElement>('[data-testid="connection-status"]')!;
  const indicatorLabel = indicator.querySelector<HTMLElement>('.conn-label')!;
  const sandboxLabel = pane.querySelector<HTMLElement>('[data-testid="terminal-sandbox"]')!;
  const notice = pane.querySelector<HTMLElement>('[data-testid="terminal-notice"]')!;
  const noticeText = notice.querySelector<HTMLElement>('.notice-text')!;
  const noticeAction = notice.querySelector<HTMLButtonElement>('[data-testid="terminal-action"]')!;

  const term = new Terminal(terminalOptions(html));
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new WebLinksAddon());
  term.open(host);

  // ---- sizing: fit to the pane, tell the server on every change ----
  let fitQueued = false;
  const refit = () => {
    if (fitQueued) return;
    fitQueued = true;
    requestAnimationFrame(() => {
      fitQueued = false;
      if (host.clientWidth > 0 && host.clientHeight > 0) fit.fit();
    });
  };
  new ResizeObserver(refit).observe(host);
  // The next page of this browser tab opens its socket with this size (early.ts).
  const rememberSize = () => {
    try {
      window.sessionStorage.setItem(SIZE_KEY, `${term.cols}x${term.rows}`);
    } catch {
      /* no storage: the next page asks for 80x24 and resizes on hello */
    }
  };
  // Fitted now, not in the next frame: a hello already waiting (early.ts) is answered with it.
  if (host.clientWidth > 0 && host.clientHeight > 0) fit.fit();
  rememberSize();
  term.onResize(({ cols, rows }) => {
    sendFrame({ type: 'resize', cols, rows });
    rememberSize();
  });

  followLook(term, refit, html);

  setupSplitter(pane, refit);
  setupRoom(pane, refit, () => term.focus());
  const access = setupAccess(pane, term);

  // ---- copy and paste ----
  const encoder = new TextEncoder();
  async function copySelection(): Promise<void> {
    const text = shown().getSelection();
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      /* no clipboard permission: the browser's own Copy (menu, Ctrl+Insert) still works */
    }
  }
  async function pasteClipboard(): Promise<void> {
    try {
      shown().paste(await navigator.clipboard.readText());
    } catch {
      /* no permission: Ctrl+Shift+V / the context menu paste into the terminal directly */
    }
    shown().focus();
  }
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown') return true;
    // Ctrl+Shift+L leaves the terminal (Tab stays the shell's completion).
    if (isLeaveKey(e)) {
      e.preventDefault();
      access.leave();
      return false;
    }
    // Ctrl+Shift+C copies (plain Ctrl+C must stay SIGINT). Ctrl+Shift+V is left to the
    // browser, whose paste event xterm already handles.
    if (e.ctrlKey && e.shiftKey && e.code === 'KeyC') {
      e.preventDefault();
      void copySelection();
      return false;
    }
    if (e.ctrlKey && e.shiftKey && e.code === 'KeyV') return false;
    return true;
  });
  pane.querySelector('[data-testid="terminal-copy"]')?.addEventListener('click', () => void copySelection());
  pane.querySelector('[data-testid="terminal-paste"]')?.addEventListener('click', () => void pasteClipboard());

  // ---- the connection ----
  let session = tabSessionId(window.sessionStorage);
  // The socket the page's inline script opened at the top of the page, if it is this session's.
  let early = takeEarlySocket(window, session);
  let state: ConnectionState = 'connecting';
  let sandbox = '';
  let ws: WebSocket | undefined;
  let acks: AckBatcher | undefined;
  let attempt = 0;
  let lostAt = 0;
  let everConnected = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let errorTimer: ReturnType<typeof setTimeout> | undefined;
  let lastError = '';
  let receivedBytes = false; // this page's terminal already shows output
  const queue: (string | ClientFrame)[] = []; // typed while not connected; sent after hello

  function setState(next: ConnectionState): void {
    state = next;
    indicator.dataset.state = next;
    pane.dataset.state = next;
    const labels: Record<ConnectionState, string> = {
      connecting: s.stateConnecting,
      connected: s.stateConnected,
      reconnecting: s.stateReconnecting,
      gone: s.stateGone,
      unauthorized: s.stateGone,
      exited: s.stateExited,
      full: s.stateFull,
      failed: s.stateGone,
      elsewhere: s.stateElsewhere,
    };
    indicatorLabel.textContent = labels[next];
    window.dispatchEvent(new CustomEvent('isolab:state', { detail: { state: next } }));
  }

  function showNotice(kind: 'info' | 'error' | 'end', text: string, action?: { label: string; run: () => void }): void {
    window.clearTimeout(errorTimer);
    notice.hidden = false;
    notice.dataset.kind = kind;
    // Messages mark commands with `backticks`; show those as code.
    noticeText.replaceChildren(
      ...text.split('`').map((part, i) => {
        if (i % 2 === 0) return document.createTextNode(part);
        const code = document.createElement('code');
        code.textContent = part;
        return code;
      }),
    );
    noticeAction.hidden = !action;
    noticeAction.onclick = action ? () => action.run() : null;
    if (action) noticeAction.textContent = action.label;
  }
  function hideNotice(): void {
    notice.hidden = true;
    noticeAction.onclick = null;
  }

  const tabs = setupTabs(pane, {
    first: term,
    session: () => session,
    notify: (text) => {
      showNotice('error', text);
      errorTimer = setTimeout(hideNotice, 8000);
    },
    localize: (text, said) => localizeServerMessage(text, said, s),
    leave: () => access.leave(),
    showFirst: () => {
      refit();
      term.focus();
    },
    strings: {
      tab: (n) => s.terminalTab.replace('{n}', String(n)),
      close: (n) => s.closeTerminal.replace('{n}', String(n)),
      limit: s.srvTerminalLimit.replace('{n}', String(MAX_TERMINALS)),
    },
  });
  /** The terminal on screen: the first, or a tab's. */
  const shown = () => tabs.activeTerminal() ?? term;

  function sendFrame(frame: ClientFrame): void {
    if (ws?.readyState === WebSocket.OPEN && state === 'connected') ws.send(JSON.stringify(frame));
    else if (frame.type === 'check') enqueue(frame);
  }
  function enqueue(item: string | ClientFrame): void {
    if (queue.length < MAX_QUEUED) queue.push(item);
  }
  function sendInput(data: string): void {
    if (ws?.readyState === WebSocket.OPEN && state === 'connected') {
      for (const chunk of chunkInput(data)) ws.send(encoder.encode(chunk));
    } else if (!END_STATES.has(state)) enqueue(data);
  }
  function flushQueue(): void {
    for (const item of queue.splice(0)) {
      if (typeof item === 'string') sendInput(item);
      else sendFrame(item);
    }
  }

  term.onData((data) => sendInput(data));
  term.onBinary((data) => {
    // Some mouse reports are raw bytes in a string: one char per byte.
    if (ws?.readyState === WebSocket.OPEN && state === 'connected') {
      ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
    }
  });

  function connect(): void {
    window.clearTimeout(retryTimer);
    const old = ws;
    ws = undefined;
    old?.close(1000, 'reconnecting');
    if (!everConnected) setState('connecting');
    const adopted = early;
    early = undefined;
    const sock = adopted?.sock ?? new WebSocket(terminalUrl(location, session, term.cols, term.rows));
    sock.binaryType = 'arraybuffer';
    const myAcks = new AckBatcher((bytes) => {
      if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: 'ack', bytes } satisfies ClientFrame));
    });
    ws = sock;
    acks = myAcks;

    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      if (typeof ev.data === 'string') {
        const frame = parseServerFrame(ev.data);
        if (frame) onFrame(sock, frame);
        return;
      }
      const bytes = new Uint8Array(ev.data as ArrayBuffer);
      if (state !== 'connected') onConnected(sock); // a server that skipped hello
      receivedBytes = true;
      term.write(bytes, () => myAcks.written(bytes.length));
    };
    sock.onclose = (ev) => {
      myAcks.reset();
      if (sock !== ws) return; // replaced on purpose
      ws = undefined;
      if (END_STATES.has(state)) return;
      if (ev.code === CLOSE.takenOver) {
        // Another tab (a duplicated one shares sessionStorage) has this sandbox now. Taking it
        // back by ourselves would make the two tabs steal it from each other forever.
        setState('elsewhere');
        showNotice('end', s.elsewhereMessage, { label: s.useHere, run: restart });
      } else if (ev.code === CLOSE.failed) {
        setState('failed');
        showNotice('end', lastError || s.goneMessage, { label: s.retry, run: restart });
      } else {
        void lost();
      }
    };
    // What the early socket received before this module ran, through the handlers above.
    if (adopted) replayEarly(adopted);
  }

  function onConnected(sock: WebSocket): void {
    if (sock !== ws) return;
    lastError = '';
    attempt = 0;
    lostAt = 0;
    everConnected = true;
    hideNotice();
    // The server learnt our size from the URL, but the pane may have changed since.
    sock.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows } satisfies ClientFrame));
    // A new socket starts with the panel off on the server's side.
    if (panel.on) sock.send(JSON.stringify(panel satisfies ClientFrame));
    setState('connected');
    flushQueue();
  }

  function onFrame(sock: WebSocket, frame: ServerFrame): void {
    switch (frame.type) {
      case 'hello':
        sandbox = frame.sandbox;
        sandboxLabel.textContent = frame.sandbox;
        sandboxLabel.title = frame.resumed ? `${frame.sandbox} (resumed)` : frame.sandbox;
        if (frame.session && frame.session !== session) console.warn('isolab: server answered for another session', frame.session);
        // On a resume the server replays the sandbox's recent output. A page that still shows
        // that output (a blip, not a reload) starts from a clean screen so nothing is doubled.
        if (frame.resumed && receivedBytes) term.reset();
        onConnected(sock);
        break;
      case 'exit':
        setState('exited');
        queue.length = 0;
        // The server's reason when it removed the sandbox (idle, an instructor's reset), else the exit status.
        showNotice('end', typeof frame.reason === 'string' ? localizeServerMessage(frame.reason, frame.said, s) : `${s.exitedMessage} (exit ${frame.code})`, { label: s.newShell, run: restart });
        sock.close(1000, 'shell exited');
        break;
      case 'full':
        setState('full');
        // The server may say why (this browser already has the most terminals one reader may have).
        showNotice('end', typeof frame.message === 'string' ? localizeServerMessage(frame.message, frame.said, s) : s.fullMessage, { label: s.retry, run: restart });
        // In the line for a full lab (frame.position), retrying soon keeps the place (sessions.ts).
        retryTimer = setTimeout(restart, typeof frame.position === 'number' ? QUEUE_RETRY_MS : FULL_RETRY_MS);
        sock.close(1000, 'lab full');
        break;
      case 'error':
        if (typeof frame.exercise === 'string') {
          // About a check (refused, or it could not run): the exercise's box says it, not a notice.
          if (!onThisPage(frame.lesson)) break;
          window.dispatchEvent(new CustomEvent('isolab:check-refused', { detail: { exercise: frame.exercise, message: localizeServerMessage(frame.message, frame.said, s) } }));
          break;
        }
        lastError = localizeServerMessage(frame.message, frame.said, s);
        showNotice('error', lastError);
        errorTimer = setTimeout(hideNotice, 8000);
        break;
      case 'check':
        if (!onThisPage(frame.lesson)) break;
        window.dispatchEvent(new CustomEvent('isolab:check-result', { detail: frame }));
        break;
      case 'control':
        // The class's prompt (src/scripts/class-control.ts) answers on this socket.
        window.dispatchEvent(new CustomEvent('isolab:control', { detail: { ...frame, answer(allow: boolean) {
          if (sock === ws && sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: 'control', allow } satisfies ClientFrame));
        } } }));
        break;
      case 'trace':
      case 'stats':
      case 'namespaces':
        window.dispatchEvent(new CustomEvent(`isolab:${frame.type}`, { detail: frame }));
        break;
    }
  }

  /** The socket closed without us asking: retry with backoff to the same session. */
  async function lost(): Promise<void> {
    if (!lostAt) lostAt = Date.now();
    const refused = await refusedForToken();
    if (ws || END_STATES.has(state)) return; // the reader pressed Reconnect meanwhile
    if (refused) {
      setState('unauthorized');
      showNotice('end', s.unauthorizedMessage, { label: s.retry, run: restart });
      return;
    }
    if (Date.now() - lostAt > RECONNECT_BUDGET_MS) {
      setState('gone');
      showNotice('end', s.goneMessage, { label: s.reconnect, run: restart });
      return;
    }
    setState(everConnected ? 'reconnecting' : 'connecting');
    retryTimer = setTimeout(connect, reconnectDelay(attempt++));
  }

  /** A refused upgrade looks like any other closed socket; ask for the page to tell 401 apart. */
  async function refusedForToken(): Promise<boolean> {
    try {
      const res = await fetch(location.pathname, { cache: 'no-store', credentials: 'same-origin' });
      return res.status === 401 || res.status === 403;
    } catch {
      return false; // the server is not answering at all
    }
  }

  function restart(): void {
    window.clearTimeout(retryTimer);
    attempt = 0;
    lostAt = 0;
    hideNotice();
    setState(everConnected ? 'reconnecting' : 'connecting');
    connect();
  }

  // The laptop came back online or the tab came back: try at once rather than waiting.
  const wake = () => {
    if (state === 'gone' || state === 'reconnecting') restart();
  };
  window.addEventListener('online', wake);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') wake();
  });

  // ---- the page's requests ----
  function runCommand(command: string): void {
    // Into the terminal on screen: a reader who opened a second tab to run something there.
    if (tabs.active !== 1 && tabs.run(tabs.active, command)) return;
    if (tabs.active !== 1) tabs.select(1);
    // A Run click is the reader asking for a shell: leave any stopped state (but a missing
    // token cannot be fixed by retrying).
    if (END_STATES.has(state) && state !== 'unauthorized') restart();
    else if (state === 'gone') restart();
    sendInput(keystrokesFor(command));
    term.focus();
  }
  // ---- a sandbox that is hard to lose ----
  // The sandbox's first process starts a new login shell when the reader's exits (the server's
  // SHELL_KEEPER), and says so with OSC 777: shown here as a line in the page's language.
  term.parser.registerOscHandler(777, (data) => {
    if (data !== 'isolab;shell-restarted') return false;
    term.write(`\r\n\x1b[2m── ${s.shellRestarted} ──\x1b[0m\r\n`);
    return true;
  });
  // A new sandbox only when the reader asks, after a confirmation: a new session id (the old
  // sandbox goes after the server's grace period), and a line in the terminal where it happened.
  pane.querySelector('[data-testid="terminal-reset"]')?.addEventListener('click', () => {
    if (!window.confirm(s.resetConfirm)) return;
    // The other terminals were in the old sandbox: they go with it.
    tabs.closeAll();
    session = newSessionId();
    try {
      window.sessionStorage.setItem(SESSION_KEY, session);
    } catch {
      /* this page keeps it */
    }
    receivedBytes = false; // keep the old scrollback above the line
    term.write(`\r\n\x1b[7m ── ${s.resetLine} ── \x1b[0m\r\n`);
    restart();
    term.focus();
  });
  window.addEventListener('isolab:run', (e) => runCommand((e as CustomEvent<{ command: string }>).detail.command));
  // The kernel panel (KernelPanel.astro) says when it is on screen, and which view; the
  // server samples only then.
  let panel: Extract<ClientFrame, { type: 'panel' }> = { type: 'panel', on: false };
  window.addEventListener('isolab:panel', (e) => {
    const detail = (e as CustomEvent<{ on: boolean; tab?: string }>).detail;
    const next: typeof panel = { type: 'panel', on: !!detail?.on, ...(typeof detail?.tab === 'string' ? { tab: detail.tab } : {}) };
    if (JSON.stringify(next) === JSON.stringify(panel)) return;
    const wasOn = panel.on;
    panel = next;
    if (next.on || wasOn) sendFrame(next);
  });
  window.addEventListener('isolab:check', (e) => {
    const { lesson, exercise } = (e as CustomEvent<{ lesson: string; exercise: string }>).detail;
    sendFrame({ type: 'check', lesson, exercise });
  });

  const terminalText = (): string => bufferText(term);

  const api: IsolabApi = {
    get state() {
      return state;
    },
    get session() {
      return session;
    },
    get sandbox() {
      return sandbox;
    },
    terminalText,
    send: runCommand,
    input: sendInput,
    check: (lesson, exercise) => sendFrame({ type: 'check', lesson, exercise }),
    reconnect: restart,
    dropConnection: () => ws?.close(4000, 'dropped by the page'),
    focus: () => term.focus(),
    get cols() {
      return term.cols;
    },
    get rows() {
      return term.rows;
    },
    tabs,
  };
  window.isolab = api;
  setState('connecting');
  connect();
  // For the page benchmark's split of the time to a prompt (test/bench/page.ts).
  performance.mark('isolab:terminal-mounted');
  return api;
}
