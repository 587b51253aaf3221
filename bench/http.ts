// Plain node:http JSON requests; each HttpClient has its own connection pool, like a separate agent.
import http from 'node:http';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON of any shape: benchmarks and tests read the fields they expect and assert them
type Any = any;

export interface JsonResponse {
  status: number;
  body: Any;
  headers: http.IncomingHttpHeaders;
}

export class HttpClient {
  private agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly base: string,
    private headers: Record<string, string> = {},
  ) {}

  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, raw?: string | Buffer): Promise<JsonResponse> {
    const url = new URL(path, this.base);
    const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        // Content-Length frames the body: without it node sends DELETE bodies unframed (no chunked encoding by default), and the connection's next request is garbage.
        {
          method,
          agent: this.agent,
          headers: {
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
            ...this.headers,
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              /* keep text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }

  post(path: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }

  close(): void {
    this.agent.destroy();
  }
}
