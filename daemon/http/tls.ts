// Optional TLS for the API and both streams: --tls-cert/--tls-key (config tls_cert/tls_key, PEM
// files). The key pair is read at start; a SIGHUP reload reads the files again and swaps the server's
// secure context (a renewed certificate is served to new connections, open ones keep theirs).
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { ConfigError, type DaemonConfig } from '../config.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export class TlsConfigError extends ConfigError {}

/** The PEM pair named by the configuration, or null when TLS is off. Throws TlsConfigError with what to fix. */
export function readTls(config: Pick<DaemonConfig, 'tls_cert' | 'tls_key'>): TlsFiles | null {
  const { tls_cert: certFile, tls_key: keyFile } = config;
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) throw new TlsConfigError('TLS needs both --tls-cert and --tls-key (config tls_cert and tls_key)');
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsConfigError(`cannot read TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const files = { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
  if (!files.cert.includes('-----BEGIN')) throw new TlsConfigError(`TLS certificate ${certFile} is not PEM`);
  if (!files.key.includes('-----BEGIN')) throw new TlsConfigError(`TLS key ${keyFile} is not PEM`);
  return files;
}

/** Serves a new key pair to new connections. Throws (and changes nothing) when the pair is unusable. */
export function reloadTls(server: unknown, files: TlsFiles): void {
  const s = server as Partial<Pick<Server, 'setSecureContext'>>;
  if (typeof s.setSecureContext !== 'function') throw new TlsConfigError('the server does not speak TLS');
  s.setSecureContext({ cert: files.cert, key: files.key });
}
