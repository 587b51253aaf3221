// Pure core: checksums, legacy array splitting, canonical JSON.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { applyChanges, entryTerm, readTermHex, stateChecksum, StateDigest, termHex } from '../shared/checksum.js';
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
    applyChanges(
      state,
      [
        { section: 'work', key: 'w3', op: 'del' },
        { section: 'agents', key: 'a', op: 'put', entry: { v: 1, rev: 60, data: { agent_id: 'a' } } },
      ],
      digest,
    );
    expect(digest.hex()).toBe(stateChecksum(state));
    const other = structuredClone(state);
    other.work.w7.data.n = 8;
    expect(stateChecksum(other)).not.toBe(stateChecksum(state));
    // Order of insertion does not matter, content does.
    const reversed = emptyState();
    applyChanges(reversed, [...changes].reverse());
    applyChanges(reversed, [
      { section: 'work', key: 'w3', op: 'del' },
      { section: 'agents', key: 'a', op: 'put', entry: { v: 1, rev: 60, data: { agent_id: 'a' } } },
    ]);
    expect(stateChecksum(reversed)).toBe(stateChecksum(state));
  });

  it("the 32-bit limb sum is the sum mod 2^256 of the records' sha256 (checked against BigInt)", () => {
    const MOD = 1n << 256n;
    const digest = new StateDigest();
    let ref = 0n;
    const terms = [];
    // Terms near the edges too: carries through every limb, and a subtraction below zero.
    for (let i = 0; i < 300; i++) {
      const entry = { v: 1, rev: i, data: { work_item_id: `w${i}`, text: 'x'.repeat(i % 7) } };
      const t = entryTerm('work', `w${i}`, entry);
      expect(termHex(t)).toBe(
        createHash('sha256')
          .update(canonicalJson(['work', `w${i}`, entry]))
          .digest('hex'),
      );
      terms.push(t);
      digest.add(t);
      ref = (ref + BigInt('0x' + termHex(t))) % MOD;
      expect(digest.hex()).toBe(ref.toString(16).padStart(64, '0'));
    }
    for (const t of terms.slice(0, 200).reverse()) {
      digest.remove(t);
      ref = (ref - BigInt('0x' + termHex(t)) + MOD) % MOD;
      expect(digest.hex()).toBe(ref.toString(16).padStart(64, '0'));
    }
    // Stored and read back (the snapshot keeps each record's term): the same words; bad text is refused.
    const back = { d0: 0, d1: 0, d2: 0, d3: 0, d4: 0, d5: 0, d6: 0, d7: 0 };
    expect(readTermHex(back, termHex(terms[7]))).toBe(true);
    expect(back).toEqual({ ...terms[7] });
    expect(readTermHex(back, 'xyz')).toBe(false);
    expect(readTermHex(back, 'G'.repeat(64))).toBe(false);
    const empty = new StateDigest();
    const all = { d0: -1, d1: -1, d2: -1, d3: -1, d4: -1, d5: -1, d6: -1, d7: -1 }; // 2^256 - 1
    empty.remove(all); // 0 - (2^256 - 1) = 1 (mod 2^256)
    expect(empty.hex()).toBe('0'.repeat(63) + '1');
    empty.add(all); // 1 + (2^256 - 1) = 0
    expect(empty.hex()).toBe('0'.repeat(64));
    empty.add(all);
    empty.add(all); // 2 * (2^256 - 1) = 2^256 - 2
    expect(empty.hex()).toBe('f'.repeat(63) + 'e');
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
