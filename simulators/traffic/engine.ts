/**
 * The discrete-event engine: every subscriber line and every fraud campaign is an actor with a next wake-up
 * time in one priority queue; actors write records into a second priority queue keyed by emission time
 * (seizure time, plus the NRTRDE delivery delay for outbound roamers when enabled), and records leave in
 * that order once no actor can still produce an earlier one. Memory is the population's columns plus the
 * records in flight (calls that started but whose time has not been passed), never a day of traffic.
 *
 * The engine also owns what calls have in common, clean or fraudulent: where a line is, whether it is busy,
 * ringing, answering, diverting (CFU, CFB, CFNRY, CFNRC with the ISUP redirection counter, ITU-T Q.732.2-5,
 * limit 5), voicemail, and the CDR fields each leg gets.
 */
import type { Cdr, Disposition, EventType, RedirectionReason } from '../../schemas/index.js';
import type { FraudLabel, LabelEntityKind } from '../../schemas/labels.js';
import { Rng, hash2, hash3 } from './random.js';
import { DAY_MS, HOUR_MS, Intensity, MINUTE_MS, localDay, localHour, utcOffsetMinutes } from './calendar.js';
import { COUNTRIES, mscFor } from './geography.js';
import { HOME } from './numbering.js';
import { PLAN } from './home.js';
import { F, HOME_ZONE, LineKind, LineStatus, type Population } from './population.js';

/** Where a line is at an instant. */
export const State = { HOME: 0, ABROAD: 1, TRANSIT: 2, ABSENT: 3 } as const;

export interface Where {
  state: number;
  /** Cell index (Cells), -1 for fixed lines or when unknown. */
  cell: number;
  /** Country index abroad, -1 at home. */
  country: number;
  network: number;
  /** End of the current transit or absence. */
  until: number;
}

/** The outcome of a call leg as the calling side sees it. */
export interface Leg {
  answer: number | null;
  release: number;
  disposition: Disposition;
  q850: number;
  /** Number that answered (E.164), when answered. */
  connected: string | null;
}

/** A forwarding set by a scenario (hijack, chain, loop) that takes precedence over the line's own. */
export interface ForwardOverride {
  from: number;
  to: number;
  reason: RedirectionReason;
  /** On-net line, or an off-net number. */
  line: number;
  number: string | null;
  /** Forced answer probability and talk time of the forwarded leg (fraud legs to revenue-share numbers). */
  answerProbability?: number;
  talkMs?: () => number;
  label: LabelAcc | null;
}

/** Context a call carries while it is delivered and diverted. */
export interface CallCtx {
  rng: Rng;
  /** Redirection counter so far and the diversion history. */
  counter: number;
  original: string | null;
  redirecting: string | null;
  label: LabelAcc | null;
  /** Incoming trunk of the call at our network edge. */
  inTrunk: string | null;
  /** Answer probability forced by a scenario (e.g. Wangiri calls are abandoned: 0). */
  answerProbability?: number;
  /** Caller abandons after this many ms of ringing (Wangiri one-ring calls). */
  abandonAfterMs?: number;
  /** Reason of the last diversion, when the call was diverted to this leg. */
  reason?: RedirectionReason;
}

export interface Actor {
  /** Runs at `now`; returns the next wake-up time (Infinity when done). */
  step(now: number, eng: Engine): number;
}

/** A campaign's label under construction: record ids are appended as its records are emitted. */
export interface LabelAcc {
  label: FraudLabel;
  first: number;
  last: number;
}

interface Pending {
  key: number;
  seq: number;
  cdr: Cdr;
  label: LabelAcc | null;
  /** The parts of one call share a record id (given when the first part leaves); null for a complete record. */
  call: { id: string } | null;
}

const ACTOR_BASE = 1 << 30;
const NO_REPLY_TIMER_MS = 20_000; // 3GPP TS 22.082 CFNRy no-reply condition timer default (5-30 s, 20 s default)
export const MAX_REDIRECTIONS = 5; // ITU-T ISUP redirection counter limit

/** Q.850 cause values used (ITU-T Q.850 §2.2.5). */
export const Q850 = { UNALLOCATED: 1, NORMAL: 16, BUSY: 17, NO_RESPONSE: 18, NO_ANSWER: 19, ABSENT: 20, REJECTED: 21, ROUTING_ERROR: 25, CONGESTION: 34 } as const;
/** TS 32.298 CauseForTerm. */
const TERM_NORMAL = 0;
const TERM_PARTIAL = 1;
const TERM_UNSUCCESSFUL = 3;

export interface EngineOptions {
  seed: number;
  startMs: number;
  endMs: number;
  /** Prefix of record ids (unique per run). */
  idPrefix: string;
  nrtrdeDelayMaxMinutes: number;
  /**
   * Partial records (TS 32.298): an answered call or a data session longer than this is written as parts
   * closed every interval from its seizure (0 = every record complete, the default).
   */
  partialIntervalMs?: number;
}

export class Engine {
  readonly busyUntil: Float64Array;
  private readonly rngState: Uint32Array;
  private readonly lineRng = new Rng(0);
  private readonly actors: Actor[] = [];
  private readonly heapT: number[] = [];
  private readonly heapId: number[] = [];
  private readonly out: Pending[] = [];
  private seq = 0;
  private emitted = 0;
  /** TS 32.298 localRecordSequenceNumber: records written per recording entity, parts included. */
  private readonly localSeq = new Map<string, number>();
  private readonly overrides = new Map<number, ForwardOverride[]>();
  /** Scenario moves of a line abroad (stolen SIM used abroad). */
  private readonly moved = new Map<number, { from: number; to: number; country: number; network: number }>();
  readonly labels: LabelAcc[] = [];
  private readonly delayRng: Rng;
  /** Clean traffic of one line (set by the traffic module; keeps this file free of behaviour). */
  lineStep: (eng: Engine, line: number, now: number, rng: Rng) => number = () => Infinity;

  constructor(
    readonly pop: Population,
    readonly cal: Intensity,
    readonly o: EngineOptions,
  ) {
    const n = pop.lineCount;
    this.busyUntil = new Float64Array(n);
    this.rngState = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.rngState[i] = hash3(o.seed, 0x11e, i);
    this.delayRng = new Rng(hash2(o.seed, 0xde1a));
  }

  /** The shared per-line Rng loaded with a line's state (store it back with saveLineRng). */
  lineRngFor(line: number): Rng {
    const r = this.lineRng;
    r.s = this.rngState[line] as number;
    r.reset();
    return r;
  }

  saveLineRng(line: number, r: Rng): void {
    this.rngState[line] = r.s;
  }

  get recordsEmitted(): number {
    return this.emitted;
  }

  // -------------------------------------------------------------------------------------------------------
  // Scheduling

  scheduleLine(line: number, t: number): void {
    this.push(Math.ceil(t), line);
  }

  addActor(actor: Actor, firstWake: number): void {
    this.actors.push(actor);
    if (firstWake < Infinity) this.push(Math.ceil(firstWake), ACTOR_BASE + this.actors.length - 1);
  }

  private push(t: number, id: number): void {
    const T = this.heapT;
    const I = this.heapId;
    let k = T.length;
    T.push(t);
    I.push(id);
    while (k > 0) {
      const p = (k - 1) >> 1;
      const pt = T[p] as number;
      if (pt < t || (pt === t && (I[p] as number) < id)) break;
      T[k] = pt;
      I[k] = I[p] as number;
      k = p;
    }
    T[k] = t;
    I[k] = id;
  }

  /** Replaces the top with (t, id) and sifts down; pops it when t is Infinity. */
  private replaceTop(t: number, id: number): void {
    const T = this.heapT;
    const I = this.heapId;
    if (t === Infinity) {
      const lastT = T.pop() as number;
      const lastI = I.pop() as number;
      if (T.length === 0) return;
      t = lastT;
      id = lastI;
    }
    const n = T.length;
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && ((T[r] as number) < (T[l] as number) || ((T[r] as number) === (T[l] as number) && (I[r] as number) < (I[l] as number)))) c = r;
      const ct = T[c] as number;
      if (t < ct || (t === ct && id < (I[c] as number))) break;
      T[k] = ct;
      I[k] = I[c] as number;
      k = c;
    }
    T[k] = t;
    I[k] = id;
  }

  /** Records in emission order. Stops when every actor is past the end of the window. */
  *run(): Generator<Cdr> {
    const end = this.o.endMs;
    const T = this.heapT;
    const I = this.heapId;
    while (T.length > 0) {
      const t = T[0] as number;
      if (t >= end) break;
      while (this.out.length > 0 && (this.out[0] as Pending).key <= t) yield this.popOut();
      const id = I[0] as number;
      let next: number;
      if (id >= ACTOR_BASE) {
        next = (this.actors[id - ACTOR_BASE] as Actor).step(t, this);
      } else {
        const rng = this.lineRng;
        rng.s = this.rngState[id] as number;
        rng.reset();
        next = this.lineStep(this, id, t, rng);
        this.rngState[id] = rng.s;
      }
      // Times are whole milliseconds (Avro longs); an actor that does not move forward is moved 1 ms on.
      next = Math.ceil(next);
      if (!(next > t)) next = t + 1;
      this.replaceTop(next >= end ? Infinity : next, id);
    }
    while (this.out.length > 0) yield this.popOut();
  }

  // -------------------------------------------------------------------------------------------------------
  // Output

  emit(cdr: Cdr, label: LabelAcc | null): void {
    let key = cdr.seizureTime;
    if (this.o.nrtrdeDelayMaxMinutes > 0 && cdr.servingPlmn !== null && cdr.servingPlmn !== HOME.plmn && cdr.homePlmn === HOME.plmn) {
      key += Math.round(this.delayRng.next() * this.o.nrtrdeDelayMaxMinutes * MINUTE_MS);
    }
    const interval = this.o.partialIntervalMs ?? 0;
    if (interval > 0 && cdr.releaseTime - cdr.seizureTime > interval && cdr.answerTime !== null && cdr.answerTime < cdr.seizureTime + interval && cdr.eventType !== 'SMS_MO' && cdr.eventType !== 'SMS_MT') {
      const call = { id: '' };
      for (const part of partsOf(cdr, interval)) this.enqueue({ key, seq: this.seq++, cdr: part, label, call });
      return;
    }
    this.enqueue({ key, seq: this.seq++, cdr, label, call: null });
  }

  private enqueue(p: Pending): void {
    const key = p.key;
    const q = this.out;
    let k = q.length;
    q.push(p);
    while (k > 0) {
      const parent = (k - 1) >> 1;
      const pp = q[parent] as Pending;
      if (pp.key < key || (pp.key === key && pp.seq < p.seq)) break;
      q[k] = pp;
      k = parent;
    }
    q[k] = p;
  }

  private popOut(): Cdr {
    const q = this.out;
    const top = q[0] as Pending;
    const last = q.pop() as Pending;
    if (q.length > 0) {
      const n = q.length;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        const ql = q[l] as Pending;
        if (r < n) {
          const qr = q[r] as Pending;
          if (qr.key < ql.key || (qr.key === ql.key && qr.seq < ql.seq)) c = r;
        }
        const qc = q[c] as Pending;
        if (last.key < qc.key || (last.key === qc.key && last.seq < qc.seq)) break;
        q[k] = qc;
        k = c;
      }
      q[k] = last;
    }
    const cdr = top.cdr;
    // The parts of a call leave in order (same key, increasing seq) and share the first part's record id.
    const call = top.call;
    const first = call === null || cdr.recordSequenceNumber === 1;
    cdr.recordId = first ? this.o.idPrefix + String(this.emitted++) : call.id;
    if (call !== null) call.id = cdr.recordId;
    const n = (this.localSeq.get(cdr.recordingEntity) ?? 0) + 1;
    this.localSeq.set(cdr.recordingEntity, n);
    cdr.localRecordSequenceNumber = n;
    const acc = top.label;
    if (acc) {
      if (first) acc.label.recordIds.push(cdr.recordId);
      if (cdr.seizureTime < acc.first) acc.first = cdr.seizureTime;
      if (cdr.releaseTime > acc.last) acc.last = cdr.releaseTime;
    }
    return cdr;
  }

  newLabel(scenario: string, campaign: string, phase: string | null, entityKind: LabelEntityKind, entity: string, params: FraudLabel['params']): LabelAcc {
    const acc: LabelAcc = { label: { scenario, campaign, phase, entityKind, entity, attackStart: 0, attackEnd: 0, params, recordIds: [] }, first: Infinity, last: -Infinity };
    this.labels.push(acc);
    return acc;
  }

  /** The labels with their record ids so far; start/end are the span of the emitted records. */
  finalLabels(): FraudLabel[] {
    return this.labels
      .filter((a) => a.label.recordIds.length > 0)
      .map((a) => ({ ...a.label, attackStart: a.first, attackEnd: a.last, recordIds: [...a.label.recordIds] }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Line state

  isBusy(line: number, t: number): boolean {
    return (this.busyUntil[line] as number) > t;
  }

  occupy(line: number, until: number): void {
    if (until > (this.busyUntil[line] as number)) this.busyUntil[line] = until;
  }

  addForwardOverride(line: number, ov: ForwardOverride): void {
    const list = this.overrides.get(line);
    if (list) list.push(ov);
    else this.overrides.set(line, [ov]);
  }

  private forwardOverride(line: number, t: number): ForwardOverride | undefined {
    const list = this.overrides.get(line);
    if (!list) return undefined;
    for (const ov of list) if (t >= ov.from && t < ov.to) return ov;
    return undefined;
  }

  /** Puts a line abroad for a while (a scenario's stolen SIM; the scenario also stops its clean traffic). */
  moveAbroad(line: number, from: number, to: number, country: number, network: number): void {
    this.moved.set(line, { from, to, country, network });
  }

  /** Where a line is at t (rng drives the occasional move to another cell: 1 in 20 activities, VoltDB). */
  where(line: number, t: number, rng: Rng): Where {
    const pop = this.pop;
    const kind = pop.kind[line] as number;
    if (kind === LineKind.FIXED) return { state: State.HOME, cell: -1, country: -1, network: 0, until: 0 };
    const mv = this.moved.get(line);
    if (mv && t >= mv.from && t < mv.to) return { state: State.ABROAD, cell: this.foreignCell(mv.country, mv.network, hash2(line, Math.floor(t / HOUR_MS))), country: mv.country, network: mv.network, until: mv.to };
    if (kind === LineKind.VISITOR) {
      const st = pop.stays.get(line);
      if (!st || t < st.from || t >= st.to) return { state: State.ABSENT, cell: -1, country: -1, network: 0, until: st && t < st.from ? st.from : Infinity };
      return { state: State.HOME, cell: this.nearby(pop.homeCell[line] as number, rng), country: -1, network: 0, until: 0 };
    }
    const features = pop.features[line] as number;
    if (features & F.TRAVELLER) {
      const trip = pop.tripAt(line, t);
      if (trip) {
        if (t < trip.arrive) return { state: State.TRANSIT, cell: -1, country: -1, network: 0, until: trip.arrive };
        if (t >= trip.leave) return { state: State.TRANSIT, cell: -1, country: -1, network: 0, until: trip.back };
        return { state: State.ABROAD, cell: this.foreignCell(trip.country, trip.network, hash3(line, trip.depart, Math.floor(t / (6 * HOUR_MS)))), country: trip.country, network: trip.network, until: trip.leave };
      }
    }
    const off = utcOffsetMinutes(HOME_ZONE, t);
    const day = localDay(t, off);
    if (features & F.DOMESTIC_TRAVELLER) {
      const dt = pop.dayTrip(line, day, this.cal.isHoliday(day));
      if (dt && t >= dt.depart && t < dt.back) {
        if (t < dt.arrive) return { state: State.TRANSIT, cell: -1, country: -1, network: 0, until: dt.arrive };
        if (t >= dt.leave) return { state: State.TRANSIT, cell: -1, country: -1, network: 0, until: dt.back };
        const cells = pop.cells;
        const cell = (cells.regionStart[dt.region] as number) + (hash3(line, day, 3) % (cells.regionCount[dt.region] as number));
        return { state: State.HOME, cell: this.nearby(cell, rng), country: -1, network: 0, until: 0 };
      }
    }
    let cell = pop.homeCell[line] as number;
    if (features & F.HAS_WORK) {
      const dow = (((day + 4) % 7) + 7) % 7;
      const minute = ((((t + off * MINUTE_MS) % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS;
      if (dow >= 1 && dow <= 5 && !this.cal.isHoliday(day) && minute >= (pop.workFrom[line] as number) && minute < (pop.workTo[line] as number)) cell = pop.workCell[line] as number;
    }
    return { state: State.HOME, cell: this.nearby(cell, rng), country: -1, network: 0, until: 0 };
  }

  /** Mostly the given cell; with probability mobilityShare another cell of the same region. */
  private nearby(cell: number, rng: Rng): number {
    if (!rng.chance(this.pop.clean.mobilityShare)) return cell;
    const cells = this.pop.cells;
    const region = cells.region[cell] as number;
    return (cells.regionStart[region] as number) + rng.int(cells.regionCount[region] as number);
  }

  foreignCell(country: number, network: number, h: number): number {
    const cells = this.pop.cells;
    const ctry = COUNTRIES[country] as (typeof COUNTRIES)[number];
    const perCity = ctry.networks.length * 3;
    const city = h % Math.max(1, ctry.cities.length);
    return (cells.countryStart[country] as number) + city * perCity + network * 3 + ((h >>> 8) % 3);
  }

  // -------------------------------------------------------------------------------------------------------
  // Records

  /** A CDR about `line` (the served party) located by `w`, with every field set; callers fill the parties. */
  record(line: number, eventType: EventType, seizure: number, answer: number | null, release: number, w: Where | null): Cdr {
    const pop = this.pop;
    const kind = pop.kind[line] as number;
    const cells = pop.cells;
    const cell = w ? w.cell : -1;
    let servingPlmn: string | null = null;
    let entity: string;
    let offset: number;
    if (kind === LineKind.FIXED) {
      entity = 'IMS-1';
      offset = utcOffsetMinutes(HOME_ZONE, seizure);
    } else if (w && w.country >= 0) {
      const ctry = COUNTRIES[w.country] as (typeof COUNTRIES)[number];
      servingPlmn = (ctry.networks[w.network] as { plmn: string }).plmn;
      entity = 'VPMN-' + servingPlmn;
      offset = utcOffsetMinutes(ctry.zone, seizure);
    } else {
      servingPlmn = HOME.plmn;
      entity = mscFor(cell >= 0 ? (cells.region[cell] as number) : (pop.region[line] as number), cell >= 0 ? cell : line);
      offset = utcOffsetMinutes(HOME_ZONE, seizure);
    }
    if (eventType === 'DATA' && servingPlmn === HOME.plmn) entity = kind === LineKind.VISITOR ? 'SGW-1' : line % 2 === 0 ? 'PGW-1' : 'PGW-2';
    const duration = release - seizure;
    return {
      recordId: '',
      recordingEntity: entity,
      eventType,
      servedImsi: pop.imsi(line),
      servedImei: pop.imei(line),
      servedMsisdn: pop.servedMsisdn(line),
      callingNumber: null,
      calledNumber: null,
      connectedNumber: null,
      translatedNumber: null,
      originalCalledNumber: null,
      redirectingNumber: null,
      redirectionReason: null,
      redirectionCounter: 0,
      seizureTime: seizure,
      answerTime: answer,
      releaseTime: release,
      utcOffsetMinutes: offset,
      durationMs: duration,
      billableMs: answer === null ? 0 : release - answer,
      causeForTerm: answer === null ? TERM_UNSUCCESSFUL : TERM_NORMAL,
      q850Cause: null,
      disposition: answer === null ? 'NO_ANSWER' : 'ANSWERED',
      servingPlmn,
      homePlmn: pop.homePlmn(line),
      lac: cell >= 0 ? (cells.lac[cell] as number) : null,
      tac: null,
      cellId: cell >= 0 ? (cells.cellId[cell] as number) : null,
      inTrunkGroup: null,
      outTrunkGroup: null,
      smsCentre: null,
      smsResult: null,
      apn: null,
      ratingGroup: null,
      uplinkBytes: 0,
      downlinkBytes: 0,
      extensions: {},
      chargingId: null,
      ratType: null,
      recordSequenceNumber: null,
      localRecordSequenceNumber: null,
      smsSegments: 1,
    };
  }

  /** Interconnect trunk group towards (or from) a number, by what it is [proposal: naming]. */
  trunkFor(e164: string): string | null {
    if (e164.startsWith(HOME.msisdnBlock) || e164.startsWith(HOME.serviceBlock)) return null;
    if (e164.length <= 6) return 'SVC-1';
    if (e164.startsWith(HOME.countryCode)) return PLAN.nationalTrunk(e164);
    return e164.charCodeAt(0) % 2 === 0 ? 'ICX-INTL1' : 'ICX-INTL2';
  }

  // -------------------------------------------------------------------------------------------------------
  // Calls

  answerProbability(line: number): number {
    return this.pop.isBusinessLine(line) ? this.pop.clean.answerBusiness : this.pop.clean.answerPrivate;
  }

  /**
   * Delivers a call to one of our lines at s: scenario forwarding, the line's own forwarding, busy,
   * absent, ringing, answer or no answer. Writes the records on the called side (MT leg, forwarded legs)
   * and returns what the caller sees.
   */
  deliver(b: number, caller: string, s: number, talkMs: number, c: CallCtx): Leg {
    const pop = this.pop;
    const rng = c.rng;
    const ov = this.forwardOverride(b, s);
    if (ov) return this.divert(b, ov.reason, ov.line, ov.number, caller, s, ov.talkMs ? ov.talkMs() : talkMs, c, ov);
    const status = pop.status[b] as number;
    if (status !== LineStatus.ACTIVE) return failed(s + 800, status === LineStatus.CEASED ? Q850.UNALLOCATED : Q850.REJECTED);
    const f = pop.features[b] as number;
    if (f & F.FWD_INTL_CFU) return this.divert(b, 'CFU', -1, pop.fwdNumber.get(b) ?? null, caller, s, talkMs, c, null);
    const vm = (f & F.VOICEMAIL) !== 0;
    const own = (f & F.FWD_OWN_LINE) !== 0;
    const w = this.where(b, s, rng);
    // Handsets are sometimes off or out of coverage: 3% of calls to a mobile at home [proposal].
    if (w.state === State.TRANSIT || w.state === State.ABSENT || (pop.kind[b] === LineKind.MOBILE && w.state === State.HOME && rng.chance(0.03))) {
      // A one-ring caller hangs up before any diversion completes.
      if (c.abandonAfterMs !== undefined) return failed(s + c.abandonAfterMs, Q850.ABSENT);
      if (vm) return this.divert(b, 'CFNRC', -1, HOME.voicemailNumber, caller, s + 1500, talkMs, c, null);
      return failed(s + 3000, Q850.ABSENT);
    }
    if (this.isBusy(b, s)) {
      if (c.abandonAfterMs !== undefined) return { answer: null, release: s + c.abandonAfterMs, disposition: 'BUSY', q850: Q850.BUSY, connected: null };
      if (vm) return this.divert(b, 'CFB', -1, HOME.voicemailNumber, caller, s + 500, talkMs, c, null);
      if (own) return this.divert(b, 'CFB', pop.fwdLine[b] as number, pop.fwdNumber.get(b) ?? null, caller, s + 500, talkMs, c, null);
      return { answer: null, release: s + 1000 + rng.int(2000), disposition: 'BUSY', q850: Q850.BUSY, connected: null };
    }
    const setup = 300 + rng.int(1200);
    const p = c.answerProbability ?? this.answerProbability(b);
    const bNum = pop.msisdn(b);
    if (rng.next() < p) {
      const ring = Math.min(25_000, Math.max(1500, Math.round(rng.lognormal(6000, 0.5))));
      const answer = s + setup + ring;
      const release = answer + talkMs;
      this.mt(b, caller, bNum, s + setup, answer, release, Q850.NORMAL, w, c);
      this.occupy(b, release);
      return { answer, release, disposition: 'ANSWERED', q850: Q850.NORMAL, connected: bNum };
    }
    if (c.abandonAfterMs !== undefined) {
      // The caller hangs up while it rings (one-ring calls): the MT leg lasts abandonAfterMs.
      const seizure = s + 100 + rng.int(200);
      const release = seizure + c.abandonAfterMs;
      this.mt(b, caller, bNum, seizure, null, release, Q850.NORMAL, w, c);
      this.occupy(b, release);
      return { answer: null, release, disposition: 'NO_ANSWER', q850: Q850.NORMAL, connected: null };
    }
    if (vm || own) {
      const ringEnd = s + setup + NO_REPLY_TIMER_MS;
      this.mt(b, caller, bNum, s + setup, null, ringEnd, Q850.NO_ANSWER, w, c);
      this.occupy(b, ringEnd);
      return vm ? this.divert(b, 'CFNRY', -1, HOME.voicemailNumber, caller, ringEnd, talkMs, c, null) : this.divert(b, 'CFNRY', pop.fwdLine[b] as number, pop.fwdNumber.get(b) ?? null, caller, ringEnd, talkMs, c, null);
    }
    // The caller gives up after 10-40 s of ringing [proposal].
    const release = s + setup + 10_000 + rng.int(30_000);
    this.mt(b, caller, bNum, s + setup, null, release, Q850.NO_ANSWER, w, c);
    this.occupy(b, release);
    return { answer: null, release, disposition: 'NO_ANSWER', q850: Q850.NO_ANSWER, connected: null };
  }

  private mt(b: number, caller: string, bNum: string, seizure: number, answer: number | null, release: number, q850: number, w: Where, c: CallCtx): void {
    const r = this.record(b, 'VOICE_MT', seizure, answer, release, w);
    r.callingNumber = caller;
    r.calledNumber = bNum;
    r.connectedNumber = answer === null ? null : bNum;
    r.q850Cause = q850;
    if (c.counter > 0) {
      r.originalCalledNumber = c.original;
      r.redirectingNumber = c.redirecting;
      r.redirectionCounter = c.counter;
      r.redirectionReason = c.reason ?? 'OTHER';
    }
    r.inTrunkGroup = c.inTrunk;
    r.outTrunkGroup = this.pop.trunkGroup(b);
    this.emit(r, c.label);
  }

  /**
   * A diversion by line b to an on-net line or an off-net number (voicemail included), at s. Writes the
   * forwarded leg (VOICE_FWD, served = the diverting subscriber, who pays it) after the downstream outcome is
   * known. Beyond the ISUP limit of 5 redirections the call is released with Q.850 cause 25.
   */
  divert(b: number, reason: RedirectionReason, toLine: number, toNumber: string | null, caller: string, s: number, talkMs: number, c: CallCtx, ov: ForwardOverride | null): Leg {
    const pop = this.pop;
    const counter = c.counter + 1;
    if (counter > MAX_REDIRECTIONS) return failed(s + 200, Q850.ROUTING_ERROR);
    const bNum = pop.msisdn(b);
    const target = toLine >= 0 ? pop.msisdn(toLine) : toNumber;
    if (target === null) return failed(s + 500, Q850.ROUTING_ERROR);
    const label = ov?.label ?? c.label;
    const original = c.original ?? bNum;
    let leg: Leg;
    if (target === HOME.voicemailNumber) leg = voicemail(s, talkMs, c.rng);
    else if (toLine >= 0) leg = this.deliver(toLine, caller, s + 300, talkMs, { ...c, counter, original, redirecting: bNum, label, reason });
    else leg = offnet(target, s, talkMs, c.rng, ov?.answerProbability ?? 0.85);
    // CFU and CFNRC divert at the gateway MSC (no radio location); CFB and CFNRY where the line is.
    const w = reason === 'CFB' || reason === 'CFNRY' ? this.where(b, s, c.rng) : null;
    const r = this.record(b, 'VOICE_FWD', s, leg.answer, Math.max(leg.release, s), w);
    r.callingNumber = caller;
    r.calledNumber = target;
    r.connectedNumber = leg.connected;
    r.originalCalledNumber = original;
    r.redirectingNumber = bNum;
    r.redirectionReason = reason;
    r.redirectionCounter = counter;
    r.disposition = leg.disposition;
    r.q850Cause = leg.q850;
    if (leg.disposition !== 'ANSWERED') r.causeForTerm = TERM_UNSUCCESSFUL;
    r.inTrunkGroup = c.inTrunk;
    r.outTrunkGroup = target === HOME.voicemailNumber ? 'VMS-1' : toLine >= 0 ? null : this.trunkFor(target);
    this.emit(r, label);
    return leg;
  }

  /**
   * An outgoing call by line a at s to `dialled` (as dialled; `e164` normalised), to our line `b` or off
   * net. Writes the MO record (and whatever the called side writes) and occupies the caller.
   */
  call(a: number, w: Where, dialled: string, e164: string, b: number, s: number, talkMs: number, rng: Rng, label: LabelAcc | null, offnetAnswer: number, occupyCaller = true, imei: string | null = null): Leg {
    const pop = this.pop;
    const aNum = pop.msisdn(a);
    // The caller is busy from the moment it dials (a call forwarded back to it finds it busy).
    const before = this.busyUntil[a] as number;
    if (occupyCaller) this.busyUntil[a] = Infinity;
    let leg: Leg;
    if (b >= 0) leg = this.deliver(b, aNum, s + 200, talkMs, { rng, counter: 0, original: null, redirecting: null, label, inTrunk: null });
    else leg = offnet(e164, s, talkMs, rng, offnetAnswer);
    if (occupyCaller) this.busyUntil[a] = before;
    const r = this.record(a, 'VOICE_MO', s, leg.answer, Math.max(leg.release, s), w);
    r.callingNumber = aNum;
    r.calledNumber = dialled;
    r.connectedNumber = leg.connected;
    r.disposition = leg.disposition;
    r.q850Cause = leg.q850;
    if (leg.disposition !== 'ANSWERED') r.causeForTerm = TERM_UNSUCCESSFUL;
    r.inTrunkGroup = pop.trunkGroup(a);
    r.outTrunkGroup = b >= 0 ? pop.trunkGroup(b) : this.trunkFor(e164);
    if (imei !== null) r.servedImei = imei;
    this.emit(r, label);
    if (occupyCaller) this.occupy(a, r.releaseTime);
    return leg;
  }

  /** An SMS from line a (MO record), delivered to our line b when it is reachable (MT record). */
  sms(a: number, w: Where, dialled: string, b: number, s: number, rng: Rng, label: LabelAcc | null): void {
    const pop = this.pop;
    const r = this.record(a, 'SMS_MO', s, null, s, w);
    const aNum = pop.msisdn(a);
    r.callingNumber = aNum;
    r.calledNumber = dialled;
    r.smsCentre = HOME.smsCentre;
    r.smsResult = 0;
    r.disposition = 'ANSWERED';
    r.causeForTerm = TERM_NORMAL;
    r.smsSegments = smsSegmentsOf(this.o.seed, a, s);
    this.emit(r, label);
    if (b >= 0 && pop.status[b] === LineStatus.ACTIVE && pop.kind[b] !== LineKind.FIXED) {
      const t = s + 1000 + rng.int(5000);
      const wb = this.where(b, t, rng);
      if (wb.state === State.HOME || wb.state === State.ABROAD) this.smsMt(b, wb, aNum, t, label);
    }
  }

  smsMt(b: number, w: Where, from: string, t: number, label: LabelAcc | null): void {
    const r = this.record(b, 'SMS_MT', t, null, t, w);
    r.callingNumber = from;
    r.calledNumber = this.pop.msisdn(b);
    r.smsCentre = HOME.smsCentre;
    r.smsResult = 0;
    r.disposition = 'ANSWERED';
    r.causeForTerm = TERM_NORMAL;
    this.emit(r, label);
  }

  /** A data session (PGW-CDR) of line a. */
  data(a: number, w: Where, s: number, durationMs: number, up: number, down: number, label: LabelAcc | null): void {
    const r = this.record(a, 'DATA', s, s, s + durationMs, w);
    r.apn = 'internet';
    r.ratingGroup = 10;
    r.uplinkBytes = up;
    r.downlinkBytes = down;
    r.disposition = 'ANSWERED';
    r.causeForTerm = TERM_NORMAL;
    this.emit(r, label);
  }

  /** Local hour at the line's home (for scenario timing). */
  localHour(t: number): number {
    return localHour(t, utcOffsetMinutes(HOME_ZONE, t));
  }

}

/**
 * Segments of a short message: 1 for most, a concatenated SMS (TS 23.040 §9.2.3.24.1) of 2 (8%) or 3 (4%)
 * segments for the rest [proposal]. From a hash of the message, not the line's random stream, so enabling it
 * moves no other record.
 */
function smsSegmentsOf(seed: number, line: number, at: number): number {
  const h = hash3(seed, 0x5e65 + line, at % 0x7fffffff) % 100;
  return h < 4 ? 3 : h < 12 ? 2 : 1;
}

/**
 * A long call or data session as TS 32.298 partial records: part k closes at seizure + k × interval (the
 * last at the release) and covers the time since the previous close; every part keeps the call's seizure and
 * answer time, so the record's identity (recordingEntity, recordId, seizureTime) is shared and
 * recordSequenceNumber tells the parts apart. Parts but the last end with causeForTerm partialRecord (1) and
 * no Q.850 cause; byte counts are split in proportion to the time (the rest in the last part).
 */
export function partsOf(cdr: Cdr, intervalMs: number): Cdr[] {
  const parts: Cdr[] = [];
  const answer = cdr.answerTime as number;
  const span = cdr.releaseTime - cdr.seizureTime;
  let open = cdr.seizureTime;
  let up = 0;
  let down = 0;
  for (let k = 1; open < cdr.releaseTime; k++) {
    const close = Math.min(cdr.seizureTime + k * intervalMs, cdr.releaseTime);
    const last = close === cdr.releaseTime;
    const p: Cdr = { ...cdr, extensions: { ...cdr.extensions } };
    p.recordSequenceNumber = k;
    p.releaseTime = close;
    p.durationMs = close - open;
    p.billableMs = close - Math.max(open, answer);
    if (!last) {
      p.causeForTerm = TERM_PARTIAL;
      p.q850Cause = null;
      p.uplinkBytes = Math.floor((cdr.uplinkBytes * (close - cdr.seizureTime)) / span) - up;
      p.downlinkBytes = Math.floor((cdr.downlinkBytes * (close - cdr.seizureTime)) / span) - down;
    } else {
      p.uplinkBytes = cdr.uplinkBytes - up;
      p.downlinkBytes = cdr.downlinkBytes - down;
    }
    up += p.uplinkBytes;
    down += p.downlinkBytes;
    parts.push(p);
    open = close;
  }
  return parts;
}

function failed(release: number, q850: number): Leg {
  return { answer: null, release, disposition: 'FAILED', q850, connected: null };
}

/** Voicemail answers within 1.5 s; 70% of callers leave a message, the rest hang up at the greeting [proposal]. */
function voicemail(s: number, talkMs: number, rng: Rng): Leg {
  const answer = s + 500 + rng.int(1000);
  const msg = rng.chance(0.7) ? Math.min(talkMs, Math.min(120_000, Math.max(3000, Math.round(rng.lognormal(20_000, 0.5))))) : 3000 + rng.int(5000);
  return { answer, release: answer + msg, disposition: 'ANSWERED', q850: Q850.NORMAL, connected: HOME.voicemailNumber };
}

/** A call leg beyond our network: answered with probability p after 2-12 s of ringing, else no answer. */
export function offnet(e164: string, s: number, talkMs: number, rng: Rng, p: number): Leg {
  if (e164.length > 6 && !e164.startsWith(HOME.countryCode) && rng.chance(0.005)) return { answer: null, release: s + 2000 + rng.int(4000), disposition: 'CONGESTION', q850: Q850.CONGESTION, connected: null };
  if (rng.next() < p) {
    const answer = s + 2000 + rng.int(10_000);
    return { answer, release: answer + talkMs, disposition: 'ANSWERED', q850: Q850.NORMAL, connected: e164 };
  }
  if (rng.chance(0.25)) return { answer: null, release: s + 1500 + rng.int(3000), disposition: 'BUSY', q850: Q850.BUSY, connected: null };
  return { answer: null, release: s + 15_000 + rng.int(25_000), disposition: 'NO_ANSWER', q850: Q850.NO_ANSWER, connected: null };
}

