// The systemd unit: the shipped daemon/ai-processor.service is what `install-service` renders for a
// global npm install; it and every install-service variant pass `systemd-analyze verify`; ExecStart
// points at the real entry point (install-service's runs this checkout's daemon); readiness is sent
// (READY=1 via systemd-notify) only once the API and the store are ready, and never leaks to children.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SHIPPED_EXEC_START, renderUnit } from '../cli/install-service.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { cleanEnv } from '../bench/proc.js';
import { CLI, ROOT, runCli, tempDir } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { findTool, requireTool } from './helpers/system-tools.js';

const SHIPPED = path.join(ROOT, 'daemon/ai-processor.service');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** `Key=value` lines of a unit, in order (comments and sections left out). */
function directives(unit: string): Array<[string, string]> {
  return unit
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const value = (unit: string, key: string) =>
  directives(unit)
    .filter(([k]) => k === key)
    .map(([, v]) => v);

/** systemd-analyze verify on `unit` saved as ai-processor.service; returns its exit status and output. */
function verify(unit: string, user = false): { status: number | null; output: string } {
  const dir = tempDir('aip-unit-');
  const file = path.join(dir, 'ai-processor.service');
  writeFileSync(file, unit);
  const runtime = path.join(dir, 'runtime');
  mkdirSync(runtime, { mode: 0o700 });
  const r = spawnSync('systemd-analyze', [...(user ? ['--user'] : []), 'verify', file], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' },
  });
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

const here = { node: realpathSync(process.execPath), cli: realpathSync(CLI) };

describe('the shipped unit', () => {
  const shipped = readFileSync(SHIPPED, 'utf8');

  it('is what install-service renders for a global npm install (one source, no drift)', () => {
    expect(shipped, 'regenerate daemon/ai-processor.service from renderUnit({ execStart: SHIPPED_EXEC_START })').toBe(
      renderUnit({ execStart: SHIPPED_EXEC_START }),
    );
  });

  it('has readiness, restart, reload, state directory and hardening', () => {
    for (const [key, want] of [
      ['Type', 'notify'],
      ['NotifyAccess', 'all'],
      ['Restart', 'on-failure'],
      ['ExecReload', '/bin/kill -HUP $MAINPID'],
      ['StateDirectory', 'ai-processor'],
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['DynamicUser', 'yes'],
      ['WantedBy', 'multi-user.target'],
    ]) {
      expect(value(shipped, key), key).toEqual([want]);
    }
    expect(value(shipped, 'MemoryDenyWriteExecute')).toEqual([]); // V8 needs it off
    expect(value(shipped, 'Environment')).toContain(`NODE_OPTIONS=${NODE_FLAGS.join(' ')}`); // one V8 helper thread (node-flags.ts)
    expect(Number(value(shipped, 'TimeoutStopSec')[0])).toBeGreaterThan(25); // above the daemon's own shutdown bound
  });

  it("ExecStart is the installed bin of this package, whose target is the compiled CLI, launched by sh with node's flags", () => {
    const [exec, ...args] = value(shipped, 'ExecStart')[0].split(' ');
    expect(args).toEqual(['start']);
    // npm installs bin entries as <prefix>/bin/<name> -> <prefix>/lib/node_modules/<package>/<file>.
    expect(path.basename(exec)).toBe('ai-processor');
    expect(Object.keys(pkg.bin)).toContain('ai-processor');
    const target = path.join(ROOT, pkg.bin['ai-processor']);
    expect(realpathSync(target)).toBe(here.cli);
    // sh runs its first lines (node with the flags of shared/node-flags.ts), node reads them as comments.
    const [shebang, launch] = readFileSync(target, 'utf8').split('\n');
    expect(shebang).toBe('#!/bin/sh');
    expect(launch).toMatch(/^\/\/usr\/bin\/env true; .*exec node --v8-pool-size=1 "\$0" "\$@"$/);
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'daemon/ai-processor.service']));
  });

  it.skipIf(!requireTool('systemd-analyze'))('passes systemd-analyze verify (ExecStart rewritten to this checkout)', () => {
    const local = shipped.replace(/^ExecStart=.*$/m, `ExecStart=${here.node} ${here.cli} start`);
    expect(local).not.toBe(shipped);
    const r = verify(local);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
    // The check is real: a broken unit fails it.
    const broken = verify(shipped.replace(/^ExecStart=.*$/m, `ExecStart=${here.node}-missing ${here.cli} start`));
    expect(broken.status).not.toBe(0);
    expect(broken.output).toMatch(/not executable|No such file/);
  });
});

describe('install-service', () => {
  it("--dry-run prints the unit with this installation's absolute node and dist/daemon/cli.js", async () => {
    const r = await runCli(['install-service', '--dry-run']);
    expect(r.code).toBe(0);
    expect(value(r.stdout, 'ExecStart')).toEqual([`${here.node} ${here.cli} start`]);
    expect(r.stdout).toBe(renderUnit({ execStart: [here.node, here.cli, 'start'] }));
    expect(r.stderr).toContain('/etc/systemd/system/ai-processor.service');
  });

  it.skipIf(!requireTool('systemd-analyze'))('its units pass systemd-analyze verify: plain, with config/token/data dir, and --user', async () => {
    const plain = await runCli(['install-service', '--dry-run']);
    expect(verify(plain.stdout)).toEqual({ status: 0, output: '' });
    const dir = tempDir('aip-svc-');
    const withAll = await runCli([
      'install-service',
      '--dry-run',
      '--config',
      path.join(dir, 'config.json'),
      '--token-file',
      path.join(dir, 'token'),
      '--data-dir',
      path.join(dir, 'data dir'),
    ]);
    expect(value(withAll.stdout, 'ExecStart')[0]).toBe(
      `${here.node} ${here.cli} start --config ${dir}/config.json --data-dir "${dir}/data dir" --token-file %d/token`,
    );
    expect(value(withAll.stdout, 'LoadCredential')).toEqual([`token:${dir}/token`]);
    expect(value(withAll.stdout, 'ReadWritePaths')).toEqual([`"${dir}/data dir"`]);
    expect(verify(withAll.stdout)).toEqual({ status: 0, output: '' });
    const user = await runCli(['install-service', '--dry-run', '--user']);
    expect(value(user.stdout, 'WantedBy')).toEqual(['default.target']);
    expect(value(user.stdout, 'DynamicUser')).toEqual([]);
    expect(value(user.stdout, 'NoNewPrivileges')).toEqual(['yes']);
    expect(verify(user.stdout, true)).toEqual({ status: 0, output: '' });
  });

  it('--prefix writes the unit there and prints the systemctl commands', async () => {
    const dir = path.join(tempDir('aip-svc-'), 'units');
    const r = await runCli(['install-service', '--prefix', dir]);
    expect(r.code).toBe(0);
    const file = path.join(dir, 'ai-processor.service');
    expect(readFileSync(file, 'utf8')).toBe((await runCli(['install-service', '--dry-run'])).stdout);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(r.stdout).toContain(`wrote ${file}`);
    for (const cmd of [`systemctl link ${file}`, 'systemctl daemon-reload', 'systemctl enable --now ai-processor.service', 'systemctl reload ai-processor'])
      expect(r.stdout).toContain(cmd);
    const userRun = await runCli(['install-service', '--user', '--prefix', dir + '-user']);
    expect(userRun.stdout).toContain('systemctl --user enable --now ai-processor.service');
    const notADir = path.join(dir + '-user', 'ai-processor.service'); // a file: nothing can be created under it
    const denied = await runCli(['install-service', '--prefix', path.join(notADir, 'sub')]);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/cannot write/);
  });

  it("its ExecStart starts this checkout's daemon, which stops with 0 on SIGTERM", async () => {
    const unit = (await runCli(['install-service', '--dry-run'])).stdout;
    const [exec, ...args] = value(unit, 'ExecStart')[0].split(' ');
    const dataDir = tempDir();
    const proc = spawn(exec, [...args, '--port', '0', '--data-dir', dataDir], {
      env: cleanEnv({ AI_PROCESSOR_SERVICES: '[]' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (ch) => {
        out += ch;
        const m = /"url":"([^"]+)"[^\n]*"msg":"listening"/.exec(out);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`exited ${code}`)));
    });
    expect((await new HttpClient(url).get('/health')).body.status).toBe('ok');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe.skipIf(!requireTool('systemd-notify') || !findTool('python3'))('readiness notification (Type=notify)', () => {
  it('READY=1 with our pid only once the API and store are ready; status on reload; STOPPING=1; children never see NOTIFY_SOCKET', async () => {
    const dir = tempDir('aip-notify-');
    const socketPath = path.join(dir, 'notify.sock');
    // A stand-in for systemd's notification socket: prints each datagram as a JSON line, answers barriers.
    const receiver = path.join(dir, 'receiver.py');
    writeFileSync(
      receiver,
      [
        'import array, json, os, socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        's.bind(sys.argv[1])',
        'print(json.dumps("bound"), flush=True)',
        'while True:',
        '    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(64))',
        '    for level, kind, data in anc:',
        '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
        '            fds = array.array("i"); fds.frombytes(data[: len(data) - len(data) % 4])',
        '            for fd in fds: os.close(fd)',
        '    print(json.dumps(msg.decode()), flush=True)',
      ].join('\n'),
    );
    const py = spawn('python3', [receiver, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(() => py.kill());
    const messages: string[] = [];
    let buf = '';
    py.stdout.on('data', (ch) => {
      buf += ch;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        messages.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    await expect.poll(() => messages.includes('bound'), { timeout: 20_000 }).toBe(true); // python3's start on a loaded machine

    // An analyzer command that reports whether it inherited NOTIFY_SOCKET.
    const analyzer = path.join(dir, 'analyzer.sh');
    writeFileSync(analyzer, '#!/bin/sh\ncat > /dev/null\nprintf \'{"analysis":{"notify_socket":"%s"}}\' "${NOTIFY_SOCKET:-unset}"\n', { mode: 0o755 });

    const dataDir = tempDir();
    const proc = spawn(process.execPath, [CLI, 'start', '--port', '0', '--data-dir', dataDir, '--analyzer-command', analyzer], {
      env: cleanEnv({ AI_PROCESSOR_SERVICES: '[]', NOTIFY_SOCKET: socketPath }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    cleanup.push(() => proc.exitCode === null && proc.kill('SIGKILL'));
    let out = '';
    proc.stdout.on('data', (ch) => (out += ch));

    await expect.poll(() => messages.some((m) => m.includes('READY=1')), { timeout: 20_000 }).toBe(true);
    const ready = messages.find((m) => m.includes('READY=1'))!;
    // At the moment systemd hears READY=1, the daemon answers and its store is open.
    // The 'listening' line was written before READY=1, but the pipe may deliver it after the datagram.
    const listening = () => /"url":"([^"]+)"[^\n]*"msg":"listening"/.exec(out)?.[1];
    await expect.poll(listening, { timeout: 20_000 }).toBeDefined();
    const url = listening();
    const c = new HttpClient(url!);
    cleanup.push(() => c.close());
    expect((await c.get('/ready')).status).toBe(200);
    expect(ready.split('\n')).toEqual(expect.arrayContaining([`MAINPID=${proc.pid}`, 'READY=1', `STATUS=listening on ${url}, revision 0`]));
    expect(messages.filter((m) => m.includes('READY=1'))).toHaveLength(1);

    const analysis = await c.post('/api/claude/analyze-priorities', {});
    expect(analysis.body.analysis.notify_socket).toBe('unset');

    proc.kill('SIGHUP');
    await expect.poll(() => messages.some((m) => /STATUS=listening on .*reload 1: ok/.test(m)), { timeout: 20_000 }).toBe(true);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect.poll(() => messages.some((m) => m.split('\n').includes('STOPPING=1')), { timeout: 20_000 }).toBe(true);
    const order = messages
      .filter((m) => m !== 'bound' && !m.startsWith('BARRIER'))
      .map((m) => (m.includes('READY=1') ? 'ready' : m.includes('STOPPING=1') ? 'stopping' : 'status'));
    expect(order).toEqual(['ready', 'status', 'stopping']);
  });
});
