/**
 * Keying: what the fraud detector needs of a rated CDR, as compact events keyed by the entity each rule
 * profiles. The CDR topic is keyed by served subscriber; rules about a foreign number range (Wangiri), a
 * forwarding destination, a forward chain's head or a business account see events from every partition,
 * so the pipeline publishes these events to a repartition topic keyed by entity (docs/FRAUD.md "Keys").
 *
 * One CDR (of a call recorded in parts: its first part; the later parts of calls abroad, to risky numbers or
 * while roaming are keyed too, on LINE, DEST, ACCOUNT and (forwarded legs) the forwarding graph's `hop:` keys,
 * for the detector to add their minutes and cost) yields:
 * - LINE (served MSISDN): MO calls, answered MT calls, forwarded legs to risky numbers or of the line's calls
 *   to itself; SMS and data only for young lines (SIM-box profile); sightings (a record that moves the
 *   line's handset or place, whatever its kind: SIM cloning);
 * - RANGE (range block of a foreign other party): international MT calls (Wangiri bursts) and MO calls to
 *   international numbers (callbacks);
 * - DEST (forwarded-to number): forwarded legs to international, premium or high-risk numbers;
 * - CHAIN (original called number): forwarded legs deeper than one diversion, or released at the hop limit;
 *   and every forwarded leg not to voicemail twice, as a hop of a forwarding graph: keyed by its diverting line
 *   (`hop:` + MSISDN: the line's hops, loops) and by its forwarded-to number (`hop:` + number: the calls
 *   diverted to it). A node of the graph thus holds the legs into it and out of it: a call relayed through an
 *   on-net middle hop, or a target fed by several lines, meet there whatever the redirection counter says;
 * - ACCOUNT: business and PBX accounts' calls to international, premium or high-risk numbers.
 * - DEVICE: a SIM arriving on a handset (another IMEI than its last sighting's, or a young line's first), keyed by
 *   the IMEI (the SIMs a handset carries) and by `imsi:` + IMSI (the handsets a SIM rotates through).
 */
import type { Cdr, FraudEvent, FraudEventGroup, SourcedCdr } from '../../schemas/index.js';
import type { ReferenceData } from '../reference.js';
import type { Normaliser } from '../normalise.js';

export interface KeyingOptions {
  /** SMS and data records are keyed only for lines installed at most this many days ago (SIM-box profile). */
  youngLineDays: number;
  /**
   * Sightings (SIM cloning): a record with a known cell that moves the line's handset (another IMEI) or its
   * place (at least this many km from the previous sighting) is keyed on LINE whatever its kind, with the
   * previous sighting (default 50 km: above the radius of a home region, below cloning.overlap minKm).
   */
  sightingKm?: number;
  /**
   * Risk from rating: an answered call whose rated price per started minute reaches this (micro-units of the
   * rated currency; default 1.50) is high-risk whatever the hot list says, and so is any later call or SMS to
   * the same destination prefix (the number minus its last 4 digits) — an unlisted range priced like IRSF
   * (ClearIP scores calls by the termination rate of the called prefix).
   */
  highRiskPerMinuteMicros?: number;
  /**
   * Risk from rating, for SMS: a message sent abroad whose rated price per segment reaches this (default
   * 0.50, [proposal]: well above an ordinary international SMS) is high-risk, and so is one to a premium-rate
   * or international-network range abroad (+882/+883, a foreign premium range) — the terminations AIT lives
   * on (reference §2.10; sms.pumping_sender's costly share).
   */
  highRiskPerSmsMicros?: number;
}

export const DEFAULT_KEYING: KeyingOptions = { youngLineDays: 30, sightingKm: 50, highRiskPerMinuteMicros: 1_500_000, highRiskPerSmsMicros: 500_000 };

/** Destination prefixes remembered as priced like IRSF (bounded: the oldest go first). */
const MAX_COSTLY_PREFIXES = 50_000;

/** The latest record of a line with a known cell (one per IMSI): where its handset was, and when. */
interface Sighting {
  recordId: string;
  kind: FraudEvent['kind'];
  start: number;
  end: number;
  talkMs: number;
  answered: boolean;
  /** Rated cost (Decimal string) when rated, parsed only if the sighting is keyed later. */
  cost: unknown;
  imei: string;
  cellId: number;
  lat: number;
  lon: number;
  /** Already keyed on LINE (the detector has it). */
  keyed: boolean;
}

function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 12_742 * Math.asin(Math.sqrt(a));
}

export type FraudKeyer = (sc: SourcedCdr) => FraudEvent[];

const DAY_MS = 86_400_000;

interface LineInfo {
  accountId: string;
  accountClass: string | null;
  installDay: number;
  hours: BusinessHours | null;
  country: string;
}

interface BusinessHours {
  /** ISO weekdays open, bit 1..7. */
  days: number;
  open: number;
  close: number;
}

function parseHours(days: string | null, open: string | null, close: string | null): BusinessHours | null {
  if (!days || !open || !close) return null;
  let mask = 0;
  for (const part of days.split(',')) {
    const [a = '', b] = part.split('-');
    const from = Number(a);
    const to = b === undefined ? from : Number(b);
    for (let d = from; d <= to; d++) mask |= 1 << d;
  }
  const minutes = (s: string) => {
    const [h = '0', m = '0'] = s.split(':');
    return Number(h) * 60 + Number(m);
  };
  return { days: mask, open: minutes(open), close: minutes(close) };
}

/** day, evening, night or weekend by the local clock of the seizure. */
export function bandOf(localMs: number): string {
  const dow = (Math.floor(localMs / DAY_MS) + 3) % 7; // 0 = Monday
  const minute = Math.floor((localMs % DAY_MS) / 60_000);
  if (dow >= 5) return 'weekend';
  if (minute < 7 * 60) return 'night';
  if (minute >= 19 * 60) return 'evening';
  return 'day';
}

/** Parses a Decimal(18,6) string ("12.340000") into integer micro-units, exactly. */
export function microsOf(s: string | number | null | undefined): number {
  if (s === null || s === undefined || s === '') return 0;
  const str = String(s);
  const neg = str.startsWith('-');
  const [i = '0', f = ''] = (neg ? str.slice(1) : str).split('.');
  const v = Number(i) * 1_000_000 + Number((f + '000000').slice(0, 6));
  return neg ? -v : v;
}

/**
 * One event of a CDR for one entity: the fields written out (a spread of the ~30 shared fields into a new
 * object is a slow generic copy in V8, and it runs for every event).
 */
function eventOf(group: FraudEventGroup, key: string, b: Omit<FraudEvent, 'group' | 'key'>): FraudEvent {
  return {
    group,
    key,
    recordId: b.recordId,
    kind: b.kind,
    start: b.start,
    end: b.end,
    talkMs: b.talkMs,
    answered: b.answered,
    msisdn: b.msisdn,
    imsi: b.imsi,
    imei: b.imei,
    other: b.other,
    otherCountry: b.otherCountry,
    otherCategory: b.otherCategory,
    highRisk: b.highRisk,
    international: b.international,
    range: b.range,
    costMicros: b.costMicros,
    currency: b.currency,
    accountId: b.accountId,
    accountClass: b.accountClass,
    band: b.band,
    businessHours: b.businessHours,
    lineAgeDays: b.lineAgeDays,
    roaming: b.roaming,
    visitedPlmn: b.visitedPlmn,
    cellId: b.cellId,
    lat: b.lat,
    lon: b.lon,
    redirectionCounter: b.redirectionCounter,
    cause: b.cause,
    originalCalled: b.originalCalled,
    source: b.source,
  };
}

export function createFraudKeyer(ref: ReferenceData, normaliser: Normaliser, opts: KeyingOptions = DEFAULT_KEYING): FraudKeyer {
  const accounts = new Map(ref.accounts.map((a) => [a.accountId, a]));
  const lines = new Map<string, LineInfo>();
  for (const l of ref.lines) {
    const a = accounts.get(l.accountId);
    lines.set(l.msisdn, {
      accountId: l.accountId,
      accountClass: a?.class ?? null,
      installDay: Math.floor(Date.parse(`${l.installDate}T00:00:00Z`) / DAY_MS),
      hours: a ? parseHours(a.businessDays, a.businessOpen, a.businessClose) : null,
      country: a?.country ?? ref.operator.country,
    });
  }
  const holidays = new Set(ref.holidays.map((h) => `${h.country}/${h.date}`));
  // Cells by LAC, then cell id (the last record of a duplicated cell wins): no key string per record.
  const cells = new Map<number, Map<number, (typeof ref.cells)[number]>>();
  for (const cl of ref.cells) {
    let byId = cells.get(cl.lac);
    if (!byId) cells.set(cl.lac, (byId = new Map()));
    byId.set(cl.cellId, cl);
  }
  // Local dates as YYYY-MM-DD per day number, for the holiday check (no Date per record).
  const dates = new Map<number, string>();
  const dateOf = (localMs: number): string => {
    const day = Math.floor(localMs / DAY_MS);
    let d = dates.get(day);
    if (d === undefined) {
      d = new Date(day * DAY_MS).toISOString().slice(0, 10);
      if (dates.size < 100_000) dates.set(day, d);
    }
    return d;
  };
  const homeCountry = ref.operator.country;
  const sightingKm = opts.sightingKm ?? DEFAULT_KEYING.sightingKm ?? 50;
  const sightings = new Map<string, Sighting>();
  const highPerMinute = opts.highRiskPerMinuteMicros ?? DEFAULT_KEYING.highRiskPerMinuteMicros ?? 1_500_000;
  const highPerSms = opts.highRiskPerSmsMicros ?? DEFAULT_KEYING.highRiskPerSmsMicros ?? 500_000;
  const costlyPrefixes = new Set<string>();

  const rangeOf = (e164: string, matched: string | null): string | null => {
    const head = matched ?? '';
    if (e164.length < head.length + 4) return null;
    return e164.slice(0, head.length + 3);
  };

  return (sc) => {
    const c: Cdr = sc.cdr;
    const r = sc.rated ?? {};
    const kind = c.eventType === 'VOICE_MO' ? 'MO' : c.eventType === 'VOICE_MT' ? 'MT' : c.eventType === 'VOICE_FWD' ? 'FWD' : c.eventType.startsWith('SMS') ? 'SMS' : 'DATA';
    const line = lines.get(c.servedMsisdn);
    const lineAgeDays = line && Number.isFinite(line.installDay) ? Math.floor(c.seizureTime / DAY_MS) - line.installDay : -1;
    const young = lineAgeDays >= 0 && lineAgeDays <= opts.youngLineDays;
    // Sightings: every record with a known cell updates the line's one Sighting; a record that moves the
    // handset (another IMEI) or the place is keyed on LINE whatever its kind — data and SMS show where the
    // original handset is between a clone's calls — with the previous sighting if that was not keyed.
    const cell = c.lac !== null && c.cellId !== null ? cells.get(c.lac)?.get(c.cellId) : undefined;
    let moved: Sighting | null = null;
    let sighted: Sighting | null = null;
    // SIM-box device signal: the SIM arrived on a handset — another IMEI than its last sighting's, or a young
    // line's first handset — keyed on DEVICE by that IMEI (several SIMs arriving on one IMEI: gateway modules).
    let arrival = false;
    if (cell !== undefined && c.servedImei !== null) {
      const id = c.servedImsi ?? c.servedMsisdn;
      const prev = sightings.get(id);
      if (prev === undefined || c.releaseTime >= prev.end) {
        if (prev !== undefined && (prev.imei !== c.servedImei || (prev.cellId !== c.cellId && distanceKm(prev.lat, prev.lon, cell.lat, cell.lon) >= sightingKm))) moved = prev;
        arrival = prev === undefined ? young : prev.imei !== c.servedImei;
        const ans = c.answerTime !== null && c.disposition === 'ANSWERED';
        // The moved-from sighting may still be keyed below; otherwise the line's record is reused in place.
        sighted = prev === undefined || moved !== null ? ({} as Sighting) : prev;
        sighted.recordId = c.recordId;
        sighted.kind = kind;
        sighted.start = c.seizureTime;
        sighted.end = c.releaseTime;
        sighted.talkMs = ans ? c.durationMs : 0;
        sighted.answered = ans;
        sighted.cost = r.rating_status === 'RATED' ? r.cost_total : null;
        sighted.imei = c.servedImei;
        sighted.cellId = c.cellId as number;
        sighted.lat = cell.lat;
        sighted.lon = cell.lon;
        sighted.keyed = false;
        if (sighted !== prev) sightings.set(id, sighted);
      }
    }
    // SMS sent to other countries are keyed whatever the line's age (SMS pumping); other SMS and data only
    // for young lines (SIM-box profile) or as sightings.
    const smsMo = c.eventType === 'SMS_MO';
    if ((kind === 'DATA' || (kind === 'SMS' && !smsMo)) && !young && moved === null) return [];
    // Partial records (CDR contract v3, TS 32.298): a long call is keyed on its first part, written while the
    // call still runs, so a long forwarded leg is seen an interval after it starts instead of at its release.
    // Later parts are the same call (same record id and seizure, a later end): the detector adds their minutes
    // and cost to the call's event (detector.ts "later parts"). Only the calls whose minutes and cost some rule
    // sums need them — MO and forwarded calls abroad, to risky numbers or while roaming; the others' later
    // parts are keyed only as sightings.
    const laterPart = c.recordSequenceNumber !== null && c.recordSequenceNumber > 1;
    if (laterPart && moved === null && kind !== 'MO' && kind !== 'FWD') return [];

    const localMs = c.seizureTime + c.utcOffsetMinutes * 60_000;
    let businessHours = 0;
    if (line?.hours) {
      const dow = ((Math.floor(localMs / DAY_MS) + 3) % 7) + 1;
      const minute = Math.floor((localMs % DAY_MS) / 60_000);
      const date = dateOf(localMs);
      const open = (line.hours.days & (1 << dow)) !== 0 && minute >= line.hours.open && minute < line.hours.close && !holidays.has(`${line.country}/${date}`);
      businessHours = open ? 1 : 2;
    }
    const voice = kind === 'MO' || kind === 'MT' || kind === 'FWD';
    const answered = c.answerTime !== null && c.disposition === 'ANSWERED';
    // The rating stage already normalised the other party (enrichment columns); without reference data in
    // the rating stage the keyer normalises it itself.
    let other: string | null;
    let otherCountry: string | null;
    let category: string | null;
    let highRisk: boolean;
    const rated = sc.rated !== undefined && 'other_party_e164' in r;
    const otherRaw = kind === 'MT' || c.eventType === 'SMS_MT' ? c.callingNumber : c.calledNumber;
    if (rated) {
      other = (r.other_party_e164 as string | null) ?? otherRaw ?? null;
      otherCountry = (r.other_party_country as string | null) ?? null;
      category = (r.other_party_category as string | null) ?? null;
      highRisk = r.other_party_high_risk === 1;
    } else {
      const n = voice && otherRaw ? normaliser.normalise(otherRaw, normaliser.contextFor(c.recordingEntity)) : null;
      other = n && n.e164 !== '' ? n.e164 : (otherRaw ?? null);
      otherCountry = n?.country ?? null;
      category = n?.category ?? null;
      highRisk = n?.highRisk ?? false;
    }
    const international = otherCountry !== null && otherCountry !== homeCountry;
    // Risk from rating: a price per started minute like IRSF's marks the destination prefix as high-risk.
    const prefix = other !== null && other.length >= 8 && (kind === 'MO' || kind === 'FWD' || smsMo) ? other.slice(0, -4) : null;
    if (!highRisk && prefix !== null && (international || category === 'premium')) {
      if (costlyPrefixes.has(prefix)) highRisk = true;
      // (not roaming records: the visited network's price is the roaming tariff, not the destination's)
      else if (answered && voice && c.billableMs > 0 && r.rating_status === 'RATED' && (c.servingPlmn === null || c.servingPlmn === (c.homePlmn ?? ref.operator.plmn))) {
        const perMinute = microsOf(r.cost_total) / Math.ceil(c.billableMs / 60_000);
        if (perMinute >= highPerMinute) {
          highRisk = true;
          if (costlyPrefixes.size >= MAX_COSTLY_PREFIXES) costlyPrefixes.delete(costlyPrefixes.values().next().value as string);
          costlyPrefixes.add(prefix);
        }
      }
    }
    // Risk from rating, for SMS abroad: the price per segment, or a premium-rate / international-network range.
    if (!highRisk && smsMo && international && other !== null) {
      if (r.rating_status === 'RATED' && microsOf(r.cost_total) >= highPerSms * Math.max(1, c.smsSegments)) highRisk = true;
      else {
        const cls = normaliser.normalise(other, normaliser.contextFor(null))?.numberClass;
        if (cls === 'premium' || cls === 'network') highRisk = true;
      }
    }
    const risky = international || highRisk || category === 'premium';
    if (kind === 'SMS' && !young && moved === null && !(smsMo && risky)) return [];
    if (laterPart && moved === null && !risky && !(c.servingPlmn !== null && c.servingPlmn !== (c.homePlmn ?? ref.operator.plmn))) return [];
    // Only what some rule reads: every MO call (velocity), answered MT calls (cloning) or any on young lines
    // (SIM-box in/out ratio), forwarded legs to risky numbers (forwarding spike) or deep in a chain.
    const chain = kind === 'FWD' && (c.redirectionCounter >= 2 || c.q850Cause === 25);
    // The forwarded leg of a line's call to itself ("A calls A" cover-up: the network diverts it to B).
    const selfForward = kind === 'FWD' && c.callingNumber === c.servedMsisdn;
    if (kind === 'MT' && !answered && !young && !international && moved === null) return [];
    // Every hop of a forward chain, on-net middle hops included, keyed by the diverting line (`hop:` +
    // MSISDN): a loop shows there as the same call diverted by the line again and again, even when a B2BUA
    // resets the redirection counter (RFC 7332) — the repeated numbers give it away. Voicemail legs end a chain.
    // (a later part only of a leg abroad or to a risky number: forwarding.relay sums the minutes relayed abroad)
    const hop = kind === 'FWD' && (!laterPart || risky) && other !== null && category !== 'voicemail';
    if (kind === 'FWD' && !risky && !chain && !selfForward && !hop && moved === null) return [];
    let range: string | null = null;
    if (international && other !== null && (kind === 'MT' || kind === 'MO')) {
      const n = normaliser.normalise(other, normaliser.contextFor(null));
      range = n ? rangeOf(n.e164, n.matchedPrefix) : null;
    }
    const original = c.originalCalledNumber ? normaliser.normalise(c.originalCalledNumber, normaliser.contextFor(c.recordingEntity))?.e164 || c.originalCalledNumber : null;
    const base: Omit<FraudEvent, 'group' | 'key'> = {
      recordId: c.recordId,
      kind,
      start: c.seizureTime,
      end: c.releaseTime,
      talkMs: answered ? c.durationMs : 0,
      answered,
      msisdn: c.servedMsisdn,
      imsi: c.servedImsi,
      imei: c.servedImei,
      other,
      otherCountry,
      otherCategory: category,
      highRisk,
      international,
      range: kind === 'SMS' ? prefix : range,
      costMicros: r.rating_status === 'RATED' ? microsOf(r.cost_total) : 0,
      currency: typeof r.currency === 'string' ? r.currency : '',
      accountId: line?.accountId ?? (typeof r.account_id === 'string' ? r.account_id : null),
      accountClass: line?.accountClass ?? null,
      band: bandOf(localMs),
      businessHours,
      lineAgeDays,
      roaming: c.servingPlmn !== null && c.servingPlmn !== (c.homePlmn ?? ref.operator.plmn),
      visitedPlmn: c.servingPlmn !== null && c.servingPlmn !== (c.homePlmn ?? ref.operator.plmn) ? c.servingPlmn : null,
      cellId: c.cellId,
      lat: cell?.lat ?? null,
      lon: cell?.lon ?? null,
      redirectionCounter: c.redirectionCounter,
      cause: c.q850Cause,
      originalCalled: original,
      source: sc.partition,
    };
    const out: FraudEvent[] = [];
    const add = (group: FraudEventGroup, key: string | null) => {
      if (key) out.push(eventOf(group, key, base));
    };
    if (moved !== null && !moved.keyed) {
      // The previous sighting, as the record it was (no other party: only the cloning rule reads it).
      out.push({ ...base, group: 'LINE', key: c.servedMsisdn, recordId: moved.recordId, kind: moved.kind, start: moved.start, end: moved.end, talkMs: moved.talkMs, answered: moved.answered, imei: moved.imei, other: null, otherCountry: null, otherCategory: null, highRisk: false, international: false, range: null, costMicros: moved.cost === null ? 0 : microsOf(moved.cost as string), band: bandOf(moved.start + c.utcOffsetMinutes * 60_000), roaming: false, visitedPlmn: null, cellId: moved.cellId, lat: moved.lat, lon: moved.lon, redirectionCounter: 0, cause: null, originalCalled: null });
      moved.keyed = true;
    }
    if (((kind !== 'MT' || answered || young) && (kind !== 'FWD' || risky || selfForward)) || moved !== null) {
      add('LINE', c.servedMsisdn);
      if (sighted) sighted.keyed = true;
    }
    // SMS pumping: the destination prefix (number minus its last 4 digits) is an entity of its own.
    if (kind === 'SMS' && smsMo && risky && prefix !== null) add('RANGE', prefix);
    if (arrival) {
      add('DEVICE', c.servedImei);
      // ...and by the SIM (`imsi:` + IMSI, apart from IMEIs): the handsets a SIM rotates through.
      add('DEVICE', `imsi:${c.servedImsi ?? c.servedMsisdn}`);
    }
    if (!voice) return out;
    // (a later part adds minutes and cost: no RANGE or CHAIN rule sums them)
    if (range !== null && !laterPart) add('RANGE', range);
    if (kind === 'FWD' && risky) add('DEST', other);
    if (chain && !laterPart) add('CHAIN', original ?? c.servedMsisdn);
    if (hop) {
      add('CHAIN', `hop:${c.servedMsisdn}`);
      // ...and at the node it diverts to (rules.ts forwarding.relay, forwarding.chain_target): the middle hop's
      // own leg onward, seized seconds later, meets this one there.
      if (other !== c.servedMsisdn) add('CHAIN', `hop:${other}`);
    }
    if (kind === 'MO' && risky && line && (line.accountClass === 'business' || line.accountClass === 'pbx')) add('ACCOUNT', line.accountId);
    return out;
  };
}
