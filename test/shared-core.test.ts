// Pure core: checksums, legacy array splitting, canonical JSON.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { applyChanges, stateChecksum, StateDigest } from '../shared/checksum.js';
import { canonicalJson } from '../shared/canonical.js';
import { renderArray, splitJsonArray } from '../shared/legacy-json.js';
import { isValidId } from '../shared/ids.js';
import { emptyState, type RecordChange } from '../shared/types.js';
import { REFERENCE } from './helpers/daemon.js';

describe('canonical JSON and checksums', () => {
  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  it('the incremental checksum equals a full recomputation and depends on every record', () => {
    const state = emptyState();
    const digest = new StateDigest();
    const changes: RecordChange[] = [];
    for (let i = 0; i < 50; i++) changes.push({ section: 'work', key: `w${i}`, op: 'put', entry: { v: 1, rev: i + 1, data: { work_item_id: `w${i}`, n: i } } });
    applyChanges(state, changes, digest);
    expect(digest.hex()).toBe(stateChecksum(state));
    applyChanges(state, [{ section: 'work', key: 'w3', op: 'del' }, { section: 'agents', key: 'a', op: 'put', entry: { v: 1, rev: 60, data: { agent_id: 'a' } } }], digest);
    expect(digest.hex()).toBe(stateChecksum(state));
    const other = structuredClone(state);
    other.work.w7.data.n = 8;
    expect(stateChecksum(other)).not.toBe(stateChecksum(state));
    // Order of insertion does not matter, content does.
    const reversed = emptyState();
    applyChanges(reversed, [...changes].reverse());
    applyChanges(reversed, [{ section: 'work', key: 'w3', op: 'del' }, { section: 'agents', key: 'a', op: 'put', entry: { v: 1, rev: 60, data: { agent_id: 'a' } } }]);
    expect(stateChecksum(reversed)).toBe(stateChecksum(state));
  });
});

describe('legacy JSON arrays', () => {
  it('splits the reference files into element texts that reassemble byte for byte', () => {
    for (const f of ['work_claims.json', 'agent_status.json', 'coordination_log.json']) {
      const text = readFileSync(path.join(REFERENCE, 'legacy', f), 'utf8');
      const split = splitJsonArray(text);
      if (!split.ok) throw new Error(split.error);
      expect(split.items.length).toBe((JSON.parse(text) as unknown[]).length);
      expect(renderArray(split.items.map((i) => i.text))).toBe(text);
      for (const item of split.items) expect(JSON.parse(item.text)).toEqual(item.value);
    }
  });

  it('refuses half-written, empty and non-array content instead of reading it as "no records"', () => {
    const text = readFileSync(path.join(REFERENCE, 'legacy', 'work_claims.json'), 'utf8');
    expect(splitJsonArray(text.slice(0, text.length / 2)).ok).toBe(false);
    expect(splitJsonArray('').ok).toBe(false);
    expect(splitJsonArray('{"a":1}').ok).toBe(false);
    expect(splitJsonArray('[1,2]').ok).toBe(false);
    const tricky = splitJsonArray('[{"a":"}{[\\"]"},{"b":[{"c":1}]}]');
    expect(tricky.ok && tricky.items.map((i) => i.text)).toEqual(['{"a":"}{[\\"]"}', '{"b":[{"c":1}]}']);
    expect(renderArray([])).toBe('[]\n');
  });

  it('validates ids: no separators, no "..", bounded length', () => {
    for (const ok of ['work_1750004228696079000', 'agent-1.a:b', 'x']) expect(isValidId(ok)).toBe(true);
    for (const bad of ['../x', 'a/b', '..', 'a..b', '', 'x'.repeat(129), 'a b', 'a\\b']) expect(isValidId(bad)).toBe(false);
  });
});
