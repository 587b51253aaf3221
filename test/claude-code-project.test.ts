// The repository of a session's directory, on a real filesystem: a walk up stops at a directory
// already looked up, and a repository nested inside another is still found as itself.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProjectResolver, gitRepo } from '../daemon/claude-code/project.js';
import { tempDir } from './helpers/daemon.js';

function repoAt(dir: string, origin: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('git', ['init', '-q'], { cwd: dir });
  execFileSync('git', ['remote', 'add', 'origin', origin], { cwd: dir });
}

describe('ProjectResolver', () => {
  it('finds the repository of directories below one looked up before, and a nested repository as itself', async () => {
    const outer = path.join(tempDir('aip-project-'), 'outer');
    repoAt(outer, 'https://example.test/team/outer.git');
    const inner = path.join(outer, 'vendor', 'inner');
    repoAt(inner, 'git@example.test:team/inner.git');
    const r = new ProjectResolver();
    expect(await r.repo(outer, 5000)).toEqual({ toplevel: outer, origin: 'example.test/team/outer' });
    // Not on disk (an edit may name a file in a directory it is about to create): placed by its ancestors.
    expect(await r.repo(path.join(outer, 'src', 'new', 'deep'), 5000)).toEqual({ toplevel: outer, origin: 'example.test/team/outer' });
    expect(await r.repo(path.join(inner, 'lib'), 5000)).toEqual({ toplevel: inner, origin: 'example.test/team/inner' });
    // The walk stops at a known directory only above the one asked about: the nested repository's own .git wins.
    expect(await gitRepo(inner, (d) => (d === outer ? { toplevel: outer, origin: null } : undefined))).toEqual({
      toplevel: inner,
      origin: 'example.test/team/inner',
    });
    // A known answer above short-cuts the walk (what the resolver's cache gives it).
    const fake = { toplevel: '/nowhere', origin: 'stands/in' };
    expect(await gitRepo(path.join(outer, 'src', 'a'), (d) => (d === path.join(outer, 'src') ? fake : undefined))).toBe(fake);
    expect(await r.resolve(path.join(outer, 'docs'))).toBe('outer');
  });
});
