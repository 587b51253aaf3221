// Probes the services the fleet depends on (the seed's XAVOS, ...) over HTTP on an interval, each
// probe bounded by a timeout. A service is 'up' when it answers 2xx, 'slow' when it answers 2xx above
// its slow threshold, 'down' on any other status, a network error or a timeout, and 'unknown' until
// its first probe. Emits 'change' on every status transition and 'check' after every probe.
import { EventEmitter } from 'node:events';
import type { Logger } from '../store/memory-state.js';
import { probeHttp } from './http-probe.js';

export type ServiceState = 'up' | 'down' | 'slow' | 'unknown';

export interface ServiceConfig {
  name: string;
  url: string;
  interval_ms?: number;
  timeout_ms?: number;
  slow_ms?: number;
}

const ACCEPT = { accept: 'application/json, text/plain;q=0.9, */*;q=0.1' };

export interface ServiceStatus {
  name: string;
  url: string;
  status: ServiceState;
  /** Time to the response headers, for any HTTP answer; null when there was none. */
  latency_ms: number | null;
  /** How long the latest probe took, failures (refused, timed out) included; null before the first. */
  probe_ms: number | null;
  /** What went wrong in the latest probe; null when it succeeded (up or slow). */
  last_error: string | null;
  last_checked_at: string | null;
  http_status: number | null;
  /** When the status last changed (first probe included). */
  since: string | null;
  consecutive_failures: number;
}

export interface MonitorOptions {
  intervalMs?: number;
  timeoutMs?: number;
  slowMs?: number;
  logger?: Logger;
}

/** The example in the default config: the seed's XAVOS web app. */
export const DEFAULT_SERVICES: ServiceConfig[] = [{ name: 'xavos', url: 'http://localhost:4002/health' }];
export const DEFAULT_INTERVAL_MS = 15_000;
export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_SLOW_MS = 1_000;

interface Probe extends Required<ServiceConfig> {
  target: URL;
  state: ServiceStatus;
  /** Set when a reload dropped or replaced it: its loop ends. */
  removed?: boolean;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<ServiceStatus>;
}

/** What a monitor emits: 'change' when a service's state changes, 'check' after every probe. */
interface ServiceMonitorEvents {
  change: [status: ServiceStatus, previous: ServiceState];
  check: [status: ServiceStatus];
}

/** Why a probe failed, in words an operator can act on ("connect ECONNREFUSED 127.0.0.1:4002"). */
function describeProbeError(err: unknown): string {
  // Both addresses of a name tried (localhost: ::1 and 127.0.0.1): each one's reason.
  if (err instanceof AggregateError && err.errors.length) return err.errors.map(describeProbeError).join('; ');
  const e = err as Error & { code?: string };
  return e?.message || e?.code || String(err);
}

export class ServiceMonitor extends EventEmitter<ServiceMonitorEvents> {
  private probes: Probe[];
  private running = false;
  private stopper = new AbortController();

  constructor(
    services: ServiceConfig[],
    private readonly opts: MonitorOptions = {},
  ) {
    super();
    this.probes = this.makeProbes(services);
  }

  private makeProbes(services: ServiceConfig[]): Probe[] {
    const opts = this.opts;
    const names = new Set<string>();
    return services.map((s) => {
      if (!s.name || names.has(s.name)) throw new Error(`service names must be unique and non-empty: ${JSON.stringify(s.name)}`);
      names.add(s.name);
      let url: URL;
      try {
        url = new URL(s.url);
      } catch {
        throw new Error(`service ${s.name}: invalid url ${JSON.stringify(s.url)}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`service ${s.name}: only http(s) urls are probed`);
      const probe: Probe = {
        name: s.name,
        url: s.url,
        target: url,
        interval_ms: positive(s.interval_ms, opts.intervalMs ?? DEFAULT_INTERVAL_MS, `${s.name}.interval_ms`),
        timeout_ms: positive(s.timeout_ms, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, `${s.name}.timeout_ms`),
        slow_ms: positive(s.slow_ms, opts.slowMs ?? DEFAULT_SLOW_MS, `${s.name}.slow_ms`),
        state: {
          name: s.name,
          url: s.url,
          status: 'unknown',
          latency_ms: null,
          probe_ms: null,
          last_error: null,
          last_checked_at: null,
          http_status: null,
          since: null,
          consecutive_failures: 0,
        },
      };
      return probe;
    });
  }

  /**
   * Replaces the list of services (SIGHUP reload). A service whose name, url and timings are
   * unchanged keeps its state and its schedule; the others are dropped or probed from scratch.
   * Validates the whole list first: on an error nothing changes. Returns the names added and removed.
   */
  setServices(services: ServiceConfig[]): { added: string[]; removed: string[] } {
    const fresh = this.makeProbes(services);
    const same = (a: Probe, b: Probe) => a.url === b.url && a.interval_ms === b.interval_ms && a.timeout_ms === b.timeout_ms && a.slow_ms === b.slow_ms;
    const old = new Map(this.probes.map((p) => [p.name, p]));
    const next = fresh.map((p) => {
      const kept = old.get(p.name);
      return kept && same(kept, p) ? kept : p;
    });
    const keptSet = new Set(next);
    const removed = this.probes.filter((p) => !keptSet.has(p));
    const added = next.filter((p) => !old.has(p.name) || old.get(p.name) !== p);
    for (const p of removed) {
      p.removed = true; // its loop stops; a probe in flight finishes into the void
      clearTimeout(p.timer);
    }
    this.probes = next;
    if (this.running) for (const p of added) void this.loop(p);
    return { added: added.map((p) => p.name), removed: removed.filter((p) => !next.some((n) => n.name === p.name)).map((p) => p.name) };
  }

  /** Probes every service now, then each on its own interval. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const p of this.probes) void this.loop(p);
  }

  /** Stops the timers and abandons probes in flight (their results are dropped). */
  stop(): void {
    this.running = false;
    this.stopper.abort(); // probes started before now drop their results
    this.stopper = new AbortController();
    for (const p of this.probes) clearTimeout(p.timer);
  }

  list(): ServiceStatus[] {
    return this.probes.map((p) => ({ ...p.state }));
  }

  get(name: string): ServiceStatus | undefined {
    const p = this.probes.find((x) => x.name === name);
    return p && { ...p.state };
  }

  /** Probes now (all services, or one) and returns the fresh statuses; joins a probe already in flight. */
  async checkNow(name?: string): Promise<ServiceStatus[]> {
    const targets = name === undefined ? this.probes : this.probes.filter((p) => p.name === name);
    return Promise.all(targets.map((p) => this.probe(p)));
  }

  private async loop(p: Probe): Promise<void> {
    await this.probe(p);
    if (!this.running || p.removed) return;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => void this.loop(p), p.interval_ms);
    p.timer.unref(); // the monitor never keeps the process alive by itself
  }

  private probe(p: Probe): Promise<ServiceStatus> {
    p.inFlight ??= this.runProbe(p).finally(() => (p.inFlight = undefined));
    return p.inFlight;
  }

  private async runProbe(p: Probe): Promise<ServiceStatus> {
    const stopSignal = this.stopper.signal;
    const t0 = performance.now();
    let next: Pick<ServiceStatus, 'status' | 'latency_ms' | 'last_error' | 'http_status'>;
    try {
      // stop() does not abort probes in flight; it drops their results (each is bounded by its timeout).
      const res = await probeHttp(p.target, p.timeout_ms, ACCEPT);
      const latency = Math.round((performance.now() - t0) * 10) / 10;
      next =
        res.status >= 200 && res.status < 300
          ? { status: latency > p.slow_ms ? 'slow' : 'up', latency_ms: latency, last_error: null, http_status: res.status }
          : { status: 'down', latency_ms: latency, last_error: `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`, http_status: res.status };
    } catch (err) {
      next = { status: 'down', latency_ms: null, last_error: describeProbeError(err), http_status: null };
    }
    if (stopSignal.aborted || p.removed) return { ...p.state };

    const previous = p.state.status;
    const now = new Date().toISOString();
    p.state = {
      ...p.state,
      ...next,
      probe_ms: Math.round((performance.now() - t0) * 10) / 10,
      last_checked_at: now,
      since: next.status === previous ? p.state.since : now,
      consecutive_failures: next.status === 'down' ? p.state.consecutive_failures + 1 : 0,
    };
    const snapshot = { ...p.state };
    if (next.status !== previous) {
      const level = next.status === 'down' ? 'warn' : 'info';
      this.opts.logger?.[level](
        { service: p.name, url: p.url, status: next.status, previous, last_error: next.last_error },
        `service ${p.name} is ${next.status}`,
      );
      this.emit('change', snapshot, previous);
    }
    this.emit('check', snapshot);
    return snapshot;
  }
}

function positive(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${what} must be a positive number of milliseconds`);
  return v;
}
