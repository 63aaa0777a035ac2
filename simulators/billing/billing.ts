/**
 * A billing system for generated traffic, with labelled billing errors (issue #5 item 3; docs/RECONCILIATION.md).
 * It lives in the runner folder because it joins the generator's world (simulators/traffic) with the rating
 * library (enrich/rate), which must not import each other.
 *
 * What it does, like a billing system would, per UTC calendar month (period):
 * - prices every CDR of a customer account with the tariff book and the TRUE customer inventory, and bills
 *   each CDR with a price as one usage line (record id, billed quantity, the per-minute/message/MB price of
 *   the rate, amount = connect fee + usage + adjustment) plus a surcharge line when roaming added one;
 * - bills every active or suspended line its plan's monthly fee and every provisioned feature its charge
 *   (zero amounts are not billed);
 * - injects billing errors of every kind the reconciliation reports, each in an account no other error
 *   touches, and writes a label per error (kind, account, line, record, money at stake, effect on the usage
 *   comparison). Three kinds change the customer inventory the pipeline sees (the CSR view): a line billed but
 *   never used is added to it, a feature billed but never used is added to it, and a line with usage is
 *   removed from it (the billing system still bills it). `csrReference()` is that view, which rating and
 *   `reference import` must use;
 * - labels, with origin 'natural', the findings the clean data implies by itself (an idle line, a paid
 *   forwarding feature not used in the month, usage by a number the inventory lacks).
 *
 * Records stream through addBatch() (memory: a few entries per line and account, not per CDR); invoice lines
 * go to the `emit` callback as they are made.
 */
import type { Cdr } from '../../schemas/index.js';
import type { BillingLabel, ChargeType, FindingKind, InvoiceLine } from '../../schemas/billing.js';
import { parseMoney, type FeatureRecord, type LineRecord } from '../../schemas/reference.js';
import { formatMicros, type Rating, type TariffBookFile } from '../../schemas/tariff.js';
import type { ReferenceData } from '../../enrich/reference.js';
import type { ReferenceTables } from '../traffic/index.js';
import { createRating, defaultTariffPath, loadTariffBook, type RatingStage } from '../../enrich/rate/index.js';
import { UNIT_BYTE, UNIT_MS, UNIT_MSG } from '../../enrich/rate/compile.js';
import { benchmarksFromTariffs, unitPriceMicros } from '../../reports/reconciliation/benchmarks.js';

export { benchmarksFromTariffs, unitPriceMicros };

export interface BillingOptions {
  /** The customer inventory as the billing system knows it (the generator's reference data). */
  reference: ReferenceData;
  /** Tariff book ('' = bundled). */
  tariffFile: string;
  seed: number;
  /** Injected errors of each kind (per period: the first period gets them). */
  errorsPerKind: number;
  /** N of the unused-line audit, for the natural labels (the report's --unused-days). */
  unusedDays: number;
  /** Periods billed ('YYYY-MM'); CDRs of other months are not billed. */
  periods: readonly string[];
  emit(line: InvoiceLine): void;
}

/** Kinds injected while records stream, in the order a record is offered to them. */
const RECORD_KINDS = ['leakage', 'phantom-charge', 'double-billed', 'over-billed', 'under-billed', 'rate-above-contract', 'rate-above-benchmark', 'misapplied-surcharge'] as const;
type RecordKind = (typeof RECORD_KINDS)[number];

/** Features whose use shows in the CDRs (reports/reconciliation/sql/unused_features.sql). */
const AUDITED_FEATURES = ['CFU01', 'CFB01', 'CFN01', 'CFI01', 'ROM01'] as const;

/** Per line and period: what the feature audit and the unused-line audit look at. */
interface LineUse {
  recent: boolean;
  cfu: boolean;
  cfb: boolean;
  cfn: boolean;
  fwdIntl: boolean;
  fwdAny: boolean;
  roam: boolean;
  chargeable: boolean;
}

const PER_MINUTE_MS = 60_000;
/** A rate raised 0.06 a minute: 0.001 a second, so (raised - reference) x seconds / 60 is exact in micro-units. */
const RATE_STEP_MICROS = 60_000n;

/** Integer micro-units of a Money string. */
const micros = (m: string) => Number(parseMoney(m, 6));

export function periodOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** `YYYY-MM` periods touched by [startMs, endMs). */
export function periodsBetween(startMs: number, endMs: number): string[] {
  const out: string[] = [];
  const d = new Date(startMs);
  let y = d.getUTCFullYear();
  let m = d.getUTCMonth();
  while (Date.UTC(y, m, 1) < endMs) {
    out.push(`${y}-${String(m + 1).padStart(2, '0')}`);
    m++;
    if (m === 12) {
      m = 0;
      y++;
    }
  }
  return out;
}

function periodEndMs(period: string): number {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return Date.UTC(y, m, 1);
}

/** FNV-1a of a string mixed with a salt: deterministic choices that spread over the month. */
function fnv(s: string, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}


export const PRICE_UNIT = ['minute', 'message', 'MB'] as const;


/** ReferenceData from the generator's reference tables (the billing system's inventory). */
export function referenceDataOf(t: ReferenceTables): ReferenceData {
  return {
    dir: 'generated',
    version: 'billing',
    operator: t.operator,
    accounts: [...t.accounts()],
    lines: [...t.lines()],
    plans: [...t.plans],
    features: [...t.features()],
    featureCatalogue: [...t.featureCatalogue],
    contractedRates: [...t.contractedRates()],
    numberingPlan: t.numberingPlan,
    cells: t.cells,
    networks: t.networks,
    countries: t.countries,
    holidays: t.holidays,
    directoryListings: [...t.directoryListings()],
  };
}

interface Pending {
  kind: FindingKind;
  origin: 'injected';
  period: string;
  account: string;
  msisdn: string;
  record: string;
  service: string;
  feature: string;
  amount: number;
  impact: Map<string, number>;
  note: string;
}

export interface BillingResult {
  labels: BillingLabel[];
  lines: number;
  invoices: number;
  /** Injected errors per kind. */
  injected: Record<string, number>;
  /** The inventory as the pipeline's reference data must show it (injected lines and features, a line removed). */
  csrLines: LineRecord[];
  csrFeatures: FeatureRecord[];
}

export class BillingGenerator {
  private readonly rating: RatingStage;
  private readonly book: TariffBookFile;
  private readonly accounts: Set<string>;
  private readonly lineByMsisdn: Map<string, LineRecord>;
  private readonly contractPrice = new Map<string, bigint>();
  private readonly ratePrice = new Map<string, bigint | null>();
  private readonly homePlmn: string;
  private readonly currency: string;
  /** Next line number per invoice. */
  private readonly lineNo = new Map<string, number>();
  /** Billed amount per period and msisdn (all charge types), for the labels' amounts. */
  private readonly billedByLine = new Map<string, Map<string, number>>();
  /** Billed usage + surcharge per period, msisdn and service (effect of removing the line from the inventory). */
  private readonly usageByLine = new Map<string, Map<string, Map<string, number>>>();
  private readonly use = new Map<string, Map<string, LineUse>>();
  /** Non-visitor numbers with CDRs, per period. */
  private readonly served = new Map<string, Set<string>>();
  /** Accounts an error was injected in. */
  private readonly tainted = new Set<string>();
  private readonly quota = new Map<FindingKind, number>();
  private readonly pending: Pending[] = [];
  private readonly injectedFeatures: FeatureRecord[] = [];
  private readonly ghostLines: LineRecord[] = [];
  private readonly removed = new Set<string>();
  private invoices = new Set<string>();
  private readonly periodEnd = new Map<string, number>();
  private recordQuota: number;
  /** Business accounts kept for the inventory errors (tainted while records stream, released in finish). */
  private readonly reserved: Set<string>;
  private lineCount = 0;
  private phantoms = 0;
  private finished = false;

  constructor(private readonly o: BillingOptions) {
    const ref = o.reference;
    this.book = loadTariffBook(o.tariffFile || defaultTariffPath());
    this.rating = createRating({ book: this.book, operator: ref.operator, numberingPlan: ref.numberingPlan, networks: ref.networks, countries: ref.countries, holidays: ref.holidays, lines: ref.lines, contractedRates: ref.contractedRates, expectedLines: ref.lines.length });
    this.accounts = new Set(ref.accounts.map((a) => a.accountId));
    this.lineByMsisdn = new Map(ref.lines.map((l) => [l.msisdn, l]));
    for (const c of ref.contractedRates) this.contractPrice.set(`${c.accountId}/${c.prefix}/${c.validFrom}`, parseMoney(c.ratePerMinute, 6));
    this.homePlmn = ref.operator.plmn;
    this.currency = this.book.currency;
    for (const k of [...RECORD_KINDS, 'unused-line', 'unused-feature', 'missing-from-inventory', 'bill-padding'] as FindingKind[]) this.quota.set(k, o.errorsPerKind);
    this.recordQuota = RECORD_KINDS.length * o.errorsPerKind;
    // A few business accounts are kept free of record-level errors, for the inventory errors a CSR shows
    // (issue #16: the CSR of a business account with its unused line and unused feature).
    const mobileBusiness = new Set(ref.lines.filter((l) => l.lineType === 'mobile' && l.status === 'active').map((l) => l.accountId));
    // Only accounts without contracted rates: those carry the rate-above-contract errors.
    const contracted = new Set(ref.contractedRates.map((c) => c.accountId));
    const business = ref.accounts.filter((a) => a.class === 'business' && mobileBusiness.has(a.accountId) && !contracted.has(a.accountId)).map((a) => a.accountId);
    business.sort((a, b) => fnv(a, o.seed) - fnv(b, o.seed));
    for (const a of business.slice(0, 2 * o.errorsPerKind)) this.tainted.add(a);
    this.reserved = new Set(business.slice(0, 2 * o.errorsPerKind));
    for (const p of o.periods) this.periodEnd.set(p, periodEndMs(p));
  }

  /** Prices and bills a batch of CDRs (any order); injects record-level errors while quotas last. */
  addBatch(cdrs: readonly Cdr[]): void {
    for (const cdr of cdrs) this.bill(cdr, this.rating.rate(cdr));
  }

  private bill(cdr: Cdr, r: Rating): void {
    const period = periodOf(cdr.seizureTime);
    const end = this.periodEnd.get(period);
    if (end === undefined) return;
    const msisdn = cdr.servedMsisdn;
    if (cdr.homePlmn === null || cdr.homePlmn === this.homePlmn) this.mapOf(this.served, period, () => new Set<string>()).add(msisdn);
    const u = this.useOf(period, msisdn);
    if (cdr.seizureTime >= end - this.o.unusedDays * 86_400_000) u.recent = true;
    if (cdr.eventType === 'VOICE_FWD') {
      u.fwdAny = true;
      if (cdr.redirectionReason === 'CFU') u.cfu = true;
      else if (cdr.redirectionReason === 'CFB') u.cfb = true;
      else if (cdr.redirectionReason === 'CFNRY' || cdr.redirectionReason === 'CFNRC') u.cfn = true;
      if (r.numberCategory === 'international') u.fwdIntl = true;
    }
    if (cdr.servingPlmn !== null && cdr.servingPlmn !== (cdr.homePlmn ?? this.homePlmn)) u.roam = true;
    const account = r.accountId;
    if (r.status !== 'RATED' || r.totalMicros <= 0 || account === null || !this.accounts.has(account)) return;
    u.chargeable = true;

    const unit = r.service === 'data' ? UNIT_BYTE : r.service === 'voice' || r.service === 'voice-in' ? UNIT_MS : UNIT_MSG;
    const usage: InvoiceLine = {
      invoice_id: `INV-${period.replace('-', '')}-${account}`,
      account_id: account,
      period,
      line_no: 0,
      msisdn,
      charge_type: 'usage',
      service: r.service,
      record_id: cdr.recordId,
      event_time: new Date(r.ratedAtMs).toISOString(),
      destination_class: r.destinationId ?? '',
      number: r.number ?? '',
      quantity: quantityOf(r.billedUsage, unit),
      unit: unit === UNIT_MS ? 'second' : unit === UNIT_BYTE ? 'byte' : 'message',
      unit_price: '',
      price_unit: PRICE_UNIT[unit]!,
      amount: formatMicros(r.totalMicros - r.surchargeMicros),
      currency: r.currency,
      feature_code: '',
      description: `${cdr.eventType} ${r.destinationId ?? ''}`.trim(),
    };
    const price = this.priceOf(r.rateId, account, unit);
    if (price !== null) usage.unit_price = formatMicros(Number(price));
    let surcharge: InvoiceLine | null = null;
    if (r.surchargeMicros > 0) {
      const sp = this.priceOf(r.surchargeRateId, account, unit);
      surcharge = { ...usage, charge_type: 'surcharge', unit_price: sp === null ? '' : formatMicros(Number(sp)), amount: formatMicros(r.surchargeMicros), destination_class: r.roamingZone ?? '', description: `roaming surcharge ${r.roamingZone ?? ''}`.trim() };
    }

    const kind = this.recordQuota <= 0 || this.tainted.has(account) ? undefined : this.recordKindFor(cdr, r, usage, price);
    if (kind === undefined) {
      this.emit(usage);
      if (surcharge) this.emit(surcharge);
      return;
    }
    this.tainted.add(account);
    this.quota.set(kind, this.quota.get(kind)! - 1);
    this.recordQuota--;
    const amount = micros(usage.amount);
    const seconds = r.billedUsage / 1000;
    const label = (amountMicros: number, impactMicros: number, note: string, record = cdr.recordId): void => {
      this.pending.push({ kind, origin: 'injected', period, account, msisdn, record, service: r.service, feature: '', amount: amountMicros, impact: new Map([[r.service, impactMicros]]), note });
    };
    switch (kind) {
      case 'leakage':
        // Neither the usage line nor its surcharge reaches the invoice.
        label(r.totalMicros, -r.totalMicros, 'usage never billed');
        return;
      case 'phantom-charge': {
        this.emit(usage);
        if (surcharge) this.emit(surcharge);
        const fake = `PH${this.o.seed}-${++this.phantoms}-${cdr.recordId}`;
        this.emit({ ...usage, record_id: fake, description: usage.description + ' (no such call)' });
        label(amount, amount, `usage line for a call that never happened (copied from ${cdr.recordId})`, fake);
        return;
      }
      case 'double-billed':
        this.emit(usage);
        this.emit({ ...usage });
        if (surcharge) this.emit(surcharge);
        label(amount, amount, 'the same call on two usage lines');
        return;
      case 'over-billed': {
        const extra = 500_000;
        this.emit({ ...usage, amount: formatMicros(amount + extra) });
        if (surcharge) this.emit(surcharge);
        label(extra, extra, 'usage line amount raised by 0.50');
        return;
      }
      case 'under-billed':
        this.emit({ ...usage, amount: formatMicros(0) });
        if (surcharge) this.emit(surcharge);
        label(amount, -amount, 'usage line billed at zero (a discount applied by mistake)');
        return;
      case 'rate-above-contract':
      case 'rate-above-benchmark': {
        // The billing system applied a per-minute rate 0.06 above the reference (contract or benchmark ceiling).
        const reference = kind === 'rate-above-contract' ? price! : this.benchmark(r.destinationId)!;
        const raised = reference + RATE_STEP_MICROS;
        const s = BigInt(r.billedUsage / 1000);
        const delta = Number(((raised - price!) * s) / 60n);
        this.emit({ ...usage, unit_price: formatMicros(Number(raised)), amount: formatMicros(amount + delta) });
        if (surcharge) this.emit(surcharge);
        label(Number((RATE_STEP_MICROS * s) / 60n), delta, `billed ${formatMicros(Number(raised))}/min against ${formatMicros(Number(reference))} for ${seconds} s`);
        return;
      }
      case 'misapplied-surcharge': {
        this.emit(usage);
        const sur = Number((50_000n * BigInt(r.billedUsage)) / BigInt(PER_MINUTE_MS));
        this.emit({ ...usage, charge_type: 'surcharge', unit_price: formatMicros(50_000), amount: formatMicros(sur), destination_class: 'EU', description: 'roaming surcharge EU' });
        label(sur, sur, 'roaming surcharge on a call made at home');
        return;
      }
    }
  }

  /** The first record kind (in RECORD_KINDS order) still to inject that this billed record can carry. */
  private recordKindFor(cdr: Cdr, r: Rating, usage: InvoiceLine, price: bigint | null): RecordKind | undefined {
    const amount = micros(usage.amount);
    // Spread the common kinds' picks over the month and over accounts: one billed record in eight is a
    // candidate for them; the rarer ones (a contract-priced call) take the first that fits.
    const spread = fnv(cdr.recordId, this.o.seed) % 8 === 0;
    const wholeSeconds = r.service === 'voice' && r.billedUsage > 0 && r.billedUsage % 1000 === 0;
    const contract = r.tariffId !== null && r.tariffId.startsWith('contract:');
    for (const k of RECORD_KINDS) {
      if ((this.quota.get(k) ?? 0) <= 0 || (!spread && k !== 'rate-above-contract')) continue;
      switch (k) {
        case 'leakage':
          if (r.totalMicros >= 50_000) return k;
          break;
        case 'phantom-charge':
        case 'double-billed':
        case 'over-billed':
          if (amount >= 50_000) return k;
          break;
        case 'under-billed':
          if (amount >= 100_000) return k;
          break;
        case 'rate-above-contract':
          if (wholeSeconds && contract && price !== null) return k;
          break;
        case 'rate-above-benchmark': {
          const b = this.benchmark(r.destinationId);
          if (wholeSeconds && !contract && price !== null && b !== null && price <= b) return k;
          break;
        }
        case 'misapplied-surcharge':
          if (wholeSeconds && r.surchargeMicros === 0 && r.roamingZone === null && cdr.servingPlmn === (cdr.homePlmn ?? this.homePlmn)) return k;
          break;
      }
    }
    return undefined;
  }

  private benchmarks: Map<string, bigint> | undefined;
  private benchmark(dest: string | null): bigint | null {
    if (dest === null) return null;
    this.benchmarks ??= new Map(benchmarksFromTariffs(this.book).map((b) => [b.destination_class, parseMoney(b.rate, 6)]));
    return this.benchmarks.get(dest) ?? null;
  }

  /** Price per minute/message/MB of the rate a CDR was priced with (book rates and contracted rates). */
  private priceOf(rateId: string | null, account: string, unit: number): bigint | null {
    if (rateId === null) return null;
    const key = `${unit}|${rateId}`;
    if (this.ratePrice.has(key)) return this.ratePrice.get(key)!;
    let p: bigint | null = null;
    const def = this.book.rates[rateId];
    if (def) p = unitPriceMicros(def, unit);
    else if (rateId.startsWith(`${account}/`) && unit === UNIT_MS) p = this.contractPrice.get(rateId.replace(/#\d+$/, '')) ?? null;
    this.ratePrice.set(key, p);
    return p;
  }

  private emit(line: InvoiceLine): void {
    const next = (this.lineNo.get(line.invoice_id) ?? 0) + 1;
    this.lineNo.set(line.invoice_id, next);
    line.line_no = next;
    this.invoices.add(line.invoice_id);
    this.lineCount++;
    const a = micros(line.amount);
    if (line.msisdn !== '') {
      const m = this.mapOf(this.billedByLine, line.period, () => new Map<string, number>());
      m.set(line.msisdn, (m.get(line.msisdn) ?? 0) + a);
      if (line.charge_type === 'usage' || line.charge_type === 'surcharge') {
        const byLine = this.mapOf(this.usageByLine, line.period, () => new Map<string, Map<string, number>>());
        const bySvc = this.mapOf(byLine, line.msisdn, () => new Map<string, number>());
        bySvc.set(line.service, (bySvc.get(line.service) ?? 0) + a);
      }
    }
    this.o.emit(line);
  }

  private mapOf<K, V>(m: Map<K, V>, k: K, make: () => V): V {
    let v = m.get(k);
    if (v === undefined) m.set(k, (v = make()));
    return v;
  }

  private useOf(period: string, msisdn: string): LineUse {
    return this.mapOf(this.mapOf(this.use, period, () => new Map<string, LineUse>()), msisdn, () => ({ recent: false, cfu: false, cfb: false, cfn: false, fwdIntl: false, fwdAny: false, roam: false, chargeable: false }));
  }

  /**
   * After the last record: the inventory errors (chosen among lines whose month is now known), recurring and
   * feature lines, and the labels (injected and natural).
   */
  finish(): BillingResult {
    if (this.finished) throw new Error('billing already finished');
    this.finished = true;
    const ref = this.o.reference;
    const plans = new Map(ref.plans.map((p) => [p.plan, p]));
    const first = this.o.periods[0];
    const lines = [...ref.lines];
    const features = [...ref.features];
    const accountLines = new Map<string, LineRecord[]>();
    for (const l of lines) this.mapOf(accountLines, l.accountId, () => [] as LineRecord[]).push(l);
    // Candidates for the inventory errors: accounts untouched so far, in a deterministic order.
    for (const a of this.reserved) this.tainted.delete(a);
    // Business accounts first, so the CSR of a business account shows the inventory errors (issue #16).
    const business = new Set(ref.accounts.filter((a) => a.class !== 'private').map((a) => a.accountId));
    const candidates = [...accountLines.keys()].filter((a) => !this.tainted.has(a)).sort((a, b) => Number(business.has(b)) - Number(business.has(a)) || fnv(a, this.o.seed) - fnv(b, this.o.seed));
    let bizInventory = 0;
    const padding: { line: LineRecord; code: string; kind: ChargeType; amount: string; description: string }[] = [];
    const use = first ? this.use.get(first) : undefined;
    const feePaying = (l: LineRecord) => micros(plans.get(l.plan)?.monthlyFee ?? '0') > 0;
    if (first && use) {
      for (const acc of candidates) {
        const ls = accountLines.get(acc)!;
        const mobile = ls.filter((l) => l.lineType === 'mobile' && l.status === 'active');
        if (mobile.length === 0) continue;
        // Business accounts are kept for the unused line and feature while those are due (a CSR shows them).
        const keep = business.has(acc) && ((this.quota.get('unused-line') ?? 0) > 0 || (this.quota.get('unused-feature') ?? 0) > 0);
        if ((this.quota.get('missing-from-inventory') ?? 0) > 0 && !keep) {
          const l = mobile.find((x) => use.get(x.msisdn)?.chargeable === true);
          if (l) {
            this.removed.add(l.msisdn);
            this.take(acc, 'missing-from-inventory');
            continue;
          }
        }
        // Business accounts alternate between an unused line and an unused feature (each CSR shows one).
        const featureTurn = business.has(acc) && bizInventory % 2 === 1 && (this.quota.get('unused-feature') ?? 0) > 0;
        if (business.has(acc)) bizInventory++;
        if ((this.quota.get('unused-line') ?? 0) > 0 && feePaying(mobile[0]!) && !featureTurn) {
          const ghost: LineRecord = { ...mobile[0]!, msisdn: this.freeNumber(mobile[0]!.msisdn), imsi: null, status: 'active', installDate: '2025-01-15' };
          ghost.imsi = ref.operator.plmn + ghost.msisdn.slice(-10);
          this.ghostLines.push(ghost);
          this.take(acc, 'unused-line');
          continue;
        }
        if ((this.quota.get('unused-feature') ?? 0) > 0) {
          const n = this.o.errorsPerKind - this.quota.get('unused-feature')!;
          const code = n % 2 === 0 ? 'CFI01' : 'CFU01';
          const l = mobile.find((x) => {
            const u = use.get(x.msisdn);
            return u !== undefined && u.recent && !u.fwdAny && !u.roam && !features.some((f) => f.msisdn === x.msisdn && f.code === code);
          });
          if (l) {
            this.injectedFeatures.push({ msisdn: l.msisdn, code, monthlyCharge: code === 'CFI01' ? '2.50' : '1.00', since: '2025-06-01', target: '33612345678' });
            this.take(acc, 'unused-feature');
            continue;
          }
        }
        if ((this.quota.get('bill-padding') ?? 0) > 0) {
          // Bill padding (issue #16): a charge for a service nobody ordered, on a line without that feature:
          // a one-off technical support call-out, or a monthly inside wire maintenance fee.
          const n = this.o.errorsPerKind - this.quota.get('bill-padding')!;
          const [code, kind, amount, description] = n % 2 === 0 ? (['TSP01', 'one-off', '45.00', 'Technical support call-out'] as const) : (['IWM01', 'recurring', '3.00', 'Inside wire maintenance'] as const);
          const l = mobile.find((x) => !features.some((f) => f.msisdn === x.msisdn && f.code === code));
          if (l) {
            padding.push({ line: l, code, kind, amount, description });
            this.tainted.add(acc);
            this.quota.set('bill-padding', this.quota.get('bill-padding')! - 1);
            this.pending.push({ kind: 'bill-padding', origin: 'injected', period: first, account: acc, msisdn: l.msisdn, record: '', service: '', feature: code, amount: micros(amount), impact: new Map(), note: `${kind} charge ${code} (${description}) with no provisioned feature behind it` });
            continue;
          }
        }
        if (![...this.quota.values()].some((q) => q > 0)) break;
      }
    }

    // Recurring and feature lines of every period, from the billing system's inventory (truth + injected).
    const allLines = [...lines, ...this.ghostLines];
    const featuresByLine = new Map<string, FeatureRecord[]>();
    for (const f of [...features, ...this.injectedFeatures]) this.mapOf(featuresByLine, f.msisdn, () => [] as FeatureRecord[]).push(f);
    const ghost = new Set(this.ghostLines.map((l) => l.msisdn));
    for (const period of this.o.periods) {
      for (const l of allLines) {
        if (l.status === 'ceased') continue;
        const invoice = `INV-${period.replace('-', '')}-${l.accountId}`;
        const plan = plans.get(l.plan);
        const base = { invoice_id: invoice, account_id: l.accountId, period, line_no: 0, msisdn: l.msisdn, service: '', record_id: '', event_time: '', destination_class: '', number: '', quantity: '1.000000', unit: 'month', price_unit: 'month', currency: this.currency };
        if (plan && micros(plan.monthlyFee) > 0) {
          const fee = formatMicros(micros(plan.monthlyFee));
          this.emit({ ...base, charge_type: 'recurring' as ChargeType, unit_price: fee, amount: fee, feature_code: '', description: `${plan.name} (${l.status})` });
        }
        for (const f of featuresByLine.get(l.msisdn) ?? []) {
          if (micros(f.monthlyCharge) <= 0) continue;
          const ch = formatMicros(micros(f.monthlyCharge));
          this.emit({ ...base, charge_type: 'feature' as ChargeType, unit_price: ch, amount: ch, feature_code: f.code, description: `feature ${f.code}` });
        }
      }
    }

    for (const p of padding) {
      const fee = formatMicros(micros(p.amount));
      this.emit({ invoice_id: `INV-${first!.replace('-', '')}-${p.line.accountId}`, account_id: p.line.accountId, period: first!, line_no: 0, msisdn: p.line.msisdn, charge_type: p.kind, service: '', record_id: '', event_time: '', destination_class: '', number: '', quantity: '1.000000', unit: p.kind === 'one-off' ? 'each' : 'month', unit_price: fee, price_unit: p.kind === 'one-off' ? 'each' : 'month', amount: fee, currency: this.currency, feature_code: p.code, description: p.description });
    }

    // Labels of the inventory errors, now that the lines' bills are complete.
    for (const p of this.pending) {
      if (p.kind === 'missing-from-inventory' || p.kind === 'unused-line') {
        p.amount = this.billedByLine.get(p.period)?.get(p.msisdn) ?? 0;
        if (p.kind === 'missing-from-inventory') p.impact = new Map(this.usageByLine.get(p.period)?.get(p.msisdn) ?? []);
      }
      if (p.kind === 'unused-feature') {
        const f = this.injectedFeatures.find((x) => x.msisdn === p.msisdn)!;
        p.feature = f.code;
        p.amount = micros(f.monthlyCharge);
      }
    }
    const labels: BillingLabel[] = this.pending.map((p) => ({
      kind: p.kind,
      origin: p.origin,
      period: p.period,
      account_id: p.account,
      msisdn: p.msisdn,
      record_id: p.record,
      service: p.service,
      feature_code: p.feature,
      amount: formatMicros(p.amount),
      impact: [...p.impact].filter(([, v]) => v !== 0).map(([service, v]) => ({ service, amount: formatMicros(v) })),
      note: p.note,
    }));

    // The CSR view: the inventory the pipeline rates with and reconciliation audits.
    const csrLines = [...lines.filter((l) => !this.removed.has(l.msisdn)), ...this.ghostLines];
    const csrFeatures = [...features.filter((f) => !this.removed.has(f.msisdn)), ...this.injectedFeatures];
    labels.push(...this.naturalLabels(csrLines, allLines, featuresByLine, ghost));
    const injected: Record<string, number> = {};
    for (const l of labels) if (l.origin === 'injected') injected[l.kind] = (injected[l.kind] ?? 0) + 1;
    return { labels, lines: this.lineCount, invoices: this.invoices.size, injected, csrLines, csrFeatures };
  }

  /** Records an inventory error in an account; its amount is filled in when the bills are complete. */
  private take(account: string, kind: 'missing-from-inventory' | 'unused-line' | 'unused-feature'): void {
    this.tainted.add(account);
    this.quota.set(kind, this.quota.get(kind)! - 1);
    const period = this.o.periods[0]!;
    const msisdn =
      kind === 'missing-from-inventory' ? [...this.removed].pop()! : kind === 'unused-line' ? this.ghostLines[this.ghostLines.length - 1]!.msisdn : this.injectedFeatures[this.injectedFeatures.length - 1]!.msisdn;
    const note = kind === 'missing-from-inventory' ? 'line with usage removed from the inventory; the billing system still bills it' : kind === 'unused-line' ? 'line on the inventory, billed every month, never used' : 'forwarding feature added and billed, never used';
    this.pending.push({ kind, origin: 'injected', period, account, msisdn, record: '', service: '', feature: '', amount: 0, impact: new Map(), note });
  }

  /** A number of the same range no line holds and no CDR was served for. */
  private freeNumber(near: string): string {
    const taken = (m: string) => this.lineByMsisdn.has(m) || this.ghostLines.some((g) => g.msisdn === m) || [...this.served.values()].some((s) => s.has(m));
    let n = BigInt(near);
    for (let i = 0; i < 1_000_000; i++) {
      n += 7919n;
      const m = String(n);
      if (m.length === near.length && !taken(m)) return m;
    }
    throw new Error(`no free number near ${near}`);
  }

  /** Findings the clean data implies by itself, per period (origin 'natural'). */
  private naturalLabels(csrLines: LineRecord[], billedLines: LineRecord[], featuresByLine: Map<string, FeatureRecord[]>, ghost: Set<string>): BillingLabel[] {
    const out: BillingLabel[] = [];
    const injectedFeature = new Set(this.injectedFeatures.map((f) => `${f.msisdn}/${f.code}`));
    const inventory = new Set(csrLines.map((l) => l.msisdn));
    const lineOf = new Map(csrLines.map((l) => [l.msisdn, l]));
    const truthLine = (m: string) => lineOf.get(m) ?? this.lineByMsisdn.get(m);
    for (const period of this.o.periods) {
      const use = this.use.get(period) ?? new Map<string, LineUse>();
      const billed = this.billedByLine.get(period) ?? new Map<string, number>();
      const windowStart = new Date(periodEndMs(period) - this.o.unusedDays * 86_400_000).toISOString().slice(0, 10);
      const base = { origin: 'natural' as const, period, record_id: '', service: '', feature_code: '', impact: [] };
      for (const l of csrLines) {
        if (l.status !== 'active' || !(l.installDate < windowStart) || ghost.has(l.msisdn)) continue;
        if (use.get(l.msisdn)?.recent) continue;
        out.push({ ...base, kind: 'unused-line', account_id: l.accountId, msisdn: l.msisdn, amount: formatMicros(billed.get(l.msisdn) ?? 0), note: `no CDR in the last ${this.o.unusedDays} days of the period` });
      }
      // Feature lines are billed from the billing system's inventory (a line missing from the CSR's too).
      for (const l of billedLines) {
        if (l.status === 'ceased') continue;
        for (const f of featuresByLine.get(l.msisdn) ?? []) {
          if (!(AUDITED_FEATURES as readonly string[]).includes(f.code) || micros(f.monthlyCharge) <= 0 || injectedFeature.has(`${f.msisdn}/${f.code}`)) continue;
          const u = use.get(l.msisdn);
          const used = u !== undefined && (f.code === 'CFU01' ? u.cfu : f.code === 'CFB01' ? u.cfb : f.code === 'CFN01' ? u.cfn : f.code === 'CFI01' ? u.fwdIntl : u.roam);
          if (used) continue;
          out.push({ ...base, kind: 'unused-feature', account_id: l.accountId, msisdn: l.msisdn, feature_code: f.code, amount: formatMicros(micros(f.monthlyCharge)), note: `${f.code} billed, not used in the period` });
        }
      }
      for (const m of this.served.get(period) ?? []) {
        if (inventory.has(m) || this.removed.has(m)) continue;
        out.push({ ...base, kind: 'missing-from-inventory', account_id: truthLine(m)?.accountId ?? '', msisdn: m, amount: formatMicros(billed.get(m) ?? 0), note: 'CDRs from a number the inventory does not hold' });
      }
    }
    return out;
  }
}

function quantityOf(billed: number, unit: number): string {
  if (unit !== UNIT_MS) return `${billed}.000000`;
  const s = Math.floor(billed / 1000);
  const ms = billed - s * 1000;
  return `${s}.${String(ms).padStart(3, '0')}000`;
}
