// Flow control, as the xterm.js guide describes it: the page acks the bytes xterm has
// finished writing; when too many are unacked we stop reading the pty. The program in the
// sandbox then blocks on its next write (the kernel's pty buffer is full), so `yes` costs
// neither the browser nor this server any memory beyond the high watermark.

export const HIGH_WATERMARK = 512 * 1024;
export const LOW_WATERMARK = 128 * 1024;

export class FlowControl {
  readonly high: number;
  readonly low: number;
  #unacked = 0;
  #paused = false;
  readonly #pause: () => void;
  readonly #resume: () => void;

  constructor(pause: () => void, resume: () => void, high = HIGH_WATERMARK, low = LOW_WATERMARK) {
    this.#pause = pause;
    this.#resume = resume;
    this.high = high;
    this.low = low;
  }

  get unacked(): number { return this.#unacked; }
  get paused(): boolean { return this.#paused; }

  /**
   * `buffered` is what the socket still holds unsent (ws.bufferedAmount). Watching it too
   * means a client that acks bytes it never read cannot make us queue without bound.
   */
  sent(bytes: number, buffered: number): void {
    this.#unacked += bytes;
    this.#update(buffered);
  }

  /** An ack can only cover what was sent: acking more than that just empties the count. */
  acked(bytes: number, buffered: number): void {
    this.#unacked = Math.max(0, this.#unacked - bytes);
    this.#update(buffered);
  }

  /** The socket wrote some of its buffer out. */
  drained(buffered: number): void {
    this.#update(buffered);
  }

  #update(buffered: number): void {
    if (!this.#paused && (this.#unacked > this.high || buffered > this.high)) {
      this.#paused = true;
      this.#pause();
    } else if (this.#paused && this.#unacked <= this.low && buffered <= this.low) {
      this.#paused = false;
      this.#resume();
    }
  }
}

/** The last `limit` bytes of a terminal's output, replayed when a reloaded page reattaches. */
export class Scrollback {
  readonly limit: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limit = 64 * 1024) {
    this.limit = limit;
  }

  get size(): number { return this.#size; }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - this.#chunks[0].length >= this.limit) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }

  /**
   * The kept bytes, cut to `limit` at a line start where one is near, so the replay does
   * not begin inside an escape sequence or a UTF-8 character.
   */
  contents(): Buffer {
    let all = Buffer.concat(this.#chunks);
    if (all.length > this.limit) {
      all = all.subarray(all.length - this.limit);
      const nl = all.indexOf(0x0a);
      if (nl >= 0 && nl < 4096) all = all.subarray(nl + 1);
      else {
        // No newline near: at least skip UTF-8 continuation bytes (10xxxxxx).
        let i = 0;
        while (i < all.length && i < 4 && (all[i] & 0xc0) === 0x80) i++;
        all = all.subarray(i);
      }
    }
    return all;
  }

  clear(): void {
    this.#chunks = [];
    this.#size = 0;
  }
}

/**
 * A token bucket: up to `burst` at once, refilled at `perSecond`. It bounds what one client
 * may make the server do (frames parsed, checks run, sandboxes attached), whatever it sends.
 */
export class TokenBucket {
  readonly burst: number;
  readonly perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(burst: number, perSecond: number, now: () => number = () => performance.now()) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
  }

  /**
   * Take `n` tokens; false (and nothing taken) when the bucket is empty. A bucket that holds
   * at least one token lets a bigger take through and goes into debt: a 64 KiB frame passes a
   * byte budget at once, and the wait for the next one grows with it.
   */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until a token is there again (0: there is one now). */
  waitMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000);
  }
}
