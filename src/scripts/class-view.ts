// A read-only terminal (follow mode, or the instructor watching a student): xterm with its
// input off, fed by /ws/view. The server drops anything a viewer sends; this page sends nothing.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import xtermCss from '@xterm/xterm/css/xterm.css?inline';

const root = document.querySelector<HTMLElement>('[data-testid="term-view"]');
if (root) {
  const w = JSON.parse(root.dataset.words ?? '{}') as Record<string, string>;
  const student = new URLSearchParams(location.search).get('student');
  const status = root.querySelector<HTMLElement>('[data-testid="view-status"]')!;
  const host = root.querySelector<HTMLElement>('[data-testid="view-terminal"]')!;
  if (student) {
    root.querySelector('[data-testid="view-title"]')!.textContent = w.student;
    document.title = w.student;
  }
  const style = document.createElement('style');
  style.textContent = xtermCss;
  document.head.append(style);
  const term = new Terminal({ disableStdin: true, cursorBlink: false, scrollback: 5000, fontFamily: 'monospace', convertEol: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  new ResizeObserver(() => { if (host.clientWidth > 0) fit.fit(); }).observe(host);
  // What the page shows, for tests and screen readers alike: the terminal's text.
  (window as unknown as { isolabView: { text(): string } }).isolabView = {
    text() {
      const b = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
      return lines.join('\n');
    },
  };

  const connect = () => {
    const q = student ? `student=${encodeURIComponent(student)}` : 'presenter';
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/view?${q}`);
    ws.binaryType = 'arraybuffer';
    let waiting = false;
    ws.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) { term.write(new Uint8Array(e.data)); return; }
      const m = JSON.parse(e.data as string) as { type: string };
      if (m.type === 'hello') { term.reset(); status.textContent = w.live; }
      else if (m.type === 'error') { waiting = true; status.textContent = student ? w.waitingStudent : w.waitingPresenter; }
      else if (m.type === 'exit') { waiting = true; status.textContent = w.ended; }
    };
    ws.onclose = () => {
      if (!waiting) status.textContent = w.dropped;
      setTimeout(connect, 2000);
    };
  };
  connect();
}
