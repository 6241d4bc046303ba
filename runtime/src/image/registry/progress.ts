// Progress of a push or pull, one line per layer, as Docker prints it:
//
//   3f57d9401f8d: Downloading [==============>                                    ]  1.2MB/4.1MB
//
// On a terminal each layer's line is redrawn in place (cursor up, clear line, write, cursor
// back down: ANSI escapes CUU, EL, CUD). Into a file or a pipe a redrawn bar would be noise,
// so there each layer's status is written once each time it changes, without the bar.

/** What push and pull tell as they go. */
export interface ProgressSink {
  /** A line for the layer `id`: `Downloading` with bytes so far and in all, or `Pull complete`. */
  layer(id: string, status: string, bytes?: { done: number; total: number }): void;
  /** A line of its own: "Digest: sha256:...". */
  line(text: string): void;
}

const BAR_WIDTH = 50;
/** Redraw a layer's bar at most this often: a fast loopback transfer would otherwise flood the terminal. */
const REDRAW_MS = 100;

/** `[=======>          ]`: done out of total, as Docker draws it. */
export function bar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(BAR_WIDTH, Math.floor((done / total) * BAR_WIDTH)) : 0;
  const head = filled < BAR_WIDTH ? '>' : '';
  return `[${'='.repeat(Math.max(0, filled - (head ? 1 : 0)))}${head}${' '.repeat(BAR_WIDTH - Math.max(filled, head ? 1 : 0))}]`;
}

export class Progress implements ProgressSink {
  private readonly write: (text: string) => void;
  private readonly tty: boolean;
  private readonly size: (bytes: number) => string;
  /** Layer ids in the order their lines appeared (on a terminal: their rows). */
  private readonly rows: string[] = [];
  private readonly shown = new Map<string, { status: string; at: number }>();

  constructor(opts: { write: (text: string) => void; tty: boolean; size: (bytes: number) => string }) {
    this.write = opts.write;
    this.tty = opts.tty;
    this.size = opts.size;
  }

  layer(id: string, status: string, bytes?: { done: number; total: number }): void {
    const before = this.shown.get(id);
    const now = Date.now();
    if (!this.tty) {
      if (before?.status !== status) this.write(`${id}: ${status}\n`);
      this.shown.set(id, { status, at: now });
      return;
    }
    const partial = bytes && bytes.done < bytes.total;
    if (before?.status === status && partial && now - before.at < REDRAW_MS) return;
    this.shown.set(id, { status, at: now });
    const text = bytes ? `${id}: ${status} ${bar(bytes.done, bytes.total)}  ${this.size(bytes.done)}/${this.size(bytes.total)}` : `${id}: ${status}`;
    const row = this.rows.indexOf(id);
    if (row < 0) {
      this.rows.push(id);
      this.write(`${text}\n`);
      return;
    }
    const up = this.rows.length - row;
    this.write(`\x1b[${up}A\r\x1b[2K${text}\n${up > 1 ? `\x1b[${up - 1}B` : ''}`);
  }

  line(text: string): void {
    this.write(`${text}\n`);
    // Lines written after the layers push them out of reach: start a new block.
    this.rows.length = 0;
  }
}
