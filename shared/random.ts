// A small seeded random generator, so simulated fleets and generated test data repeat exactly.

export type Rand = () => number;

/** mulberry32: tiny, fast, good enough for simulations and test data (not for secrets). */
export function rng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
