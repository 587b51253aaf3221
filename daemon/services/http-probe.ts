// One health probe over node:http(s): a GET answered with its status line, the body drained and
// dropped. Not fetch: the daemon needs nothing else of it, and fetch would load undici (its HTTP
// client, parser and WebAssembly memory) into a process that otherwise never holds them.
import http from 'node:http';
import https from 'node:https';

export interface ProbeAnswer {
  status: number;
  statusText: string;
}

/** Thrown when no response headers came within the time limit. */
export class ProbeTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'ProbeTimeout';
  }
}

/**
 * GET `url` on a connection of its own (no pooled socket a restarted service may have closed), resolved
 * at the response headers. Rejects with the network error ("connect ECONNREFUSED 127.0.0.1:4002") or
 * a ProbeTimeout.
 */
export function probeHttp(url: URL, timeoutMs: number, headers: Record<string, string>): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { agent: false, headers }, (res) => {
      clearTimeout(timer);
      res.resume(); // only the status matters
      res.on('error', () => {}); // a body cut short after the headers changes nothing
      resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '' });
    });
    const timer = setTimeout(() => req.destroy(new ProbeTimeout(timeoutMs)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
