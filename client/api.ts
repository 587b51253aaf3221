// A small HTTP client for the daemon's API (fetch), used by the console, the client programs and the
// tests. Short-lived processes use node-request.ts instead (loading fetch costs more than their call).
import { resolveToken, resolveUrl } from './config.js';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export class DaemonUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach ai-processor at ${url}: ${(cause as Error)?.message ?? String(cause)} (is it running? set --url or AI_PROCESSOR_URL)`, { cause });
  }

  /** The reason in a word: the system error code (ECONNREFUSED, ...) or the cause's message. */
  get reason(): string {
    const cause = this.cause as { code?: string; message?: string } | undefined;
    return cause?.code ?? cause?.message ?? String(this.cause);
  }
}

export interface ApiClientOptions {
  url?: string;
  token?: string | null;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export class ApiClient {
  readonly url: string;
  private token: string | null;
  private timeoutMs: number;
  private headers: Record<string, string>;

  constructor(opts: ApiClientOptions = {}) {
    this.url = resolveUrl(opts.url);
    this.token = resolveToken(opts.token);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.headers = opts.headers ?? {};
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { accept: 'application/json', ...this.headers, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new DaemonUnreachableError(this.url, (err as { cause?: unknown }).cause ?? err);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { error: 'invalid_response', message: text.slice(0, 500) };
    }
    return { status: res.status, body: parsed as T };
  }

  get<T = Record<string, unknown>>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown = {}) {
    return this.request<T>('POST', path, body);
  }
}
