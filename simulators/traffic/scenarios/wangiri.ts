/**
 * Wangiri, one-ring callback fraud: a dialler rings many subscribers
 * once from a few foreign numbers of one range at night and hangs up; some victims call back in the morning
 * and are held on a revenue-share line.
 */
import { Rng, hash2 } from '../random.js';
import { HOUR_MS, localDay, localHour, localToUtc, utcOffsetMinutes } from '../calendar.js';
import { CARIBBEAN_RANGES, UNLISTED_RANGES, dialledForm, riskBlock, riskNumber, type RiskRange } from '../numbering.js';
import { F, HOME_ZONE, LineKind } from '../population.js';
import { State, type Actor, type Engine, type LabelAcc } from '../engine.js';
import { TimedQueue, activeLine, labelParams, minutes, nextLocal, pickLines, resolveStart, startParam, type ScenarioDef } from './common.js';

export const wangiri: ScenarioDef = {
  name: 'wangiri',
  ref: 'docs/FRAUD.md',
  summary: 'one-ring calls at night from a few numbers of one foreign range (Caribbean NANP) to many subscribers, unanswered and under 2 s (VOICE_MT); a share of victims call the range back later and are kept on the line (VOICE_MO)',
  entityKind: 'range',
  params: [
    { name: 'victims', kind: 'int', default: 500, min: 1, max: 1_000_000, help: 'subscribers rung (capped at half the mobile lines)', source: 'up to 40,000 (ConnexCS), scaled down' },
    { name: 'aNumbers', kind: 'int', default: 10, min: 1, max: 50, help: 'calling numbers of the campaign, all in one range', source: '1-50' },
    { name: 'range', kind: 'string', default: 'auto', choices: ['auto', ...CARIBBEAN_RANGES.map((r) => r.prefix)], help: 'calling range (auto: one of the FBI-listed Caribbean codes)', source: 'FBI 2014' },
    startParam('the first night at 03:00 local, the second when the window is long enough'),
    { name: 'nightHours', kind: 'number', default: 3, min: 0.1, max: 72, help: 'length of the calling burst, hours', source: '03:00-06:00 (ConnexCS); evasive: spread over two days' },
    { name: 'maxCallMs', kind: 'int', default: 2000, min: 500, max: 20_000, help: 'longest one-ring call, ms', source: '<2 s (ConnexCS), one or two rings (Mobileum)' },
    { name: 'minCallMs', kind: 'int', default: 600, min: 100, max: 20_000, help: 'shortest one-ring call, ms', source: '[proposal]; evasive: 6-14 s rings' },
    { name: 'ranges', kind: 'int', default: 1, min: 1, max: 20, help: 'calling ranges (the A-numbers are spread over them; beyond the first, half are unlisted high-cost ranges)', source: 'evasive low-and-slow: many ranges (46labs 6-hour profiling)' },
    { name: 'repeatShare', kind: 'number', default: 0.1, min: 0, max: 1, help: 'victims rung a second time', source: 'repeat calls (Mobileum) [proposal: share]' },
    { name: 'sequential', kind: 'bool', default: false, help: 'dial our number block sequentially instead of random victims', source: 'published cases' },
    { name: 'callbackShare', kind: 'number', default: 0.05, min: 0, max: 1, help: 'victims who call back', source: 'about 5% (Twomey)' },
    { name: 'callbackDelayMinutesMax', kind: 'number', default: 600, min: 1, help: 'latest callback after the missed call (not before 07:00 local), minutes', source: 'minutes-hours [proposal]' },
    { name: 'callbackMinutesMin', kind: 'number', default: 1, min: 0.1, help: 'shortest callback (held on the line), minutes', source: '[proposal] 1-10 (FBI "please hold")' },
    { name: 'callbackMinutesMax', kind: 'number', default: 10, min: 0.1, help: 'longest callback, minutes', source: '[proposal] 1-10' },
  ],
  setup(ctx, p) {
    const pop = ctx.pop;
    const rng = ctx.rng;
    const range = p.range === 'auto' ? rng.pick(CARIBBEAN_RANGES) : (CARIBBEAN_RANGES.find((r) => r.prefix === p.range) as (typeof CARIBBEAN_RANGES)[number]);
    const block = rng.int(1000);
    // Several ranges (evasive): the first as chosen, the others alternately Caribbean and unlisted high-cost.
    const ranges: { range: RiskRange; block: number }[] = [{ range, block }];
    for (let k = 1; k < (p.ranges as number); k++) ranges.push({ range: rng.pick(k % 2 === 1 ? UNLISTED_RANGES : CARIBBEAN_RANGES), block: rng.int(1000) });
    const aNumbers = Array.from({ length: p.aNumbers as number }, (_, k) => {
      const r = ranges[k % ranges.length] as { range: RiskRange; block: number };
      return riskNumber(r.range, r.block, hash2(pop.seed, 0x3a + k));
    });
    const burstMs = (p.nightHours as number) * HOUR_MS;
    // The second night when there is a first day of clean traffic before it, else the first.
    const day0 = localDay(ctx.startMs, utcOffsetMinutes(HOME_ZONE, ctx.startMs));
    const start = resolveStart(p.start as string, ctx, [localToUtc(HOME_ZONE, day0 + 2, 3 * 60), nextLocal(ctx.startMs, null, 3 * 60)], burstMs);
    const mobiles = pop.homeLines;
    const wanted = Math.min(p.victims as number, Math.max(1, Math.floor(mobiles / 2)));
    const eligible = (i: number) => activeLine(pop, i) && pop.kind[i] === LineKind.MOBILE && !((pop.features[i] as number) & F.FWD_INTL_CFU) && !((pop.features[i] as number) & F.TRAVELLER);
    let victims: number[];
    if (p.sequential) {
      // Sequential dialling over our number block: unallocated or ineligible numbers are skipped (the
      // attempt dies at our gateway without a subscriber record).
      victims = [];
      const m = pop.msisdnBlockSize();
      const first = rng.int(m);
      for (let k = 0; k < m && victims.length < wanted; k++) {
        const line = pop.lineOfMsisdn(pop.blockNumber(first + k));
        if (line >= 0 && !ctx.used.has(line) && eligible(line)) {
          ctx.used.add(line);
          victims.push(line);
        }
      }
    } else victims = pickLines(ctx, wanted, eligible);
    return (eng) => {
      // One label pair per range: each range is an entity a detector should name.
      const labels = ranges.map((r) => {
        const mine = aNumbers.filter((_, k) => k % ranges.length === ranges.indexOf(r));
        return {
          missed: eng.newLabel('wangiri', 'wangiri-1', 'missed-call', 'range', riskBlock(r.range, r.block), labelParams(p, { aNumbers: mine, country: r.range.iso })),
          callback: eng.newLabel('wangiri', 'wangiri-1', 'callback', 'range', riskBlock(r.range, r.block), labelParams(p, { aNumbers: mine, country: r.range.iso })),
        };
      });
      eng.addActor(new WangiriCampaign(victims, aNumbers, start, burstMs, p, labels, hash2(pop.seed, 0x3a1)), start);
    };
  },
};

type Agenda = { kind: 'ring'; victim: number; from: number } | { kind: 'callback'; victim: number; to: number; tries: number };

class WangiriCampaign implements Actor {
  private readonly agenda = new TimedQueue<Agenda>();
  private readonly rng: Rng;

  constructor(
    victims: number[],
    private readonly aNumbers: string[],
    start: number,
    burstMs: number,
    private readonly p: Record<string, unknown>,
    private readonly labels: { missed: LabelAcc; callback: LabelAcc }[],
    seed: number,
  ) {
    this.rng = new Rng(seed);
    // Victims are rung in the order chosen (sequential numbers stay sequential), spread over the burst.
    victims.forEach((victim, k) => {
      const t = start + Math.round(((k + this.rng.next()) / victims.length) * burstMs);
      this.agenda.push(t, { kind: 'ring', victim, from: k % aNumbers.length });
      // A second ring, later in the same burst.
      if (this.rng.chance(p.repeatShare as number)) this.agenda.push(t + Math.round(this.rng.next() * (start + burstMs - t)), { kind: 'ring', victim, from: (k + 1) % aNumbers.length });
    });
  }

  step(now: number, eng: Engine): number {
    while (this.agenda.size > 0 && this.agenda.peekTime() <= now) {
      const a = this.agenda.pop();
      if (a.kind === 'ring') this.ring(eng, a.victim, this.aNumbers[a.from] as string, now);
      else this.callBack(eng, a, now);
    }
    return this.agenda.size > 0 ? Math.max(now + 1, this.agenda.peekTime()) : Infinity;
  }

  private ring(eng: Engine, victim: number, from: string, now: number): void {
    const rng = this.rng;
    // A ring only reaches a free, reachable handset; a busy or absent one is not recorded as a missed call.
    const w = eng.where(victim, now, rng);
    if (eng.isBusy(victim, now) || (w.state !== State.HOME && w.state !== State.ABROAD)) return;
    const maxMs = this.p.maxCallMs as number;
    const minMs = Math.min(maxMs, this.p.minCallMs as number);
    const labels = this.labels[this.aNumbers.indexOf(from) % this.labels.length]!;
    const leg = eng.deliver(victim, from, now, 0, { rng, counter: 0, original: null, redirecting: null, label: labels.missed, inTrunk: eng.trunkFor(from), answerProbability: 0, abandonAfterMs: minMs + rng.int(Math.max(1, maxMs - minMs)) });
    // Only a phone that rang shows a missed call to call back.
    if (leg.disposition === 'NO_ANSWER' && rng.chance(this.p.callbackShare as number)) {
      let t = now + minutes(1 + rng.next() * ((this.p.callbackDelayMinutesMax as number) - 1));
      const off = utcOffsetMinutes(HOME_ZONE, t);
      if (localHour(t, off) < 7) t = localToUtc(HOME_ZONE, localDay(t, off), 7 * 60 + rng.int(150));
      this.agenda.push(t, { kind: 'callback', victim, to: this.aNumbers.indexOf(from), tries: 0 });
    }
  }

  private callBack(eng: Engine, a: { kind: 'callback'; victim: number; to: number; tries: number }, now: number): void {
    const rng = this.rng;
    const w = eng.where(a.victim, now, rng);
    if (eng.isBusy(a.victim, now) || (w.state !== State.HOME && w.state !== State.ABROAD)) {
      if (a.tries < 20) this.agenda.push(Math.max(now + 60_000, (eng.busyUntil[a.victim] as number) + 30_000 + rng.int(300_000)), { ...a, tries: a.tries + 1 });
      return;
    }
    const to = this.aNumbers[a.to] as string;
    const minMs = minutes(this.p.callbackMinutesMin as number);
    const talk = Math.round(rng.range(minMs, Math.max(minMs, minutes(this.p.callbackMinutesMax as number))));
    eng.call(a.victim, w, dialledForm(to, w.state === State.ABROAD, rng.next()), to, -1, now, talk, rng, this.labels[a.to % this.labels.length]!.callback, 1);
  }
}
