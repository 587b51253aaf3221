// The load generator's HTTP/1.1 client: one keep-alive TCP connection, one request at a time, as a
// simple agent would use it. node:http costs the generator ~80 µs of CPU per request; on a 2-core
// machine shared with the daemon that CPU (and its event-loop delays) lands in the latencies being
// measured. This costs ~20 µs: the request is written in one piece and only the status line and
// Content-Length of the answer are parsed (the body is kept as bytes).
import net from 'node:net';

export interface LoadResponse {
  status: number;
  body: Buffer;
}

export class LoadConnection {
  private socket: net.Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: LoadResponse) => void; reject: (e: Error) => void } | null = null;
  private readonly host: string;
  private readonly port: number;

  constructor(base: string) {
    const u = new URL(base);
    if (u.protocol !== 'http:') throw new Error(`load client speaks plain http only, not ${u.protocol}`);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.port, this.host, () => {
        s.off('error', reject);
        resolve();
      });
      s.setNoDelay(true);
      s.once('error', reject);
      s.on('data', (chunk: Buffer) => this.onData(chunk));
      s.on('error', (err) => this.failWaiting(err));
      s.on('close', () => this.failWaiting(new Error('connection closed by the server')));
      this.socket = s;
    });
  }

  post(path: string, body: unknown): Promise<LoadResponse> {
    if (!this.socket) return Promise.reject(new Error('not connected'));
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    const json = JSON.stringify(body);
    const done = new Promise<LoadResponse>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
    );
    return done;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    // A 204 (claim-next with nothing ready) has no body and no Content-Length.
    const len = status === 204 ? ['', '0'] : /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!len) return this.failWaiting(new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`));
    const total = end + 4 + Number(len[1]);
    if (this.buf.length < total) return;
    const res: LoadResponse = { status, body: this.buf.subarray(end + 4, total) };
    this.buf = this.buf.subarray(total);
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(res);
  }

  private failWaiting(err: Error): void {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }
}
