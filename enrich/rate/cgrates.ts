/**
 * CGRateS compatibility: an importer of legacy RALs tariff-plan CSVs (Destinations,
 * Rates, DestinationRates, Timings, RatingPlans, RatingProfiles) into our tariff model, and a pricing mode
 * that reproduces CGRateS's float64 arithmetic, so the 66 costs its own tests assert can be replayed.
 *
 * Mapping:
 * - RatingProfile (tenant, category, subject) -> tariff "tenant:category:subject"; each ActivationTime ->
 *   a version (effective from it) holding the RatingPlan; FallbackSubjects -> the tariff's fallbacks.
 *   Every RatingPlan is also a tariff "RP:<id>:<service>" (for GetRatingPlansCost).
 * - Category "sms"/"mms" -> service sms, "data" -> data, anything else -> voice.
 * - DestinationRate × Rates -> a rate "<DR>:<RatesTag>" (the DR's rounding; MaxCost *free -> maximumCharge;
 *   the original rounding and MaxCost are kept for this mode).
 * - Timings with the RatingPlan weights -> one band per (timing, weight); rules ordered by weight, then by
 *   later start time, each from its start to midnight. First match then is exactly CGRateS's "highest
 *   weight, then the closest start before the instant" (engine/ratingprofile.go:151-188).
 * - A prefix in several destinations ("20" in DST_20 and DST_2030) becomes a merged destination
 *   "DST_20|DST_2030" whose prices are the union of its members' (what CGRateS considers at that length).
 *
 * The pricing mode follows engine/calldesc.go and engine/timespans.go at 19463bdc: split at midnight, at
 * each change of the winning timing and at rate-group starts (voice; data and SMS only at group starts),
 * round every piece up to its increment (a lengthened piece swallows or shortens the next), cost a piece
 * as round_G(d × rate / unit), spread it over its increments as round_G(cost / n), sum per piece
 * (round_G), add the connect fee of the first piece, apply MaxCost *free with its running-total quirk,
 * and round the call with the largest RoundingDecimals of its pieces (utils.Round, coreutils.go:165-196).
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BandRuleDef, PriceDef, RateDef, Service, TariffBookFile, TariffDef } from '../../schemas/tariff.js';
import { SERVICE_INDEX, type CompiledTariffs, type RateTable } from './compile.js';
import { EntryLookup } from './engine.js';
import { segmentAt } from './time.js';

export interface CgratesFiles {
  Destinations?: string;
  Rates: string;
  DestinationRates: string;
  Timings?: string;
  RatingPlans: string;
  RatingProfiles: string;
}

export function readCgratesDir(dir: string): CgratesFiles {
  const read = (n: string) => (existsSync(join(dir, `${n}.csv`)) ? readFileSync(join(dir, `${n}.csv`), 'utf8') : undefined);
  const must = (n: string) => {
    const t = read(n);
    if (t === undefined) throw new Error(`${dir}: ${n}.csv is missing`);
    return t;
  };
  return { Destinations: read('Destinations'), Rates: must('Rates'), DestinationRates: must('DestinationRates'), Timings: read('Timings'), RatingPlans: must('RatingPlans'), RatingProfiles: must('RatingProfiles') };
}

function rows(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(',').map((f) => f.trim()));
}

/** Go time.ParseDuration (plus CGRateS's bare number = nanoseconds), to nanoseconds. */
export function goDurationNs(s: string): number {
  if (s === '') return 0;
  if (/^\d+$/.test(s)) return Number(s);
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new RangeError(`not a duration: ${JSON.stringify(s)}`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return Math.round(total);
}

export function serviceOfCategory(category: string): Service {
  return category === 'sms' || category === 'mms' ? 'sms' : category === 'data' ? 'data' : 'voice';
}

function list(v: string | undefined): string | undefined {
  return v === undefined || v === '' || v === '*any' ? undefined : v.replace(/;/g, ',');
}

export interface CgratesImport {
  book: TariffBookFile;
  /** What could not be imported (e.g. non-numeric prefixes such as "voicemail"). */
  skipped: string[];
}

/** Imports a CGRateS tariff plan into a tariff book (time zone of Timings: UTC unless told). */
export function importCgrates(files: CgratesFiles, timezone = 'UTC'): CgratesImport {
  const skipped: string[] = [];
  // Destinations; prefixes shared by several ids become merged destinations.
  const idsOfPrefix = new Map<string, Set<string>>();
  for (const [id, prefix] of rows(files.Destinations)) {
    if (!id || prefix === undefined) continue;
    if (!/^\+?\d+$/.test(prefix)) {
      skipped.push(`destination ${id}: prefix ${JSON.stringify(prefix)} is not a number prefix`);
      continue;
    }
    let s = idsOfPrefix.get(prefix);
    if (!s) idsOfPrefix.set(prefix, (s = new Set()));
    s.add(id);
  }
  const destinations: Record<string, string[]> = {};
  const mergedOf = new Map<string, string[]>();
  for (const [prefix, ids] of idsOfPrefix) {
    const members = [...ids].sort();
    const id = members.join('|');
    (destinations[id] ??= []).push(prefix);
    for (const m of members) {
      let l = mergedOf.get(m);
      if (!l) mergedOf.set(m, (l = []));
      if (!l.includes(id)) l.push(id);
    }
  }

  // Rate groups by RatesTag (the first row's connect fee is the group's: engine/model_helpers.go:470).
  const rateRows = new Map<string, string[][]>();
  for (const r of rows(files.Rates)) {
    const l = rateRows.get(r[0]!) ?? [];
    l.push(r);
    rateRows.set(r[0]!, l);
  }
  const drRows = new Map<string, string[][]>();
  for (const r of rows(files.DestinationRates)) {
    const l = drRows.get(r[0]!) ?? [];
    l.push(r);
    drRows.set(r[0]!, l);
  }
  const timings = new Map<string, string[]>();
  for (const r of rows(files.Timings)) timings.set(r[0]!, r);

  const rates: Record<string, RateDef> = {};
  const rateFor = (dr: string[], service: Service): string => {
    const [drId, , tag, method = '', decimals = '0', maxCost = '0', strategy = ''] = dr;
    const id = `${drId}:${tag}${service === 'voice' ? '' : `:${service}`}`;
    if (rates[id]) return id;
    const groups = rateRows.get(tag!);
    if (!groups) throw new Error(`DestinationRate ${drId}: unknown Rates ${tag}`);
    // CGRateS prices an offset before the first GroupIntervalStart at -1 (rateinterval.go); we refuse it.
    if (!groups.some((g) => goDurationNs(g[5] ?? '') === 0)) throw new RangeError(`Rates ${tag}: no rate group starts at 0`);
    // Durations: voice in ms ("60000ms"); data and SMS in CGRateS's raw units (nanoseconds of a "duration").
    const q = (ns: number) => {
      if (service !== 'voice') return ns;
      if (ns % 1e6 !== 0) throw new RangeError(`Rates ${tag}: ${ns} ns is not a whole number of milliseconds (a ${service} rate?)`);
      return `${ns / 1e6}ms`;
    };
    const zeroIsSecond = (ns: number) => (ns === 0 ? 1e9 : ns); // engine/rateinterval.go:390-395
    const dec = Number(decimals);
    const def: RateDef = {
      connectFee: groups[0]![1] || '0',
      groups: groups.map((g) => ({ from: q(goDurationNs(g[5] ?? '')), price: g[2] || '0', per: q(zeroIsSecond(goDurationNs(g[3] ?? ''))), increment: q(zeroIsSecond(goDurationNs(g[4] ?? ''))) })),
      rounding: { method: method === '*down' ? 'down' : method === '*middle' ? 'half-up' : 'up', decimals: Math.min(6, dec) },
      cgrates: { roundingMethod: method, roundingDecimals: dec, maxCost: Number(maxCost || 0), maxCostStrategy: strategy },
    };
    if (strategy === '*free' && Number(maxCost) > 0) def.maximumCharge = maxCost;
    for (const g of groups) {
      // Our exact arithmetic needs price (micro-units) × increment within 2^53.
      const inc = Number(q(zeroIsSecond(goDurationNs(g[4] ?? ''))).toString().replace('ms', ''));
      if (Number(g[2] || 0) * 1e6 * inc > Number.MAX_SAFE_INTEGER) throw new RangeError(`Rates ${tag}: price × increment too large for ${service} (a voice rate used for ${service}?)`);
    }
    rates[id] = def;
    return id;
  };

  // Rating plans: rows (DR, timing, weight).
  const planRows = new Map<string, string[][]>();
  for (const r of rows(files.RatingPlans)) {
    const l = planRows.get(r[0]!) ?? [];
    l.push(r);
    planRows.set(r[0]!, l);
  }
  const planContent = (planId: string, service: Service): { bands: BandRuleDef[]; prices: PriceDef[] } | undefined => {
    const prs = planRows.get(planId);
    if (!prs) return undefined;
    const bands: { name: string; weight: number; start: number; rule: BandRuleDef }[] = [];
    const bandName = (timing: string, weight: number): string => {
      const name = `${timing}@${weight}`;
      if (bands.some((b) => b.name === name)) return name;
      if (timing === '*any') {
        bands.push({ name, weight, start: 0, rule: { band: name } });
        return name;
      }
      const t = timings.get(timing);
      if (!t) throw new Error(`RatingPlan ${planId}: unknown timing ${timing}`);
      const time = !t[5] || t[5] === '*asap' ? '00:00:00' : t[5];
      const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
      const rule: BandRuleDef = { band: name, from: time };
      const years = list(t[1]);
      const months = list(t[2]);
      const monthDays = list(t[3]);
      const days = list(t[4]);
      if (years) rule.years = years;
      if (months) rule.months = months;
      if (monthDays) rule.monthDays = monthDays;
      if (days) rule.days = days;
      bands.push({ name, weight, start: h * 3600 + m * 60 + s, rule });
      return name;
    };
    const entries = new Map<string, Record<string, string>>();
    const setPrice = (dest: string, band: string, rate: string) => {
      let e = entries.get(dest);
      if (!e) entries.set(dest, (e = {}));
      e[band] ??= rate;
    };
    for (const [, drId, timing, weight] of prs) {
      const band = bandName(timing || '*any', Number(weight || 0));
      for (const dr of drRows.get(drId!) ?? []) {
        const rate = rateFor(dr, service);
        const dest = dr[1]!;
        if (dest === '*any') setPrice('*', band, rate);
        else for (const id of mergedOf.get(dest) ?? []) setPrice(id, band, rate);
      }
    }
    // Highest weight first, then the later start (the closer one before any instant).
    bands.sort((a, b) => b.weight - a.weight || b.start - a.start);
    return { bands: bands.map((b) => b.rule), prices: [...entries].map(([destination, rate]) => ({ destination, rate })) };
  };

  const tariffs: Record<string, TariffDef> = {};
  const profiles = new Map<string, { activation: string; plan: string; fallbacks: string[] }[]>();
  for (const r of rows(files.RatingProfiles)) {
    const [tenant, category, subject, activation, plan, fallback = ''] = r;
    const key = `${tenant}:${category}:${subject}`;
    const l = profiles.get(key) ?? [];
    l.push({ activation: activation!, plan: plan!, fallbacks: fallback.split(';').filter(Boolean).map((f) => `${tenant}:${category}:${f}`) });
    profiles.set(key, l);
  }
  for (const [key, acts] of profiles) {
    const service = serviceOfCategory(key.split(':')[1]!);
    const labels = new Set<string>();
    const versions = acts.flatMap((a) => {
      let c: ReturnType<typeof planContent>;
      try {
        c = planContent(a.plan, service);
      } catch (e) {
        skipped.push(`${key}: ${(e as Error).message}`);
        return [];
      }
      if (!c) {
        skipped.push(`${key}: unknown rating plan ${a.plan}`);
        return [];
      }
      let label = a.plan;
      for (let n = 2; labels.has(label); n++) label = `${a.plan}#${n}`;
      labels.add(label);
      return [{ version: label, effectiveFrom: a.activation.replace(/Z?$/, 'Z'), bands: c.bands, prices: { [service]: c.prices } }];
    });
    if (versions.length === 0) continue;
    tariffs[key] = { versions, fallback: [...new Set(acts.flatMap((a) => a.fallbacks))].filter((f) => profiles.has(f) && f !== key) };
  }
  for (const planId of planRows.keys()) {
    for (const service of ['voice', 'sms', 'data'] as const) {
      try {
        const c = planContent(planId, service);
        if (c) tariffs[`RP:${planId}:${service}`] = { versions: [{ version: planId, effectiveFrom: '1970-01-01T00:00:00Z', bands: c.bands, prices: { [service]: c.prices } }] };
      } catch {
        // A plan whose rates do not fit this service (e.g. SMS units priced as voice) has no such tariff.
      }
    }
  }
  return {
    book: { format: 'cdr-pipeline/tariffs@1', currency: 'XXX', timezone, description: 'imported from CGRateS tariff-plan CSVs', rounding: { method: 'half-up', decimals: 6 }, destinations, rates, tariffs, assignments: {} },
    skipped,
  };
}

/** Tariff chain (tariff indices) of a CGRateS subject: its profile, else the category's "*any" profile. */
export function cgratesChain(book: CompiledTariffs, tenant: string, category: string, subject: string): Int32Array | null {
  const t = book.tariffIndex.get(`${tenant}:${category}:${subject}`) ?? book.tariffIndex.get(`${tenant}:${category}:*any`);
  return t === undefined ? null : book.chains[book.tariffs[t]!.chain]!;
}

/** Tariff chain of RatingPlan ids in order (RALsV1.GetRatingPlansCost: the first plan that prices wins). */
export function cgratesPlanChain(book: CompiledTariffs, planIds: string[], service: Service): Int32Array {
  return Int32Array.from(planIds.map((p) => book.tariffIndex.get(`RP:${p}:${service}`) ?? -1).filter((i) => i >= 0));
}

export interface CgratesQuery {
  chain: Int32Array;
  destination: string;
  service: Service;
  /** Answer time, epoch ms. */
  answerMs: number;
  /** Seconds for voice; units (bytes, messages) otherwise. */
  usage: number;
  /** general.rounding_decimals (5 in data/tariffplans tests, 6 in engine unit tests). */
  globalDecimals: number;
  /** A later debit slice of a session: no connect fee. */
  loopIndex?: number;
}

export type CgratesCost = { callCost: number; eventCost: number; pieces: number } | { error: 'UNAUTHORIZED_DESTINATION' };

/** utils.Round (cgrates utils/coreutils.go:165-196), float64 as in Go. */
export function goRound(x: number, prec: number, method: string): number {
  const maxPrec = Math.max(7, prec);
  const pow = Math.pow(10, prec);
  const intermed = x * pow;
  const frac = intermed - Math.trunc(intermed);
  let rounder: number;
  switch (method) {
    case '*up':
      rounder = frac >= Math.pow(10, -maxPrec) ? Math.ceil(intermed) : Math.floor(intermed);
      break;
    case '*down':
      rounder = Math.floor(intermed);
      break;
    case '*middle':
      rounder = frac >= 0.5 ? Math.ceil(intermed) : Math.floor(intermed);
      break;
    default:
      rounder = intermed;
  }
  return rounder / pow;
}

interface Piece {
  start: number;
  end: number;
  /** DurationIndex: offset of the piece's end from the start of the call. */
  index: number;
  band: number;
}

/** Prices one call the way CGRateS's legacy engine does (see the file comment). */
export function rateCgrates(book: CompiledTariffs, q: CgratesQuery): CgratesCost {
  const si = SERVICE_INDEX[q.service];
  const lookup = new EntryLookup(book, book.plans);
  const short = false;
  if (!lookup.find(q.chain, q.destination, short ? book.shortTrie : book.trie, si, q.answerMs)) return { error: 'UNAUTHORIZED_DESTINATION' };
  if (q.usage <= 0) return { callCost: 0, eventCost: 0, pieces: 0 };
  const entry = lookup.entry!;
  const rt = book.rates;
  const voice = si <= 1;
  const total = voice ? Math.round(q.usage * 1000) : q.usage;
  const t0 = q.answerMs;
  const p = entry.partition;
  const bandAt = (t: number): number => {
    const plan = book.plans.planAt(p, t);
    return plan.bands[segmentAt(plan, t)]!;
  };
  // Split points: midnights and changes of the winning timing (voice only), then group starts.
  let pieces: Piece[] = [];
  if (voice) {
    let t = t0;
    const end = t0 + total;
    while (t < end) {
      const plan = book.plans.planAt(p, t);
      const k = segmentAt(plan, t);
      const next = Math.min(end, k + 1 < plan.times.length ? plan.times[k + 1]! : plan.end);
      pieces.push({ start: t, end: next, index: next - t0, band: plan.bands[k]! });
      t = next;
    }
  } else pieces.push({ start: t0, end: t0 + total, index: total, band: bandAt(t0) });
  const split: Piece[] = [];
  for (const pc of pieces) {
    const rate = entry.rateByBand[pc.band]!;
    let cur = pc;
    for (let g = rt.gFirst[rate]!; g < rt.gFirst[rate]! + rt.gCount[rate]!; g++) {
      const gs = rt.gFrom[g]!;
      const from = cur.index - (cur.end - cur.start);
      if (from < gs && cur.index > gs) {
        const at = cur.start + (gs - from);
        split.push({ start: cur.start, end: at, index: gs, band: cur.band });
        cur = { start: at, end: cur.end, index: cur.index, band: cur.band };
      }
    }
    split.push(cur);
  }
  pieces = split;
  // roundTimeSpansToIncrement + RemoveOverlapedFromIndex (engine/calldesc.go, engine/timespans.go).
  for (let i = 0; i < pieces.length; i++) {
    const pc = pieces[i]!;
    const d = pc.end - pc.start;
    const inc = rt.gInc[groupIndex(rt, entry.rateByBand[pc.band]!, pc.index - d)]!;
    if (d % inc === 0) continue;
    const nd = d + (inc - (d % inc));
    pc.end = pc.start + nd;
    pc.index += nd - d;
    let last = i;
    for (let j = i + 1; j < pieces.length; j++) {
      if (pieces[j]!.end <= pc.end) last = j;
      else if (pieces[j]!.start < pc.end) {
        pieces[j]!.start = pc.end;
        break;
      }
    }
    if (last > i) pieces.splice(i + 1, last - i);
  }
  const G = q.globalDecimals;
  let callCost = 0;
  let eventSum = 0;
  let maxSoFar = 0;
  let longest = -1;
  let longestMethod = '';
  for (let i = 0; i < pieces.length; i++) {
    const pc = pieces[i]!;
    const rate = entry.rateByBand[pc.band]!;
    const d = pc.end - pc.start;
    if (d <= 0) continue;
    const gs = pc.index - d;
    const g = groupIndex(rt, rate, gs);
    const price = rt.gPrice[g]! / 1e6;
    const scale = voice ? 1e6 : 1; // ms -> ns for voice; raw units otherwise
    const unitNs = rt.gPer[g]! * scale;
    const dNs = d * scale;
    const cost = goRound(dNs * (price / unitNs), G, '*middle');
    const nb = Math.floor(d / rt.gInc[g]!);
    const incCost = goRound(cost / nb, G, '*middle');
    let sum = 0;
    for (let k = 0; k < nb; k++) sum += incCost;
    const pieceCost = goRound(sum, G, '*middle');
    const cg = rt.cgrates[rate];
    const connect = (q.loopIndex ?? 0) === 0 && i === 0 ? rt.connect[rate]! / 1e6 : 0;
    callCost += connect;
    callCost += pieceCost;
    maxSoFar += callCost;
    if (cg && cg.maxCostStrategy === '*free' && cg.maxCost > 0 && maxSoFar >= cg.maxCost) {
      callCost = cg.maxCost;
      maxSoFar = cg.maxCost;
    }
    eventSum += goRound(goRound(connect + incCost * nb, G, '*middle'), G, '*middle');
    const dec = cg ? cg.roundingDecimals : 0;
    if (dec > longest) {
      longest = dec;
      longestMethod = cg ? cg.roundingMethod : '';
    }
  }
  return { callCost: goRound(callCost, Math.max(0, longest), longestMethod), eventCost: goRound(eventSum, G, '*middle'), pieces: pieces.length };
}

function groupIndex(rt: RateTable, rate: number, offset: number): number {
  let g = rt.gFirst[rate]! + rt.gCount[rate]! - 1;
  while (g > rt.gFirst[rate]! && rt.gFrom[g]! > offset) g--;
  return g;
}

