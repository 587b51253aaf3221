// `npm start`: the daemon on the default data dir, and the console against it when there is a
// terminal. `npm run demo`: the same on a temporary data dir with the fleet simulator running.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const daemonCli = path.join(root, 'dist/daemon/cli.js');
const consoleCli = path.join(root, 'dist/tui/cli.js');
const demo = process.argv.includes('--demo');
const port = process.env.AI_PROCESSOR_PORT ?? (demo ? '0' : '4001');

const args = [daemonCli, 'start', '--port', port];
if (demo) args.push('--data-dir', mkdtempSync(path.join(os.tmpdir(), 'ai-processor-demo-')), '--lease-ms', '15000');
const interactive = process.stdout.isTTY && existsSync(consoleCli);
const daemon = spawn(process.execPath, args, { stdio: ['ignore', interactive ? 'pipe' : 'inherit', 'inherit'] });
const children: ChildProcess[] = [daemon];

function shutdown(code: number): void {
  for (const c of children.slice(1)) c.kill('SIGTERM');
  daemon.kill('SIGTERM');
  daemon.on('exit', () => process.exit(code));
  setTimeout(() => process.exit(code), 5000).unref();
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
daemon.on('exit', (code) => {
  if (!interactive) process.exit(code ?? 0);
});

if (interactive) {
  let buf = '';
  daemon.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    const m = /"url":"(http:[^"]+)".*"msg":"listening"/.exec(buf);
    if (!m) return;
    buf = '';
    daemon.stdout!.removeAllListeners('data');
    daemon.stdout!.resume(); // keep draining logs so the daemon never blocks on a full pipe
    const url = m[1];
    if (demo) {
      const sim = spawn(process.execPath, [daemonCli, 'simulate', '--url', url, '--agents', '12', '--rate', '8'], { stdio: 'ignore' });
      children.push(sim);
    }
    const ui = spawn(process.execPath, [consoleCli, '--url', url], { stdio: 'inherit' });
    children.push(ui);
    ui.on('exit', (code) => shutdown(code ?? 0));
  });
}
