// The settings the daemon takes from the environment only (AI_PROCESSOR_HEAP_POLICY, and of
// OpenTelemetry's variables the ones the daemon reads itself) are read in config.ts and passed down:
// parsed there, and reaching a real daemon's heap policy and spans.
import { afterAll, describe, expect, it } from 'vitest';
import { heapPolicyInputs, otelSettings } from '../daemon/config.js';
import { ENV_DEFAULTS } from '../daemon/defaults.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

describe('environment-only settings, parsed in config.ts', () => {
  it('OpenTelemetry: service name, and the traces endpoint unless the exporter is turned off', () => {
    expect(otelSettings({})).toEqual({ service_name: ENV_DEFAULTS.otel_service_name, traces_endpoint: null });
    expect(otelSettings({ OTEL_SERVICE_NAME: '  fleet-a ', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' })).toEqual({
      service_name: 'fleet-a',
      traces_endpoint: 'http://127.0.0.1:4317',
    });
    // The traces-specific endpoint wins over the generic one; blank values count as unset.
    expect(otelSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4317', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:4317' }).traces_endpoint).toBe(
      'http://t:4317',
    );
    expect(otelSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ' ', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:4317' }).traces_endpoint).toBe('http://g:4317');
    expect(otelSettings({ OTEL_SERVICE_NAME: ' ' }).service_name).toBe(ENV_DEFAULTS.otel_service_name);
    expect(otelSettings({ OTEL_TRACES_EXPORTER: 'otlp, none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:4317' }).traces_endpoint).toBeNull();
  });

  it('heap policy: on unless AI_PROCESSOR_HEAP_POLICY=off; node flags from the command line and NODE_OPTIONS', () => {
    expect(ENV_DEFAULTS.heap_policy).toBe('on');
    expect(heapPolicyInputs({}, [])).toEqual({ off: false, nodeArgs: [] });
    expect(heapPolicyInputs({ AI_PROCESSOR_HEAP_POLICY: ' OFF ' }, []).off).toBe(true);
    expect(heapPolicyInputs({ AI_PROCESSOR_HEAP_POLICY: 'on' }, []).off).toBe(false);
    expect(heapPolicyInputs({ NODE_OPTIONS: ' --max-old-space-size=512  --trace-gc ' }, ['--v8-pool-size=1']).nodeArgs).toEqual([
      '--v8-pool-size=1',
      '--max-old-space-size=512',
      '--trace-gc',
    ]);
  });
});

describe('environment-only settings reach a real daemon', () => {
  const daemons: DaemonHandle[] = [];
  afterAll(async () => {
    for (const d of daemons) await d.stop();
  });

  /** The heap policy the daemon applied (its debug line) and the service of a claim's span. */
  async function observe(env: Record<string, string | undefined>): Promise<{ heap: unknown; service: unknown }> {
    const d = await startDaemon({ args: ['--log-level', 'debug'], env: { AI_PROCESSOR_SERVICES: '[]', ...env } });
    daemons.push(d);
    const http = new HttpClient(d.url);
    try {
      const line = d.logs.map((l) => JSON.parse(l) as { msg?: string; heap?: unknown }).find((l) => l.msg === 'heap policy');
      expect(line, 'the heap policy line is logged before "listening"').toBeDefined();
      expect((await http.post('/api/coordination/claim', { work_id: 'env_w1', agent_id: 'env_a1' })).status).toBe(200);
      // The span ends once the answer is sent: wait for it.
      const claimSpans = async () => (await http.get('/api/telemetry/spans?operation=s2s.work.claim')).body.spans as Array<{ service?: { name?: string } }>;
      await expect.poll(async () => (await claimSpans()).length, { timeout: 20_000, interval: 100 }).toBe(1);
      const spans = await claimSpans();
      return { heap: line!.heap, service: spans[0].service?.name };
    } finally {
      http.close();
    }
  }

  it('AI_PROCESSOR_HEAP_POLICY=off leaves the heap alone; OTEL_SERVICE_NAME names the spans', async () => {
    const off = await observe({ AI_PROCESSOR_HEAP_POLICY: 'off', OTEL_SERVICE_NAME: 'env-test-fleet', NODE_OPTIONS: undefined });
    expect(off).toEqual({ heap: { old_growing_percent: null, young_semi_space_mb: null }, service: 'env-test-fleet' });
    const on = await observe({ AI_PROCESSOR_HEAP_POLICY: undefined, OTEL_SERVICE_NAME: undefined, NODE_OPTIONS: undefined });
    expect(on.service).toBe(ENV_DEFAULTS.otel_service_name);
    expect(on.heap).toMatchObject({ old_growing_percent: expect.any(Number), young_semi_space_mb: expect.any(Number) });
  });
});
