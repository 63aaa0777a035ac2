/**
 * Deterministic randomness for the traffic generator. Everything the generator decides comes from these
 * functions, seeded from the run's seed; nothing reads Math.random or the clock, so a seed reproduces the
 * same records byte for byte on any platform (all arithmetic is 32-bit integer or IEEE double).
 *
 * Two kinds of source:
 * - `Rng`: a mulberry32 stream (the same PRNG as simulators/synthetic.ts), one per actor, so that what one
 *   subscriber or campaign draws never shifts what another one draws;
 * - `hash*`: stateless hashes (murmur3's 32-bit finaliser) for facts derived from an index, e.g. "the 7th
 *   contact of line 4711", which can then be recomputed on demand instead of being stored (memory stays
 *   bounded for a million subscribers).
 */

/** murmur3 fmix32: a bijective 32-bit mixer with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of two or three 32-bit values (order matters). */
export function hash2(a: number, b: number): number {
  return fmix32((Math.imul(a >>> 0, 0x9e3779b1) ^ fmix32(b >>> 0)) >>> 0);
}

export function hash3(a: number, b: number, c: number): number {
  return hash2(hash2(a, b), c);
}

/** n decimal digits from a hash, the first one in [first, 9]. */
export function digits(h: number, n: number, first = 0): string {
  let s = '';
  let x = h >>> 0;
  for (let i = 0; i < n; i++) {
    if (i === 0 && first > 0) s += String(first + (x % (10 - first)));
    else s += String(x % 10);
    x = Math.floor(x / 10);
    if (x < 10) x = hash3(h, i, n);
  }
  return s;
}

/** A 32-bit hash as a uniform number in [0, 1). */
export function unit(h: number): number {
  return (h >>> 0) / 4294967296;
}

/** Stable 32-bit hash of a string (FNV-1a then fmix), for seeding from names. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h >>> 0);
}

/**
 * mulberry32 stream with the distributions the traffic model needs. The state is a public field so that
 * a million subscribers can keep theirs in one Uint32Array and share a single Rng object (load, draw,
 * store), instead of a million objects.
 */
export class Rng {
  s: number;
  private spare = NaN;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Forgets the cached second normal deviate (when the state is swapped for another actor's). */
  reset(): void {
    this.spare = NaN;
  }

  /** Uniform [0, 1). */
  next(): number {
    const a = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Standard normal (Box-Muller; the second value is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and log-space sigma. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Weibull(shape k, scale). */
  weibull(k: number, scale: number): number {
    return scale * Math.pow(-Math.log(1 - this.next()), 1 / k);
  }

  /** Log-logistic with the given median (alpha) and shape beta, by inversion. */
  logLogistic(median: number, beta: number): number {
    const u = this.next();
    return median * Math.pow(u / (1 - u), 1 / beta);
  }

  /** Pareto type I with minimum xm and tail index alpha. */
  pareto(xm: number, alpha: number): number {
    return xm / Math.pow(1 - this.next(), 1 / alpha);
  }

  /** Index drawn from cumulative weights (last element = total). */
  weighted(cumulative: Float64Array | readonly number[]): number {
    const n = cumulative.length;
    const x = this.next() * (cumulative[n - 1] as number);
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Zipf-like rank in [0, n) with exponent s (rank 0 most likely), by inversion of the continuous form. */
  zipf(n: number, s: number): number {
    const u = this.next();
    if (Math.abs(s - 1) < 1e-9) return Math.min(n - 1, Math.floor(Math.exp(u * Math.log(n + 1)) - 1));
    const a = 1 - s;
    return Math.min(n - 1, Math.floor(Math.pow(u * (Math.pow(n + 1, a) - 1) + 1, 1 / a) - 1));
  }
}

/** Cumulative sums of weights, for Rng.weighted. */
export function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) out[i] = sum += weights[i] as number;
  return out;
}

/** Lanczos approximation of the gamma function (g = 7, n = 9), for Weibull means. */
export function gamma(x: number): number {
  const g = 7;
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  x -= 1;
  let a = c[0] as number;
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += (c[i] as number) / (x + i);
  return Math.sqrt(2 * Math.PI) * Math.pow(t, x + 0.5) * Math.exp(-t) * a;
}

/**
 * A bijection of [0, m) (an affine map modulo m with a multiplier coprime to m): spreads sequential line
 * indices over a number block the way real number assignment looks, and is invertible (for "sequential
 * B-number" Wangiri campaigns).
 */
export class Permutation {
  readonly a: number;
  readonly b: number;
  private readonly inv: number;

  constructor(
    readonly m: number,
    seed: number,
  ) {
    if (m < 4 || m > 1 << 26) throw new RangeError(`Permutation size ${m} out of range`);
    let a = (seed % m) | 1;
    while (gcd(a, m) !== 1 || a < 2) a = (a + 2) % m || 3;
    this.a = a;
    this.b = hash2(seed, 0xb) % m;
    this.inv = modInverse(a, m);
  }

  // m stays below 2^26 (number blocks of at most 10^7), so a * i < 2^53 and plain doubles are exact.
  apply(i: number): number {
    return (this.a * i + this.b) % this.m;
  }

  invert(p: number): number {
    const x = (((p - this.b) % this.m) + this.m) % this.m;
    return (this.inv * x) % this.m;
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function modInverse(a: number, m: number): number {
  let [r0, r1] = [BigInt(m), BigInt(a % m)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  const mm = BigInt(m);
  return Number(((t0 % mm) + mm) % mm);
}
