// Terminal tabs: more terminals into the SAME sandbox, for "run this in one terminal and watch
// in another". Tab 1 is the sandbox's own terminal (terminal.ts, which makes the sandbox and
// owns the reconnection, the notices and the kernel panel). Tabs 2..MAX_TERMINALS each have an
// xterm and a WebSocket of their own (`term=N`, PROTOCOL.md): the server starts a login shell
// in the same sandbox, so `ps` in one lists what another runs. Closing a tab ends its shell
// only; a reload opens the same tabs again (sessionStorage) and finds their shells.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import {
  AckBatcher,
  CLOSE,
  MAX_TERMINALS,
  chunkInput,
  parseServerFrame,
  reconnectDelay,
  RECONNECT_BUDGET_MS,
  terminalUrl,
  type ClientFrame,
} from './protocol.ts';
import { followLook, terminalOptions } from './look.ts';
import { isLeaveKey } from './access.ts';
import { keystrokesFor } from '../../lib/shell-commands.ts';
import { bufferText } from './buffer-text.ts';

const STORE_KEY = 'isolab.terminals';

export interface TabsDeps {
  /** The first terminal: its xterm (for the screen-reader option) and its host element. */
  first: Terminal;
  /** The session id now (it changes on Reset). */
  session(): string;
  /** Say something to the reader in the terminal's notice (already in the page's language). */
  notify(text: string): void;
  /** A server sentence in the page's language. */
  localize(text: string, said: unknown): string;
  /** Focus back to the page (Ctrl+Shift+L). */
  leave(): void;
  /** Tab 1 was selected: fit and focus the first terminal. */
  showFirst(): void;
  strings: { tab: (n: number) => string; close: (n: number) => string; limit: string };
}

export interface TerminalTabs {
  /** The tab on screen (1: the first terminal). */
  readonly active: number;
  /** The numbers of the open tabs, 1 first. */
  list(): number[];
  /** Open another terminal and show it; its number, or 0 at the limit (the reader is told). */
  open(): number;
  select(n: number): void;
  /** Close tab n (n >= 2): its shell ends, the sandbox stays. */
  close(n: number): void;
  /** Close every extra tab (Reset: a new sandbox). */
  closeAll(): void;
  /** The terminal on screen, when it is not the first. */
  activeTerminal(): Terminal | undefined;
  /** Type a command + Enter into tab n; false when that tab cannot take it now. */
  run(n: number, command: string): boolean;
  /** Tab n's buffer as text. */
  text(n: number): string;
  /** Tab n is connected to its shell. */
  connected(n: number): boolean;
}

interface Tab {
  n: number;
  button: HTMLButtonElement;
  host: HTMLElement;
  term: Terminal;
  fit: FitAddon;
  ws?: WebSocket;
  acks?: AckBatcher;
  connected: boolean;
  closing: boolean;
  /** Reopened from a previous page: if its shell is gone, the tab goes quietly. */
  restored: boolean;
  received: boolean;
  attempt: number;
  lostAt: number;
  lastError: string;
  timer?: ReturnType<typeof setTimeout>;
  stopLook: () => void;
  resizeObserver: ResizeObserver;
}

export function setupTabs(pane: HTMLElement, deps: TabsDeps): TerminalTabs {
  const strip = pane.querySelector<HTMLElement>('[data-testid="terminal-tabs"]')!;
  const list = strip.querySelector<HTMLElement>('[role="tablist"]')!;
  const firstButton = list.querySelector<HTMLButtonElement>('[data-term="1"]')!;
  const firstHost = pane.querySelector<HTMLElement>('[data-testid="terminal"]')!;
  const newButton = strip.querySelector<HTMLButtonElement>('[data-testid="terminal-tab-new"]')!;
  const closeButton = strip.querySelector<HTMLButtonElement>('[data-testid="terminal-tab-close"]')!;
  const tabs = new Map<number, Tab>();
  const encoder = new TextEncoder();
  let active = 1;
  let storedSession = '';

  function remember(): void {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ session: deps.session(), tabs: [...tabs.keys()] }));
    } catch {
      /* not remembered: a reload shows tab 1 only */
    }
  }

  function sendFrame(tab: Tab, frame: ClientFrame): void {
    if (tab.ws?.readyState === WebSocket.OPEN && tab.connected) tab.ws.send(JSON.stringify(frame));
  }

  function connect(tab: Tab): void {
    window.clearTimeout(tab.timer);
    const sock = new WebSocket(terminalUrl(location, deps.session(), tab.term.cols, tab.term.rows, tab.n));
    sock.binaryType = 'arraybuffer';
    const acks = new AckBatcher((bytes) => {
      if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: 'ack', bytes } satisfies ClientFrame));
    });
    tab.ws = sock;
    tab.acks = acks;
    sock.onmessage = (ev) => {
      if (sock !== tab.ws) return;
      if (typeof ev.data !== 'string') {
        const bytes = new Uint8Array(ev.data as ArrayBuffer);
        tab.received = true;
        tab.term.write(bytes, () => acks.written(bytes.length));
        return;
      }
      const frame = parseServerFrame(ev.data);
      if (!frame) return;
      if (frame.type === 'hello') {
        if (frame.resumed && tab.received) tab.term.reset();
        tab.connected = true;
        tab.restored = false;
        tab.attempt = 0;
        tab.lostAt = 0;
        tab.button.dataset.state = 'connected';
        sock.send(JSON.stringify({ type: 'resize', cols: tab.term.cols, rows: tab.term.rows } satisfies ClientFrame));
      } else if (frame.type === 'exit') {
        // Its shell ended (`exit`, or the tab was closed, or the sandbox went): the tab goes.
        remove(tab);
      } else if (frame.type === 'error') {
        tab.lastError = deps.localize(frame.message, frame.said);
      }
    };
    sock.onclose = (ev) => {
      acks.reset();
      if (sock !== tab.ws) return;
      tab.ws = undefined;
      tab.connected = false;
      if (tab.closing || !tabs.has(tab.n)) return;
      if (ev.code === CLOSE.failed || ev.code === CLOSE.takenOver || ev.code === CLOSE.goingAway || ev.code === CLOSE.normal) {
        // No shell for it (over the limit, the sandbox is not running), or another page has it.
        if (tab.lastError && !tab.restored) deps.notify(tab.lastError);
        remove(tab);
        return;
      }
      // The network dropped: back to the same shell, as the first terminal does.
      tab.button.dataset.state = 'reconnecting';
      if (!tab.lostAt) tab.lostAt = Date.now();
      if (Date.now() - tab.lostAt > RECONNECT_BUDGET_MS) {
        remove(tab);
        return;
      }
      tab.timer = setTimeout(() => connect(tab), reconnectDelay(tab.attempt++));
    };
  }

  function makeTab(n: number, restored: boolean): Tab {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'term-tab';
    button.setAttribute('role', 'tab');
    button.id = `terminal-tab-${n}`;
    button.dataset.term = String(n);
    button.dataset.testid = `terminal-tab-${n}`;
    button.setAttribute('aria-controls', `terminal-host-${n}`);
    button.setAttribute('aria-label', deps.strings.tab(n));
    button.textContent = String(n);
    button.addEventListener('click', () => select(n));
    // Tabs in number order: a reopened "2" goes before an open "3".
    const after = [...list.querySelectorAll<HTMLButtonElement>('[role="tab"]')].find((b) => Number(b.dataset.term) > n);
    list.insertBefore(button, after ?? null);

    const host = document.createElement('div');
    host.className = 'term-host';
    host.id = `terminal-host-${n}`;
    host.dataset.testid = `terminal-${n}`;
    host.setAttribute('role', 'tabpanel');
    host.setAttribute('aria-labelledby', button.id);
    host.hidden = true;
    firstHost.after(host);

    const term = new Terminal({ ...terminalOptions(), screenReaderMode: deps.first.options.screenReaderMode });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon());
    const tab: Tab = {
      n, button, host, term, fit, connected: false, closing: false, restored, received: false,
      attempt: 0, lostAt: 0, lastError: '',
      stopLook: () => {},
      resizeObserver: new ResizeObserver(() => refit(tab)),
    };
    tab.stopLook = followLook(term, () => refit(tab));
    term.onData((data) => {
      if (tab.ws?.readyState === WebSocket.OPEN && tab.connected) for (const chunk of chunkInput(data)) tab.ws.send(encoder.encode(chunk));
    });
    term.onResize(({ cols, rows }) => sendFrame(tab, { type: 'resize', cols, rows }));
    term.attachCustomKeyEventHandler((e) => {
      if (isLeaveKey(e)) {
        e.preventDefault();
        deps.leave();
        return false;
      }
      return true;
    });
    tabs.set(n, tab);
    return tab;
  }

  function refit(tab: Tab): void {
    requestAnimationFrame(() => {
      if (tab.host.clientWidth > 0 && tab.host.clientHeight > 0) tab.fit.fit();
    });
  }

  function showTabs(): void {
    const buttons = [firstButton, ...[...tabs.values()].map((t) => t.button)];
    for (const b of buttons) {
      const on = Number(b.dataset.term) === active;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    firstHost.hidden = active !== 1;
    for (const t of tabs.values()) t.host.hidden = t.n !== active;
    pane.dataset.term = String(active);
    closeButton.hidden = active === 1;
    if (active !== 1) closeButton.setAttribute('aria-label', deps.strings.close(active));
    if (active !== 1) closeButton.title = deps.strings.close(active);
  }

  function select(n: number): void {
    if (n !== 1 && !tabs.has(n)) return;
    active = n;
    showTabs();
    if (n === 1) {
      deps.showFirst();
      return;
    }
    const tab = tabs.get(n)!;
    refit(tab);
    tab.term.focus();
  }

  /** A tab's xterm opens once its host is on screen (xterm measures its cells there). */
  function mount(tab: Tab): void {
    active = tab.n;
    showTabs();
    tab.term.open(tab.host);
    tab.fit.fit();
    tab.resizeObserver.observe(tab.host);
    connect(tab);
  }

  function open(): number {
    if (tabs.size + 1 >= MAX_TERMINALS) {
      deps.notify(deps.strings.limit);
      return 0;
    }
    let n = 2;
    while (tabs.has(n)) n++;
    const tab = makeTab(n, false);
    mount(tab);
    remember();
    tab.term.focus();
    return n;
  }

  function remove(tab: Tab): void {
    if (!tabs.has(tab.n)) return;
    tabs.delete(tab.n);
    window.clearTimeout(tab.timer);
    tab.resizeObserver.disconnect();
    tab.stopLook();
    tab.button.remove();
    tab.host.remove();
    tab.term.dispose();
    remember();
    // The closed tab's neighbour on the left comes on screen, as in a terminal emulator.
    if (active === tab.n) select(Math.max(1, ...[...tabs.keys()].filter((k) => k < tab.n)));
    else showTabs();
  }

  function close(n: number): void {
    const tab = tabs.get(n);
    if (!tab) return;
    tab.closing = true;
    const sock = tab.ws;
    // Ask the server to end its shell; it answers with `exit` and closes the socket.
    if (sock?.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: 'close' } satisfies ClientFrame));
    else sock?.close();
    remove(tab);
  }

  function closeAll(): void {
    for (const n of [...tabs.keys()]) close(n);
  }

  newButton.addEventListener('click', () => open());
  closeButton.addEventListener('click', () => close(active));
  firstButton.addEventListener('click', () => select(1));
  // Arrow keys move between tabs, as in every tab list (WAI-ARIA authoring practices).
  list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const order = [1, ...[...tabs.keys()].sort((a, b) => a - b)];
    const i = order.indexOf(active);
    const next = order[(i + (e.key === 'ArrowRight' ? 1 : order.length - 1)) % order.length]!;
    select(next);
    (next === 1 ? firstButton : tabs.get(next)!.button).focus();
    e.preventDefault();
  });
  // The screen-reader toggle (access.ts) sets the first terminal's option; the tabs follow.
  pane.querySelector('[data-testid="terminal-screen-reader"]')?.addEventListener('click', () => {
    for (const t of tabs.values()) t.term.options.screenReaderMode = deps.first.options.screenReaderMode;
  });

  // The tabs of this browser tab's previous page (a reload, the next lesson), reopened once
  // the first terminal is back: their shells are kept for the server's grace period.
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORE_KEY) ?? '{}') as { session?: string; tabs?: unknown };
    if (typeof stored.session === 'string' && Array.isArray(stored.tabs)) {
      storedSession = stored.session;
      const wanted = stored.tabs.filter((n): n is number => Number.isInteger(n) && n >= 2 && n <= MAX_TERMINALS);
      let restoring = wanted.length > 0;
      window.addEventListener('isolab:state', (e) => {
        if (!restoring || (e as CustomEvent<{ state: string }>).detail.state !== 'connected') return;
        restoring = false;
        if (storedSession !== deps.session()) return;
        for (const n of wanted) {
          if (tabs.has(n)) continue;
          const tab = makeTab(n, true);
          tab.host.hidden = false;
          tab.term.open(tab.host);
          tab.fit.fit();
          tab.host.hidden = true;
          tab.resizeObserver.observe(tab.host);
          connect(tab);
        }
        showTabs();
      });
    }
  } catch {
    /* nothing to reopen */
  }
  showTabs();

  return {
    get active() {
      return active;
    },
    list: () => [1, ...[...tabs.keys()].sort((a, b) => a - b)],
    open,
    select,
    close,
    closeAll,
    activeTerminal: () => tabs.get(active)?.term,
    run(n, command) {
      const tab = tabs.get(n);
      if (!tab?.ws || tab.ws.readyState !== WebSocket.OPEN || !tab.connected) return false;
      for (const chunk of chunkInput(keystrokesFor(command))) tab.ws.send(encoder.encode(chunk));
      tab.term.focus();
      return true;
    },
    text: (n) => (n === 1 ? bufferText(deps.first) : tabs.has(n) ? bufferText(tabs.get(n)!.term) : ''),
    connected: (n) => !!tabs.get(n)?.connected,
  };
}
