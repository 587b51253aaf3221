// compose.yaml (the monitoring stack for a daemon on this host) is wired to what the repository ships:
// every file it mounts exists, Prometheus scrapes the daemon's default port, Grafana reads the
// Prometheus it starts, Jaeger takes OTLP on the port the docs tell the daemon to send to.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaults } from '../daemon/config.js';
import { ROOT } from './helpers/daemon.js';

interface Service {
  image: string;
  network_mode?: string;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  extra_hosts?: string[];
  environment?: Record<string, string>;
}
interface Compose {
  services: Record<string, Service>;
}

const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8')) as Compose;
const { prometheus, grafana, jaeger } = compose.services;
const readYaml = (file: string): unknown => parse(readFileSync(path.join(ROOT, file), 'utf8'));

/** Bind mounts (host path in the repository -> container path); named volumes are left out. */
function binds(s: Service): Array<{ host: string; container: string }> {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([host]) => host.startsWith('./') || host.startsWith('../'))
    .map(([host, container]) => ({ host: path.normalize(host), container }));
}
const hostFileAt = (s: Service, container: string): string => {
  const b = binds(s).find((m) => m.container === container);
  if (!b) throw new Error(`nothing mounted at ${container}`);
  return b.host;
};
const flag = (s: Service, name: string): string => {
  const f = (s.command ?? []).find((c) => c.startsWith(`--${name}=`));
  if (!f) throw new Error(`no --${name} in the command`);
  return f.slice(name.length + 3);
};
const portOf = (hostPort: string): number => Number(/:(\d+)$/.exec(hostPort)?.[1] ?? NaN);

describe('compose.yaml', () => {
  it('has the three services, each a pinned image', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'jaeger', 'prometheus']);
    for (const s of Object.values(compose.services)) expect(s.image).toMatch(/:[^:]+$/);
    for (const s of Object.values(compose.services)) expect(s.image).not.toMatch(/:latest$/);
  });

  it('mounts only files and folders that exist in the repository', () => {
    const all = Object.values(compose.services).flatMap(binds);
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const { host } of all) {
      expect(path.resolve(ROOT, host).startsWith(ROOT + path.sep), host).toBe(true);
      expect(existsSync(path.join(ROOT, host)), host).toBe(true);
    }
    expect(all.map((b) => b.host)).toEqual(expect.arrayContaining(['prometheus/prometheus.yml', 'alerts.yml', 'grafana/dashboards']));
  });

  it("Prometheus loads the repository's config and its alert rules at the path the config names", () => {
    const configIn = flag(prometheus, 'config.file');
    expect(hostFileAt(prometheus, configIn)).toBe('prometheus/prometheus.yml');
    const config = readYaml('prometheus/prometheus.yml') as { rule_files: string[] };
    // rule_files are relative to the config file's folder, inside the container too.
    for (const rule of config.rule_files) {
      const inContainer = path.posix.resolve(path.posix.dirname(configIn), rule);
      expect(hostFileAt(prometheus, inContainer)).toBe(path.normalize(path.join('prometheus', rule)));
    }
  });

  it("Prometheus scrapes the daemon's default host and port, which only host networking reaches", () => {
    const config = readYaml('prometheus/prometheus.yml') as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    const job = config.scrape_configs.find((j) => j.job_name === 'ai-processor')!;
    const targets = job.static_configs.flatMap((s) => s.targets);
    const d = defaults({});
    expect(targets).toEqual([`${d.host}:${d.port}`]);
    // The daemon listens on loopback by default: a bridged container could not scrape it.
    expect(prometheus.network_mode).toBe('host');
  });

  it('Grafana provisions the Prometheus the stack starts, and the dashboard the provider points at', () => {
    const ds = readYaml('grafana/provisioning/datasources/prometheus.yml') as { datasources: Array<{ uid: string; url: string }> };
    expect(grafana.network_mode).toBe('host');
    expect(new URL(ds.datasources[0].url).host).toBe(flag(prometheus, 'web.listen-address'));
    const provider = readYaml('grafana/provisioning/dashboards/ai-processor.yml') as { providers: Array<{ options: { path: string } }> };
    expect(hostFileAt(grafana, provider.providers[0].options.path)).toBe('grafana/dashboards');
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'grafana/dashboards/ai-processor.json'), 'utf8')) as {
      panels: Array<{ datasource?: { uid?: string } }>;
    };
    const uids = new Set(dashboard.panels.map((p) => p.datasource?.uid).filter((u) => u && !u.startsWith('--')));
    expect([...uids]).toEqual([ds.datasources[0].uid]);
    expect(existsSync(path.join(ROOT, 'grafana/dashboards', path.basename(grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH)))).toBe(true);
  });

  it('Jaeger publishes OTLP gRPC on 4317 and its UI on 16686, the ports the docs use', () => {
    const ports = (jaeger.ports ?? []).map((p) => p.split(':'));
    // host address : host port : container port, published on loopback only
    expect(ports).toEqual(
      expect.arrayContaining([
        ['127.0.0.1', '4317', '4317'],
        ['127.0.0.1', '16686', '16686'],
      ]),
    );
    const docs = readFileSync(path.join(ROOT, 'docs/observability.md'), 'utf8') + readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(docs).toContain('OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317');
    expect(docs).toContain('http://127.0.0.1:16686');
    expect(docs).toContain(`http://127.0.0.1:${portOf(flag(prometheus, 'web.listen-address'))}`);
    expect(docs).toContain(`http://127.0.0.1:${grafana.environment!.GF_SERVER_HTTP_PORT}`);
  });
});
