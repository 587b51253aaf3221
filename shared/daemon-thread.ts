// What `npm start` (scripts/start.ts) and the daemon say to each other when the daemon runs in a
// worker thread of the console's process (daemon/start.ts). Signals reach only the main thread, so
// the launcher forwards the stop; the daemon reports its URL once it listens (a `--port 0` demo
// learns its port from it).

/** Launcher -> daemon thread: shut down as on this signal (drain, flush the files, exit 0). */
export interface StopDaemonThread {
  type: 'stop';
  signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'quit';
}

/** Daemon thread -> launcher: listening, the store open. */
export interface DaemonThreadReady {
  type: 'ready';
  url: string;
}

export function isStopDaemonThread(m: unknown): m is StopDaemonThread {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'stop';
}

export function isDaemonThreadReady(m: unknown): m is DaemonThreadReady {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'ready' && typeof (m as { url?: unknown }).url === 'string';
}
