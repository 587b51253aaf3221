// A free loopback port, for programs that take their port from the environment (`npm start` reads
// AI_PROCESSOR_PORT) rather than listening on port 0 and reporting it.
import net from 'node:net';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
