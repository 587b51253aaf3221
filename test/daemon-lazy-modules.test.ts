// What a daemon loads: `ai-processor start` on the default setup (file store, no OTLP endpoint,
// exporters sending JSON) holds no client command (cli/program, the client layer), no protobufjs,
// no PostgreSQL store, no gRPC exporter: each is code in the heap it would never run. protobufjs
// loads at the first OTLP/HTTP protobuf export, and that export is answered as before.
// Its service probes (the default config probes one) use node:http, not fetch: fetch would load
// undici, node's bundled HTTP client. Observed for real: the daemon runs with node's module hooks
// (--import of a register script written here) recording every module it loads, CommonJS packages'
// entry points included; on SIGUSR2 the same script writes node's list of its own loaded modules.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';

const HOOKS = `import { appendFileSync } from 'node:fs';
const out = process.env.AIP_TEST_MODULE_LOG;
export async function load(url, context, next) {
  const result = await next(url, context);
  if (url.startsWith('file:')) appendFileSync(out, url + '\\n');
  return result;
}
`;
const REGISTER = `import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
register('./hooks.mjs', import.meta.url);
process.on('SIGUSR2', () => writeFileSync(process.env.AIP_TEST_MODULE_LOG + '.builtin', process.moduleLoadList.join('\\n')));
`;

/** Never in a default daemon's module list (paths relative to the repository or node_modules). */
async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const NOT_LOADED: Array<[string, RegExp]> = [
  ['the client program', /\/dist\/cli\/(program|index)\.js$/],
  ['any client command', /\/dist\/cli\/(?!program-root\.js$)[^/]+\.js$/],
  ['the client layer', /\/dist\/client\//],
  ['protobufjs', /\/node_modules\/protobufjs\//],
  ['the OTLP protobuf codec', /\/dist\/daemon\/claude-code\/otlp-proto\.js$/],
  ['the PostgreSQL store', /\/dist\/daemon\/store\/pg-(store|schema)\.js$/],
  ['pg', /\/node_modules\/pg\//],
  ['the gRPC trace exporter', /\/node_modules\/(@grpc\/|@opentelemetry\/exporter-trace-otlp-grpc\/)/],
];

describe('the daemon loads only what its setup uses', () => {
  let daemon: DaemonHandle;
  let log: string;
  const loaded = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);

  beforeAll(async () => {
    const dir = tempDir('aip-modules-');
    writeFileSync(path.join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(path.join(dir, 'register.mjs'), REGISTER);
    log = path.join(dir, 'modules.log');
    writeFileSync(log, '');
    daemon = await startDaemon({ nodeArgs: ['--import', pathToFileURL(path.join(dir, 'register.mjs')).href], env: { AIP_TEST_MODULE_LOG: log } });
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
  });

  it('a started daemon serving requests (JSON OTLP included) has loaded none of them', async () => {
    expect((await fetch(`${daemon.url}/ready`)).status).toBe(200);
    const claim = await fetch(`${daemon.url}/api/coordination/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_id: 'lazy-1', agent_id: 'agent-lazy', work_type: 'test' }),
    });
    expect(claim.status).toBe(200);
    const otlpJson = await fetch(`${daemon.url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceMetrics":[]}',
    });
    expect(otlpJson.status).toBe(200);
    expect(await otlpJson.json()).toEqual({});

    const modules = loaded();
    // The record is real: the daemon's own modules and its server are in it.
    expect(modules.some((u) => u.endsWith('/dist/daemon/daemon.js'))).toBe(true);
    expect(modules.some((u) => u.endsWith('/dist/daemon/claude-code/otlp-routes.js'))).toBe(true);
    expect(modules.some((u) => u.includes('/node_modules/fastify/'))).toBe(true);
    for (const [what, pattern] of NOT_LOADED)
      expect(
        modules.filter((u) => pattern.test(u)),
        what,
      ).toEqual([]);
  });

  it('a service probe done, node has not loaded its fetch client (undici)', async () => {
    const probed = async () => {
      const body = (await (await fetch(`${daemon.url}/api/services`)).json()) as { services: Array<{ last_checked_at: string | null }> };
      return body.services.length > 0 && body.services.every((s) => s.last_checked_at !== null);
    };
    await until(probed);
    daemon.proc.kill('SIGUSR2');
    await until(async () => existsSync(`${log}.builtin`) && readFileSync(`${log}.builtin`, 'utf8').length > 0);
    const builtin = readFileSync(`${log}.builtin`, 'utf8').split('\n');
    expect(builtin).toContain('NativeModule http'); // the record is real: the server's own module is in it
    expect(builtin.filter((m) => /undici/.test(m))).toEqual([]);
  });

  it('the first protobuf export loads protobufjs and is answered in protobuf', async () => {
    // ExportMetricsServiceRequest { resourceMetrics: [{}] }: field 1, length-delimited, empty.
    const res = await fetch(`${daemon.url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([0x0a, 0x00]),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-protobuf');
    expect(new Uint8Array(await res.arrayBuffer()).length).toBe(0); // an empty ExportMetricsServiceResponse: all taken
    const modules = loaded();
    expect(modules.some((u) => u.includes('/node_modules/protobufjs/'))).toBe(true);
    expect(modules.some((u) => u.endsWith('/dist/daemon/claude-code/otlp-proto.js'))).toBe(true);
    // A body that is not protobuf is still refused with a clear error.
    const bad = await fetch(`${daemon.url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([0x0a, 0x05, 0x01]),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  });
});
