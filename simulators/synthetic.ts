/**
 * Synthetic CDR source, deterministic for a seed (the same seed gives the same records, byte for byte).
 * Walking-skeleton version: a subscriber population with a voice/SMS/data mix and plausible durations,
 * kept for the demo, the benchmark and tests that want N records fast. The realistic population with
 * labelled fraud scenarios is simulators/traffic/ (`cdr-pipeline generate`).
 */
import type { Cdr, EventType } from '../schemas/index.js';

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; deterministic across platforms. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratorOptions {
  seed: number;
  subscribers: number;
  /** Epoch ms of the first seizure. */
  startMs: number;
  /** Mean gap between consecutive records across the whole population, ms. */
  meanGapMs: number;
  switches: number;
}

export function* generateCdrs(o: GeneratorOptions, count: number): Generator<Cdr> {
  const rnd = prng(o.seed);
  let t = o.startMs;
  const exp = (mean: number) => -Math.log(1 - rnd()) * mean;
  for (let i = 0; i < count; i++) {
    t += Math.round(exp(o.meanGapMs));
    const sub = Math.floor(rnd() * o.subscribers);
    const msisdn = `4479${String(10_000_000 + sub).padStart(8, '0')}`;
    const imsi = `23415${String(sub).padStart(10, '0')}`;
    const other = `447${String(Math.floor(rnd() * 1e9)).padStart(9, '0')}`;
    const sw = `MSC${1 + (sub % o.switches)}`;
    const roll = rnd();
    const eventType: EventType = roll < 0.55 ? 'VOICE_MO' : roll < 0.8 ? 'VOICE_MT' : roll < 0.92 ? 'SMS_MO' : roll < 0.97 ? 'SMS_MT' : 'DATA';
    const voice = eventType === 'VOICE_MO' || eventType === 'VOICE_MT';
    const answered = voice ? rnd() < 0.8 : true;
    const ringMs = voice ? Math.round(2000 + rnd() * 15_000) : 0;
    // Voice holding times are roughly log-normal with a median near a minute (ITU-T E.500-style traffic).
    const talkMs = voice && answered ? Math.round(Math.exp(Math.log(60_000) + 1.0 * gauss(rnd))) : eventType === 'DATA' ? Math.round(rnd() * 3_600_000) : 0;
    const seizure = t;
    const answer = voice && answered ? seizure + ringMs : eventType === 'DATA' ? seizure : null;
    const release = seizure + ringMs + Math.min(talkMs, 4 * 3_600_000);
    const mo = eventType === 'VOICE_MO' || eventType === 'SMS_MO';
    yield {
      recordId: `${sw}-${seizure}-${i}`,
      recordingEntity: sw,
      eventType,
      servedImsi: imsi,
      servedImei: `35${String(sub).padStart(13, '0')}`,
      servedMsisdn: msisdn,
      callingNumber: eventType === 'DATA' ? null : mo ? msisdn : other,
      calledNumber: eventType === 'DATA' ? null : mo ? other : msisdn,
      connectedNumber: null,
      translatedNumber: null,
      originalCalledNumber: null,
      redirectingNumber: null,
      redirectionReason: null,
      redirectionCounter: 0,
      seizureTime: seizure,
      answerTime: answer,
      releaseTime: release,
      utcOffsetMinutes: 0,
      durationMs: release - seizure,
      billableMs: answer === null ? 0 : release - answer,
      causeForTerm: answered ? 0 : 3,
      q850Cause: answered ? 16 : 19,
      disposition: answered ? 'ANSWERED' : 'NO_ANSWER',
      servingPlmn: '23415',
      homePlmn: '23415',
      lac: 1000 + (sub % 50),
      tac: null,
      cellId: 10_000 + Math.floor(rnd() * 500),
      inTrunkGroup: null,
      outTrunkGroup: null,
      smsCentre: eventType.startsWith('SMS') ? '447785016005' : null,
      smsResult: eventType.startsWith('SMS') ? 0 : null,
      apn: eventType === 'DATA' ? 'internet' : null,
      ratingGroup: eventType === 'DATA' ? 10 : null,
      uplinkBytes: eventType === 'DATA' ? Math.floor(rnd() * 5e6) : 0,
      downlinkBytes: eventType === 'DATA' ? Math.floor(rnd() * 5e7) : 0,
      extensions: {},
      chargingId: null,
      ratType: null,
      recordSequenceNumber: null,
      localRecordSequenceNumber: null,
      smsSegments: 1,
    };
  }
}

/** Box-Muller standard normal. */
function gauss(rnd: () => number): number {
  const u = 1 - rnd();
  const v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
