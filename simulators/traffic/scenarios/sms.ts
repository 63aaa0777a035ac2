/**
 * SMS pumping / artificially inflated traffic (AIT): a script abuses a business's OTP/A2P sender line to
 * request one-time codes for numbers in ranges whose termination revenue the fraudsters share. The line has
 * its ordinary OTP traffic (mostly domestic, a few international codes) from the start of the window, so a
 * detector can learn its baseline; the pumping comes on top.
 *
 * Plain: sequential numbers in one or two prefixes (the number minus its last 4 digits) of a high-cost
 * range, a burst of minutes. Evasive: random numbers spread over many prefixes in several high-cost
 * countries, at a few per minute for hours (defeats per-prefix counters; coss.com, Kaleyra).
 */
import { Rng, hash2, hash3 } from '../random.js';
import { HOUR_MS, MINUTE_MS } from '../calendar.js';
import { REGIONS, COUNTRIES } from '../geography.js';
import { perHome } from '../home.js';
import { LISTED_RANGES, UNLISTED_RANGES, digits, foreignNumber, offnetMobile, type RiskRange } from '../numbering.js';
import type { Actor, Engine, LabelAcc } from '../engine.js';
import { labelParams, mergeLabels, nextLocal, resolveStart, startParam, type ScenarioDef } from './common.js';
import type { ParamValues } from '../params.js';

/** One OTP/A2P sender line's ordinary traffic: codes to domestic mobiles, a few abroad, by day more than by night. */
export class OtpSender implements Actor {
  private readonly rng: Rng;
  constructor(
    private readonly line: number,
    private readonly perHour: number,
    private readonly intlShare: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (now >= eng.o.endMs) return Infinity;
    const rng = this.rng;
    const h = hash2(rng.int(0x7fffffff), 0x07b);
    let to: string;
    if (rng.chance(this.intlShare)) {
      const intl = intlCountries();
      const c = intl[h % intl.length] as (typeof COUNTRIES)[number];
      to = foreignNumber(c, true, h);
    } else to = offnetMobile(h);
    eng.sms(this.line, eng.where(this.line, now, rng), '+' + to, -1, now, rng, null);
    const hour = eng.localHour(now);
    const rate = this.perHour * (hour >= 7 && hour < 23 ? 1.3 : 0.3);
    return now + Math.max(1000, Math.round(rng.exp(HOUR_MS / Math.max(0.01, rate))));
  }
}

const intlCountries = perHome(() => COUNTRIES.filter((c) => c.callWeight > 0 && c.mobile.length > 0));

/** A number in prefix `head` (E.164 digits) with a 4-digit subscriber part. */
const inPrefix = (head: string, k: number) => head + String(k % 10_000).padStart(4, '0');

/** A prefix (the number minus its last 4 digits) in a high-cost range. */
function prefixIn(r: RiskRange, h: number): string {
  return r.prefix + digits(hash3(h, 0x5a, 0), r.length - r.prefix.length - 4, 1);
}

class Pump implements Actor {
  private sent = 0;
  private readonly rng: Rng;
  constructor(
    private readonly line: number,
    private readonly targets: string[],
    private readonly gapMs: number,
    private readonly label: LabelAcc,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  step(now: number, eng: Engine): number {
    if (this.sent >= this.targets.length || now >= eng.o.endMs) return Infinity;
    const rng = this.rng;
    eng.sms(this.line, eng.where(this.line, now, rng), '+' + (this.targets[this.sent] as string), -1, now, rng, this.label);
    this.sent++;
    return now + Math.max(200, Math.round(rng.range(0.3, 1.7) * this.gapMs));
  }
}

export const smsPumping: ScenarioDef = {
  name: 'sms-pumping',
  ref: 'docs/FRAUD.md',
  summary: 'SMS pumping / AIT through an OTP/A2P sender line with ordinary OTP traffic: codes requested for numbers in high-cost ranges (sequential numbers in one prefix; evasive: many prefixes and countries, slowly)',
  entityKind: 'msisdn',
  params: [
    { name: 'senders', kind: 'int', default: 2, min: 1, max: 100, help: 'abused sender lines (one campaign each)', source: '[proposal]' },
    { name: 'messages', kind: 'int', default: 300, min: 1, max: 100_000, help: 'pumped messages per campaign', source: '[proposal]' },
    { name: 'burstMinutes', kind: 'number', default: 20, min: 1, max: 10_000, help: 'period the pumped messages are spread over, minutes', source: 'per hour (coss.com) / 10 min (Telnyx) velocity rules' },
    { name: 'prefixes', kind: 'int', default: 2, min: 1, max: 1000, help: 'destination prefixes (number minus last 4 digits)', source: 'coss.com shared prefix' },
    { name: 'countries', kind: 'int', default: 1, min: 1, max: 10, help: 'high-cost ranges (countries) the prefixes are drawn from', source: '[proposal]' },
    { name: 'sequential', kind: 'bool', default: true, help: 'consecutive numbers in each prefix (else random)', source: 'coss.com sequential numbers' },
    { name: 'destination', kind: 'string', default: 'mixed', choices: ['high-risk', 'unlisted', 'mixed'], help: 'hot-listed ranges, unlisted high-cost ranges, or both', source: 'GSMA: dynamic destinations' },
    { name: 'otpPerHour', kind: 'number', default: 30, min: 0, help: 'the sender line\'s ordinary OTP messages per hour', source: '[proposal]' },
    startParam('the second day 14:00 local'),
  ],
  setup(ctx, p: ParamValues) {
    const pop = ctx.pop;
    const durMs = (p.burstMinutes as number) * MINUTE_MS;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 20 * HOUR_MS, null, 14 * 60), nextLocal(ctx.startMs, null, 14 * 60)], durMs);
    const n = p.senders as number;
    // Established business sender lines (installed months ago): their history is their OTP traffic.
    const lines = Array.from({ length: n }, () => pop.addScenarioLine({ installMs: ctx.startMs - (60 + ctx.rng.int(300)) * 24 * HOUR_MS, region: ctx.rng.int(REGIONS.length), business: true }));
    const pool = p.destination === 'high-risk' ? LISTED_RANGES : p.destination === 'unlisted' ? UNLISTED_RANGES : [...LISTED_RANGES, ...UNLISTED_RANGES];
    const plans = lines.map((line, k) => {
      const ranges = Array.from({ length: p.countries as number }, (_, j) => pool[hash3(pop.seed, 0x5b + k, j) % pool.length] as RiskRange);
      const prefixes = Array.from({ length: p.prefixes as number }, (_, j) => prefixIn(ranges[j % ranges.length] as RiskRange, hash3(pop.seed, 0x5c + k, j)));
      const m = p.messages as number;
      const base = ctx.rng.int(5000);
      const targets = Array.from({ length: m }, (_, i) => {
        const head = prefixes[i % prefixes.length] as string;
        return inPrefix(head, p.sequential ? base + Math.floor(i / prefixes.length) : hash3(pop.seed, k, i));
      });
      return { line, targets, prefixes, t0: start + k * (5 + ctx.rng.int(40)) * MINUTE_MS };
    });
    return (eng) => {
      plans.forEach(({ line, targets, prefixes, t0 }, k) => {
        const label = eng.newLabel('sms-pumping', `sms-pumping-${k + 1}`, 'sender', 'msisdn', pop.msisdn(line), labelParams(p, { prefixes: prefixes.slice(0, 50) }));
        // The per-prefix view is a second label when the pumping concentrates on a few prefixes.
        const byPrefix = prefixes.length <= 4 ? prefixes.map((px) => eng.newLabel('sms-pumping', `sms-pumping-${k + 1}`, 'prefix', 'range', px, labelParams(p, { sender: pop.msisdn(line) }))) : [];
        eng.addActor(new OtpSender(line, p.otpPerHour as number, 0.05, hash2(pop.seed, 0x0b0 + k)), ctx.startMs + ctx.rng.int(10 * MINUTE_MS));
        const gap = ((p.burstMinutes as number) * MINUTE_MS) / Math.max(1, targets.length);
        // Each prefix label gets the records of its own prefix: one pump per label keeps them apart.
        if (byPrefix.length === 0) eng.addActor(new Pump(line, targets, gap, label, hash2(pop.seed, 0x0b1 + k)), t0);
        else
          byPrefix.forEach((pl, j) => {
            const mine = targets.filter((_, i) => i % prefixes.length === j);
            eng.addActor(new Pump(line, mine, gap * prefixes.length, mergeLabels(label, pl), hash2(pop.seed, 0x0b2 + k * 16 + j)), t0 + j * 700);
          });
      });
    };
  },
};
