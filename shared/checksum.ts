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
import { SECTIONS } from './types.js';

const MOD = 1n << 256n;

// One-shot hashing (Node >= 20.12) where available: no Hash object per record.
const sha256Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => createHash('sha256').update(text).digest('hex');

export function entryDigest(section: Section, key: string, entry: Entry): bigint {
  return BigInt('0x' + sha256Hex(canonicalJson([section, key, entry])));
}

export function digestHex(sum: bigint): string {
  return sum.toString(16).padStart(64, '0');
}

/** Running checksum of a state, updated record by record. */
export class StateDigest {
  private sum = 0n;

  add(d: bigint): void {
    this.sum = (this.sum + d) % MOD;
  }

  remove(d: bigint): void {
    this.sum = (this.sum - d + MOD) % MOD;
  }

  hex(): string {
    return digestHex(this.sum);
  }

  clone(): StateDigest {
    const copy = new StateDigest();
    copy.sum = this.sum;
    return copy;
  }

  static of(state: CoordinationState): StateDigest {
    const digest = new StateDigest();
    for (const section of SECTIONS) {
      for (const [key, entry] of Object.entries(state[section])) digest.add(entryDigest(section, key, entry));
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
    if (old && digest) digest.remove(entryDigest(ch.section, ch.key, old));
    if (ch.op === 'del' || !ch.entry) {
      delete table[ch.key];
    } else {
      table[ch.key] = ch.entry;
      if (digest) digest.add(entryDigest(ch.section, ch.key, ch.entry));
    }
  }
}
