/**
 * Forwarding chains through on-net middle hops and loops behind counter-resetting B2BUAs (issue #13 "Forwarding
 * chains and loops, keyed so that every diverting line and the final target are flagged"): the keyer's
 * forwarding graph (each forwarded leg not to voicemail keyed `hop:` + diverting line and `hop:` + forwarded-to
 * number), `forwarding.relay` (every diverting line of a relayed call) and `forwarding.chain_target` (the
 * number a chain or a loop ends at). Golden sequences, near misses one step short of each threshold, and the
 * benign look-alikes the issue names: a colleague's on-net mobile forwarding to voicemail or to a landline,
 * family members forwarding to each other, hunt groups and call centres, expats forwarding to their own mobile
 * abroad, busy/no-answer diversion to voicemail.
 *
 * Thresholds are read from the loaded RuleBook (schemas/fraud/rules.json), so each test states its intent.
 * Calendar: Wednesday 2024-05-15, UTC; 10:00 is the "day" band.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cdr, FraudAlert, FraudEvent } from '../schemas/index.js';
import { bandOf, createFraudKeyer, Detector } from '../enrich/fraud/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { SEC, MIN, HOUR, T0, book, P, num } from './fraud-fixtures.js';


const RELAY = 'forwarding.relay';
const TARGET = 'forwarding.chain_target';
const relayP = P(RELAY);
const targetP = P(TARGET);
const MIN_CALLS = num(relayP, 'minCalls');
const PAIR_MS = num(relayP, 'pairSeconds') * SEC;

// Our lines (A, B, C, D...), numbers elsewhere.
const A = '447700900101';
const B = '447700900102';
const C = '447700900103';
const D = '447700900104';
const HOT = '16645550101'; // a hot-listed revenue-share number
const ABROAD = '33612345678'; // a mobile in France: international, not risky
const LANDLINE = '441632960001'; // domestic fixed
const PEER = '441632960999'; // another operator's SIP peer (a B2BUA) at home

type Where = 'risky' | 'abroad' | 'home';
interface LegOpts {
  /** Seizure, ms after T0. */
  at: number;
  /** Release, ms after T0 (default: 10 minutes after the seizure, answered). */
  end?: number;
  answered?: boolean;
  where?: Where;
  counter?: number;
  /** Original called number as the switch wrote it (a B2BUA resets it to the diverting line itself). */
  original?: string | null;
}

let recs = 0;
/**
 * One forwarded leg (VOICE_FWD of `from`, forwarded to `to`) as the keyer emits it on the forwarding graph: keyed
 * at the diverting line's node and at the forwarded-to number's node (same record id).
 */
function leg(from: string, to: string, o: LegOpts): FraudEvent[] {
  const where = o.where ?? 'home';
  const start = T0 + o.at;
  const end = T0 + (o.end ?? o.at + 10 * MIN);
  const answered = o.answered ?? true;
  const base: FraudEvent = {
    group: 'CHAIN',
    key: `hop:${from}`,
    recordId: `leg-${++recs}`,
    kind: 'FWD',
    start,
    end,
    talkMs: answered ? end - start : 0,
    answered,
    msisdn: from,
    imsi: null,
    imei: null,
    other: to,
    otherCountry: where === 'home' ? 'GB' : to.startsWith('1') ? 'MS' : 'FR',
    otherCategory: where === 'home' ? (to.startsWith('447') ? 'mobile' : 'fixed') : 'international',
    highRisk: where === 'risky',
    international: where !== 'home',
    range: null,
    costMicros: where === 'home' ? 0 : 4_000_000,
    currency: 'GBP',
    accountId: `ACC-${from}`,
    accountClass: 'private',
    band: bandOf(start),
    businessHours: 0,
    lineAgeDays: 400,
    roaming: false,
    visitedPlmn: null,
    cellId: null,
    lat: null,
    lon: null,
    redirectionCounter: o.counter ?? 1,
    cause: answered ? 16 : 19,
    originalCalled: o.original === undefined ? from : o.original,
    source: 0,
  };
  const out = to === from ? [base] : [base, { ...base, key: `hop:${to}` }];
  // (as the keyer: a leg deeper than one diversion also goes to its chain head, forwarding.chain's key)
  if (base.redirectionCounter >= 2) out.push({ ...base, key: base.originalCalled ?? from });
  return out;
}

/**
 * One call into `path[0]` diverted along the path (our lines, then the final number), each hop 400 ms after the
 * previous one, every leg released together. `reset`: a B2BUA between the hops (counter 1, original called =
 * the diverting line); otherwise the switch's history (counter 1, 2, ..., original called = the head).
 */
function call(path: string[], atMs: number, o: { where?: Where; reset?: boolean; lastHopMs?: number; callMs?: number } = {}): FraudEvent[][] {
  const endAt = atMs + (o.callMs ?? 12 * MIN);
  return path.slice(0, -1).map((from, j) => {
    const last = j === path.length - 2;
    const at = atMs + j * 400 + (last && o.lastHopMs !== undefined ? o.lastHopMs - 400 : 0);
    return leg(from, path[j + 1]!, { at, end: endAt, where: last ? (o.where ?? 'risky') : 'home', counter: o.reset === false ? j + 1 : 1, original: o.reset === false ? path[0]! : from });
  });
}

/** The detector over events in release order (ties: the order given). */
function run(events: readonly FraudEvent[], det = new Detector(book)): FraudAlert[] {
  const out: FraudAlert[] = [];
  [...events].sort((a, b) => a.end - b.end).forEach((e, i) => out.push(...det.process(0, i, e)));
  return out;
}
const of = (alerts: readonly FraudAlert[], rule: string) => alerts.filter((a) => a.rule === rule);
const opened = (alerts: readonly FraudAlert[], rule: string) => of(alerts, rule).filter((a) => a.version === 1);
const entities = (alerts: readonly FraudAlert[], rule: string) => [...new Set(opened(alerts, rule).map((a) => a.entity))].sort();
/** n calls along the path, `gapMs` apart. */
const calls = (n: number, path: string[], gapMs = 40 * MIN, o: Parameters<typeof call>[2] = {}) => Array.from({ length: n }, (_, k) => call(path, k * gapMs, o).flat()).flat();

// ---------------------------------------------------------------------------------------------------------
// forwarding.relay and forwarding.chain_target: chains through on-net middle hops
// ---------------------------------------------------------------------------------------------------------

describe('forwarding.relay / forwarding.chain_target: chains through an on-net middle hop', () => {
  it('a two-hop chain behind a B2BUA (every counter 1, every leg its own original called number) flags the head, the middle hop and the target at the minCalls-th call; forwarding.chain stays blind', () => {
    const evs = calls(MIN_CALLS, [A, B, HOT], 40 * MIN, { reset: true });
    const alerts = run(evs);
    expect(entities(alerts, RELAY)).toEqual([A, B].sort());
    expect(entities(alerts, TARGET)).toEqual([HOT]);
    expect(of(alerts, 'forwarding.chain')).toEqual([]);
    expect(of(alerts, 'forwarding.loop')).toEqual([]);
    const lastRelease = Math.max(...evs.map((e) => e.end));
    for (const a of [...opened(alerts, RELAY), ...opened(alerts, TARGET)]) {
      expect(a).toMatchObject({ fraudType: 'FORWARDING', status: 'OPEN', detectedAt: lastRelease });
      expect(a.evidence.counts.calls).toBe(MIN_CALLS);
      expect(a.evidence.facts.via).toBe(B);
    }
    const byEntity = new Map(opened(alerts, RELAY).map((a) => [a.entity, a]));
    expect(byEntity.get(A)!.evidence.facts.role).toBe('upstream');
    expect(byEntity.get(B)!.evidence.facts.role).toBe('middle hop');
    expect(byEntity.get(B)!.evidence.facts.forwardedTo).toBe(HOT);
    expect(opened(alerts, TARGET)[0]).toMatchObject({ entityKind: 'NUMBER' });
    expect(opened(alerts, RELAY)[0]).toMatchObject({ entityKind: 'MSISDN' });
  });

  it('whichever leg of a call arrives first (they are released together), every entity is flagged at the same call', () => {
    // Each call's legs reversed: the onward leg before the leg into the middle hop.
    const evs = Array.from({ length: MIN_CALLS }, (_, k) => call([A, B, HOT], k * 40 * MIN, { reset: true }).reverse().flat()).flat();
    const alerts = run(evs);
    expect(entities(alerts, RELAY)).toEqual([A, B].sort());
    expect(entities(alerts, TARGET)).toEqual([HOT]);
    const lastRelease = Math.max(...evs.map((e) => e.end));
    expect([...opened(alerts, RELAY), ...opened(alerts, TARGET)].every((a) => a.detectedAt === lastRelease)).toBe(true);
    // The same alerts (ids: rule, entity, episode start) as with the legs in path order.
    const ids = (as: FraudAlert[]) => [...opened(as, RELAY), ...opened(as, TARGET)].map((a) => `${a.alertId} ${a.firstSeen} ${a.detectedAt}`).sort();
    const inOrder = Array.from({ length: MIN_CALLS }, (_, k) => call([A, B, HOT], k * 40 * MIN, { reset: true }).flat()).flat();
    expect(ids(run(inOrder))).toEqual(ids(alerts));
  });

  it('near miss: minCalls - 1 relayed calls in the window do not fire; the same calls further apart than windowMinutes do not either', () => {
    const few = run(calls(MIN_CALLS - 1, [A, B, HOT], 40 * MIN, { reset: true }));
    expect([...of(few, RELAY), ...of(few, TARGET)]).toEqual([]);
    const apart = calls(MIN_CALLS, [A, B, HOT], num(relayP, 'windowMinutes') * MIN + 20 * MIN, { reset: true });
    const alerts = run(apart);
    expect([...of(alerts, RELAY), ...of(alerts, TARGET)]).toEqual([]);
  });

  it('a chain ending abroad at an unlisted, ordinary-priced number (the evasive variant) fires as well', () => {
    const alerts = run(calls(MIN_CALLS, [A, B, ABROAD], 6 * HOUR, { reset: true, where: 'abroad' }));
    expect(entities(alerts, RELAY)).toEqual([A, B].sort());
    expect(entities(alerts, TARGET)).toEqual([ABROAD]);
  });

  it('several lines forwarding into one middle hop (a target shared through it): every line, the hop and the target', () => {
    const evs = [...calls(MIN_CALLS, [A, C, HOT], 40 * MIN, { reset: true }), ...calls(MIN_CALLS, [B, C, HOT], 40 * MIN, { reset: true }).map((e) => ({ ...e, start: e.start + 10 * MIN, end: e.end + 10 * MIN }))];
    const alerts = run(evs);
    expect(entities(alerts, RELAY)).toEqual([A, B, C].sort());
    expect(entities(alerts, TARGET)).toEqual([HOT]);
  });

  it('a three-hop chain with its diversion history intact: the head by forwarding.chain (counter), the middle hops by forwarding.relay, the target by forwarding.chain_target', () => {
    const alerts = run(calls(MIN_CALLS, [A, B, C, HOT], 40 * MIN, { reset: false }));
    expect(entities(alerts, 'forwarding.chain')).toEqual([A]);
    expect(entities(alerts, RELAY)).toEqual([B, C].sort());
    expect(entities(alerts, TARGET)).toEqual([HOT]);
  });

  it('near miss: the onward leg seized pairSeconds + 1 s after the leg into the hop (not one call diverted at once) is no relay', () => {
    const alerts = run(calls(MIN_CALLS + 2, [A, B, HOT], 40 * MIN, { reset: true, lastHopMs: PAIR_MS + SEC }));
    expect([...of(alerts, RELAY), ...of(alerts, TARGET)]).toEqual([]);
    // ...pairSeconds exactly still is.
    expect(entities(run(calls(MIN_CALLS, [A, B, HOT], 40 * MIN, { reset: true, lastHopMs: PAIR_MS })), RELAY)).toEqual([A, B].sort());
  });

  it('near miss: a leg into the hop that ended before the hop\'s own leg was seized is another call', () => {
    const evs = Array.from({ length: MIN_CALLS + 2 }, (_, k) => {
      const at = k * 40 * MIN;
      return [...leg(A, B, { at, end: at + 2 * SEC, answered: false }), ...leg(B, HOT, { at: at + 3 * SEC, end: at + 12 * MIN, where: 'risky' })];
    }).flat();
    const alerts = run(evs);
    expect([...of(alerts, RELAY), ...of(alerts, TARGET)]).toEqual([]);
  });

  it('near miss: one call relayed to a hot-listed number, the next one (its onward leg known first) to a landline', () => {
    const evs = [...call([A, B, HOT], 0, { reset: true }).flat(), ...call([A, B, LANDLINE], 40 * MIN, { reset: true, where: 'home' }).reverse().flat()];
    const alerts = run(evs);
    expect([...of(alerts, RELAY), ...of(alerts, TARGET)]).toEqual([]);
  });

  it('near miss: an onward leg whose diversion history names another original called number belongs to another call', () => {
    const evs = Array.from({ length: MIN_CALLS + 2 }, (_, k) => {
      const at = k * 40 * MIN;
      return [...leg(A, B, { at, original: A }), ...leg(B, HOT, { at: at + 400, where: 'risky', counter: 2, original: D })];
    }).flat();
    const alerts = run(evs);
    expect(of(alerts, RELAY)).toEqual([]);
    // (the hot-listed legs are still the high-risk rule's business on B's LINE key)
  });
});

// ---------------------------------------------------------------------------------------------------------
// Benign look-alikes
// ---------------------------------------------------------------------------------------------------------

describe('forwarding.relay / forwarding.chain_target: benign look-alikes stay quiet', () => {
  const quiet = (alerts: readonly FraudAlert[]) => [...of(alerts, RELAY), ...of(alerts, TARGET)];

  it("a line forwarding to a colleague's on-net mobile that itself forwards to a landline, all day", () => {
    expect(quiet(run(calls(20, [A, B, LANDLINE], 20 * MIN, { reset: false, where: 'home' })))).toEqual([]);
  });

  it('family members forwarding to each other (A to B in the morning, B to A in the evening; B to its own mobile)', () => {
    const morning = calls(6, [A, B], 30 * MIN, { where: 'home' });
    const evening = calls(6, [B, A], 30 * MIN, { where: 'home' }).map((e) => ({ ...e, start: e.start + 9 * HOUR, end: e.end + 9 * HOUR }));
    const chained = calls(6, [A, B, C], 30 * MIN, { where: 'home' }).map((e) => ({ ...e, start: e.start + 20 * HOUR, end: e.end + 20 * HOUR }));
    expect(quiet(run([...morning, ...evening, ...chained]))).toEqual([]);
  });

  it('a hunt group: more than maxUpstreamLines lines forward to the pilot, which overflows to an offshore call centre abroad', () => {
    const max = num(relayP, 'maxUpstreamLines');
    /** k lines forwarding to pilot D, which relays each call abroad (an ordinary international number). */
    const hunt = (k: number) => Array.from({ length: k }, (_, i) => `4477009002${String(i).padStart(2, '0')}`).flatMap((u, i) => calls(4, [u, D, ABROAD], 37 * MIN, { where: 'abroad' }).map((e) => ({ ...e, start: e.start + i * 3 * MIN, end: e.end + i * 3 * MIN })));
    expect(quiet(run(hunt(max + 3)))).toEqual([]);
    // Near miss: a pilot relaying the calls of maxUpstreamLines lines abroad is a chain.
    expect(entities(run(hunt(max)), RELAY)).toHaveLength(max + 1);
    // ...and so is a hunt group whose pilot relays to a hot-listed number, whatever the number of lines.
    const risky = hunt(max + 3).map((e) => (e.other === ABROAD ? { ...e, other: HOT, key: e.key === `hop:${ABROAD}` ? `hop:${HOT}` : e.key, highRisk: true } : e));
    expect(entities(run(risky), TARGET)).toEqual([HOT]);
  });

  it("a family's calls relayed through a relative's UK line to his mobile abroad: a few short calls a day", () => {
    const abroadMin = num(relayP, 'abroadMinMinutes');
    // Four 4-minute calls a day, relayed at once (CFU on both lines): fewer than abroadMinMinutes relayed.
    const family = calls(4, [A, B, ABROAD], 5 * HOUR, { where: 'abroad', reset: false, callMs: 4 * MIN });
    expect(4 * 4).toBeLessThan(abroadMin);
    expect(quiet(run(family))).toEqual([]);
    // Near miss: the same chain carrying abroadMinMinutes in the window is a chain.
    const pumped = calls(2, [A, B, ABROAD], 5 * HOUR, { where: 'abroad', reset: false, callMs: (abroadMin / 2) * MIN + 20 * SEC });
    expect(entities(run(pumped), RELAY)).toEqual([A, B].sort());
    // ...and so is the family's chain ending at a hot-listed number (counted by calls).
    expect(entities(run(calls(2, [A, B, HOT], 5 * HOUR, { reset: false, callMs: 4 * MIN })), RELAY)).toEqual([A, B].sort());
  });

  it('a call centre: many lines forwarding their calls to one number at once (answered, each ending on its own) is no loop', () => {
    const lines = Array.from({ length: 8 }, (_, i) => `4477009003${String(i).padStart(2, '0')}`);
    // Busy hour: a forwarded call every 3 s, lines taking turns (each line twice), calls of 2-20 minutes.
    const evs = Array.from({ length: 16 }, (_, k) => leg(lines[k % lines.length]!, LANDLINE, { at: k * 3 * SEC, end: k * 3 * SEC + (2 + ((k * 7) % 18)) * MIN })).flat();
    expect(quiet(run(evs))).toEqual([]);
  });

  it('an expat forwarding to his own mobile abroad (a hot-listed country): one hop, no relay', () => {
    const evs = Array.from({ length: 12 }, (_, k) => leg(A, HOT, { at: k * 45 * MIN, where: 'risky' })).flat();
    expect(quiet(run(evs))).toEqual([]);
  });

  it('busy / no-answer diversion to voicemail: the keyer keys no voicemail leg (keying test below); a no-reply diversion 20 s later is no relay', () => {
    // A forwards to B's mobile; B does not answer and its no-reply timer (20 s) diverts to its own number abroad.
    expect(quiet(run(calls(8, [A, B, ABROAD], 30 * MIN, { where: 'abroad', lastHopMs: 20 * SEC })))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// forwarding.chain_target: the far end of a loop behind a B2BUA
// ---------------------------------------------------------------------------------------------------------

describe('forwarding.chain_target: loops behind a B2BUA that resets the counter', () => {
  const reps = num(targetP, 'minRepeats');
  /** One call looping A -> PEER -> B -> PEER -> A ...: `n` legs 500 ms apart, unanswered, all released together. */
  const loop = (n: number, atMs = 0, lines = [A, B]) => Array.from({ length: n }, (_, i) => leg(lines[i % lines.length]!, PEER, { at: atMs + i * 500, end: atMs + n * 500 + 2 * SEC, answered: false, counter: 1 })).flat();

  it('flags the peer (NUMBER) once per episode, and forwarding.loop flags each line; forwarding.relay stays quiet', () => {
    const evs = loop(reps + 4);
    const alerts = run(evs);
    expect(entities(alerts, TARGET)).toEqual([PEER]);
    expect(opened(alerts, TARGET)[0]).toMatchObject({ entityKind: 'NUMBER', fraudType: 'FORWARDING' });
    expect(opened(alerts, TARGET)[0]!.evidence.counts.lines).toBe(2);
    expect(entities(alerts, 'forwarding.loop')).toEqual([A, B].sort());
    expect(of(alerts, RELAY)).toEqual([]);
    // More looping calls within the episode: versions of the same alert.
    const more = Array.from({ length: 5 }, (_, k) => loop(reps + 2, (k + 1) * 20 * MIN)).flat();
    expect(new Set(of(run([...evs, ...more]), TARGET).map((a) => a.alertId)).size).toBe(1);
  });

  it('a leg seized inside an episode already closed, arriving after it closed, is not judged again (no crash, no new alert)', () => {
    const first = loop(reps + 2);
    const later = loop(reps + 2, book.episodeGapMs + HOUR);
    const late = leg(B, PEER, { at: SEC, end: book.episodeGapMs + 2 * HOUR, answered: false });
    const alerts = run([...first, ...later, ...late]);
    expect(opened(alerts, TARGET).map((a) => a.firstSeen)).toEqual([first[0]!.start, later[0]!.start]);
  });

  it('near miss: the call through two lines coming back fewer than minRepeats times does not fire', () => {
    expect(of(run(loop(reps - 1)), TARGET)).toEqual([]);
  });

  it('near miss: legs of one line only (concurrent calls of a hijacked line) are not a loop\'s far end', () => {
    expect(of(run(loop(reps + 4, 0, [A])), TARGET)).toEqual([]);
  });

  it('near miss: the same rounds released at different times (separate calls) do not fire', () => {
    const evs = Array.from({ length: reps + 4 }, (_, i) => leg(i % 2 ? B : A, PEER, { at: i * 500, end: i * 500 + (30 + i * 10) * SEC, answered: false })).flat();
    expect(of(run(evs), TARGET)).toEqual([]);
  });

  it('a ping-pong between two of our own lines (each forwarding to the other) is forwarding.chain\'s and .loop\'s, not a target', () => {
    // A -> B -> A -> B ... with the switch's counter; every node both receives and diverts.
    const evs = Array.from({ length: 5 }, (_, i) => leg(i % 2 ? B : A, i % 2 ? A : B, { at: i * 300, end: 5 * 300 + SEC, answered: false, counter: i + 1, original: A })).flat();
    expect(of(run(evs), TARGET)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Keying: the forwarding graph, end to end with the detector
// ---------------------------------------------------------------------------------------------------------

describe('keying: forwarded legs on the forwarding graph', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fraud-chains-'));
  const traffic = createTraffic({ seed: 5, subscribers: 200, startMs: T0 - 6 * HOUR, endMs: T0 + 6 * HOUR, scenarios: 'none' });
  const records = [...traffic.records()];
  writeReference(dir, traffic.reference());
  const stage = createRatingStage(dir, '');
  const ref = stage.reference;
  const ours = ref.lines.filter((l) => l.imsi).map((l) => l.msisdn);
  const [head, hop] = ours as [string, string];
  const template = records.find((c) => c.eventType === 'VOICE_MO')!;
  let n = 0;
  /** A forwarded leg as the diverting switch writes it (national formats, the B2BUA's reset history). */
  const fwd = (line: string, to: string, at: number, o: Partial<Cdr> = {}): Cdr => ({
    ...template,
    recordId: `chain-rec-${++n}`,
    eventType: 'VOICE_FWD',
    servedMsisdn: line,
    servedImsi: ref.lines.find((l) => l.msisdn === line)!.imsi,
    callingNumber: '447700900123',
    calledNumber: to,
    seizureTime: T0 + at,
    answerTime: T0 + at + 5 * SEC,
    releaseTime: T0 + at + 15 * MIN,
    durationMs: 15 * MIN - 5 * SEC,
    billableMs: 15 * MIN - 5 * SEC,
    disposition: 'ANSWERED',
    redirectionCounter: 1,
    originalCalledNumber: line,
    redirectingNumber: line,
    redirectionReason: 'CFU',
    recordSequenceNumber: null,
    cellId: null,
    lac: null,
    ...o,
  });
  const keyOf = (keyer: ReturnType<typeof createFraudKeyer>, c: Cdr) => keyer({ cdr: c, topic: 't', partition: 0, offset: '0' });
  const chains = (evs: FraudEvent[]) => evs.filter((e) => e.group === 'CHAIN').map((e) => e.key);

  it('a leg to one of our lines or abroad is keyed at the diverting line\'s node and at the forwarded-to number\'s; a leg to voicemail at neither; a line forwarding to itself once', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    expect(chains(keyOf(keyer, fwd(head, hop, 0)))).toEqual([`hop:${head}`, `hop:${hop}`]);
    expect(chains(keyOf(keyer, fwd(hop, '+33612345678', 400)))).toEqual([`hop:${hop}`, 'hop:33612345678']);
    expect(chains(keyOf(keyer, fwd(head, ref.operator.voicemailNumber, MIN)))).toEqual([]);
    expect(chains(keyOf(keyer, fwd(head, head, 2 * MIN)))).toEqual([`hop:${head}`]);
  });

  it('two calls through an on-net middle hop to a number abroad, written by a counter-resetting B2BUA, raise forwarding.relay on both lines and forwarding.chain_target on the number through keyer and detector', () => {
    const keyer = createFraudKeyer(ref, stage.rating.normaliser);
    const det = new Detector(book);
    const cdrs = Array.from({ length: MIN_CALLS }, (_, k) => [fwd(head, hop, k * 3 * HOUR), fwd(hop, '+33612345678', k * 3 * HOUR + 400)]).flat();
    const alerts: FraudAlert[] = [];
    let off = 0;
    for (const c of cdrs.sort((a, b) => a.releaseTime - b.releaseTime)) for (const e of keyOf(keyer, c)) alerts.push(...det.process(0, off++, e));
    expect(entities(alerts, RELAY)).toEqual([head, hop].sort());
    expect(entities(alerts, TARGET)).toEqual(['33612345678']);
    // One call fewer: nothing.
    const keyer2 = createFraudKeyer(ref, stage.rating.normaliser);
    const det2 = new Detector(book);
    const few: FraudAlert[] = [];
    for (const c of cdrs.slice(0, 2 * (MIN_CALLS - 1))) for (const e of keyOf(keyer2, c)) few.push(...det2.process(0, off++, e));
    expect([...of(few, RELAY), ...of(few, TARGET)]).toEqual([]);
  });
});
