// The kernel panel island (KernelPanel.astro): three views of what the kernel does for the
// reader's commands, fed by frames the server sends over the terminal's WebSocket (the
// Terminal island re-dispatches them as window events):
//   `isolab:trace`      {reset, events}       system calls and kernel file writes of box commands
//   `isolab:stats`      {t, version, groups}  cgroup counters, four times a second
//   `isolab:namespaces` {processes, groups…}  who shares which namespace, when it changes
// and it tells the terminal when it is on screen (`isolab:panel` {on}), so the server samples
// only while someone is looking.
import {
  areaPath, bytes, CGROUP_FILE_HELP, commandLine, CommandLog, linePath, NS_HELP, round, scaleTop,
  SeriesSet, shortIds, shortInode, splitPath, SYSCALL_HELP, valueNote, WINDOW_MS,
  type Command, type GroupFrame, type Series, type TraceEvent,
} from './panel-format.ts';
import { panelStrings } from './panel-strings.ts';

type Tab = 'trace' | 'resources' | 'namespaces';
const TABS: Tab[] = ['trace', 'resources', 'namespaces'];
const KEY = { hidden: 'isolab.panel', tab: 'isolab.panelTab', size: 'isolab.panelSize' };
const COLORS = 7;
const SVG = 'http://www.w3.org/2000/svg';

interface NsProcess { pid: number; innerPid: number; ppid: number; comm: string; ns: Record<string, number> }
interface NsFrame {
  processes?: NsProcess[];
  sandbox?: Record<string, number>;
  groups?: Record<string, { inode: number; pids: number[] }[]>;
  more?: number;
  /** The server read only this many entries of a big cgroup tree: some processes are not shown. */
  capped?: number;
  unavailable?: string;
}

function store(key: string, value?: string): string | null {
  try {
    if (value !== undefined) localStorage.setItem(key, value);
    return localStorage.getItem(key);
  } catch {
    return null; // storage refused (private mode): the panel still works, unremembered
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function mountKernelPanel(root: HTMLElement): void {
  const s = panelStrings(document.documentElement.lang);
  const q = <T extends Element>(sel: string) => root.querySelector<T>(sel)!;
  const toggle = q<HTMLButtonElement>('[data-testid="panel-toggle"]');
  const tabButtons = [...root.querySelectorAll<HTMLButtonElement>('.kp-tab')];
  const views = Object.fromEntries(TABS.map((t) => [t, q<HTMLElement>(`#kp-${t}`)])) as Record<Tab, HTMLElement>;

  // ---- shown or hidden, which tab ----
  let hidden = root.dataset.hidden === 'true';
  let tab: Tab = TABS.includes(store(KEY.tab) as Tab) ? (store(KEY.tab) as Tab) : 'trace';

  const on = () => !hidden && document.visibilityState === 'visible';
  let announced = '';
  /** Tell the terminal (and through it the server) whether the panel is on screen, and which view. */
  function announce(force = false): void {
    const detail = { on: on(), tab };
    const key = JSON.stringify(detail);
    if (key === announced && !force) return;
    announced = key;
    window.dispatchEvent(new CustomEvent('isolab:panel', { detail }));
  }

  function setHidden(next: boolean): void {
    hidden = next;
    root.dataset.hidden = String(next);
    toggle.setAttribute('aria-expanded', String(!next));
    const label = next ? toggle.dataset.show! : toggle.dataset.hide!;
    toggle.title = label;
    toggle.querySelector('.sr-only')!.textContent = label;
    store(KEY.hidden, next ? 'hidden' : 'shown');
    announce();
    if (!next) renderTab();
  }

  /** Show view `next`; a reader who picks a tab of a hidden panel wants to see it (`reveal`). */
  function selectTab(next: Tab, focus = false, reveal = true): void {
    tab = next;
    root.dataset.tab = next;
    store(KEY.tab, next);
    for (const b of tabButtons) {
      const selected = b.dataset.tab === next;
      b.setAttribute('aria-selected', String(selected));
      b.tabIndex = selected ? 0 : -1;
      if (selected) {
        b.querySelector('.badge')?.remove();
        if (focus) b.focus();
      }
    }
    for (const t of TABS) views[t].hidden = t !== next;
    announce();
    if (hidden && reveal) setHidden(false);
    else renderTab();
  }

  toggle.addEventListener('click', () => setHidden(!hidden));
  // A lesson's "watch the plot" button (components/PanelLink.astro) opens a view.
  window.addEventListener('isolab:open-panel', (e) => {
    const want = (e as CustomEvent<{ tab?: string }>).detail?.tab as Tab;
    if (TABS.includes(want)) selectTab(want);
    root.scrollIntoView({ block: 'nearest' });
  });
  for (const b of tabButtons) {
    b.addEventListener('click', () => selectTab(b.dataset.tab as Tab));
    b.addEventListener('keydown', (e) => {
      const i = TABS.indexOf(tab);
      if (e.key === 'ArrowRight') selectTab(TABS[(i + 1) % TABS.length]!, true);
      else if (e.key === 'ArrowLeft') selectTab(TABS[(i + TABS.length - 1) % TABS.length]!, true);
      else return;
      e.preventDefault();
    });
  }
  document.addEventListener('visibilitychange', () => announce());
  window.addEventListener('isolab:state', (e) => {
    const state = (e as CustomEvent<{ state: string }>).detail?.state;
    root.dataset.offline = String(state !== 'connected');
    // A new connection starts with the panel off on the server's side: say it again.
    if (state === 'connected') announce(true);
  });

  function badge(t: Tab): void {
    if (t === tab && !hidden) return;
    const b = tabButtons.find((x) => x.dataset.tab === t);
    if (b && !b.querySelector('.badge')) b.append(el('span', 'badge'));
  }

  setupResizer(root);

  // ---- System calls ----
  const traceView = views.trace;
  const select = q<HTMLSelectElement>('[data-testid="trace-command"]');
  const list = q<HTMLOListElement>('[data-testid="trace-events"]');
  const traceEmpty = q<HTMLElement>('[data-testid="trace-empty"]');
  const filterButtons = [...root.querySelectorAll<HTMLButtonElement>('.kp-filter')];
  const commands = new CommandLog();
  const shownKinds = new Set(['command', 'syscall', 'write', 'note']);
  let selected: string | null = null;
  let follow = true;
  let rendered = 0; // events of the selected command already in the list

  function eventRow(e: TraceEvent, fresh: boolean): HTMLLIElement {
    const li = el('li', `kp-ev${fresh ? ' fresh' : ''}`);
    li.dataset.kind = e.kind;
    li.dataset.who = e.who;
    if (e.kind === 'command') {
      li.textContent = `$ ${commandLine(e.argv)}`;
      return li;
    }
    const who = el('span', 'who', e.who);
    who.title = e.who === 'init' ? s.traceInitTitle : e.who === 'box' ? s.traceBoxTitle : '';
    const line = el('span', 'line');
    if (e.kind === 'syscall') {
      const call = el('span', 'call', e.call);
      if (SYSCALL_HELP[e.call]) call.title = SYSCALL_HELP[e.call]!;
      const failed = e.result < 0 || !!e.errno;
      if (e.errno) li.dataset.errno = e.errno;
      const args = el('span', 'args', shortIds(e.args));
      if (args.textContent !== e.args) args.title = e.args;
      line.append(call, '(', args, ') = ', el('span', failed ? 'err' : 'ok', `${e.result}${e.errno ? ` ${e.errno}` : ''}`));
    } else if (e.kind === 'write') {
      const { dir, file } = splitPath(e.path);
      const f = el('span', 'file', file);
      f.title = CGROUP_FILE_HELP[file] ?? '';
      const d = el('span', 'dir', shortIds(dir));
      d.title = e.path;
      line.append(d, f, el('span', 'arrow', '←'), el('span', 'val', JSON.stringify(e.value)));
      const note = valueNote(file, e.value);
      if (note) line.append(' ', el('span', 'note', `= ${note}`));
      if (e.errno) {
        li.dataset.errno = e.errno;
        line.append(' ', el('span', 'err', e.errno));
      }
    } else {
      line.textContent = `# ${shortIds(e.text)}`;
      line.title = e.text;
    }
    li.append(who, line, el('span', 'ms', `${e.t.toFixed(1)} ms`));
    return li;
  }

  function updateFilterCounts(cmd: Command | undefined): void {
    for (const b of filterButtons) {
      const n = cmd ? cmd.events.filter((e) => e.kind === b.dataset.kind).length : 0;
      b.querySelector('.n')!.textContent = String(n);
    }
  }

  function renderCommand(scrollTop: boolean): void {
    const cmd = selected ? commands.get(selected) : undefined;
    traceEmpty.hidden = !!cmd;
    list.replaceChildren(...(cmd?.events ?? []).filter((e) => shownKinds.has(e.kind)).map((e) => eventRow(e, false)));
    if (cmd && cmd.kernelEvents === 0) list.append(el('li', 'kp-dropped', s.traceNoCalls));
    rendered = cmd?.events.length ?? 0;
    list.dataset.command = cmd ? commandLine(cmd.argv) : '';
    updateFilterCounts(cmd);
    if (scrollTop) traceView.scrollTop = 0;
  }

  function updateSelect(): void {
    const all = commands.list();
    select.hidden = all.length === 0;
    select.replaceChildren(...all.map((c, i) => {
      const o = el('option', undefined, `${i === 0 ? `(${s.traceNewest}) ` : ''}$ ${commandLine(c.argv)}`);
      o.value = c.inv;
      o.selected = c.inv === selected;
      return o;
    }));
  }

  select.addEventListener('change', () => {
    selected = select.value;
    follow = commands.list()[0]?.inv === selected;
    renderCommand(true);
  });
  for (const b of filterButtons) {
    b.addEventListener('click', () => {
      const kind = b.dataset.kind!;
      const pressed = b.getAttribute('aria-pressed') !== 'true';
      b.setAttribute('aria-pressed', String(pressed));
      if (pressed) shownKinds.add(kind);
      else shownKinds.delete(kind);
      renderCommand(false);
    });
  }

  window.addEventListener('isolab:trace', (ev) => {
    const frame = (ev as CustomEvent<{ reset?: boolean; events?: unknown[] }>).detail ?? {};
    if (frame.reset) {
      commands.clear();
      selected = null;
      follow = true;
    }
    const before = commands.list().length;
    const changed = commands.add(Array.isArray(frame.events) ? frame.events : []);
    if (commands.list().length !== before || frame.reset) updateSelect();
    const latest = commands.latest();
    if (follow && latest && latest.inv !== selected) {
      selected = latest.inv;
      updateSelect();
      renderCommand(true);
      if (!frame.reset) badge('trace');
      return;
    }
    const cmd = selected ? commands.get(selected) : undefined;
    if (cmd && changed.has(cmd)) {
      // Append what is new for the command on screen; keep the reader's scroll position.
      const fresh = cmd.events.slice(rendered).filter((e) => shownKinds.has(e.kind));
      list.querySelector('.kp-dropped')?.remove();
      list.append(...fresh.map((e) => eventRow(e, true)));
      rendered = cmd.events.length;
      updateFilterCounts(cmd);
    } else if (frame.reset) {
      renderCommand(true);
    }
  });

  // ---- Resources ----
  const groupsBox = q<HTMLElement>('[data-testid="stats-groups"]');
  const statsEmpty = q<HTMLElement>('[data-testid="stats-empty"]');
  const statsSource = q<HTMLElement>('[data-testid="stats-source"]');
  const series = new SeriesSet();
  const cards = new Map<string, GroupCard>();
  let statsQueued = false;

  window.addEventListener('isolab:stats', (ev) => {
    const f = (ev as CustomEvent<{ t?: number; version?: number; groups?: GroupFrame[]; capped?: number; unavailable?: string }>).detail ?? {};
    if (typeof f.unavailable === 'string') {
      statsEmpty.hidden = false;
      statsEmpty.textContent = `${s.unavailable} ${f.unavailable}`;
      return;
    }
    if (typeof f.t !== 'number' || !Array.isArray(f.groups)) return;
    series.add(f.t, f.groups);
    statsSource.textContent = (f.version === 2 ? s.resCgroupV2 : f.version === 1 ? s.resCgroupV1 : '')
      + (typeof f.capped === 'number' ? ` · ${s.treeCapped.replace('{n}', String(f.capped))}` : '');
    if (tab === 'resources' && !hidden && !statsQueued) {
      statsQueued = true;
      requestAnimationFrame(() => {
        statsQueued = false;
        renderStats();
      });
    }
  });

  function renderStats(): void {
    const all = displayOrder(series.list());
    if (all.length > 0) statsEmpty.hidden = true;
    const live = new Set(all.map((x) => x.id));
    for (const [id, card] of cards) {
      if (!live.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    for (const x of all) {
      let card = cards.get(x.id);
      if (!card) {
        card = groupCard(x, s);
        cards.set(x.id, card);
      }
      if (groupsBox.children[all.indexOf(x)] !== card.root) groupsBox.insertBefore(card.root, groupsBox.children[all.indexOf(x)] ?? null);
      card.update(x, series.now);
    }
  }

  // ---- Namespaces ----
  const nsBox = q<HTMLElement>('[data-testid="ns-rows"]');
  const nsEmpty = q<HTMLElement>('[data-testid="ns-empty"]');
  let nsFrame: NsFrame | null = null;
  let nsDirty = false;
  let nsSeen = new Set<string>();
  const nsColors = new Map<number, number>();

  window.addEventListener('isolab:namespaces', (ev) => {
    const f = (ev as CustomEvent<NsFrame>).detail ?? {};
    if (typeof f.unavailable === 'string') {
      nsEmpty.hidden = false;
      nsEmpty.textContent = `${s.unavailable} ${f.unavailable}`;
      return;
    }
    if (!f.groups || !Array.isArray(f.processes)) return;
    const before = nsFrame ? countNamespaces(nsFrame) : null;
    nsFrame = f;
    nsDirty = true;
    if (before !== null && countNamespaces(f) > before) badge('namespaces');
    if (tab === 'namespaces' && !hidden) renderNamespaces();
  });

  function countNamespaces(f: NsFrame): number {
    return Object.values(f.groups ?? {}).reduce((n, g) => n + g.length, 0);
  }

  /**
   * The process a namespace box belongs to, for its colour: the PID 1 of a container in it
   * (its innermost pid is 1), else its first process. A container's boxes share a colour.
   */
  function containerOf(pids: number[], byPid: Map<number, NsProcess>): number {
    return pids.find((pid) => pid !== 1 && byPid.get(pid)?.innerPid === 1) ?? Math.min(...pids);
  }

  /** A colour per container, in the order they appear. */
  function colourOf(firstPid: number): number {
    if (!nsColors.has(firstPid)) nsColors.set(firstPid, 1 + (nsColors.size % (COLORS - 1)));
    return nsColors.get(firstPid)!;
  }

  function renderNamespaces(): void {
    nsDirty = false;
    const f = nsFrame;
    if (!f?.groups || !f.processes) return;
    nsEmpty.hidden = true;
    const byPid = new Map(f.processes.map((p) => [p.pid, p]));
    const seen = new Set<string>();
    const rows: HTMLElement[] = [];
    for (const [type, boxes] of Object.entries(f.groups)) {
      if (!Array.isArray(boxes) || boxes.length === 0) continue;
      const head = el('div', 'kp-ns-type', type);
      head.title = NS_HELP[type] ?? '';
      head.append(el('small', undefined, String(boxes.length)));
      const cell = el('div', 'kp-ns-boxes');
      cell.dataset.testid = 'ns-row';
      cell.dataset.type = type;
      for (const b of boxes) {
        const baseline = f.sandbox?.[type] === b.inode;
        const key = `${type}:${b.inode}`;
        seen.add(key);
        const box = el('div', `kp-ns-box${nsSeen.size > 0 && !nsSeen.has(key) ? ' appeared' : ''}`);
        box.dataset.testid = 'ns-box';
        box.dataset.type = type;
        box.dataset.inode = String(b.inode);
        box.dataset.baseline = String(baseline);
        if (!baseline && b.pids.length) box.style.setProperty('--kp-color', `var(--kp-c${colourOf(containerOf(b.pids, byPid))})`);
        const id = el('div', 'kp-ns-id');
        const ino = el('span', undefined, `${type}:[${shortInode(b.inode)}]`);
        ino.title = `${type}:[${b.inode}]`;
        id.append(ino, el('span', 'kp-ns-tag', baseline ? s.nsSandbox : s.nsNew));
        const procs = el('ul', 'kp-ns-procs');
        for (const pid of b.pids) {
          const p = byPid.get(pid);
          const li = el('li');
          li.dataset.testid = 'ns-proc';
          li.dataset.pid = String(pid);
          li.dataset.comm = p?.comm ?? '';
          li.append(el('span', 'pid', String(pid)), ' ', p?.comm ?? '?');
          if (type === 'pid' && p && p.innerPid !== p.pid) {
            const inner = el('span', 'inner', ` (${p.innerPid})`);
            inner.title = `${s.nsPidInside}: ${p.innerPid}`;
            li.append(inner);
          }
          procs.append(li);
        }
        if (b.pids.length === 0) procs.append(el('li', 'empty', '—'));
        box.append(id, procs);
        cell.append(box);
      }
      rows.push(head, cell);
    }
    if (f.more) rows.push(el('div'), el('div', 'kp-source', `${f.more} ${s.nsMore}`));
    if (typeof f.capped === 'number') rows.push(el('div'), el('div', 'kp-source', s.treeCapped.replace('{n}', String(f.capped))));
    nsBox.replaceChildren(...rows);
    nsSeen = seen;
  }

  function renderTab(): void {
    if (hidden) return;
    if (tab === 'resources') renderStats();
    if (tab === 'namespaces' && nsDirty) renderNamespaces();
  }

  selectTab(tab, false, false);
  setHidden(hidden);
  // The terminal may have connected before this panel was mounted (KernelPanel.astro).
  root.dataset.offline = String((window as { isolab?: { state: string } }).isolab?.state !== 'connected');
  announce(true);
}

/**
 * The cards as a reader wants them: running containers, newest first (the one just started is
 * at the top, not below the fold), then the sandbox itself, then the ended ones, newest first.
 */
export function displayOrder(all: Series[]): Series[] {
  const rank = (x: Series) => (x.ended ? 2 : x.id === '' ? 1 : 0);
  return [...all].sort((a, b) => rank(a) - rank(b) || b.order - a.order);
}

/** How long an ended card stays open (its last seconds on the plot: a hog at its limit). */
const OPEN_AFTER_END_MS = 8_000;
/** Throttling counts as "now" when the count rose within this window. */
const RECENT_THROTTLE_MS = 5_000;

// ---- one cgroup's card: name, numbers, a memory plot and a CPU plot ----

interface GroupCard {
  root: HTMLElement;
  update(x: Series, now: number): void;
}

interface Plot {
  fig: HTMLElement;
  value: HTMLElement;
  limit: HTMLElement;
  extra: HTMLElement;
  area: SVGPathElement;
  line: SVGPathElement;
  limitLine: SVGLineElement;
  limitLabel: HTMLElement;
  topLabel: HTMLElement;
}

const W = 600;
const H = 100;

function plot(metric: string, label: string): Plot {
  const fig = el('figure', 'kp-chart');
  fig.dataset.metric = metric;
  const cap = el('figcaption');
  const value = el('span', 'v');
  const limit = el('span', 'lim');
  const extra = el('span', 'extra');
  // Spaces between the pieces too: the caption is read as a sentence by a screen reader.
  cap.append(el('span', undefined, label), ' ', value, ' ', limit, ' ', extra);
  const box = el('div', 'kp-plot');
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  const area = document.createElementNS(SVG, 'path');
  area.setAttribute('class', 'area');
  const line = document.createElementNS(SVG, 'path');
  line.setAttribute('class', 'line');
  const limitLine = document.createElementNS(SVG, 'line');
  limitLine.setAttribute('class', 'limit');
  limitLine.setAttribute('x1', '0');
  limitLine.setAttribute('x2', String(W));
  svg.append(area, line, limitLine);
  const limitLabel = el('span', 'limit-label');
  const topLabel = el('span', 'top-label');
  box.append(svg, limitLabel, topLabel);
  fig.append(cap, box);
  return { fig, value, limit, extra, area, line, limitLine, limitLabel, topLabel };
}

function draw(p: Plot, points: { t: number; v: number | null }[], now: number, limit: number | null, floor: number, fmt: (v: number) => string, limitWord: string): void {
  const values = points.map((x) => x.v).filter((v): v is number => v !== null);
  const top = scaleTop(values, limit, floor);
  const t0 = now - WINDOW_MS;
  p.line.setAttribute('d', linePath(points, t0, now, top, W, H));
  p.area.setAttribute('d', areaPath(points, t0, now, top, W, H));
  const hasLimit = limit !== null && limit <= top;
  p.limitLine.style.display = hasLimit ? '' : 'none';
  p.limitLabel.hidden = !hasLimit;
  if (hasLimit) {
    const y = H - (limit! / top) * H;
    p.limitLine.setAttribute('y1', y.toFixed(1));
    p.limitLine.setAttribute('y2', y.toFixed(1));
    p.limitLabel.style.top = `${(y / H) * 100}%`;
    // Above the line, unless that would leave the plot: then just below it.
    p.limitLabel.dataset.below = String(y / H < 0.22);
    p.limitLabel.textContent = `${limitWord} ${fmt(limit!)}`;
  }
  p.topLabel.textContent = hasLimit ? '' : fmt(top);
}

function groupCard(x: Series, s: ReturnType<typeof panelStrings>): GroupCard {
  const root = el('article', 'kp-group');
  root.dataset.testid = 'stats-group';
  root.dataset.group = x.id;
  root.style.setProperty('--kp-color', `var(--kp-c${x.id === '' ? 0 : 1 + (x.order % (COLORS - 1))})`);
  const head = el('header', 'kp-group-head');
  const name = el('span', 'kp-group-name', x.id === '' ? s.resSandbox : x.id.split('/').pop()!);
  name.title = x.id === '' ? '' : x.id;
  const cmd = el('span', 'kp-group-cmd');
  const state = el('span', 'kp-group-state');
  const pids = el('span', 'kp-group-pids');
  // An ended card folds to its header line after a few seconds; this opens it again.
  const fold = el('button', 'kp-group-fold') as HTMLButtonElement;
  fold.type = 'button';
  fold.dataset.testid = 'stats-fold';
  fold.hidden = true;
  let unfolded = false;
  fold.addEventListener('click', () => {
    unfolded = root.dataset.folded === 'true';
    root.dataset.folded = String(!unfolded);
    fold.setAttribute('aria-expanded', String(unfolded));
    fold.textContent = unfolded ? s.resFold : s.resUnfold;
  });
  head.append(name, cmd, state, pids, fold);
  const charts = el('div', 'kp-charts');
  const mem = plot('memory', s.resMemory);
  const cpu = plot('cpu', s.resCpu);
  charts.append(mem.fig, cpu.fig);
  root.append(head, charts);

  return {
    root,
    update(x, now) {
      const last = x.samples[x.samples.length - 1];
      cmd.textContent = x.cmd;
      cmd.title = x.cmd;
      pids.textContent = x.pids !== null && !x.ended ? `${s.resProcesses} ${x.pids}${x.pidsMax !== null ? ` / ${x.pidsMax}` : ''}` : '';
      root.dataset.ended = String(x.ended);
      root.dataset.mem = String(last?.mem ?? '');
      root.dataset.memHigh = String(x.memHigh);
      root.dataset.memMax = String(x.memMax ?? '');
      // The rate over one 250 ms sample jumps with the quota's 100 ms periods: show the last second's.
      const recent = x.samples.slice(-4).map((p) => p.cpu).filter((v): v is number => v !== null);
      const cpuNow = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : null;
      const cpuHigh = Math.max(0, ...x.samples.map((p) => p.cpu ?? 0));
      root.dataset.cpu = cpuNow === null ? '' : cpuNow.toFixed(3);
      root.dataset.cpuHigh = cpuHigh.toFixed(3);
      root.dataset.cpuMax = String(x.cpuMax ?? '');
      root.dataset.throttled = String(x.throttled ?? '');
      // Throttled now: the count rose within the last few seconds (a count of 1 from a burst at
      // start-up is history, not news).
      const since = x.samples.find((p) => p.t >= now - RECENT_THROTTLE_MS && p.throttled !== null);
      const recentThrottles = since && x.throttled !== null ? x.throttled - since.throttled! : 0;
      root.dataset.throttledRecent = String(recentThrottles);
      const folded = x.ended && now - x.lastSeen > OPEN_AFTER_END_MS && !unfolded;
      root.dataset.folded = String(folded);
      fold.hidden = !x.ended;
      fold.setAttribute('aria-expanded', String(!folded));
      fold.textContent = folded ? s.resUnfold : s.resFold;
      if (x.ended) {
        const lastMem = [...x.samples].reverse().find((p) => p.mem !== null)?.mem ?? null;
        const nearLimit = x.memMax !== null && lastMem !== null && lastMem >= x.memMax * 0.9;
        state.dataset.kind = (x.oom ?? 0) > 0 || nearLimit ? 'oom' : '';
        state.textContent = (x.oom ?? 0) > 0 ? s.resEndedOom : nearLimit ? s.resEndedNearLimit : s.resEnded;
      } else {
        state.textContent = (x.oom ?? 0) > 0 ? `OOM kills: ${x.oom}` : '';
        state.dataset.kind = (x.oom ?? 0) > 0 ? 'oom' : '';
      }

      // The plots run on to "now" even after the cgroup is gone, so its end is visible.
      const memPoints = x.samples.map((p) => ({ t: p.t, v: p.mem }));
      const cpuPoints = x.samples.map((p) => ({ t: p.t, v: p.cpu }));
      draw(mem, memPoints, now, x.memMax, 1024 * 1024, bytes, s.resLimit);
      draw(cpu, cpuPoints, now, x.cpuMax, 0.25, (v) => `${round(v)} CPU`, s.resLimit);
      // "using 12 MiB of a 64 MiB limit", "using 0.5 CPU, no limit": words, not a fraction.
      const noLimit = `, ${s.resNoLimit}`;
      mem.value.textContent = x.ended ? '–' : s.resUsing(bytes(last?.mem)) + (x.memMax === null ? noLimit : '');
      mem.limit.textContent = x.memMax !== null ? s.resOfLimit(bytes(x.memMax)) : x.ended ? s.resNoLimit : '';
      mem.extra.textContent = x.memPeak !== null ? `${s.resPeak} ${bytes(x.memPeak)}` : '';
      cpu.value.textContent = x.ended || cpuNow === null ? '–' : s.resUsing(`${round(cpuNow)} CPU`) + (x.cpuMax === null ? noLimit : '');
      cpu.limit.textContent = x.cpuMax !== null ? s.resOfLimit(`${round(x.cpuMax)} CPU`) : x.ended || cpuNow === null ? s.resNoLimit : '';
      cpu.extra.textContent = recentThrottles > 0 && !x.ended ? s.resThrottledNow(recentThrottles) : '';
      cpu.extra.dataset.hot = String(recentThrottles > 0 && !x.ended);
    },
  };
}

/** Drag the top edge (or use the arrow keys on it) to give the panel more or less of the pane. */
function setupResizer(root: HTMLElement): void {
  const handle = root.querySelector<HTMLElement>('.kp-resizer');
  const frame = root.parentElement;
  if (!handle || !frame) return;
  const clamp = (f: number) => Math.min(0.85, Math.max(0.15, f));
  const apply = (f: number) => {
    root.style.setProperty('--kp-size', `${(clamp(f) * 100).toFixed(1)}%`);
    handle.setAttribute('aria-valuenow', String(Math.round(clamp(f) * 100)));
    store(KEY.size, clamp(f).toFixed(3));
  };
  const current = () => root.getBoundingClientRect().height / frame.getBoundingClientRect().height;
  handle.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    handle.setPointerCapture(e.pointerId);
    document.body.classList.add('kp-resizing');
    const box = frame.getBoundingClientRect();
    const move = (m: PointerEvent) => apply((box.bottom - m.clientY) / box.height);
    const up = () => {
      document.body.classList.remove('kp-resizing');
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
      handle.removeEventListener('pointercancel', up);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
    handle.addEventListener('pointercancel', up);
  });
  handle.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    e.preventDefault();
    apply(current() + (e.key === 'ArrowUp' ? 0.05 : -0.05));
  });
}
