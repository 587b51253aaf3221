// The text of a WebSocket message, whatever form ws hands it in: a Buffer (the default binaryType),
// an array of Buffers ('fragments') or an ArrayBuffer ('arraybuffer').
import type WebSocket from 'ws';

export function wsText(raw: WebSocket.RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString();
  if (Array.isArray(raw)) return Buffer.concat(raw).toString();
  return Buffer.from(raw).toString();
}
