/**
 * Who pays for a CDR: the customer inventory (lines.csv, contracted-rates.csv; schemas/reference.ts)
 * compiled for lookups by served MSISDN, and the rule for inbound roamers (visitors on our network are not
 * our customers: their usage is rated on the wholesale tariff and billed to their home network).
 *
 * Memory is planned for millions of lines (docs/BENCHMARKS.md "Rating" measures 1M): a line is a slot of an
 * open-addressing hash table keyed by its MSISDN as a number (8 bytes key + 4 bytes value, at most half
 * full) plus an account index and a tariff chain (8 bytes); account ids are kept once per account.
 * No object per line, so the heap holds a few typed arrays and the account id strings.
 */
import type { Cdr } from '../../schemas/index.js';
import type { ContractedRateRecord, LineRecord, OperatorRecord } from '../../schemas/reference.js';
import type { RateDef } from '../../schemas/tariff.js';
import { RateBuilder, TariffError, UNIT_MS, type CompiledTariffs, type RateTable } from './compile.js';
import type { ContractSet, RatingSubject } from './engine.js';
import { DAY_MS, dayOfIsoDate, wallToUtc } from './time.js';

export interface SubscribersInput {
  operator: OperatorRecord;
  lines: Iterable<LineRecord>;
  contractedRates?: Iterable<ContractedRateRecord>;
}

/** "1" + digits as a number: unique for up to 15 digits (E.164 maximum), leading zeros kept apart. */
function keyOf(msisdn: string): number {
  const n = msisdn.length;
  if (n === 0 || n > 15) return -1;
  let v = 1;
  for (let i = 0; i < n; i++) {
    const d = msisdn.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function hashOf(key: number): number {
  const lo = key >>> 0;
  const hi = (key / 4294967296) | 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A slot of the table holds the MSISDN key and, packed in the neighbouring float, the line's account index,
 * tariff chain and whether the account has contracted rates: one cache line per lookup.
 */
const CHAIN_SPAN = 65_536;

export class Subscribers {
  /** [key, packed] pairs; key 0 = empty. packed = ((account × 65536) + chain + 1) × 2 + hasContract. */
  private table: Float64Array;
  /** Slot -> ordinal of the line in the input (the later of a repeated MSISDN), for lineOf(). */
  private lineOfSlot: Int32Array;
  private mask: number;
  private count = 0;
  /** Lines read so far while building (the ordinal of the next). */
  private ordinal = 0;
  /**
   * The input ordinal of the line the last resolve() found, -1 if it found none: the rating stage's
   * enrichment reads the line's status and plan by it instead of looking the MSISDN up a second time.
   */
  lastLine = -1;
  readonly accountIds: string[] = [];
  /** Account id -> index while building (released afterwards: ~40 bytes per account). */
  private accountIndex: Map<string, number> | null = new Map<string, number>();
  private readonly contracts = new Map<number, ContractSet>();
  readonly contractRates: RateTable | null;
  private readonly partners = new Map<string, RatingSubject>();

  private constructor(
    private readonly book: CompiledTariffs,
    private readonly homePlmn: string,
    capacity: number,
  ) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.table = new Float64Array(cap * 2);
    this.lineOfSlot = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.contractRates = null;
  }

  /** Compiles the inventory. `expectedLines` sizes the table up front (it grows if exceeded). */
  static build(book: CompiledTariffs, input: SubscribersInput, expectedLines = 1024): Subscribers {
    const s = new Subscribers(book, input.operator.plmn, expectedLines);
    if (book.chains.length >= CHAIN_SPAN - 1) throw new RangeError(`more than ${CHAIN_SPAN - 2} tariffs`);
    const a = book.assignments;
    const chainCache = new Map<string, number>();
    const accountIndex = s.accountIndex!;
    for (const line of input.lines) {
      let acc = accountIndex.get(line.accountId);
      if (acc === undefined) {
        acc = s.accountIds.length;
        s.accountIds.push(line.accountId);
        accountIndex.set(line.accountId, acc);
      }
      const byAccount = a.accounts.get(line.accountId);
      let chain: number;
      if (byAccount !== undefined) chain = byAccount;
      else {
        let c = chainCache.get(line.plan);
        if (c === undefined) chainCache.set(line.plan, (c = a.plans.get(line.plan) ?? a.default));
        chain = c;
      }
      s.add(line.msisdn, (acc * CHAIN_SPAN + chain + 1) * 2);
    }
    if (input.contractedRates) {
      (s as { contractRates: RateTable | null }).contractRates = s.compileContracts(input.contractedRates, input.operator);
      // Flag the lines of accounts with contracts, so lookups of the others skip the contract map.
      const t = s.table;
      for (let i = 0; i < t.length; i += 2) {
        if (t[i] === 0) continue;
        const acc = Math.floor(t[i + 1]! / 2 / CHAIN_SPAN);
        if (s.contracts.has(acc)) t[i + 1] = t[i + 1]! - (t[i + 1]! % 2) + 1;
      }
    }
    s.accountIndex = null;
    return s;
  }

  private add(msisdn: string, packed: number): void {
    const line = this.ordinal++;
    const key = keyOf(msisdn);
    if (key < 0) return;
    if ((this.count + 1) * 4 > this.table.length) this.rehash();
    const t = this.table;
    let h = hashOf(key) & this.mask;
    while (t[2 * h] !== 0) {
      if (t[2 * h] === key) {
        // A number listed twice: the later row wins (a re-used MSISDN).
        t[2 * h + 1] = packed;
        this.lineOfSlot[h] = line;
        return;
      }
      h = (h + 1) & this.mask;
    }
    t[2 * h] = key;
    t[2 * h + 1] = packed;
    this.lineOfSlot[h] = line;
    this.count++;
  }

  private rehash(): void {
    const old = this.table;
    const oldLines = this.lineOfSlot;
    const cap = old.length;
    this.table = new Float64Array(cap * 2);
    this.lineOfSlot = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (let i = 0; i < old.length; i += 2) {
      const k = old[i]!;
      if (k === 0) continue;
      let h = hashOf(k) & this.mask;
      while (this.table[2 * h] !== 0) h = (h + 1) & this.mask;
      this.table[2 * h] = k;
      this.table[2 * h + 1] = old[i + 1]!;
      this.lineOfSlot[h] = oldLines[i >> 1]!;
    }
  }

  /** The packed slot value of an MSISDN, -1 if unknown; lastLine is its line's ordinal (-1 if unknown). */
  private find(msisdn: string): number {
    this.lastLine = -1;
    const key = keyOf(msisdn);
    if (key < 0) return -1;
    const t = this.table;
    let h = hashOf(key) & this.mask;
    for (;;) {
      const k = t[2 * h]!;
      if (k === key) {
        this.lastLine = this.lineOfSlot[h]!;
        return t[2 * h + 1]!;
      }
      if (k === 0) return -1;
      h = (h + 1) & this.mask;
    }
  }

  /**
   * True if an MSISDN can be a key of this table (up to 15 digits): one that cannot is never found by
   * resolve(), whatever the inventory says, so a caller matching it against the inventory must do so itself.
   */
  static keyable(msisdn: string): boolean {
    return keyOf(msisdn) >= 0;
  }

  /** Account id of a line, or null if the MSISDN is not ours. */
  accountOf(msisdn: string): string | null {
    const p = this.find(msisdn);
    return p < 0 ? null : this.accountIds[Math.floor(p / 2 / CHAIN_SPAN)]!;
  }

  /**
   * The rating subject of a CDR's served party: the line's account and tariff chain (account assignment,
   * else plan, else default); an inbound roamer's home network (wholesale); null when unknown.
   */
  resolve(cdr: Cdr): RatingSubject | null {
    const p = this.find(cdr.servedMsisdn);
    if (p >= 0) {
      const v = Math.floor(p / 2);
      const acc = Math.floor(v / CHAIN_SPAN);
      return { accountId: this.accountIds[acc]!, chain: (v % CHAIN_SPAN) - 1, contract: p % 2 === 1 ? (this.contracts.get(acc) ?? null) : null };
    }
    const home = cdr.homePlmn;
    if (home !== null && home !== this.homePlmn) {
      let partner = this.partners.get(home);
      if (!partner) {
        const a = this.book.assignments;
        partner = { accountId: `PLMN-${home}`, chain: a.inboundRoamersByPlmn.get(home) ?? a.inboundRoamers, contract: null };
        this.partners.set(home, partner);
      }
      return partner;
    }
    return null;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held in typed arrays (the account id strings and the maps come on top). */
  get typedBytes(): number {
    return this.table.byteLength + this.lineOfSlot.byteLength;
  }

  private compileContracts(rows: Iterable<ContractedRateRecord>, op: OperatorRecord): RateTable {
    const defs: Record<string, RateDef> = {};
    const byAccount = new Map<number, { prefix: string; from: number; label: string; description: string; id: string }[]>();
    const problems: string[] = [];
    let n = 0;
    for (const row of rows) {
      const acc = this.accountIndex!.get(row.accountId);
      if (acc === undefined) continue; // an account without lines makes no CDRs
      // Readable and unique: account/prefix/validFrom (a repeated row gets a counter).
      let id = `${row.accountId}/${row.prefix}/${row.validFrom}`;
      if (defs[id] !== undefined) id += `#${n++}`;
      const first = row.firstIncrementSeconds;
      const inc = row.incrementSeconds;
      defs[id] = { connectFee: row.setupFee, price: row.ratePerMinute, per: 60, increments: first === inc ? String(inc) : `${first}/${inc}`, description: row.description };
      let from: number;
      try {
        from = wallToUtc(op.timezone, dayOfIsoDate(row.validFrom, `contracted rate ${row.accountId} ${row.prefix}`) * DAY_MS);
      } catch (e) {
        problems.push((e as Error).message);
        continue;
      }
      let list = byAccount.get(acc);
      if (!list) byAccount.set(acc, (list = []));
      list.push({ prefix: row.prefix, from, label: row.validFrom, description: row.description, id });
    }
    const builder = new RateBuilder(defs, this.book.assignments.contractRounding, problems);
    for (const [acc, list] of byAccount) {
      // Longest prefix first; for one prefix the latest validFrom first.
      list.sort((x, y) => y.prefix.length - x.prefix.length || y.from - x.from);
      const rate = Int32Array.from(list.map((x) => builder.get(x.id, UNIT_MS, `contracted rate ${this.accountIds[acc]} ${x.prefix}`)));
      this.contracts.set(acc, {
        tariffId: `contract:${this.accountIds[acc]}`,
        prefixes: list.map((x) => x.prefix),
        validFrom: Float64Array.from(list.map((x) => x.from)),
        validFromLabel: list.map((x) => x.label),
        descriptions: list.map((x) => x.description),
        rate,
      });
    }
    if (problems.length > 0) throw new TariffError(problems);
    return builder.build();
  }
}
