// The WebSocket close codes of the terminal protocol (src/server/PROTOCOL.md), one table for
// the lab server that closes with them and the page that acts on them. 1000-1015 are the
// standard codes (RFC 6455, 7.4.1); 4000-4999 are the application's own.

export const CLOSE = {
  /** The sandbox's shell ended: the page offers a new one (a new socket, the same session id). */
  normal: 1000,
  /** The server is stopping. */
  goingAway: 1001,
  /** A sandbox (or a terminal in it) could not be started, or a frame met a bug of the server's; an `error` frame said why. */
  failed: 1011,
  /** After `full`: the lab has no room now; or the session was re-attached too often. Try again later. */
  tryLater: 1013,
  /** The same session was attached by another socket: do not reconnect by itself. */
  takenOver: 4001,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];
