/**
 * The traffic generator beyond one UK-like operator (issue #13): a home country other than GB (DE: German
 * numbering, Europe/Berlin, German holidays, its short codes and mailboxes; reference data and a derived tariff
 * book that rate every record), GB output unchanged by the home-country option, the benign look-alikes of
 * clean traffic (M2M/IoT SIMs, A2P/OTP gateways, travellers forwarding abroad, hot-listed family and
 * expatriates; never labelled), the cf-b2bua scenario (on-net middle hops, loops behind a counter-resetting
 * B2BUA; every diverting line and the target labelled), and the held-out configuration held-out-c.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cdrCodec, type Cdr, type SourcedCdr } from '../schemas/index.js';
import { createDecoder } from '../enrich/decode.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { EVASIVE, HOME_COUNTRIES, createTraffic, evasiveParams, germanHolidays, writeReference, type TrafficOptions } from '../simulators/traffic/index.js';
import { writeHomeTariffs } from '../simulators/traffic/tariffs.js';
import { isoDate } from '../simulators/traffic/calendar.js';
import { parseInstant } from '../simulators/generate.js';
import { EVAL_CONFIGS, evalConfig } from '../tools/eval/configs.js';

const DAY = 86_400_000;
const MIN = 60_000;
const NO_LOOKALIKES = { 'clean.m2mShare': '0', 'clean.a2pShare': '0', 'clean.travellerForwardShare': '0', 'clean.familyHighRiskShare': '0', 'clean.expatHighRiskShare': '0' };
/** The scenarios the generator had before cf-b2bua. */
const OLD_SCENARIOS = ['cf-hijack', 'cf-chain', 'a-calls-a', 'wangiri', 'irsf', 'premium-rate', 'simbox', 'pbx-hack', 'sim-clone', 'roaming-high-usage', 'sms-pumping', 'subscription'];

function sha(parts: Iterable<unknown>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(JSON.stringify(p));
  return h.digest('hex');
}

// A week of July 2027 in Germany (CEST), and a window over Ascension Day (Thursday 6 May 2027).
const DE_JULY = parseInstant('2027-07-05', 'start', 'DE');
const DE: TrafficOptions = { seed: 5, subscribers: 700, startMs: DE_JULY, endMs: DE_JULY + 2 * DAY, homeCountry: 'DE', scenarios: 'all' };

describe('traffic generator: home country', () => {
  it('GB output is byte-identical to the generator before home countries and look-alikes existed (look-alikes off)', () => {
    // Digests recorded with the generator as it was before issue #13 round 3 (same options).
    const start = parseInstant('2026-10-08', 'start');
    const t = createTraffic({ seed: 11, subscribers: 700, startMs: start, endMs: start + 2 * DAY, scenarios: OLD_SCENARIOS, params: NO_LOOKALIKES, partialIntervalMs: 5 * MIN, homeCountry: 'GB' });
    const h = createHash('sha256');
    let n = 0;
    for (const r of t.records()) {
      h.update(JSON.stringify(r));
      n++;
    }
    h.update(JSON.stringify(t.labels()));
    expect(n).toBe(64_479);
    expect(h.digest('hex')).toBe('6303db4837009650eb4cf1c61ba081b95e34879a5d7dfa3329a1a022afa0f84e');
    const ref = t.reference();
    const r2 = createHash('sha256');
    for (const k of Object.keys(ref).sort()) {
      if (k === 'accounts') continue; // PIN hashes depend on the deployment key
      const v = (ref as unknown as Record<string, unknown>)[k];
      r2.update(k + JSON.stringify(typeof v === 'function' ? [...(v as () => Iterable<unknown>)()] : v));
    }
    expect(r2.digest('hex')).toBe('f2c24c674c0010aff9776a63cae80a43662a4d4bad60b1db054864dd0d907872');
  });

  it('refuses an unknown home country', () => {
    expect(HOME_COUNTRIES).toEqual(['GB', 'DE']);
    expect(() => createTraffic({ ...DE, homeCountry: 'FR' })).toThrow(/unknown home country "FR"/);
    expect(() => parseInstant('2027-07-05', 'start', 'XX')).toThrow(/unknown home country/);
  });

  it('German public holidays: Easter-bound and fixed dates, no substitute days', () => {
    expect(germanHolidays(2027).map((h) => `${isoDate(h.day)} ${h.name}`)).toEqual([
      '2027-01-01 Neujahr',
      '2027-03-26 Karfreitag',
      '2027-03-29 Ostermontag',
      '2027-05-01 Tag der Arbeit',
      '2027-05-06 Christi Himmelfahrt',
      '2027-05-17 Pfingstmontag',
      '2027-10-03 Tag der Deutschen Einheit',
      '2027-12-25 1. Weihnachtstag',
      '2027-12-26 2. Weihnachtstag',
    ]);
    // Local midnight in Berlin: 22:00 UTC the day before in summer, 23:00 in winter.
    expect(new Date(DE_JULY).toISOString()).toBe('2027-07-04T22:00:00.000Z');
    expect(new Date(parseInstant('2027-01-11', 'start', 'DE')).toISOString()).toBe('2027-01-10T23:00:00.000Z');
  });

  it('DE: German numbers, Berlin time, German holidays in the reference data, deterministic', () => {
    const t = createTraffic(DE);
    const records = [...t.records()];
    expect(sha(records)).toBe(sha(createTraffic(DE).records()));
    const ref = t.reference();
    expect(ref.operator).toMatchObject({ country: 'DE', countryCode: '49', nationalPrefix: '0', internationalPrefix: '00', currency: 'EUR', timezone: 'Europe/Berlin', plmn: '26299' });
    expect(ref.countries[0]).toMatchObject({ country: 'DE', name: 'Germany' });
    // The UK is a foreign destination now, Germany is not.
    expect(ref.countries.some((c) => c.country === 'GB')).toBe(true);
    expect(ref.networks.filter((n) => n.country === 'DE').map((n) => n.plmn)).toEqual(['26299']);
    const mobiles = [...ref.lines()].filter((l) => l.lineType === 'mobile');
    expect(mobiles.length).toBeGreaterThan(500);
    expect(mobiles.every((l) => /^491579\d{7}$/.test(l.msisdn) && l.imsi!.startsWith('26299'))).toBe(true);
    // Summer time: +120 at home; GB-only conventions are gone.
    const home = records.filter((r) => r.servingPlmn === '26299');
    expect(new Set(home.map((r) => r.utcOffsetMinutes))).toEqual(new Set([120]));
    // Our subscribers have German numbers (visitors from the UK are foreign now, with their +44 numbers).
    const ours = records.filter((r) => r.homePlmn === '26299' || r.homePlmn === null);
    expect(ours.filter((r) => !r.servedMsisdn.startsWith('49'))).toEqual([]);
    expect(records.some((r) => r.homePlmn !== null && r.homePlmn.startsWith('234') && r.servedMsisdn.startsWith('44'))).toBe(true);
    // Dialled national numbers start with the trunk prefix 0; fixed numbers are of several lengths.
    const geo = home.filter((r) => r.eventType === 'VOICE_MO' && /^0[2-9]/.test(r.calledNumber ?? '')).map((r) => (r.calledNumber as string).length);
    expect(new Set(geo).size).toBeGreaterThanOrEqual(2);
    // German short codes and mailboxes: customer care 2202, mailbox 3311 or 0157 33 + own number, 110/112.
    const dialled = new Set(home.filter((r) => r.eventType === 'VOICE_MO').map((r) => r.calledNumber));
    expect(dialled.has('2202')).toBe(true);
    expect(dialled.has('3311')).toBe(true);
    expect(home.some((r) => r.eventType === 'VOICE_MO' && /^0157 ?33/.test(r.calledNumber ?? '') && (r.calledNumber as string).endsWith(r.servedMsisdn.slice(-7)))).toBe(true);
    expect(records.some((r) => r.calledNumber === '999' || r.calledNumber === '121' || r.calledNumber === '150')).toBe(false);
    // Holidays of the reference data are Germany's.
    const may = createTraffic({ ...DE, startMs: parseInstant('2027-05-05', 's', 'DE'), endMs: parseInstant('2027-05-08', 's', 'DE'), scenarios: 'none' });
    expect(may.reference().holidays).toEqual([{ date: '2027-05-06', name: 'Christi Himmelfahrt', country: 'DE' }]);
  });

  it('DE: every record passes the decoder and rates with the reference data and the derived tariff book', () => {
    const t = createTraffic({ ...DE, params: evasiveParams('all') });
    const dir = mkdtempSync(join(tmpdir(), 'cdr-de-'));
    try {
      writeReference(dir, t.reference());
      const tariffs = writeHomeTariffs(dir, t.plan);
      expect(tariffs).toBe(join(dir, 'tariffs.json'));
      const stage = createRatingStage(dir, tariffs as string);
      expect(stage.warnings).toEqual([]);
      const codec = cdrCodec();
      const decode = createDecoder(codec, { maxFutureSkewMs: 3_600_000, maxDurationMs: DAY, now: () => DE.endMs + DAY });
      const records = [...t.records()];
      const r = decode({ topic: 't', partition: 0 }, records.map((c, i) => ({ key: null, value: codec.encode(c), offset: String(i), timestamp: 0 })));
      expect(r.deadLetters.map((d) => d.message)).toEqual([]);
      const counts = stage.rateBatch(r.cdrs);
      expect(counts).toEqual({ rated: records.length });
      const dest = (pred: (c: Cdr) => boolean) => new Set(r.cdrs.filter((s: SourcedCdr) => pred(s.cdr)).map((s) => s.rated?.destination_id));
      expect(dest((c) => c.eventType === 'VOICE_MO' && c.calledNumber === '3311')).toEqual(new Set(['VOICEMAIL']));
      expect(dest((c) => c.eventType === 'VOICE_MO' && c.calledNumber === '2202')).toEqual(new Set(['CUSTOMER_CARE']));
      // (Business accounts' contracted rates for 015x come first, as the bundled book's for 07 do in GB.)
      expect(dest((c) => c.eventType === 'VOICE_FWD' && c.calledNumber === t.plan.operator.voicemailNumber)).toContain('VOICEMAIL');
      // Data at home: our MCC is home (pay-as-you-go priced as such; bundles by "*"), not EU roaming.
      expect(dest((c) => c.eventType === 'DATA' && c.servingPlmn === '26299')).toContain('DE_NETWORKS');
      expect(dest((c) => c.eventType === 'DATA' && c.servingPlmn === '26299')).not.toContain('EU_NETWORKS');
      const rated = r.cdrs.filter((s) => s.cdr.eventType === 'VOICE_MO' && s.cdr.servingPlmn === '26299' && /^01[567]/.test(s.cdr.calledNumber ?? '') && s.rated?.rating_status === 'RATED');
      expect(rated.length).toBeGreaterThan(0);
      // German mobiles are national, not "Europe mobile"; the UK is international.
      expect(rated.every((s) => s.rated?.destination_id !== 'EUROPE_MOBILE')).toBe(true);
      expect(r.cdrs.some((s) => s.cdr.eventType === 'VOICE_MO' && /^(\+|00)447/.test(s.cdr.calledNumber ?? '') && s.rated?.destination_id === 'EUROPE_MOBILE')).toBe(true);
      expect(new Set(r.cdrs.map((s) => s.rated?.currency))).toEqual(new Set(['EUR']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // GB keeps the bundled book.
    expect(writeHomeTariffs(tmpdir(), createTraffic({ ...DE, homeCountry: 'GB', scenarios: 'none' }).plan)).toBeNull();
  });

  it('GB and DE traffic interleaved in one process give the same records as each alone', () => {
    const gbOpts: TrafficOptions = { ...DE, homeCountry: 'GB', startMs: parseInstant('2026-10-08', 's'), endMs: parseInstant('2026-10-09', 's'), subscribers: 400 };
    const deOpts: TrafficOptions = { ...DE, endMs: DE.startMs + DAY, subscribers: 400 };
    const gbAlone = sha(createTraffic(gbOpts).records());
    const deAlone = sha(createTraffic(deOpts).records());
    const gb = createTraffic(gbOpts).batches(500);
    const de = createTraffic(deOpts).batches(700);
    const a = createHash('sha256');
    const b = createHash('sha256');
    for (let done = 0; done < 2; ) {
      done = 0;
      const x = gb.next();
      if (x.done) done++;
      else for (const r of x.value) a.update(JSON.stringify(r));
      const y = de.next();
      if (y.done) done++;
      else for (const r of y.value) b.update(JSON.stringify(r));
    }
    expect(a.digest('hex')).toBe(gbAlone);
    expect(b.digest('hex')).toBe(deAlone);
  });
});

describe('traffic generator: benign look-alikes (clean, never labelled)', () => {
  const start = parseInstant('2026-10-08', 'start');
  const o: TrafficOptions = { seed: 9, subscribers: 3000, startMs: start, endMs: start + 2 * DAY, scenarios: 'none', params: { 'clean.travellerShare': '0.05', 'clean.familyHighRiskShare': '0.5' } };
  const t = createTraffic(o);
  const records = [...t.records()];
  const pop = t.population;
  const m2m = new Set(pop.m2mFleets.flatMap((f) => Array.from({ length: f.count }, (_, k) => pop.msisdn(f.first + k))));
  const a2p = new Set(pop.a2pLines.map((i) => pop.msisdn(i)));

  it('M2M/IoT SIMs: one fixed cell, machine-regular short data sessions, small SMS to one platform number, little voice', () => {
    expect(m2m.size).toBe(30);
    expect(t.labels()).toEqual([]);
    for (const f of pop.m2mFleets) {
      const fleet = new Set(Array.from({ length: f.count }, (_, k) => pop.msisdn(f.first + k)));
      const mine = records.filter((r) => fleet.has(r.servedMsisdn));
      const smsTo = new Set(mine.filter((r) => r.eventType === 'SMS_MO').map((r) => r.calledNumber));
      expect(smsTo.size).toBe(1);
      expect(mine.filter((r) => r.eventType === 'VOICE_MO').length).toBeLessThanOrEqual(2 * f.count * 2);
      for (const msisdn of fleet) {
        const own = mine.filter((r) => r.servedMsisdn === msisdn);
        expect(new Set(own.map((r) => r.cellId)).size).toBe(1);
        const data = own.filter((r) => r.eventType === 'DATA');
        expect(data.length).toBeGreaterThanOrEqual(10);
        expect(data.every((r) => r.durationMs <= 20_000 && r.uplinkBytes + r.downlinkBytes < 10_000 && r.apn === 'iot')).toBe(true);
        // Regular gaps (machine clock), day and night alike.
        const gaps = data.slice(1).map((r, k) => r.seizureTime - (data[k] as Cdr).seizureTime);
        const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
        expect(Math.max(...gaps) / mean).toBeLessThan(1.1);
      }
    }
  });

  it('A2P/OTP gateways: steady high SMS volume to many numbers in many countries, nothing hot-listed or consecutive', () => {
    expect(a2p.size).toBe(2);
    const plan = t.reference().numberingPlan;
    const listed = plan.filter((p) => p.highRisk).map((p) => p.prefix);
    for (const line of a2p) {
      const sms = records.filter((r) => r.servedMsisdn === line && r.eventType === 'SMS_MO');
      expect(sms.length).toBeGreaterThan(1000);
      const to = sms.map((r) => (r.calledNumber as string).slice(1));
      expect(new Set(to).size).toBeGreaterThan(0.8 * to.length);
      const intl = to.filter((n) => !n.startsWith('44'));
      expect(new Set(intl.map((n) => n.slice(0, 2))).size).toBeGreaterThanOrEqual(10);
      expect(to.filter((n) => listed.some((p) => n.startsWith(p)))).toEqual([]);
      // (Our own numbers are dense in our block: consecutive there by allocation, so only off-net ones count.)
      const sorted = to.filter((n) => !n.startsWith(t.plan.operator.msisdnBlock)).sort();
      expect(sorted.filter((n, k) => k > 0 && BigInt(n) - BigInt(sorted[k - 1] as string) === 1n).length).toBeLessThan(3);
      // Steady: every hour of the window has traffic.
      expect(new Set(sms.map((r) => Math.floor(r.seizureTime / 3_600_000))).size).toBe(48);
    }
  });

  it('travellers forward to a local SIM abroad; hot-listed family and expatriates call and forward there', () => {
    const travelFwd = records.filter((r) => r.eventType === 'VOICE_FWD' && r.redirectionReason === 'CFU' && pop.trips.has(pop.lineOfMsisdn(r.servedMsisdn)));
    expect(travelFwd.length).toBeGreaterThan(0);
    for (const r of travelFwd) {
      const line = pop.lineOfMsisdn(r.servedMsisdn);
      const trip = pop.tripAt(line, r.seizureTime)!;
      expect(trip !== undefined && r.seizureTime >= trip.arrive && r.seizureTime < trip.leave).toBe(true);
      expect((r.calledNumber as string).startsWith('44')).toBe(false);
    }
    const family = [...pop.familyRisk.keys()].map((i) => pop.msisdn(i));
    expect(family.length).toBeGreaterThan(0);
    const caribbean = /^(\+|00)?1(264|268|246|284|767|473|664|649)/;
    expect(records.some((r) => family.includes(r.servedMsisdn) && r.eventType === 'VOICE_MO' && caribbean.test(r.calledNumber ?? ''))).toBe(true);
  });

  it('with every share at 0 there are no look-alike lines', () => {
    const none = createTraffic({ ...o, endMs: start + DAY / 4, params: NO_LOOKALIKES });
    expect(none.population.m2mFleets).toEqual([]);
    expect(none.population.a2pLines).toEqual([]);
    expect(none.population.familyRisk.size).toBe(0);
  });
});

describe('cf-b2bua: chains with on-net middle hops, loops behind a counter-resetting B2BUA', () => {
  const start = parseInstant('2026-10-08', 'start');
  const o: TrafficOptions = { seed: 4, subscribers: 1500, startMs: start, endMs: start + 3 * DAY, scenarios: ['cf-b2bua'] };

  function campaigns(opts: TrafficOptions) {
    const t = createTraffic(opts);
    const records = [...t.records()];
    const byId = new Map(records.map((r) => [r.recordId, r]));
    return { t, records, labels: t.labels(), byId };
  }

  it('labels every diverting line and the target; chain counters grow through our switch; loop legs stay at 1 and repeat', () => {
    const { labels, byId } = campaigns(o);
    const chains = labels.filter((l) => l.campaign.startsWith('cf-b2bua-chain-'));
    const loops = labels.filter((l) => l.campaign.startsWith('cf-b2bua-loop-'));
    // 2 chains of 2 hops (+ target), 1 loop of 2 lines (+ the B2BUA).
    expect(chains.map((l) => `${l.campaign} ${l.phase} ${l.entityKind}`).sort()).toEqual(['cf-b2bua-chain-1 diverting msisdn', 'cf-b2bua-chain-1 diverting msisdn', 'cf-b2bua-chain-1 target number', 'cf-b2bua-chain-2 diverting msisdn', 'cf-b2bua-chain-2 diverting msisdn', 'cf-b2bua-chain-2 target number']);
    expect(loops.map((l) => `${l.phase} ${l.entityKind}`).sort()).toEqual(['diverting msisdn', 'diverting msisdn', 'target number']);
    for (const l of labels) {
      const recs = l.recordIds.map((id) => byId.get(id)!);
      expect(recs.length).toBeGreaterThan(0);
      expect(recs.every((r) => r.eventType === 'VOICE_FWD' && r.redirectionReason === 'CFU')).toBe(true);
      if (l.entityKind === 'msisdn') expect(recs.every((r) => r.servedMsisdn === l.entity && r.redirectingNumber === l.entity)).toBe(true);
      else expect(recs.every((r) => r.calledNumber === l.entity)).toBe(true);
    }
    for (const c of ['cf-b2bua-chain-1', 'cf-b2bua-chain-2']) {
      const [head, middle] = chains.filter((l) => l.campaign === c && l.phase === 'diverting').map((l) => l.entity) as [string, string];
      const headLegs = chains.find((l) => l.entity === head)!.recordIds.map((id) => byId.get(id)!);
      // The middle hop is on net: the head forwards to our own line, which forwards abroad with counter 2.
      expect(new Set(headLegs.map((r) => r.calledNumber))).toEqual(new Set([middle]));
      expect(new Set(headLegs.map((r) => r.redirectionCounter))).toEqual(new Set([1]));
      const midLegs = chains.find((l) => l.entity === middle)!.recordIds.map((id) => byId.get(id)!);
      expect(midLegs.every((r) => r.redirectionCounter === 2 && r.originalCalledNumber === head && !r.calledNumber!.startsWith('44'))).toBe(true);
    }
    const loopLegs = loops.filter((l) => l.phase === 'diverting').flatMap((l) => l.recordIds.map((id) => byId.get(id)!));
    expect(loopLegs.every((r) => r.redirectionCounter === 1 && r.originalCalledNumber === r.servedMsisdn && r.answerTime === null)).toBe(true);
    // Within one call the same (caller, diverting line) pair repeats within seconds.
    const pairs = new Map<string, number[]>();
    for (const r of loopLegs) pairs.set(`${r.callingNumber}>${r.servedMsisdn}`, [...(pairs.get(`${r.callingNumber}>${r.servedMsisdn}`) ?? []), r.seizureTime]);
    expect([...pairs.values()].some((ts) => ts.length >= 2 && ts.sort((x, y) => x - y).some((v, k) => k > 0 && v - (ts[k - 1] as number) < 5000))).toBe(true);
  });

  it('evasive: a B2BUA between every hop (counter 1 everywhere), an unlisted range, fewer calls', () => {
    expect(EVASIVE['cf-b2bua']).toMatchObject({ resetCounter: 'true', destination: 'unlisted' });
    const { labels, byId, records } = campaigns({ ...o, params: evasiveParams(['cf-b2bua']) });
    const legs = labels.filter((l) => l.entityKind === 'msisdn').flatMap((l) => l.recordIds.map((id) => byId.get(id)!));
    expect(legs.length).toBeGreaterThan(0);
    expect(legs.every((r) => r.redirectionCounter === 1 && r.originalCalledNumber === r.servedMsisdn)).toBe(true);
    // No forwarded leg of the run goes above counter 1 but benign ones (at most 2).
    expect(Math.max(...records.map((r) => r.redirectionCounter))).toBeLessThanOrEqual(2);
  });
});

describe('evaluation configurations', () => {
  it('held-out-c is fixed: another home country (DE), summer, held out', () => {
    expect(evalConfig('held-out-c')).toEqual({ name: 'held-out-c', heldOut: true, seed: 31_337, start: '2027-07-05T00:00:00Z', subscribers: 6000, days: 4, homeCountry: 'DE', note: 'held out: another home country (Germany: +49 numbering, CEST, German holidays), summer' });
    expect(EVAL_CONFIGS.filter((c) => !c.heldOut).map((c) => c.name)).toEqual(['development']);
    expect(EVAL_CONFIGS.every((c) => HOME_COUNTRIES.includes(c.homeCountry))).toBe(true);
  });
});
