/**
 * Exact money in safe integers. Every amount is an integer count of micro-units (1e-6 of the currency unit,
 * schemas/tariff.ts MONEY_SCALE). A price per increment is kept as a reduced fraction num/den of micro-units
 * (0.10 per 60 s billed per second = 5000/3 micro-units per block), usage charges are sums of such fractions,
 * and the only division happens once, in `roundRational`, with the tariff's rounding method.
 *
 * Why safe integers and not bigint: bigint arithmetic allocates and runs 10-50x slower in the per-record loop
 * (measured in tools/bench/microbench-rating.ts). Why it is exact: every product is checked against 2^53 - 1
 * before it is trusted (`mulOrNaN`); IEEE multiplication of integers is exact while the true product is
 * below 2^53, and rounding is monotonic, so a true product of 2^53 or more always *computes* to 2^53 or more
 * and is caught. A caught overflow moves that computation to bigint (the `Big` helpers), so there is no
 * input whose price is silently wrong. Magnitudes in practice: a 24 h call at 1000.00 per second billed per
 * second is 86,400 × 1e9 = 8.6e13 micro-unit numerators, 100x below the limit.
 */
import { MONEY_PATTERN } from '../../schemas/reference.js';
import { MONEY_SCALE, type RoundingMethod } from '../../schemas/tariff.js';

export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Rounding methods as small integers for the hot path. */
export const ROUND_UP = 0;
export const ROUND_DOWN = 1;
export const ROUND_HALF_UP = 2;
export const ROUND_HALF_EVEN = 3;

export function roundingCode(m: RoundingMethod): number {
  switch (m) {
    case 'up':
      return ROUND_UP;
    case 'down':
      return ROUND_DOWN;
    case 'half-up':
      return ROUND_HALF_UP;
    case 'half-even':
      return ROUND_HALF_EVEN;
  }
}

/** Parses an exact decimal ("0.035", "12") into micro-units; throws on more than 6 decimals or unsafe size. */
export function parseMicros(value: unknown, where: string): number {
  if (typeof value === 'number') {
    // Accepted for convenience in hand-written JSON only when the number prints exactly as a short decimal.
    value = String(value);
    if (!MONEY_PATTERN.test(value as string)) throw new RangeError(`${where}: ${String(value)} is not an exact decimal amount (write it as a string, e.g. "0.035")`);
  }
  if (typeof value !== 'string' || !MONEY_PATTERN.test(value)) throw new RangeError(`${where}: ${JSON.stringify(value)} is not an exact decimal amount (e.g. "0.035")`);
  const neg = value.startsWith('-');
  const [int = '0', frac = ''] = (neg ? value.slice(1) : value).split('.');
  if (frac.length > MONEY_SCALE) throw new RangeError(`${where}: ${value} has more than ${MONEY_SCALE} decimals`);
  const units = BigInt(int) * 10n ** BigInt(MONEY_SCALE) + BigInt((frac + '0'.repeat(MONEY_SCALE)).slice(0, MONEY_SCALE) || '0');
  if (units > BigInt(MAX_SAFE)) throw new RangeError(`${where}: ${value} is too large`);
  const n = Number(units);
  return neg ? -n : n;
}

export function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  // `> 0`, not `!== 0`: a NaN or infinite operand ends the loop (NaN % x is NaN) instead of spinning.
  while (b > 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** a*b when the exact product is a safe integer, else NaN (see the file comment for why this is sound). */
export function mulOrNaN(a: number, b: number): number {
  const p = a * b;
  return p <= MAX_SAFE && p >= -MAX_SAFE ? p : NaN;
}

/**
 * num/den (den > 0, num >= 0) rounded to a multiple of `quantum` micro-units with a method; returns micro-units.
 * Integer-only: the quotient is corrected after a float estimate so it is exact for any safe num and den*quantum.
 */
export function roundRational(num: number, den: number, quantum: number, method: number): number {
  const d = den * quantum;
  if (d > MAX_SAFE) return Number(roundRationalBig(BigInt(num), BigInt(den), quantum, method));
  let q = Math.floor(num / d);
  let r = num - q * d;
  if (r < 0) {
    q -= 1;
    r += d;
  } else if (r >= d) {
    q += 1;
    r -= d;
  }
  if (r !== 0) {
    switch (method) {
      case ROUND_UP:
        q += 1;
        break;
      case ROUND_HALF_UP:
        if (2 * r >= d) q += 1;
        break;
      case ROUND_HALF_EVEN:
        if (2 * r > d || (2 * r === d && q % 2 !== 0)) q += 1;
        break;
      default:
        break;
    }
  }
  return q * quantum;
}

/** The same in bigint, for sums that outgrew safe integers. */
export function roundRationalBig(num: bigint, den: bigint, quantum: number, method: number): bigint {
  const d = den * BigInt(quantum);
  let q = num / d;
  let r = num % d;
  if (r < 0n) {
    q -= 1n;
    r += d;
  }
  if (r !== 0n) {
    if (method === ROUND_UP) q += 1n;
    else if (method === ROUND_HALF_UP && 2n * r >= d) q += 1n;
    else if (method === ROUND_HALF_EVEN && (2n * r > d || (2n * r === d && q % 2n !== 0n))) q += 1n;
  }
  return q * BigInt(quantum);
}

/**
 * An exact running sum of fractions n_i × num_i / den_i: safe integers while they suffice, then bigint.
 * One instance is reused for every record (no allocation on the per-record path).
 */
export class RationalSum {
  num = 0;
  den = 1;
  private big = false;
  private bnum = 0n;
  private bden = 1n;

  reset(): void {
    this.num = 0;
    this.den = 1;
    this.big = false;
  }

  /** Adds count × (num / den); den > 0; all arguments safe non-negative integers. */
  add(count: number, num: number, den: number): void {
    if (!this.big) {
      const top = mulOrNaN(count, num);
      if (this.num === 0 && !Number.isNaN(top)) {
        // First term (the common case: one rate group): no common denominator to find.
        this.num = top;
        this.den = den;
        return;
      }
      if (den === this.den) {
        const s = this.num + top;
        if (s <= MAX_SAFE) {
          this.num = s;
          return;
        }
      } else {
        const g = gcd(this.den, den);
        const l = mulOrNaN(this.den / g, den);
        const a = mulOrNaN(this.num, l / this.den);
        const b = mulOrNaN(top, l / den);
        const s = a + b;
        if (s <= MAX_SAFE) {
          this.num = s;
          this.den = l;
          return;
        }
      }
      // NaN comparisons are false: any overflow above lands here.
      this.big = true;
      this.bnum = BigInt(this.num);
      this.bden = BigInt(this.den);
    }
    const bd = BigInt(den);
    this.bnum = this.bnum * bd + BigInt(count) * BigInt(num) * this.bden;
    this.bden = this.bden * bd;
  }

  get isZero(): boolean {
    return this.big ? this.bnum === 0n : this.num === 0;
  }

  /** Adds a whole number of micro-units (a connect fee). */
  addMicros(m: number): void {
    if (m !== 0) this.add(1, m, 1);
  }

  /** Adds another exact sum (a roaming surcharge, a segment). */
  addSum(o: RationalSum): void {
    if (!o.big) {
      if (o.num !== 0) this.add(1, o.num, o.den);
      return;
    }
    if (!this.big) {
      this.big = true;
      this.bnum = BigInt(this.num);
      this.bden = BigInt(this.den);
    }
    this.bnum = this.bnum * o.bden + o.bnum * this.bden;
    this.bden = this.bden * o.bden;
  }

  /** Sign of (this − m) for a whole number of micro-units m: -1, 0 or 1. Exact. */
  cmpMicros(m: number): number {
    if (!this.big) {
      const r = mulOrNaN(m, this.den);
      if (!Number.isNaN(r)) return this.num < r ? -1 : this.num > r ? 1 : 0;
    }
    const n = this.big ? this.bnum : BigInt(this.num);
    const r = BigInt(m) * (this.big ? this.bden : BigInt(this.den));
    return n < r ? -1 : n > r ? 1 : 0;
  }

  /** Replaces the sum by a whole number of micro-units (a minimum or maximum charge). */
  setMicros(m: number): void {
    this.big = false;
    this.num = m;
    this.den = 1;
  }

  /** The sum rounded to a multiple of quantum micro-units. Throws if even the rounded result is unsafe. */
  round(quantum: number, method: number): number {
    if (!this.big) return roundRational(this.num, this.den, quantum, method);
    const r = roundRationalBig(this.bnum, this.bden, quantum, method);
    if (r > BigInt(MAX_SAFE)) throw new RangeError(`a charge of ${r} micro-units exceeds the safe range`);
    return Number(r);
  }
}
