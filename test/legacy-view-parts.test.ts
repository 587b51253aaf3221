// The pure parts the legacy view is composed of (daemon/store/view-base.ts, view-meta.ts,
// view-problems.ts, recent-writes.ts): what differs from the base, what a write may drop, the meta
// file's text, how problems are described. The view itself is tested against real daemons
// (external-edits, stale-copies, file-problems, view-pacing, legacy-big-file).
import { describe, expect, it } from 'vitest';
import { formatRecord } from '../shared/legacy-json.js';
import { textHash, type BaseRecord } from '../daemon/store/ingest.js';
import { LockBusyError } from '../daemon/store/file-lock.js';
import { Tables } from '../daemon/store/tables.js';
import { changedKeys, forWrite, pendingUpdates, slotHash, textOf, unexplainedDrops } from '../daemon/store/view-base.js';
import { metaLines, parseMeta } from '../daemon/store/view-meta.js';
import { describeError } from '../daemon/store/view-problems.js';
import { RecentWrites } from '../daemon/store/recent-writes.js';

function tables(records: Record<string, object>): Tables {
  const t = new Tables();
  for (const [k, data] of Object.entries(records)) t.set('work', k, { v: 1, rev: 1, data: data as never });
  return t;
}

describe('view-base', () => {
  it('finds the keys that differ from the base: changed, added, deleted', () => {
    const t = tables({ a: { x: 1 }, b: { x: 2 }, c: { x: 3 } });
    const map = t.maps.work;
    const base = new Map<string, BaseRecord>([
      ['a', { h: slotHash(map.get('a')!) }],
      ['b', { h: textHash(formatRecord({ x: 'old' })) }],
      ['gone', { h: 'h' }],
    ]);
    expect([...changedKeys(map, base)].sort()).toEqual(['b', 'c', 'gone']);
    // All compared when the changed keys are not known: the same keys, with their slots (null: to drop).
    const pending = pendingUpdates(map, base, null);
    expect(new Map(pending.map(([k, s]) => [k, s === null ? null : s.data]))).toEqual(
      new Map<string, unknown>([
        ['a', { x: 1 }], // same hash, but its data is not the base's: the base record is replaced by the slot
        ['b', { x: 2 }],
        ['c', { x: 3 }],
        ['gone', null],
      ]),
    );
    expect(pendingUpdates(map, base, new Set(['c']))).toEqual([['c', map.get('c')]]);
  });

  it('never lets a write drop a record of the file that no change deleted', () => {
    const base = new Map<string, BaseRecord>([
      ['kept', { h: '1' }],
      ['deleted', { h: '2' }],
      ['unexplained', { h: '3' }],
    ]);
    const pending: Array<[string, null]> = [
      ['deleted', null],
      ['unexplained', null],
    ];
    expect(unexplainedDrops(pending, base, new Set(['deleted']))).toEqual(['unexplained']);
    expect(unexplainedDrops(pending, null, new Set())).toEqual([]);
  });

  it('writes a record by its own text when it has one, and notes its hash', () => {
    const t = new Tables();
    t.set('work', 'k', { v: 1, rev: 1, data: { n: 100 } }, '{\n    "n": 100.0\n  }');
    const slot = t.maps.work.get('k')!;
    expect(textOf(slot)).toBe('{\n    "n": 100.0\n  }');
    expect(forWrite(slot)).toBe('{\n    "n": 100.0\n  }');
    expect(slot.h).toBe(textHash('{\n    "n": 100.0\n  }'));
    const plain = tables({ p: { a: 1 } }).maps.work.get('p')!;
    expect(forWrite(plain)).toBe(formatRecord({ a: 1 })); // its hash still to note: as text
    expect(forWrite(plain)).toEqual({ a: 1 }); // noted: as data, formatted with its neighbours
  });
});

describe('view-meta', () => {
  it('reads back what it writes, keys with tabs, quotes and newlines included', () => {
    const base = new Map<string, BaseRecord>([
      ['plain', { h: 'AAA' }],
      ['tab\there "q" \n nl', { h: 'BBB' }],
    ]);
    for (let i = 0; i < 2000; i++) base.set(`k${i}`, { h: `h${i}` });
    const text = [...metaLines({ sha: 'abc', revision: 42, base })].join('');
    expect(parseMeta(text)).toEqual({ sha256: 'abc', revision: 42, records: [...base].map(([k, b]) => [k, b.h]) });
  });

  it('takes a damaged meta for no meta', () => {
    expect(parseMeta('not json\n"a"\tb\n')).toBeNull();
    expect(parseMeta('{"sha256":"x","revision":1}\nnot a key\tb\n')).toBeNull();
  });
});

describe('view-problems', () => {
  it('describes an error by its kind and system call, never by its message', () => {
    const sys = Object.assign(new Error('EACCES: permission denied, open /secret/TOPSECRET'), { code: 'EACCES', syscall: 'open' });
    expect(describeError('unreadable', sys)).toBe('cannot read: EACCES (open)');
    expect(describeError('write_failed', sys)).toBe('write failed: EACCES (open)');
    expect(describeError('unreadable', new RangeError('Maximum call stack size exceeded'))).toBe('a record is too deeply nested to process');
    expect(describeError('unreadable', new TypeError('TOPSECRET'))).toBe('cannot process: TypeError');
    const busy = new LockBusyError('/data/work_claims.json', 'script');
    expect(describeError('locked', busy)).toBe(busy.message);
  });
});

describe('recent-writes', () => {
  it('remembers the versions a write replaced and the records it added, and the files it put in place', () => {
    const recent = new RecentWrites();
    const base = new Map<string, BaseRecord>([['a', { h: textHash('old a'), data: { v: 'old' } }]]);
    recent.applyBase(
      base,
      [
        ['a', { h: textHash('new a'), data: { v: 'new' } }],
        ['b', { h: textHash('b') }],
      ],
      Date.now(),
    );
    expect(base.get('a')!.h).toBe(textHash('new a'));
    expect(recent.isStale('a', textHash('old a'))).toBe(true);
    expect(recent.isStale('a', textHash('new a'))).toBe(false);
    expect(recent.versionsOf('a')).toEqual([{ v: 'old' }]);
    expect(recent.recentlyAdded('b')).toBe(true);
    expect(recent.recentlyAdded('a')).toBe(false);
    recent.noteFile('sha1', Date.now());
    expect(recent.isOldWrite('sha1')).toBe(true);
    expect(recent.isOldWrite('sha2')).toBe(false);
  });
});
