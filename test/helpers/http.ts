import net from 'node:net';
export { HttpClient, type JsonResponse } from '../../bench/http.js';

/**
 * A POST that announces a body of `bodyBytes` with `expect: 100-continue`, over a plain socket, as
 * clients uploading that much do: a server refusing the size answers at once and the body is never
 * sent. (Sending it whole races the server's close after its early 413: the answer can be lost.)
 */
export function postAnnouncingBody(base: string, path: string, headers: Record<string, string>, bodyBytes: number): Promise<{ status: number; body: unknown }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let text = '';
    const answer = (): { status: number; body: unknown } | null => {
      text = text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''); // an interim answer, not the answer
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? NaN);
      if (end < 0 || !(text.length >= end + 4 + length)) return null;
      const json = text.slice(end + 4, end + 4 + length);
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: JSON.parse(json) as unknown };
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      const a = answer();
      if (a) {
        socket.destroy();
        resolve(a);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => reject(new Error(`connection closed without a complete answer: ${JSON.stringify(text.slice(0, 200))}`)));
    const head = Object.entries({ host: url.host, 'content-length': String(bodyBytes), ...headers })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    // As curl does for large uploads: headers first with `expect: 100-continue`; a server that
    // refuses the size answers at once, and the body is never sent.
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\nexpect: 100-continue\r\n\r\n`);
  });
}
