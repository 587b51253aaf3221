// One JSON request to the daemon over node:http(s), for short-lived client processes.
// Why not fetch: the first fetch() of a process loads undici (and its llhttp wasm) lazily, which
// costs 40-100 ms per process: more than the rest of a `coordination_helper.sh claim` after node's
// own start-up. node:http is already in node's snapshot. Same answers and errors as ApiClient:
// { status, body } (body parsed as JSON, or { error: 'invalid_response' }), DaemonUnreachableError
// when the daemon cannot be reached, answers in time or the certificate is not trusted.
import http from 'node:http';
import { DaemonUnreachableError, type ApiResponse } from './api.js';

export interface NodeRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  token?: string | null;
  /** Limit for the whole exchange, answer body included. */
  timeoutMs?: number;
}

export async function requestJson<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  path: string,
  opts: NodeRequestOptions = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let status: number;
  let text: string;
  try {
    const url = new URL(baseUrl + path);
    // https (and tls) only when asked for; NODE_EXTRA_CA_CERTS applies as with fetch.
    const transport: typeof http = url.protocol === 'https:' ? ((await import('node:https')).default as unknown as typeof http) : http;
    ({ status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(url, { method, headers, signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('the daemon closed the connection mid-answer')));
      });
      req.on('error', (err: Error) => reject(err.name === 'AbortError' ? new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`) : err));
      req.end(payload);
    }));
  } catch (err) {
    throw new DaemonUnreachableError(baseUrl, err);
  }
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error: 'invalid_response', message: text.slice(0, 500) };
  }
  return { status, body: parsed as T };
}
