// The console's Files view, end to end: path leases taken through a real daemon (a Claude Code
// session's PreToolUse edit tied to its claim, a shell agent's shared directory claim), the
// compiled console in tmux (read with capture-pane), and a second session's refused edits appearing
// as they happen, up to the stuck mark; enter on a lease opens its holder, whose drill-down lists
// its leases.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import { CONSOLE_CLI, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';
import { git, hookFixture } from './helpers/claude-code.js';

const HAS_TMUX = requireTool('tmux');
const term = new Terminal('aic-files');
const REPO_ID = 'github.com/example/shopfront';

const HOLDER = '7b7b7b7b-1111-4111-8111-00000000a001';
const REFUSED = '7c7c7c7c-2222-4222-8222-00000000b002';
// Ids are shortened in the middle on screen; their last digits survive.
const tail = (session: string): string => session.slice(-5);

type HookAnswer = { hookSpecificOutput?: { permissionDecision?: string } };

const lines = (s: string): string[] => s.split('\n');
const waitForScreen = (pred: (s: string) => boolean, what: string): Promise<string> => term.waitForScreen(pred, what, 20_000);
/** The line of the screen holding every one of `parts`, or undefined. */
const lineWith = (s: string, ...parts: string[]): string | undefined => lines(s).find((l) => parts.every((p) => l.includes(p)));

describe.skipIf(!HAS_TMUX)('ai-console Files view (tmux, real daemon)', () => {
  let daemon: DaemonHandle;
  let api: ApiClient;
  let workDir: string;
  let repo: string;

  /** A recorded hook payload for one of our sessions, POSTed as Claude Code would; the hook's answer. */
  async function hook(fixture: string, sessionId: string, patch: Record<string, unknown> = {}): Promise<HookAnswer> {
    const body = hookFixture(fixture);
    Object.assign(body, { session_id: sessionId, cwd: repo, transcript_path: path.join(workDir, `${sessionId}.jsonl`) }, patch);
    const res = await api.post<HookAnswer>('/api/hooks/claude-code', body);
    expect(res.status).toBe(200);
    return res.body;
  }
  const edit = (sessionId: string, file: string) =>
    hook('PreToolUse.Edit', sessionId, { tool_input: { file_path: path.join(repo, file), old_string: 'a', new_string: 'b' } });

  beforeAll(async () => {
    workDir = tempDir('aic-files-');
    repo = path.join(workDir, 'shopfront');
    mkdirSync(path.join(repo, 'src'), { recursive: true });
    mkdirSync(path.join(repo, 'docs'), { recursive: true });
    for (const f of ['src/db.ts', 'docs/guide.md']) writeFileSync(path.join(repo, f), `// ${f}\n`);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'remote', 'add', 'origin', 'https://github.com/example/shopfront.git');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'init');

    daemon = await startDaemon({ args: ['--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    await hook('SessionStart', HOLDER);
    expect((await api.post('/api/coordination/claim', { work_id: 'checkout_fix', agent_id: `cc_${HOLDER}` })).status).toBe(200);
    expect(await edit(HOLDER, 'src/db.ts')).toEqual({});
    const docs = await api.post('/api/paths/claim', { agent_id: 'shell_docs', repo: REPO_ID, paths: ['docs/'], mode: 'shared' });
    expect(docs.status).toBe(200);
    await hook('SessionStart', REFUSED);

    const cmd = `env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u NO_COLOR ${JSON.stringify(process.execPath)} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url}; sleep 60`;
    term.start(cmd, 130, 30);
    await waitForScreen((s) => s.includes('shell_docs') && /verified/.test(lines(s)[0]), 'the first frame');
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop('SIGKILL');
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('key 7 opens the Files view: each lease with its mode, holder, work item, age and repository', async () => {
    term.keys('7');
    const s = await waitForScreen((x) => x.includes('Files: path leases (2)') && x.includes('src/db.ts') && x.includes('docs/'), 'the Files view');
    expect(lines(s)[2]).toMatch(/7 Files/);
    expect(s).toContain('1 exclusive · 1 shared');
    const db = lineWith(s, 'src/db.ts');
    expect(db).toBeDefined();
    expect(db).toContain('exclusive');
    expect(db).toContain(tail(HOLDER));
    expect(db).toContain('checkout_fix');
    expect(db).toMatch(/ \d+(s|m\d\ds) /); // since: an age
    expect(db).toContain(REPO_ID);
    const docs = lineWith(s, 'docs/', 'shell_docs');
    expect(docs).toContain('shared');
    expect(docs).toMatch(/shell_docs +- /); // no work item
    expect(s).toContain('Refused edits (0)');
    expect(s).toContain('none since the console started');
    for (const l of lines(s)) expect(l.length).toBeLessThanOrEqual(130);
  });

  it("a second session's refused edit appears as it happens, naming the holder and its work item; the fifth is marked stuck", async () => {
    const answer = await edit(REFUSED, 'src/db.ts');
    expect(answer.hookSpecificOutput?.permissionDecision).toBe('deny');
    let s = await waitForScreen((x) => x.includes('Refused edits (1)'), 'the first refusal');
    let row = lineWith(s, 'refused', tail(REFUSED));
    expect(row, s).toBeDefined();
    expect(row).toContain('src/db.ts');
    expect(row).toContain('checkout_fix)'); // held by cc_… (checkout_fix)
    expect(row).toMatch(/ 1$/);
    expect(s).toContain('as they happen');

    for (let i = 2; i <= 5; i++) expect((await edit(REFUSED, 'src/db.ts')).hookSpecificOutput?.permissionDecision).toBe('deny');
    s = await waitForScreen((x) => x.includes('Refused edits (5)'), 'five refusals');
    expect(s).toContain('! 1 stuck (agent, path)');
    // Newest first: the first refusal row carries the count of the fifth.
    row = lines(s).find((l) => l.includes('refused') && l.includes(tail(REFUSED)));
    expect(row).toMatch(/! 5 stuck$/);
    // The refused session holds nothing: still two leases.
    expect(s).toContain('Files: path leases (2)');
  });

  it("enter on a lease opens its holder's drill-down, which lists its path leases", async () => {
    let s = await waitForScreen((x) => x.includes('Files: path leases (2)'), 'the Files view');
    // Sorted by path: docs/ first, src/db.ts second.
    const rows = lines(s).filter((l) => /^(> | {2})\S/.test(l) && (l.includes('docs/') || l.includes('src/db.ts')));
    expect(rows[0]).toContain('docs/');
    term.keys('j');
    await waitForScreen((x) => (lineWith(x, 'src/db.ts', 'exclusive') ?? '').startsWith('> '), 'src/db.ts selected');
    term.keys('Enter');
    s = await waitForScreen((x) => x.includes(`cc_${HOLDER}`) && x.includes('(path lease 1/1)'), "the holder's drill-down");
    expect(lines(s)[2]).toMatch(/1 Agents/);
    const lease = lineWith(s, '(path lease 1/1)');
    expect(lease).toContain('src/db.ts');
    expect(lease).toContain('exclusive · work checkout_fix · since ');
    expect(lease).toMatch(/since \d\d:\d\d:\d\d/);
    expect(lease).toContain(`in ${REPO_ID}`);
    // The lease is tied to the claim the record's end lists.
    term.keys('G');
    s = await waitForScreen((x) => lineWith(x, '(claims held)') !== undefined, 'the end of the drill-down');
    expect(lineWith(s, '(claims held)')).toContain('checkout_fix');

    // The shell agent's drill-down from the agents list: its shared directory lease.
    // One key at a time, each drawn before the next: an escape followed at once by `/` reads as alt-/.
    term.keys('Escape');
    await waitForScreen((x) => x.includes('Agents (3)'), 'the agents list');
    term.keys('/');
    await waitForScreen((x) => x.includes('/_'), 'the filter prompt');
    for (const ch of 'shell_docs') term.keys(ch);
    await waitForScreen((x) => x.includes('/shell_docs_'), 'the typed filter');
    term.keys('Enter');
    await waitForScreen((x) => x.includes('filter: shell_docs'), 'the agents list filtered');
    term.keys('Enter');
    s = await waitForScreen((x) => x.includes('Agent shell_docs') && x.includes('(path lease 1/1)'), 'the shell agent drill-down');
    expect(lineWith(s, '(path lease 1/1)')).toContain('docs/  shared · no work item · since ');
  });
});
