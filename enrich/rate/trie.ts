/**
 * Longest-prefix match over dialled digits: a trie in two flat Int32Arrays (11 child slots per node for
 * 0-9 and "+", which only CGRateS-imported prefixes use; a payload per node). Built once at start-up; a
 * lookup walks the number once and records every node with a payload on the way, so the caller can take the
 * deepest one it can use (a destination the tariff version prices) without a second walk.
 */

const WIDTH = 11;
const PLUS = 10;

function symbol(code: number): number {
  const d = code - 48;
  if (d >= 0 && d <= 9) return d;
  return code === 43 ? PLUS : -1;
}

export class DigitTrie {
  private child: Int32Array;
  private payload: Int32Array;
  private count = 1;

  constructor(capacity = 1024) {
    this.child = new Int32Array(capacity * WIDTH);
    this.payload = new Int32Array(capacity).fill(-1);
  }

  /** True if the key uses only digits and "+". */
  static accepts(key: string): boolean {
    for (let i = 0; i < key.length; i++) if (symbol(key.charCodeAt(i)) < 0) return false;
    return true;
  }

  /** Sets the payload of a key; returns the previous payload (-1 if none). The empty key is the root. */
  set(key: string, value: number): number {
    let node = 0;
    for (let i = 0; i < key.length; i++) {
      const s = symbol(key.charCodeAt(i));
      if (s < 0) throw new RangeError(`prefix ${JSON.stringify(key)} has a character other than digits and "+"`);
      let next = this.child[node * WIDTH + s]!;
      if (next === 0) {
        next = this.grow();
        this.child[node * WIDTH + s] = next;
      }
      node = next;
    }
    const prev = this.payload[node]!;
    this.payload[node] = value;
    return prev;
  }

  get(key: string): number {
    let node = 0;
    for (let i = 0; i < key.length; i++) {
      const s = symbol(key.charCodeAt(i));
      if (s < 0) return -1;
      node = this.child[node * WIDTH + s]!;
      if (node === 0) return -1;
    }
    return this.payload[node]!;
  }

  private grow(): number {
    if (this.count === this.payload.length) {
      const cap = this.payload.length * 2;
      const c = new Int32Array(cap * WIDTH);
      c.set(this.child);
      this.child = c;
      const p = new Int32Array(cap).fill(-1);
      p.set(this.payload);
      this.payload = p;
    }
    return this.count++;
  }

  /** Releases the spare capacity once building is done. */
  seal(): void {
    this.child = this.child.slice(0, this.count * WIDTH);
    this.payload = this.payload.slice(0, this.count);
  }

  /**
   * Walks `key` from the root; writes the payload and depth of every node with a payload into `payloads`
   * and `depths` (shallowest first, the root first if it has one) and returns how many. Stops at the first
   * character outside the alphabet, at a missing child or when the arrays are full.
   */
  matches(key: string, payloads: Int32Array, depths: Int32Array): number {
    const child = this.child;
    const payload = this.payload;
    let n = 0;
    let node = 0;
    const max = payloads.length;
    if (payload[0]! >= 0) {
      payloads[0] = payload[0]!;
      depths[0] = 0;
      n = 1;
    }
    for (let i = 0; i < key.length && n < max; i++) {
      const c = key.charCodeAt(i) - 48;
      const s = c >= 0 && c <= 9 ? c : c === -5 ? PLUS : -1;
      if (s < 0) break;
      node = child[node * WIDTH + s]!;
      if (node === 0) break;
      const v = payload[node]!;
      if (v >= 0) {
        payloads[n] = v;
        depths[n] = i + 1;
        n++;
      }
    }
    return n;
  }

  get nodes(): number {
    return this.count;
  }

  get bytes(): number {
    return this.child.byteLength + this.payload.byteLength;
  }
}
