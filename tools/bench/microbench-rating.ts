/**
 * Rating microbenchmarks (`cdr-pipeline microbench --only rating`): CDRs rated per second on one core and
 * the memory of the compiled structures, in one process on synthetic but realistic inputs:
 *
 * - a 100,000-prefix international deck (5,000 destinations of 20 prefixes under ~230 country codes, each
 *   destination its own rate; one in ten priced by time band: peak / off-peak / weekend / holiday in
 *   Europe/London), plus a "*" entry for SMS and data;
 * - CDRs: 60% outgoing voice (70% answered, log-normal holding time, median 45 s, capped at 3 h), 10%
 *   incoming voice, 15% SMS, 15% data; called numbers in dialled forms ("00", "+", national "0"); answer
 *   times spread over a week, so some calls cross a band boundary (the share is measured and printed);
 * - a customer inventory of 1,000,000 lines (~625,000 accounts, 2% of them with 7 contracted rates).
 *
 * Scenarios: the rating function alone (subject resolved beforehand), with the subscriber lookup, a
 * split-heavy mix (every call crosses 19:00), a naive longest-prefix baseline (Map of prefix strings, tried
 * from the longest), and the exact usage charge in safe integers vs the same in bigint (why money is
 * safe integers in a fixed scale). Medians of `runs` runs after a warm-up; memory after forced GCs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { packageRoot, type Cdr } from '../../schemas/index.js';
import type { ContractedRateRecord, LineRecord, NumberRangeRecord, OperatorRecord } from '../../schemas/reference.js';
import type { RateDef, TariffBookFile } from '../../schemas/tariff.js';
import { compileTariffs, Normaliser, Rater, Subscribers, type RatingSubject } from '../../enrich/rate/index.js';
import { RationalSum, ROUND_HALF_UP } from '../../enrich/rate/money.js';

export interface RatingBenchOptions {
  records: number;
  runs: number;
  prefixes: number;
  lines: number;
  doc: boolean;
}

export interface RatingBenchRow {
  name: string;
  perCoreSec: number;
  perWallSec: number;
}

/** xorshift32: deterministic inputs. */
class Rand {
  constructor(private s: number) {}
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(10));
    return s;
  }
  lognormal(median: number, sigma: number): number {
    const u = Math.max(1e-12, this.next());
    const v = this.next();
    return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }
}

const OPERATOR: OperatorRecord = {
  name: 'Bench Telecom',
  plmn: '23499',
  mcc: '234',
  mnc: '99',
  country: 'GB',
  countryCode: '44',
  nationalPrefix: '0',
  internationalPrefix: '00',
  timezone: 'Europe/London',
  currency: 'GBP',
  voicemailNumber: '447900000121',
  smsCentre: '447900000001',
  switches: [{ id: 'MSC-LON1', kind: 'msc', location: 'London' }],
};

/** Country codes: 1, 7, the 2-digit codes and a spread of 3-digit ones (ITU-T E.164 shapes). */
function countryCodes(): string[] {
  const two = ['20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48', '49', '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84', '86', '90', '91', '92', '93', '94', '95', '98'];
  const three: string[] = [];
  for (const head of ['21', '22', '23', '24', '25', '26', '29', '35', '37', '38', '42', '50', '59', '67', '68', '69', '85', '87', '88', '96', '97', '99']) for (let d = 0; d < 10; d++) three.push(head + d);
  return ['1', '7', ...two, ...three];
}

interface Deck {
  book: TariffBookFile;
  prefixes: string[];
  plan: NumberRangeRecord[];
}

function buildDeck(n: number, r: Rand): Deck {
  const ccs = countryCodes();
  const seen = new Set<string>(ccs);
  const prefixes: string[] = [];
  while (prefixes.length < n) {
    const cc = ccs[r.int(ccs.length)]!;
    const p = cc + r.digits(1 + r.int(5));
    if (seen.has(p)) continue;
    seen.add(p);
    prefixes.push(p);
  }
  const destinations: Record<string, string[]> = {};
  const rates: Record<string, RateDef> = {};
  const voice: { destination: string; rate: string | Record<string, string> }[] = [];
  const incs = ['60/1', '30/6', '1/1', '60/60'];
  const per = 20;
  for (let d = 0; d * per < prefixes.length; d++) {
    const id = `D${d}`;
    destinations[id] = prefixes.slice(d * per, (d + 1) * per);
    const price = (n: number) => (n / 10_000).toFixed(4);
    const base = 50 + r.int(20_000);
    rates[id] = { price: price(base), per: '60s', increments: incs[d % 4]! };
    if (d % 10 === 0) {
      rates[`${id}_OFF`] = { price: price(Math.ceil(base * 0.6)), per: '60s', increments: incs[d % 4]! };
      rates[`${id}_WKD`] = { price: price(Math.ceil(base * 0.4)), per: '60s', increments: '1/1' };
      voice.push({ destination: id, rate: { PEAK: id, OFFPEAK: `${id}_OFF`, WEEKEND: `${id}_WKD`, HOLIDAY: `${id}_WKD` } });
    } else voice.push({ destination: id, rate: id });
  }
  rates.FREE = { price: '0' };
  rates.SMS = { price: '0.0800', per: '1msg' };
  rates.DATA = { price: '0.0200', per: '1MB', increments: '10KB' };
  const book: TariffBookFile = {
    format: 'cdr-pipeline/tariffs@1',
    currency: 'GBP',
    timezone: 'Europe/London',
    calendars: { GB: ['2026-12-25', '2026-12-28'] },
    bandSchedules: { RETAIL: [{ band: 'HOLIDAY', holidays: 'GB' }, { band: 'WEEKEND', days: '6-7' }, { band: 'PEAK', days: '1-5', from: '08:00', to: '19:00' }, { band: 'OFFPEAK' }] },
    destinations,
    rates,
    tariffs: {
      DECK: {
        versions: [
          {
            version: '2026-01',
            effectiveFrom: '2026-01-01',
            bands: 'RETAIL',
            prices: { voice, 'voice-in': [{ destination: '*', rate: 'FREE' }], sms: [{ destination: '*', rate: 'SMS' }], 'sms-in': [{ destination: '*', rate: 'FREE' }], data: [{ destination: '*', rate: 'DATA' }] },
          },
        ],
      },
    },
    assignments: { default: 'DECK' },
  };
  // Numbering plan: one range per country code (classification needs ranges, not the 100k prefixes).
  const plan: NumberRangeRecord[] = ccs.map((cc) => ({ prefix: cc, minLength: 8, maxLength: 15, country: cc === '44' ? 'GB' : `C${cc}`, countryCode: cc, numberClass: 'fixed', highRisk: false, rangeHolder: '', description: '' }));
  return { book, prefixes, plan };
}

function makeCdrs(count: number, deck: Deck, r: Rand, start: number, splitHeavy: boolean): Cdr[] {
  const hot = deck.prefixes.slice(0, Math.max(1, deck.prefixes.length >> 6));
  const out: Cdr[] = [];
  for (let i = 0; i < count; i++) {
    const u = r.next();
    const type = splitHeavy ? 'VOICE_MO' : u < 0.6 ? 'VOICE_MO' : u < 0.7 ? 'VOICE_MT' : u < 0.85 ? 'SMS_MO' : 'DATA';
    const p = r.next() < 0.8 ? hot[r.int(hot.length)]! : deck.prefixes[r.int(deck.prefixes.length)]!;
    const e164 = p + r.digits(Math.max(0, 12 - p.length));
    const f = r.next();
    const dialled = e164.startsWith('44') && f < 0.4 ? '0' + e164.slice(2) : f < 0.7 ? '00' + e164 : '+' + e164;
    // Answer times over a week; split-heavy: every call starts 30 s before 19:00 on a weekday.
    const answer = splitHeavy ? start + (r.int(5) * 86_400 + 19 * 3600 - 30) * 1000 - 3_600_000 : start + r.int(7 * 86_400_000);
    const answered = type !== 'VOICE_MO' || splitHeavy || r.next() < 0.7;
    const ms = type === 'VOICE_MO' || type === 'VOICE_MT' ? (answered ? Math.min(10_800_000, Math.round(r.lognormal(45_000, 1.2))) : 0) : 0;
    out.push({
      recordId: String(i),
      recordingEntity: 'MSC-LON1',
      eventType: type,
      servedImsi: null,
      servedImei: null,
      servedMsisdn: '4479' + String(10_000_000 + (i % 1_000_000)).slice(1),
      callingNumber: type === 'VOICE_MT' ? e164 : '447900000001',
      calledNumber: type === 'DATA' ? null : type === 'VOICE_MT' ? '447900000001' : dialled,
      connectedNumber: null,
      translatedNumber: null,
      originalCalledNumber: null,
      redirectingNumber: null,
      redirectionReason: null,
      redirectionCounter: 0,
      seizureTime: answer - 4000,
      answerTime: answered ? answer : null,
      releaseTime: answer + ms,
      utcOffsetMinutes: 0,
      durationMs: ms + 4000,
      billableMs: ms,
      causeForTerm: 0,
      q850Cause: 16,
      disposition: answered ? 'ANSWERED' : 'NO_ANSWER',
      servingPlmn: '23499',
      homePlmn: '23499',
      lac: null,
      tac: null,
      cellId: null,
      inTrunkGroup: null,
      outTrunkGroup: null,
      smsCentre: null,
      smsResult: null,
      apn: type === 'DATA' ? 'internet' : null,
      ratingGroup: null,
      uplinkBytes: type === 'DATA' ? r.int(2_000_000) : 0,
      downlinkBytes: type === 'DATA' ? r.int(20_000_000) : 0,
      extensions: {},
      chargingId: null,
      ratType: null,
      recordSequenceNumber: null,
      localRecordSequenceNumber: null,
      smsSegments: 1,
    });
  }
  return out;
}

function* inventory(lines: number, r: Rand): Generator<LineRecord> {
  let account = 0;
  for (let i = 0; i < lines; i++) {
    if (i === 0 || r.next() < 0.625) account++;
    yield {
      msisdn: '4479' + String(10_000_000 + i).slice(1),
      imsi: null,
      accountId: 'AC' + String(account).padStart(8, '0'),
      lineType: 'mobile',
      status: 'active',
      installDate: '2024-01-01',
      plan: ['PAYG', 'SIMO-5', 'HAND-24', 'BIZ-MOB'][i % 4]!,
      region: 'London',
      trunkGroup: null,
    };
  }
}

function* contracts(accounts: number): Generator<ContractedRateRecord> {
  for (let a = 1; a <= accounts; a += 50) {
    const accountId = 'AC' + String(a).padStart(8, '0');
    for (const prefix of ['441', '442', '443', '447', '33', '49', '1']) yield { accountId, prefix, description: prefix, ratePerMinute: '0.0150', setupFee: '0.0000', firstIncrementSeconds: 60, incrementSeconds: 1, validFrom: '2025-01-01' };
  }
}

function measure(name: string, n: number, runs: number, fn: () => number): RatingBenchRow {
  let sink = fn();
  const cpuRates: number[] = [];
  const wallRates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    sink += fn();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    cpuRates.push(n / Math.max((c.user + c.system) / 1e6, wall * 0.5, 1e-6));
    wallRates.push(n / wall);
  }
  if (sink === -1) process.stdout.write('');
  return { name, perCoreSec: Math.round(median(cpuRates)), perWallSec: Math.round(median(wallRates)) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

let gcFn: (() => void) | undefined;
function gc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

/** Heap + ArrayBuffer bytes retained by what `build` returns (kept alive until measured). */
function retained<T>(build: () => T): { value: T; heapMB: number; buffersMB: number } {
  gc();
  const a = process.memoryUsage();
  const value = build();
  gc();
  const b = process.memoryUsage();
  return { value, heapMB: (b.heapUsed - a.heapUsed) / 2 ** 20, buffersMB: (b.arrayBuffers - a.arrayBuffers) / 2 ** 20 };
}

export async function runRatingMicrobench(o: RatingBenchOptions, print: (line: string) => void): Promise<RatingBenchRow[]> {
  const r = new Rand(0x5eed);
  const start = Date.UTC(2026, 9, 4, 23); // Monday 5 October 2026 00:00 BST
  const deck = buildDeck(o.prefixes, r);
  const t0 = Date.now();
  const mem = retained(() => compileTariffs(deck.book));
  const compileMs = Date.now() - t0;
  const tariffs = mem.value;
  const normaliser = new Normaliser({ operator: OPERATOR, numberingPlan: deck.plan });
  const t1 = Date.now();
  const inv = retained(() => Subscribers.build(tariffs, { operator: OPERATOR, lines: inventory(o.lines, new Rand(7)), contractedRates: contracts(Math.round(o.lines * 0.625)) }, o.lines));
  const inventoryMs = Date.now() - t1;
  const subs = inv.value;
  const rater = new Rater(tariffs, normaliser, { homePlmn: OPERATOR.plmn, contractRates: subs.contractRates });
  const subject: RatingSubject = { accountId: 'AC00000001', chain: tariffs.tariffs[0]!.chain, contract: null };
  const cdrs = makeCdrs(o.records, deck, r, start, false);
  const splitHeavy = makeCdrs(Math.max(1000, o.records >> 2), deck, r, start, true);

  // Shares of the mix, and a check that everything rates.
  let split = 0;
  let voiceAnswered = 0;
  let unrated = 0;
  for (const c of cdrs) {
    const x = rater.rate(c, subject);
    if (x.status !== 'RATED') unrated++;
    if (x.service === 'voice' && x.usage > 0) voiceAnswered++;
    if (x.segments !== null) split++;
  }
  print(`rating microbenchmarks: ${cdrs.length} CDRs, ${o.prefixes} prefixes (${tariffs.trie.nodes} trie nodes), ${o.lines} lines; ${o.runs} runs each, median`);
  print(`  mix: ${((voiceAnswered / cdrs.length) * 100).toFixed(1)}% answered outgoing calls, ${((split / Math.max(1, voiceAnswered)) * 100).toFixed(2)}% of them split across bands; unrated ${unrated}`);

  const rows: RatingBenchRow[] = [];
  const run = (name: string, count: number, fn: () => number) => {
    const row = measure(name, count, o.runs, fn);
    rows.push(row);
    print(`  ${name.padEnd(64)} ${String(row.perCoreSec).padStart(10)} /CPU-s ${String(row.perWallSec).padStart(10)} /s`);
  };
  run('rate(cdr, subject): the rating function alone', cdrs.length, () => {
    let s = 0;
    for (let i = 0; i < cdrs.length; i++) s += rater.rate(cdrs[i]!, subject).totalMicros;
    return s;
  });
  run('rate(cdr, subscribers.resolve(cdr)): with the 1M-line lookup', cdrs.length, () => {
    let s = 0;
    for (let i = 0; i < cdrs.length; i++) {
      const c = cdrs[i]!;
      s += rater.rate(c, subs.resolve(c)).totalMicros;
    }
    return s;
  });
  run('split-heavy: every call crosses 19:00 (peak -> off-peak)', splitHeavy.length, () => {
    let s = 0;
    for (let i = 0; i < splitHeavy.length; i++) s += rater.rate(splitHeavy[i]!, subject).totalMicros;
    return s;
  });
  // Baseline: longest prefix by Map lookups of every prefix length (what a first implementation does).
  const map = new Map<string, number>();
  deck.prefixes.forEach((p, i) => map.set(p, i));
  const numbers = cdrs.map((c) => (c.calledNumber ?? '').replace(/^(\+|00)/, ''));
  run('baseline: longest prefix by Map.get of each length (no pricing)', numbers.length, () => {
    let s = 0;
    for (const num of numbers) {
      for (let len = Math.min(num.length, 12); len > 0; len--) {
        const v = map.get(num.slice(0, len));
        if (v !== undefined) {
          s += v;
          break;
        }
      }
    }
    return s;
  });
  const trieOut = new Int32Array(32);
  const trieDepth = new Int32Array(32);
  run('trie longest prefix alone (same numbers)', numbers.length, () => {
    let s = 0;
    for (const num of numbers) s += tariffs.trie.matches(num, trieOut, trieDepth);
    return s;
  });
  // Money: the usage charge of each call (blocks × price per block, rounded half-up to 4 decimals) done the
  // same way in safe integers and in bigint, then through the engine's RationalSum (branches for mixed
  // denominators and the overflow guard included).
  const usage = cdrs.map((c) => c.billableMs).filter((ms) => ms > 0);
  run('usage charge: safe integers (blocks × 5000/3 µ, half-up to 100 µ)', usage.length, () => {
    let s = 0;
    for (const ms of usage) {
      const num = Math.ceil(ms / 1000) * 5000; // 0.10/min billed per second = 5000/3 micro-units a block
      let q = Math.floor(num / 300);
      if ((num - q * 300) * 2 >= 300) q += 1;
      s += q * 100;
    }
    return s;
  });
  run('usage charge: the same in bigint', usage.length, () => {
    let s = 0n;
    for (const ms of usage) {
      const num = BigInt(Math.ceil(ms / 1000)) * 5000n;
      let q = num / 300n;
      if ((num % 300n) * 2n >= 300n) q += 1n;
      s += q * 100n;
    }
    return Number(s);
  });
  const acc = new RationalSum();
  run('usage charge: the engine\'s RationalSum (guarded, mixed units)', usage.length, () => {
    let s = 0;
    for (const ms of usage) {
      acc.reset();
      acc.add(Math.ceil(ms / 1000), 5000, 3);
      s += acc.round(100, ROUND_HALF_UP);
    }
    return s;
  });

  print(`  memory: compiled ${o.prefixes}-prefix tariff ${mem.heapMB.toFixed(1)} MB heap + ${mem.buffersMB.toFixed(1)} MB typed arrays (compile ${compileMs} ms); ${subs.size} lines ${inv.heapMB.toFixed(1)} MB heap + ${inv.buffersMB.toFixed(1)} MB typed arrays (build ${inventoryMs} ms); day plans cached ${tariffs.plans.size}`);

  if (o.doc) {
    const doc = join(packageRoot, 'docs', 'BENCHMARKS.md');
    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}, load average ${loadavg()[0]?.toFixed(2)}`;
    const block = [
      `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `\`cdr-pipeline microbench --only rating --records ${o.records} --runs ${o.runs}\` on ${machine}. ${o.prefixes} prefixes (${tariffs.trie.nodes} trie nodes), ${((voiceAnswered / cdrs.length) * 100).toFixed(0)}% answered outgoing calls of which ${((split / Math.max(1, voiceAnswered)) * 100).toFixed(2)}% split across bands. Median of ${o.runs} runs.`,
      '',
      '| scenario | CDRs/CPU-s (one core) | CDRs/s (wall) |',
      '|---|---:|---:|',
      ...rows.map((x) => `| ${x.name} | ${x.perCoreSec.toLocaleString('en-US')} | ${x.perWallSec.toLocaleString('en-US')} |`),
      '',
      `Memory (retained after GC): the compiled ${o.prefixes.toLocaleString('en-US')}-prefix tariff ${mem.heapMB.toFixed(1)} MB heap + ${mem.buffersMB.toFixed(1)} MB typed arrays (compiled in ${compileMs} ms); the ${subs.size.toLocaleString('en-US')}-line inventory with ${subs.accountIds.length.toLocaleString('en-US')} accounts ${inv.heapMB.toFixed(1)} MB heap + ${inv.buffersMB.toFixed(1)} MB typed arrays (built in ${inventoryMs} ms).`,
      '',
    ].join('\n');
    const text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
    writeFileSync(doc, withRatingBlock(text, block));
    print(`added to the "${SECTION}" section of ${doc}`);
  }
  return rows;
}

const SECTION = 'Rating';

/** Puts a run block at the top of the "Rating" section (appending the section at the end if missing). */
function withRatingBlock(text: string, block: string): string {
  const head = `## ${SECTION}\n`;
  const at = text.indexOf(head);
  if (at < 0) return `${text.replace(/\n*$/, '\n\n')}${head}\nWritten by \`cdr-pipeline microbench --only rating\` (tools/bench/microbench-rating.ts), newest run first.\n\n${block}`;
  const firstRun = text.indexOf('\n### ', at);
  const nextSection = text.indexOf('\n## ', at + head.length);
  const insertAt = firstRun >= 0 && (nextSection < 0 || firstRun < nextSection) ? firstRun + 1 : nextSection < 0 ? text.length : nextSection + 1;
  return `${text.slice(0, insertAt).replace(/\n*$/, '\n\n')}${block}\n${text.slice(insertAt)}`;
}
