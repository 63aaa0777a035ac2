/**
 * Benign look-alikes in clean traffic (issue #13 point 5): traffic that resembles a fraud signature and is
 * not fraud, so that a detector's false alerts on it are counted. Never labelled: none of it is a fraud
 * entity. The population builds the lines (population.ts buildLookalikes); this file drives them.
 *
 * - M2M/IoT SIMs (smart meters, alarm panels, vending machines): one fixed cell, a short data session every
 *   15-240 minutes day and night, a small status SMS to the fleet's platform number every few reports, a daily
 *   configuration SMS from the platform, and for alarm panels one short test call a day to a monitoring
 *   centre. Looks like a SIM box (static, machine-regular, outgoing-heavy) without the voice.
 * - A2P/OTP gateway lines: one-time codes and notifications to many numbers in many countries, steady, with
 *   the daily shape of the people who ask for them. Looks like SMS pumping (volume, many prefixes, many
 *   countries) without the high-cost ranges, consecutive numbers or bursts.
 * - Travellers forwarding to a local SIM while abroad (CFU to a mobile of the visited country): looks like a
 *   forwarding hijack to an international number.
 * Family in hot-listed countries and expatriates forwarding there are in clean.ts and population.ts.
 *
 * Every actor has its own random stream (hash of the line), so look-alikes move no other record.
 */
import { Rng, hash2, hash3, unit } from './random.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './calendar.js';
import { COUNTRIES } from './geography.js';
import { perHome } from './home.js';
import { fixedNumber, foreignNumber, offnetMobile } from './numbering.js';
import { F, LineKind, type Population } from './population.js';
import { State, type Actor, type Engine, type Where } from './engine.js';

export function installLookalikes(eng: Engine): void {
  const pop = eng.pop;
  const seed = pop.seed;
  const start = eng.o.startMs;
  pop.m2mFleets.forEach((fleet, f) => {
    const h = hash2(seed, 0x3e70 + f);
    // A fleet reports to one platform number (a long number of the IoT platform) [proposal].
    const platform = offnetMobile(hash2(h, 1));
    // Report periods of meters, alarm panels and vending machines [proposal]; a status SMS every few reports.
    const periodMin = [15, 30, 60, 60, 240][h % 5] as number;
    const smsEvery = [2, 4, 6, 12][(h >>> 4) % 4] as number;
    const alarm = unit(hash2(h, 2)) < 0.2;
    const centre = fixedNumber(pop.region[fleet.first] as number, hash2(h, 3));
    for (let k = 0; k < fleet.count; k++) {
      const line = fleet.first + k;
      const rng = new Rng(hash3(seed, 0x3e71, line));
      const period = periodMin * MINUTE_MS * rng.range(0.95, 1.05);
      eng.addActor(new M2mDevice(line, period, smsEvery, platform, alarm ? centre : null, rng), start + Math.round(rng.next() * period));
    }
  });
  pop.a2pLines.forEach((line, k) => {
    const rng = new Rng(hash3(seed, 0xa2a, line));
    // 40-400 messages an hour by day (log-uniform), 15-35% abroad [proposal].
    const perHour = Math.exp(rng.range(Math.log(40), Math.log(400)));
    eng.addActor(new A2pGateway(line, perHour, rng.range(0.15, 0.35), rng), start + rng.int(5 * MINUTE_MS) + k);
  });
  installTravellerForwarding(eng, pop);
}

/** A device: data every period, a status SMS every `smsEvery` reports, a configuration SMS a day, maybe a test call. */
class M2mDevice implements Actor {
  private n = 0;
  private readonly where: Where;
  private nextMtDay = -1;
  constructor(
    private readonly line: number,
    private readonly periodMs: number,
    private readonly smsEvery: number,
    private readonly platform: string,
    private readonly centre: string | null,
    private readonly rng: Rng,
  ) {
    this.where = { state: State.HOME, cell: -1, country: -1, network: 0, until: 0 };
  }

  step(now: number, eng: Engine): number {
    if (now >= eng.o.endMs) return Infinity;
    const rng = this.rng;
    const pop = eng.pop;
    const w = this.where;
    w.cell = pop.homeCell[this.line] as number;
    // A report: a few seconds of data, hundreds of bytes to a few KB.
    const dur = 2000 + rng.int(18_000);
    const r = eng.record(this.line, 'DATA', now, now, now + dur, w);
    r.apn = 'iot';
    r.ratingGroup = 10;
    r.uplinkBytes = 200 + rng.int(4800);
    r.downlinkBytes = 100 + rng.int(1900);
    r.disposition = 'ANSWERED';
    r.causeForTerm = 0;
    eng.emit(r, null);
    this.n++;
    if (this.n % this.smsEvery === 0) eng.sms(this.line, w, '+' + this.platform, -1, now + dur + 500, rng, null);
    // Once a day the platform sends a configuration SMS; alarm panels place a short test call.
    const day = Math.floor(now / DAY_MS);
    if (day !== this.nextMtDay) {
      this.nextMtDay = day;
      const mt = now + 2 * HOUR_MS + rng.int(12 * HOUR_MS);
      if (mt < eng.o.endMs) eng.smsMt(this.line, w, this.platform, mt, null);
      if (this.centre !== null) {
        const t = now + rng.int(20 * HOUR_MS);
        if (t < eng.o.endMs) eng.call(this.line, w, '+' + this.centre, this.centre, -1, t, 10_000 + rng.int(30_000), rng, null, 0.98);
      }
    }
    return now + Math.round(this.periodMs * rng.range(0.97, 1.03));
  }
}

const intlMobiles = perHome(() => COUNTRIES.filter((c) => c.mobile.length > 0));

/** An OTP/notification sender: steady, by day more than by night, to random numbers at home and abroad. */
class A2pGateway implements Actor {
  private readonly where: Where = { state: State.HOME, cell: -1, country: -1, network: 0, until: 0 };
  constructor(
    private readonly line: number,
    private readonly perHour: number,
    private readonly intlShare: number,
    private readonly rng: Rng,
  ) {}

  step(now: number, eng: Engine): number {
    if (now >= eng.o.endMs) return Infinity;
    const rng = this.rng;
    const pop = eng.pop;
    this.where.cell = pop.homeCell[this.line] as number;
    const h = rng.int(0x7fffffff);
    if (rng.chance(this.intlShare)) {
      const intl = intlMobiles();
      // Every country with mobiles, evenly: a global service's users [proposal].
      const c = intl[h % intl.length] as (typeof COUNTRIES)[number];
      eng.sms(this.line, this.where, '+' + foreignNumber(c, true, hash2(h, 0xa2)), -1, now, rng, null);
    } else if (rng.chance(0.3)) {
      // One of our own subscribers: the MT record is written too.
      const b = rng.int(pop.homeLines);
      if (pop.kind[b] === LineKind.MOBILE) eng.sms(this.line, this.where, '+' + pop.msisdn(b), b, now, rng, null);
      else eng.sms(this.line, this.where, '+' + offnetMobile(hash2(h, 0xa3)), -1, now, rng, null);
    } else eng.sms(this.line, this.where, '+' + offnetMobile(hash2(h, 0xa3)), -1, now, rng, null);
    const hour = eng.localHour(now);
    const rate = this.perHour * (hour >= 7 && hour < 23 ? 1.3 : 0.3);
    return now + Math.max(200, Math.round(rng.exp(HOUR_MS / Math.max(0.01, rate))));
  }
}

/**
 * Travellers who forward their line to a local SIM while abroad: CFU from arrival to departure, to one mobile
 * number of the visited country per traveller and country.
 */
function installTravellerForwarding(eng: Engine, pop: Population): void {
  const share = pop.clean.travellerForwardShare;
  if (share <= 0) return;
  for (const [line, trips] of pop.trips) {
    if (!((pop.features[line] as number) & F.TRAVELLER) || unit(hash3(pop.seed, 0x7f0d, line)) >= share) continue;
    for (const trip of trips) {
      if (trip.leave <= eng.o.startMs || trip.arrive >= eng.o.endMs) continue;
      const local = foreignNumber(COUNTRIES[trip.country] as (typeof COUNTRIES)[number], true, hash3(pop.seed, 0x7f0e + trip.country, line));
      eng.addForwardOverride(line, { from: trip.arrive, to: trip.leave, reason: 'CFU', line: -1, number: local, label: null });
    }
  }
}
