// State checksums.
//
// `checksum` (sent on every delta and in status) is an additive multiset hash: the sum, modulo
// 2^256, of sha256(canonicalJson([section, key, entry])) over every record. It identifies the state
// exactly as a sha256 of the whole canonical state would (same records <=> same sum, barring sha256
// collisions), but a change costs one record's hash instead of re-hashing the whole state, so the
// cost per operation stays flat at any size. `sha256` (status only, computed on request) is the
// plain sha256 of canonicalJson(state) for tools that want that.
import crypto, { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { CoordinationState, Entry, RecordChange, Section } from './types.js';
import { SECTIONS, entryOf, setRecord } from './types.js';

/**
 * A record's term in the checksum: sha256(canonicalJson([section, key, entry])) as eight signed
 * 32-bit words, most significant first. Plain integer fields rather than a BigInt: the daemon keeps
 * one per record inside the record's slot, where they cost no object of their own for the garbage
 * collector to trace (50k BigInts were 50k of the heap's objects, and each change allocated one).
 */
export interface DigestTerm {
  d0: number;
  d1: number;
  d2: number;
  d3: number;
  d4: number;
  d5: number;
  d6: number;
  d7: number;
}

// One-shot hashing (Node >= 20.12) where available: no Hash object per record.
const sha256: (text: string) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'buffer')
    : (text) => createHash('sha256').update(text).digest();

/** Computes a record's term into `target` (a slot, or any object with the eight fields). */
export function writeTerm(target: DigestTerm, section: Section, key: string, entry: Entry): void {
  // The entry's three fields only: a daemon's slot is an Entry with bookkeeping fields besides.
  const b = sha256(canonicalJson([section, key, entryOf(entry)]));
  target.d0 = b.readInt32BE(0);
  target.d1 = b.readInt32BE(4);
  target.d2 = b.readInt32BE(8);
  target.d3 = b.readInt32BE(12);
  target.d4 = b.readInt32BE(16);
  target.d5 = b.readInt32BE(20);
  target.d6 = b.readInt32BE(24);
  target.d7 = b.readInt32BE(28);
}

export function entryTerm(section: Section, key: string, entry: Entry): DigestTerm {
  const t: DigestTerm = { d0: 0, d1: 0, d2: 0, d3: 0, d4: 0, d5: 0, d6: 0, d7: 0 };
  writeTerm(t, section, key, entry);
  return t;
}

/** The term as 64 hex digits (what sha256 gave). */
export function termHex(t: DigestTerm): string {
  return [t.d0, t.d1, t.d2, t.d3, t.d4, t.d5, t.d6, t.d7].map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Reads a term written by termHex into `target`; false (nothing read) unless it is 64 hex digits. */
export function readTermHex(target: DigestTerm, hex: string): boolean {
  if (typeof hex !== 'string' || !HEX64.test(hex)) return false;
  const w = (i: number) => parseInt(hex.slice(i * 8, i * 8 + 8), 16) | 0; // | 0: as a signed 32-bit word
  target.d0 = w(0);
  target.d1 = w(1);
  target.d2 = w(2);
  target.d3 = w(3);
  target.d4 = w(4);
  target.d5 = w(5);
  target.d6 = w(6);
  target.d7 = w(7);
  return true;
}

/** Running checksum of a state (sum of the terms mod 2^256, in 32-bit limbs), updated record by record. */
export class StateDigest {
  /** Limbs, most significant first. Stores into a Uint32Array reduce mod 2^32. */
  private w = new Uint32Array(8);

  add(t: DigestTerm): void {
    this.sum(t.d0, t.d1, t.d2, t.d3, t.d4, t.d5, t.d6, t.d7, 0);
  }

  /** Subtracts: adds the two's complement (every bit flipped, plus one). */
  remove(t: DigestTerm): void {
    this.sum(~t.d0, ~t.d1, ~t.d2, ~t.d3, ~t.d4, ~t.d5, ~t.d6, ~t.d7, 1);
  }

  private sum(a0: number, a1: number, a2: number, a3: number, a4: number, a5: number, a6: number, a7: number, carryIn: number): void {
    const w = this.w;
    let s = w[7] + (a7 >>> 0) + carryIn;
    w[7] = s;
    s = w[6] + (a6 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[6] = s;
    s = w[5] + (a5 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[5] = s;
    s = w[4] + (a4 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[4] = s;
    s = w[3] + (a3 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[3] = s;
    s = w[2] + (a2 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[2] = s;
    s = w[1] + (a1 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[1] = s;
    s = w[0] + (a0 >>> 0) + (s > 0xffffffff ? 1 : 0);
    w[0] = s; // the carry out of the top limb is the mod 2^256
  }

  hex(): string {
    let out = '';
    for (let i = 0; i < 8; i++) out += this.w[i].toString(16).padStart(8, '0');
    return out;
  }

  clone(): StateDigest {
    const copy = new StateDigest();
    copy.w.set(this.w);
    return copy;
  }

  static of(state: CoordinationState): StateDigest {
    const digest = new StateDigest();
    for (const section of SECTIONS) {
      for (const [key, entry] of Object.entries(state[section])) digest.add(entryTerm(section, key, entry));
    }
    return digest;
  }
}

export function stateChecksum(state: CoordinationState): string {
  return StateDigest.of(state).hex();
}

export function stateSha256(state: CoordinationState): string {
  return createHash('sha256').update(canonicalJson(state)).digest('hex');
}

/** Applies record changes to a plain state object, keeping `digest` in step. Pure apart from its arguments. */
export function applyChanges(state: CoordinationState, changes: RecordChange[], digest?: StateDigest): void {
  for (const ch of changes) {
    const table = state[ch.section];
    const old = table[ch.key];
    if (old && digest) digest.remove(entryTerm(ch.section, ch.key, old));
    if (ch.op === 'del' || !ch.entry) {
      delete table[ch.key];
    } else {
      setRecord(table, ch.key, ch.entry);
      if (digest) digest.add(entryTerm(ch.section, ch.key, ch.entry));
    }
  }
}
