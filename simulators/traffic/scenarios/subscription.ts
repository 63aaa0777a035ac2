/**
 * Subscription fraud and bust-out: an account opened with a false or stolen identity, with no intent to
 * pay. After a little ordinary use it runs up international and premium-rate spend — long calls to ordinary
 * international destinations and 09 numbers, back to back — until it is cut off (Mobileum, Estévez et al.:
 * high international/premium usage in the first days). Plain: the bust-out starts hours after activation.
 * Evasive: the account lies dormant for weeks first (its line is not young any more when the spend starts).
 */
import { Rng, hash2 } from '../random.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../calendar.js';
import { COUNTRIES, REGIONS } from '../geography.js';
import { HOME, dialledForm, foreignNumber, offnetMobile, premiumNumber } from '../numbering.js';
import { perHome } from '../home.js';
import type { Actor, Engine, LabelAcc } from '../engine.js';
import { labelParams, minutes, nextLocal, resolveStart, startParam, type ScenarioDef } from './common.js';
import type { ParamValues } from '../params.js';

const intlCountries = perHome(() => COUNTRIES.filter((c) => c.callWeight > 0));

class BustOut implements Actor {
  private made = 0;
  private readonly rng: Rng;
  private readonly numbers: string[];
  constructor(
    private readonly line: number,
    private readonly p: ParamValues,
    private readonly label: LabelAcc,
    private readonly warmupUntil: number,
    private readonly seed: number,
  ) {
    this.rng = new Rng(seed);
    // A handful of destinations, called again and again (collaborators' numbers, a premium service).
    this.numbers = Array.from({ length: 6 }, (_, k) => (k < (p.premiumShare as number) * 6 ? premiumNumber(hash2(seed, k)) : foreignNumber(intlCountries()[hash2(seed, k + 9) % intlCountries().length]!, hash2(seed, k) % 2 === 0, hash2(seed, k + 17))));
  }

  step(now: number, eng: Engine): number {
    if (now >= eng.o.endMs) return Infinity;
    const rng = this.rng;
    const w = eng.where(this.line, now, rng);
    if (now < this.warmupUntil) {
      // A little ordinary domestic use first (what a new customer does).
      eng.call(this.line, w, '0' + offnetMobile(hash2(this.seed, rng.int(1e9))).slice(2), offnetMobile(hash2(this.seed, rng.int(1e9))), -1, now, 30_000 + rng.int(240_000), rng, null, 0.7);
      return now + 30 * MINUTE_MS + rng.int(3 * HOUR_MS);
    }
    if (this.made >= (this.p.calls as number)) return Infinity;
    const to = this.numbers[this.made % this.numbers.length] as string;
    const minMs = minutes(this.p.callMinutesMin as number);
    const talk = Math.round(rng.range(minMs, Math.max(minMs, minutes(this.p.callMinutesMax as number))));
    const leg = eng.call(this.line, w, to.startsWith(HOME.countryCode) ? HOME.nationalPrefix + to.slice(HOME.countryCode.length) : dialledForm(to, false, rng.next()), to, -1, now, talk, rng, this.label, 0.97);
    this.made++;
    return Math.max(leg.release, now + 1000) + 10_000 + rng.int(120_000);
  }
}

export const subscriptionFraud: ScenarioDef = {
  name: 'subscription',
  ref: 'docs/FRAUD.md',
  summary: 'subscription fraud / bust-out: a new account (evasive: one dormant for weeks) whose international and premium-rate spend departs from its own short history',
  entityKind: 'msisdn',
  params: [
    { name: 'accounts', kind: 'int', default: 3, min: 1, max: 1000, help: 'fraudulent accounts (one campaign each)', source: 'Estévez 2.2% of new accounts [proposal: count]' },
    { name: 'dormantDays', kind: 'number', default: 0, min: 0, max: 365, help: 'days between activation and the bust-out (0: hours; evasive: weeks)', source: 'dormant period before bust-out (evasive variant)' },
    { name: 'calls', kind: 'int', default: 20, min: 1, max: 10_000, help: 'international/premium calls of the bust-out', source: '[proposal]' },
    { name: 'callMinutesMin', kind: 'number', default: 10, min: 0.1, help: 'shortest bust-out call, minutes', source: '[proposal]' },
    { name: 'callMinutesMax', kind: 'number', default: 45, min: 0.1, help: 'longest bust-out call, minutes', source: '[proposal]' },
    { name: 'premiumShare', kind: 'number', default: 0.34, min: 0, max: 1, help: 'share of the destinations that are national premium-rate numbers', source: '[proposal]' },
    startParam('the second day 10:00 local'),
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const start = resolveStart(p.start as string, ctx, [nextLocal(ctx.startMs + 20 * HOUR_MS, null, 10 * 60), nextLocal(ctx.startMs, null, 10 * 60)], 6 * HOUR_MS);
    const dormant = (p.dormantDays as number) * DAY_MS;
    const plans = Array.from({ length: p.accounts as number }, (_, k) => {
      const t0 = start + k * (20 + ctx.rng.int(90)) * MINUTE_MS;
      // Activated hours before (plain) or weeks before, and silent since (evasive).
      const installMs = dormant > 0 ? t0 - dormant : t0 - (3 + ctx.rng.int(18)) * HOUR_MS;
      const line = pop.addScenarioLine({ installMs, region: ctx.rng.int(REGIONS.length) });
      return { line, t0, installMs };
    });
    return (eng) => {
      plans.forEach(({ line, t0, installMs }, k) => {
        const label = eng.newLabel('subscription', `subscription-${k + 1}`, null, 'msisdn', pop.msisdn(line), labelParams(p, { activated: new Date(installMs).toISOString() }));
        const warmFrom = dormant > 0 ? t0 - 2 * HOUR_MS : Math.max(ctx.startMs, installMs + HOUR_MS);
        eng.addActor(new BustOut(line, p, label, t0, hash2(pop.seed, 0x5b5 + k)), Math.max(ctx.startMs, Math.min(warmFrom, t0)));
      });
    };
  },
};
