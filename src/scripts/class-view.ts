// A terminal view (follow mode, or the instructor watching a student): xterm fed by /ws/view.
// Following the presenter, input is off. Watching a student (the server's hello says mayAsk),
// the instructor may ask to type: keys go to the server, which passes them on only once the
// student allowed it (src/server/viewer.ts) and otherwise answers with an error shown here.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import xtermCss from '@xterm/xterm/css/xterm.css?inline';

const root = document.querySelector<HTMLElement>('[data-testid="term-view"]');
if (root) {
  const w = JSON.parse(root.dataset.words ?? '{}') as Record<string, string>;
  const student = new URLSearchParams(location.search).get('student');
  const status = root.querySelector<HTMLElement>('[data-testid="view-status"]')!;
  const host = root.querySelector<HTMLElement>('[data-testid="view-terminal"]')!;
  const control = root.querySelector<HTMLElement>('[data-testid="view-control"]')!;
  const ask = root.querySelector<HTMLButtonElement>('[data-testid="view-ask"]')!;
  const release = root.querySelector<HTMLButtonElement>('[data-testid="view-release"]')!;
  const mode = root.querySelector<HTMLElement>('[data-testid="view-mode"]')!;
  const controlStatus = root.querySelector<HTMLElement>('[data-testid="view-control-status"]')!;
  if (student) {
    root.querySelector('[data-testid="view-title"]')!.textContent = w.student;
    document.title = w.student;
  }
  const style = document.createElement('style');
  style.textContent = xtermCss;
  document.head.append(style);
  const term = new Terminal({ disableStdin: !student, cursorBlink: false, scrollback: 5000, fontFamily: 'monospace', convertEol: false });
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

  let ws: WebSocket | undefined;
  const encoder = new TextEncoder();
  const showControl = (state: string) => {
    control.dataset.state = state;
    release.hidden = state === 'none';
    ask.hidden = state !== 'none';
    controlStatus.textContent = state === 'asked' ? w.asked : state === 'allowed' ? w.allowed : w.notAllowed;
  };
  // Keys always go to the server when watching a student: it alone decides (refused until allowed).
  term.onData((data) => { if (student && ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
  ask.addEventListener('click', () => ws?.send(JSON.stringify({ type: 'ask' })));
  release.addEventListener('click', () => ws?.send(JSON.stringify({ type: 'release' })));

  const connect = () => {
    const q = student ? `student=${encodeURIComponent(student)}` : 'presenter';
    const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/view?${q}`);
    ws = sock;
    sock.binaryType = 'arraybuffer';
    let waiting = false;
    sock.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) { term.write(new Uint8Array(e.data)); return; }
      const m = JSON.parse(e.data as string) as { type: string; state?: string; message?: string; mayAsk?: boolean };
      if (m.type === 'hello') {
        term.reset();
        status.textContent = w.live;
        control.hidden = !m.mayAsk;
        mode.hidden = !!m.mayAsk; // "read-only" is said by the control's status instead
        showControl('none');
      } else if (m.type === 'control') showControl(m.state ?? 'none');
      else if (m.type === 'error') {
        if (!control.hidden && sock.readyState === WebSocket.OPEN) {
          controlStatus.textContent = /not allowed you to type/.test(m.message ?? '') ? w.notAllowed : m.message ?? '';
          return;
        }
        waiting = true;
        status.textContent = student ? w.waitingStudent : w.waitingPresenter;
      } else if (m.type === 'exit') { waiting = true; status.textContent = w.ended; }
    };
    sock.onclose = () => {
      control.hidden = true;
      if (!waiting) status.textContent = w.dropped;
      setTimeout(connect, 2000);
    };
  };
  connect();
}
