/**
 * The subscriber population: accounts (private, business, PBX) with one or many lines, their numbers,
 * SIMs, handsets, home and work cells, calling habits, forwarding set-up, travel plans, and the inbound
 * visitors roaming on our network.
 *
 * Memory is planned for a million lines: every per-line fact is a typed-array column (about 70 bytes a
 * line, 100 with the engine's state); strings (MSISDN, IMSI, IMEI) are derived from the line index on demand; only the few lines with
 * trips or stays have an object each.
 */
import { Permutation, Rng, cumulative, hash2, hash3, unit } from './random.js';
import { BUSINESS_HOURS, DAY_MS, HOUR_MS, MINUTE_MS, Profile, localToUtc } from './calendar.js';
import { COUNTRIES, Cells, REGIONS, distanceKm } from './geography.js';
import { HOME, RISK_RANGES, ddiNumber, digits, fixedNumber, foreignNumber, type RiskRange } from './numbering.js';
import { HOME_ZONE, PLAN } from './home.js';
import type { CleanParams } from './params.js';

/** The home country's time zone (live binding of home.ts: Europe/London for GB, Europe/Berlin for DE). */
export { HOME_ZONE } from './home.js';

export const LineKind = { MOBILE: 0, FIXED: 1, VISITOR: 2 } as const;
/** M2M and A2P are benign look-alikes (issue #13 point 5): lines with traffic of their own (lookalikes.ts), labelled clean. */
export const Behaviour = { NORMAL: 0, HEAVY_INTL: 1, CALL_CENTRE: 2, TELESALES: 3, SCENARIO: 4, M2M: 5, A2P: 6 } as const;
export const LineStatus = { ACTIVE: 0, SUSPENDED: 1, CEASED: 2 } as const;
export const AccountClass = { PRIVATE: 0, BUSINESS: 1, PBX: 2 } as const;
export const Segment = { CONSUMER: 0, SME: 1, ENTERPRISE: 2, CALL_CENTRE: 3, TELESALES: 4 } as const;
export const SEGMENT_NAMES = ['consumer', 'sme', 'enterprise', 'call-centre', 'telesales'] as const;
export const CLASS_NAMES = ['private', 'business', 'pbx'] as const;

/** Per-line feature bits. */
export const F = {
  VOICEMAIL: 1,
  FWD_OWN_LINE: 2,
  FWD_INTL_CFU: 4,
  BAR_INTL: 8,
  BAR_PREMIUM: 16,
  ROAMING: 32,
  TRAVELLER: 64,
  DOMESTIC_TRAVELLER: 128,
  HAS_WORK: 256,
  PREPAID: 512,
} as const;

/** A trip abroad of an outbound roamer: in transit [depart, arrive) and [leave, back), abroad [arrive, leave). */
export interface Trip {
  depart: number;
  arrive: number;
  leave: number;
  back: number;
  country: number;
  network: number;
}

/** An inbound visitor's stay on our network. */
export interface Stay {
  from: number;
  to: number;
  country: number;
  network: number;
}

export interface PopulationOptions {
  seed: number;
  subscribers: number;
  startMs: number;
  endMs: number;
  clean: CleanParams;
}

/** Handset type allocation codes (first 8 IMEI digits), fictional but well-formed (GSMA TS.06 layout). */
const TACS = ['35332510', '35391110', '35698110', '86895604', '35404811', '35925406', '01332700', '35328110', '35875209', '86156703'];

/** Luhn check digit of an IMEI body (3GPP TS 23.003 Annex B). */
export function luhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

const FIRST = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Noah', 'Mia', 'Arthur', 'Ivy', 'Leo', 'Grace', 'Harry', 'Freya', 'Jack', 'Lily', 'Oscar', 'Priya', 'Mohammed', 'Zofia', 'Chen', 'Aisha', 'Tomasz', 'Siobhan', 'Ravi'];
const LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Evans', 'Thomas', 'Roberts', 'Walker', 'Patel', 'Khan', 'Nowak', 'Murphy', 'Wright', 'Hughes', 'Clarke', 'Ahmed', 'Singh', 'Kowalski', 'Edwards', 'Green', 'Hall', 'Wood'];
const BIZ_A = ['Northgate', 'Riverside', 'Ashworth', 'Kestrel', 'Pennine', 'Harbour', 'Meridian', 'Oakfield', 'Summit', 'Beacon', 'Thistle', 'Quayside', 'Cobalt', 'Albany', 'Foxglove', 'Granite'];
const BIZ_B = ['Logistics', 'Dental Care', 'Property', 'Engineering', 'Accountants', 'Foods', 'Print', 'Solicitors', 'Motors', 'Consulting', 'Builders', 'Media', 'Pharmacy', 'Lettings', 'Software', 'Haulage'];
const CC_NAMES = ['Contact Centre', 'Customer Services', 'Helpline Services'];
const TS_NAMES = ['Direct Sales', 'Outbound Marketing', 'Energy Switching'];
/** German flavour of the same (addresses "Street 12, 10115 Berlin"; companies "GmbH") [proposal]. */
const DE_FIRST = ['Anna', 'Lukas', 'Mia', 'Leon', 'Emma', 'Finn', 'Sophie', 'Jonas', 'Lena', 'Paul', 'Marie', 'Felix', 'Hannah', 'Elias', 'Lea', 'Noah', 'Aylin', 'Mehmet', 'Katarzyna', 'Dimitri', 'Sara', 'Luca', 'Ewa', 'Ahmet'];
const DE_LAST = ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann', 'Koch', 'Richter', 'Klein', 'Wolf', 'Schröder', 'Neumann', 'Yılmaz', 'Kaya', 'Nowak', 'Kowalski', 'Braun', 'Zimmermann', 'Krüger', 'Hartmann'];
const DE_STREETS = ['Hauptstraße', 'Bahnhofstraße', 'Schulstraße', 'Gartenstraße', 'Dorfstraße', 'Lindenstraße', 'Bergstraße', 'Kirchstraße', 'Waldstraße', 'Ringstraße', 'Mühlenweg', 'Am Markt'];
const STREETS = ['High Street', 'Station Road', 'Church Lane', 'Mill Lane', 'Park Avenue', 'Victoria Road', 'Green Lane', 'Manor Road', 'Queens Road', 'New Street', 'Kings Road', 'The Crescent'];

/** What the population needs to know about the window it lives in. */
interface Window {
  startMs: number;
  endMs: number;
}

export class Population {
  readonly seed: number;
  /** Home lines (the --subscribers count), visitors after them, scenario lines last. */
  readonly homeLines: number;
  visitorLines = 0;
  lineCount = 0;
  accountCount = 0;
  readonly cells: Cells;
  readonly window: Window;
  readonly clean: CleanParams;

  // Line columns.
  account!: Int32Array;
  kind!: Uint8Array;
  profile!: Uint8Array;
  behaviour!: Uint8Array;
  status!: Uint8Array;
  region!: Uint8Array;
  homeCell!: Int32Array;
  workCell!: Int32Array;
  /** Minutes after local midnight the line is at work (weekdays), for lines with F.HAS_WORK. */
  workFrom!: Int16Array;
  workTo!: Int16Array;
  numberIdx!: Int32Array;
  features!: Uint16Array;
  /** Forwarding target of own-line forwarding: another line index, or -1 (then fwdNumber holds it). */
  fwdLine!: Int32Array;
  favCountry!: Int8Array;
  voiceRate!: Float32Array;
  smsRate!: Float32Array;
  dataRate!: Float32Array;
  mtRate!: Float32Array;
  smsMtRate!: Float32Array;
  durMedianS!: Float32Array;
  durShape!: Float32Array;
  gapShape!: Float32Array;
  contacts!: Uint8Array;
  installDay!: Int32Array;
  tac!: Uint8Array;
  plan!: Uint8Array;
  /** Off-net forwarding targets (E.164) by line. */
  readonly fwdNumber = new Map<number, string>();
  readonly trips = new Map<number, Trip[]>();
  readonly stays = new Map<number, Stay>();
  /** Family-abroad lines whose family lives in a hot-listed country (a Caribbean range of the FBI list). */
  readonly familyRisk = new Map<number, RiskRange>();
  /** M2M fleets: first line and count of each (a business account of IoT SIMs). */
  readonly m2mFleets: { first: number; count: number }[] = [];
  /** A2P/OTP gateway lines. */
  readonly a2pLines: number[] = [];

  // Account columns.
  accClass!: Uint8Array;
  accSegment!: Uint8Array;
  accFirstLine!: Int32Array;
  accLines!: Int32Array;
  accRegion!: Uint8Array;
  accProfile!: Uint8Array;
  accCreatedDay!: Int32Array;
  accPrepaid!: Uint8Array;
  /** Line index of the PBX pilot (main) number, -1 for others. */
  accPilot!: Int32Array;

  private readonly msisdnPerm: Permutation;
  /** Offset of our numbers within the 10^7 numbers of the block (real allocations do not start at 0). */
  private readonly msisdnBase: number;
  private scenarioLines = 0;
  /** Numbers of the look-alike lines are taken from the top of our block down. */
  private lookalikeLines = 0;
  private readonly imsiPerm: Permutation;
  private readonly regionCum: Float64Array;
  private readonly travelCum: Float64Array;
  private readonly callCum: Float64Array;
  private readonly pbxBlocks: Int32Array;

  constructor(o: PopulationOptions) {
    this.seed = o.seed;
    this.homeLines = o.subscribers;
    this.window = { startMs: o.startMs, endMs: o.endMs };
    this.clean = o.clean;
    const visitors = Math.round(o.subscribers * o.clean.visitorShare);
    this.cells = new Cells(o.seed, Math.min(40_000, Math.max(60, Math.round(o.subscribers / 120))));
    // Our numbers are dense in a block of 10^k (80% used), spread by an invertible permutation.
    const block = Math.max(1000, Math.min(10_000_000, Math.ceil((o.subscribers + 64) * 1.25)));
    this.msisdnPerm = new Permutation(block, hash2(o.seed, 0x15d));
    this.msisdnBase = hash2(o.seed, 0xba5e) % (10_000_000 - block + 1);
    this.imsiPerm = new Permutation(10_000_000, hash2(o.seed, 0x1351));
    this.regionCum = cumulative(REGIONS.map((r) => r.weight));
    this.travelCum = cumulative(COUNTRIES.map((c) => (c.networks.length > 0 ? c.travelWeight : 0)));
    this.callCum = cumulative(COUNTRIES.map((c) => c.callWeight));
    this.pbxBlocks = new Int32Array(REGIONS.length);
    this.allocate(o.subscribers + visitors + 64, Math.ceil(o.subscribers * 0.8) + 64);
    this.buildHomeLines(o.subscribers);
    this.buildVisitors(visitors);
    this.buildLookalikes(o.subscribers);
  }

  // -------------------------------------------------------------------------------------------------------
  // Identities

  /** How many numbers of our block are in use or reserved (positions 0..size-1 of blockNumber). */
  msisdnBlockSize(): number {
    return this.msisdnPerm.m;
  }

  /** The MSISDN at a position of our allocated number range (sequential dialling walks these). */
  blockNumber(position: number): string {
    return HOME.msisdnBlock + String(this.msisdnBase + (position % this.msisdnPerm.m)).padStart(PLAN.msisdnDigits, '0');
  }

  msisdn(i: number): string {
    const k = this.kind[i] as number;
    if (k === LineKind.MOBILE) return HOME.msisdnBlock + String(this.msisdnBase + this.msisdnPerm.apply(this.numberIdx[i] as number)).padStart(PLAN.msisdnDigits, '0');
    if (k === LineKind.FIXED) {
      const n = this.numberIdx[i] as number;
      return ddiNumber(this.region[i] as number, n >>> 7, n & 127);
    }
    const c = COUNTRIES[this.favCountry[i] as number] as (typeof COUNTRIES)[number];
    return foreignNumber(c, true, hash3(this.seed, 0x515, i));
  }

  /**
   * The served party a switch writes for line i: its own number, except for PBX lines when
   * clean.pbxServedParty = pilot (the trunk's pilot number; the DDI goes into calling/called number).
   */
  servedMsisdn(i: number): string {
    if (this.kind[i] === LineKind.FIXED && this.clean.pbxServedParty === 'pilot') {
      const pilot = this.accPilot[this.account[i] as number] as number;
      if (pilot >= 0) return this.msisdn(pilot);
    }
    return this.msisdn(i);
  }

  /** The home mobile line holding an MSISDN, or -1 (for sequential-dialling campaigns). */
  lineOfMsisdn(msisdn: string): number {
    if (!msisdn.startsWith(HOME.msisdnBlock) || msisdn.length !== HOME.msisdnBlock.length + PLAN.msisdnDigits) return -1;
    const p = Number(msisdn.slice(HOME.msisdnBlock.length)) - this.msisdnBase;
    if (p < 0 || p >= this.msisdnPerm.m) return -1;
    const idx = this.msisdnPerm.invert(p);
    return idx < this.homeLines && this.kind[idx] === LineKind.MOBILE ? idx : -1;
  }

  imsi(i: number): string | null {
    const k = this.kind[i] as number;
    if (k === LineKind.FIXED) return null;
    if (k === LineKind.VISITOR) {
      const st = this.stays.get(i) as Stay;
      const plmn = (COUNTRIES[st.country] as (typeof COUNTRIES)[number]).networks[st.network]?.plmn ?? '00101';
      return plmn + digits(hash3(this.seed, 0x1351, i), 15 - plmn.length);
    }
    return HOME.plmn + String(this.imsiPerm.apply(i)).padStart(10, '0');
  }

  /** IMEI of the line's handset (a scenario may use another: clones, SIM boxes). */
  imei(i: number): string | null {
    if (this.kind[i] === LineKind.FIXED) return null;
    return imeiOf(this.tac[i] as number, hash3(this.seed, 0x1e1, i));
  }

  homePlmn(i: number): string | null {
    const k = this.kind[i] as number;
    if (k === LineKind.FIXED) return null;
    if (k === LineKind.VISITOR) {
      const st = this.stays.get(i) as Stay;
      return (COUNTRIES[st.country] as (typeof COUNTRIES)[number]).networks[st.network]?.plmn ?? null;
    }
    return HOME.plmn;
  }

  accountId(a: number): string {
    return 'AC' + String(a + 1).padStart(8, '0');
  }

  trunkGroup(i: number): string | null {
    return this.kind[i] === LineKind.FIXED ? 'SIP-' + this.accountId(this.account[i] as number) : null;
  }

  isBusinessLine(i: number): boolean {
    return this.accClass[this.account[i] as number] !== AccountClass.PRIVATE;
  }

  /** An on-net line chosen for contact slot j of line i (same account first: family, colleagues). */
  onNetContact(i: number, h: number): number {
    const a = this.account[i] as number;
    const n = this.accLines[a] as number;
    if (n > 1 && h % 3 === 0) return (this.accFirstLine[a] as number) + ((h >>> 2) % n);
    return (h >>> 2) % this.homeLines;
  }

  // -------------------------------------------------------------------------------------------------------
  // Building

  private allocate(lines: number, accounts: number): void {
    this.account = new Int32Array(lines);
    this.kind = new Uint8Array(lines);
    this.profile = new Uint8Array(lines);
    this.behaviour = new Uint8Array(lines);
    this.status = new Uint8Array(lines);
    this.region = new Uint8Array(lines);
    this.homeCell = new Int32Array(lines).fill(-1);
    this.workCell = new Int32Array(lines).fill(-1);
    this.workFrom = new Int16Array(lines);
    this.workTo = new Int16Array(lines);
    this.numberIdx = new Int32Array(lines);
    this.features = new Uint16Array(lines);
    this.fwdLine = new Int32Array(lines).fill(-1);
    this.favCountry = new Int8Array(lines).fill(-1);
    this.voiceRate = new Float32Array(lines);
    this.smsRate = new Float32Array(lines);
    this.dataRate = new Float32Array(lines);
    this.mtRate = new Float32Array(lines);
    this.smsMtRate = new Float32Array(lines);
    this.durMedianS = new Float32Array(lines);
    this.durShape = new Float32Array(lines);
    this.gapShape = new Float32Array(lines);
    this.contacts = new Uint8Array(lines);
    this.installDay = new Int32Array(lines);
    this.tac = new Uint8Array(lines);
    this.plan = new Uint8Array(lines);
    this.accClass = new Uint8Array(accounts);
    this.accSegment = new Uint8Array(accounts);
    this.accFirstLine = new Int32Array(accounts);
    this.accLines = new Int32Array(accounts);
    this.accRegion = new Uint8Array(accounts);
    this.accProfile = new Uint8Array(accounts);
    this.accCreatedDay = new Int32Array(accounts);
    this.accPrepaid = new Uint8Array(accounts);
    this.accPilot = new Int32Array(accounts).fill(-1);
  }

  private ensure(lines: number, accounts: number): void {
    const growL = lines > this.account.length;
    const growA = accounts > this.accClass.length;
    if (!growL && !growA) return;
    const grow = <T extends Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Float32Array>(a: T, n: number, fill?: number): T => {
      if (n <= a.length) return a;
      const b = new (a.constructor as new (n: number) => T)(Math.max(n, a.length * 2));
      if (fill !== undefined) b.fill(fill);
      b.set(a);
      return b;
    };
    this.account = grow(this.account, lines);
    this.kind = grow(this.kind, lines);
    this.profile = grow(this.profile, lines);
    this.behaviour = grow(this.behaviour, lines);
    this.status = grow(this.status, lines);
    this.region = grow(this.region, lines);
    this.homeCell = grow(this.homeCell, lines, -1);
    this.workCell = grow(this.workCell, lines, -1);
    this.workFrom = grow(this.workFrom, lines);
    this.workTo = grow(this.workTo, lines);
    this.numberIdx = grow(this.numberIdx, lines);
    this.features = grow(this.features, lines);
    this.fwdLine = grow(this.fwdLine, lines, -1);
    this.favCountry = grow(this.favCountry, lines, -1);
    this.voiceRate = grow(this.voiceRate, lines);
    this.smsRate = grow(this.smsRate, lines);
    this.dataRate = grow(this.dataRate, lines);
    this.mtRate = grow(this.mtRate, lines);
    this.smsMtRate = grow(this.smsMtRate, lines);
    this.durMedianS = grow(this.durMedianS, lines);
    this.durShape = grow(this.durShape, lines);
    this.gapShape = grow(this.gapShape, lines);
    this.contacts = grow(this.contacts, lines);
    this.installDay = grow(this.installDay, lines);
    this.tac = grow(this.tac, lines);
    this.plan = grow(this.plan, lines);
    this.accClass = grow(this.accClass, accounts);
    this.accSegment = grow(this.accSegment, accounts);
    this.accFirstLine = grow(this.accFirstLine, accounts);
    this.accLines = grow(this.accLines, accounts);
    this.accRegion = grow(this.accRegion, accounts);
    this.accProfile = grow(this.accProfile, accounts);
    this.accCreatedDay = grow(this.accCreatedDay, accounts);
    this.accPrepaid = grow(this.accPrepaid, accounts);
    this.accPilot = grow(this.accPilot, accounts, -1);
  }

  private randomCell(region: number, r: Rng): number {
    return (this.cells.regionStart[region] as number) + r.int(this.cells.regionCount[region] as number);
  }

  private newAccount(cls: number, segment: number, region: number, profile: number, createdDay: number, prepaid: boolean): number {
    const a = this.accountCount++;
    this.ensure(this.lineCount + 1, this.accountCount);
    this.accClass[a] = cls;
    this.accSegment[a] = segment;
    this.accFirstLine[a] = this.lineCount;
    this.accLines[a] = 0;
    this.accRegion[a] = region;
    this.accProfile[a] = profile;
    this.accCreatedDay[a] = createdDay;
    this.accPrepaid[a] = prepaid ? 1 : 0;
    return a;
  }

  private buildHomeLines(n: number): void {
    const c = this.clean;
    const r = new Rng(hash2(this.seed, 0x9091));
    const startDay = Math.floor(this.window.startMs / DAY_MS);
    while (this.lineCount < n) {
      const u = r.next();
      const cls = u < c.pbxAccountShare ? AccountClass.PBX : u < c.pbxAccountShare + c.businessAccountShare ? AccountClass.BUSINESS : AccountClass.PRIVATE;
      const region = r.weighted(this.regionCum);
      const createdDay = startDay - 30 - r.int(365 * 12);
      if (cls === AccountClass.PRIVATE) {
        // Family plans: 1 line 75%, 2 12%, 3 8%, 4 5% [proposal].
        const v = r.next();
        const lines = v < 0.75 ? 1 : v < 0.87 ? 2 : v < 0.95 ? 3 : 4;
        const a = this.newAccount(cls, Segment.CONSUMER, region, Profile.PRIVATE, createdDay, r.chance(0.3));
        for (let k = 0; k < lines && this.lineCount < n; k++) this.addMobileLine(a, r, false);
      } else if (cls === AccountClass.BUSINESS) {
        const lines = Math.max(2, Math.round(Math.exp(r.range(Math.log(2), Math.log(30)))));
        const profile = Profile.BUSINESS_0800 + r.int(3);
        const a = this.newAccount(cls, Segment.SME, region, profile, createdDay, false);
        for (let k = 0; k < lines && this.lineCount < n; k++) this.addMobileLine(a, r, true);
      } else {
        const v = r.next();
        const segment = v < c.callCentreShare ? Segment.CALL_CENTRE : v < c.callCentreShare + c.telesalesShare ? Segment.TELESALES : Segment.ENTERPRISE;
        // DDI lines: enterprise 8-50, call centre 10-60, telesales 10-40, log-uniform [proposal].
        const [lo, hi] = segment === Segment.CALL_CENTRE ? [10, 60] : segment === Segment.TELESALES ? [10, 40] : [8, 50];
        const lines = Math.round(Math.exp(r.range(Math.log(lo), Math.log(hi))));
        const profile = segment === Segment.CALL_CENTRE ? Profile.CALL_CENTRE : Profile.BUSINESS_0800 + r.int(3);
        const a = this.newAccount(cls, segment, region, profile, createdDay, false);
        const block = this.pbxBlocks[region] as number;
        this.pbxBlocks[region] = block + 1;
        for (let k = 0; k < Math.min(lines, 100) && this.lineCount < n; k++) this.addPbxLine(a, block, k, r);
      }
    }
    // Forwarding needs the whole population: who forwards first, then targets among lines that do not
    // forward to another line themselves (benign diversions stay at most two deep: line, line, voicemail).
    for (let i = 0; i < n; i++) this.assignForwarding(i, r);
    for (let i = 0; i < n; i++) if ((this.features[i] as number) & F.FWD_OWN_LINE) this.assignForwardTarget(i, r);
  }

  private addMobileLine(a: number, r: Rng, business: boolean): number {
    const c = this.clean;
    const i = this.lineCount++;
    this.ensure(this.lineCount, this.accountCount);
    this.accLines[a] = (this.accLines[a] as number) + 1;
    const region = this.accRegion[a] as number;
    this.account[i] = a;
    this.kind[i] = LineKind.MOBILE;
    this.profile[i] = business ? Profile.BUSINESS_MOBILE : (this.accProfile[a] as number);
    this.region[i] = region;
    this.numberIdx[i] = i;
    this.homeCell[i] = this.randomCell(region, r);
    this.installDay[i] = (this.accCreatedDay[a] as number) + r.int(Math.max(1, Math.floor(this.window.startMs / DAY_MS) - (this.accCreatedDay[a] as number) - 1));
    this.tac[i] = r.int(TACS.length);
    const v = r.next();
    this.status[i] = v < c.ceasedShare ? LineStatus.CEASED : v < c.ceasedShare + c.suspendedShare ? LineStatus.SUSPENDED : LineStatus.ACTIVE;
    let f = 0;
    if (business || r.chance(0.6)) {
      f |= F.HAS_WORK;
      let w = this.randomCell(region, r);
      if (w === this.homeCell[i]) w = this.randomCell(region, r);
      this.workCell[i] = w;
      const bh = BUSINESS_HOURS[this.accProfile[a] as number];
      const from = bh ? bh.open : 8 * 60 + r.int(8) * 15;
      this.workFrom[i] = from;
      this.workTo[i] = bh ? bh.close : from + 8 * 60 + r.int(5) * 15;
    }
    if (this.accPrepaid[a]) f |= F.PREPAID;
    // International barring on some prepaid lines, premium barring on half the business lines [proposal].
    if (this.accPrepaid[a] && r.chance(0.25)) f |= F.BAR_INTL;
    if (business && r.chance(0.5)) f |= F.BAR_PREMIUM;
    if (r.chance(business ? 3 * c.travellerShare : c.travellerShare) && !(f & F.BAR_INTL)) f |= F.TRAVELLER | F.ROAMING;
    else if (r.chance(0.7)) f |= F.ROAMING;
    if (business && r.chance(c.domesticTravellerShare)) f |= F.DOMESTIC_TRAVELLER;
    if (r.chance(c.voicemailShare)) f |= F.VOICEMAIL;
    this.features[i] = f;
    // Calling habits: per-line rates and distributions drawn once [proposal: spreads].
    const heavyIntl = !business && !(f & F.BAR_INTL) && r.chance(c.heavyInternationalShare);
    this.behaviour[i] = heavyIntl ? Behaviour.HEAVY_INTL : Behaviour.NORMAL;
    if (heavyIntl || r.chance(0.3)) this.favCountry[i] = r.weighted(this.callCum);
    const voice = r.lognormal(business ? 2.3 * c.callsPerDay : c.callsPerDay, 0.6);
    this.voiceRate[i] = voice;
    this.smsRate[i] = r.lognormal(business ? 1.5 : 2.5, 0.9);
    this.dataRate[i] = r.lognormal(business ? 8 : 6, 0.5);
    this.mtRate[i] = voice * r.range(0.4, 0.8);
    this.smsMtRate[i] = (this.smsRate[i] as number) * r.range(0.6, 1.0);
    this.durMedianS[i] = r.lognormal(business ? c.durationMedianBusinessS : c.durationMedianPrivateS, 0.35);
    this.durShape[i] = r.range(1.6, 2.6);
    this.gapShape[i] = r.range(0.6, 0.95);
    this.contacts[i] = Math.min(250, 8 + Math.round(r.lognormal(business ? 40 : 25, 0.5)));
    this.plan[i] = business ? (r.chance(0.7) ? 4 : 5) : this.accPrepaid[a] ? 0 : 1 + r.int(3);
    if (f & F.TRAVELLER) this.planTrips(i, r, business);
    return i;
  }

  private addPbxLine(a: number, block: number, ext: number, r: Rng): number {
    const i = this.lineCount++;
    this.ensure(this.lineCount, this.accountCount);
    this.accLines[a] = (this.accLines[a] as number) + 1;
    if (ext === 0) this.accPilot[a] = i;
    const seg = this.accSegment[a] as number;
    this.account[i] = a;
    this.kind[i] = LineKind.FIXED;
    this.profile[i] = this.accProfile[a] as number;
    this.region[i] = this.accRegion[a] as number;
    this.numberIdx[i] = (block << 7) | ext;
    this.installDay[i] = (this.accCreatedDay[a] as number) + r.int(30);
    this.status[i] = LineStatus.ACTIVE;
    this.features[i] = r.chance(0.5) ? F.BAR_PREMIUM : 0;
    this.behaviour[i] = seg === Segment.CALL_CENTRE ? Behaviour.CALL_CENTRE : seg === Segment.TELESALES ? Behaviour.TELESALES : Behaviour.NORMAL;
    if (r.chance(0.3)) this.favCountry[i] = r.weighted(this.callCum);
    // Extensions: enterprise 6 calls out / 5 in a day; call-centre agents 8 out / 40 in; telesales 40 out /
    // 2 in [proposal]. Telesales gaps are power-law (Jiang et al.), handled in the traffic.
    const [out, inn, dur] = seg === Segment.CALL_CENTRE ? [8, 40, 180] : seg === Segment.TELESALES ? [40, 2, 45] : [6, 5, this.clean.durationMedianBusinessS];
    this.voiceRate[i] = r.lognormal(out, 0.4);
    this.mtRate[i] = r.lognormal(inn, 0.4);
    this.durMedianS[i] = r.lognormal(dur, 0.3);
    this.durShape[i] = r.range(1.6, 2.6);
    this.gapShape[i] = r.range(0.6, 0.95);
    this.contacts[i] = 60;
    this.plan[i] = 6;
    return i;
  }

  private assignForwarding(i: number, r: Rng): void {
    const c = this.clean;
    if (this.status[i] !== LineStatus.ACTIVE) return;
    if (r.chance(c.forwardOwnLineShare)) {
      this.features[i] = (this.features[i] as number) | F.FWD_OWN_LINE;
    } else if (this.kind[i] === LineKind.MOBILE && !((this.features[i] as number) & F.BAR_INTL) && r.chance(c.forwardInternationalShare)) {
      const country = (this.favCountry[i] as number) >= 0 ? (this.favCountry[i] as number) : r.weighted(this.callCum);
      this.favCountry[i] = country;
      this.fwdNumber.set(i, foreignNumber(COUNTRIES[country] as (typeof COUNTRIES)[number], true, hash3(this.seed, 0xf1, i)));
      this.features[i] = (this.features[i] as number) | F.FWD_INTL_CFU;
    }
  }

  /**
   * "Own other line": a family member's or colleague's line of the same account (not itself forwarding to a
   * line), else an off-net number — a home landline for mobiles, the owner's mobile elsewhere for PBX
   * extensions.
   */
  private assignForwardTarget(i: number, r: Rng): void {
    const a = this.account[i] as number;
    const n = this.accLines[a] as number;
    let target = -1;
    if (n > 1) {
      target = (this.accFirstLine[a] as number) + r.int(n);
      const bad = target === i || this.status[target] !== LineStatus.ACTIVE || ((this.features[target] as number) & F.FWD_OWN_LINE) !== 0 || (this.kind[i] === LineKind.FIXED && this.kind[target] === LineKind.FIXED);
      if (bad) target = -1;
    }
    if (target >= 0) this.fwdLine[i] = target;
    else this.fwdNumber.set(i, this.kind[i] === LineKind.FIXED ? offnetMobileOf(hash3(this.seed, 0xf0d, i)) : fixedNumber(this.region[i] as number, hash3(this.seed, 0xf0e, i)));
  }

  private planTrips(i: number, r: Rng, business: boolean): void {
    const trips: Trip[] = [];
    const home = REGIONS[this.region[i] as number] as (typeof REGIONS)[number];
    let t = this.window.startMs - r.range(0, 12) * DAY_MS;
    while (t < this.window.endMs) {
      const country = r.weighted(this.travelCum);
      const ctry = COUNTRIES[country] as (typeof COUNTRIES)[number];
      const network = r.int(ctry.networks.length);
      const city = ctry.cities[0] as { lat: number; lon: number };
      // Door-to-door travel time: flight at ~750 km/h plus 3 h of airports [proposal].
      const travel = Math.round((distanceKm(home.lat, home.lon, city.lat, city.lon) / 750 + 3) * HOUR_MS);
      const day = Math.floor(t / DAY_MS);
      const depart = localToUtc(HOME_ZONE, day, 6 * 60 + r.int(6 * 60));
      const stay = (business ? r.range(1, 4) : r.range(2, 8)) * DAY_MS;
      const leaveDay = Math.floor((depart + travel + stay) / DAY_MS);
      const leave = Math.max(depart + travel + 12 * HOUR_MS, leaveDay * DAY_MS + (9 + r.int(10)) * HOUR_MS - ctry.zone.stdOffsetMinutes * MINUTE_MS);
      const trip = { depart, arrive: depart + travel, leave, back: leave + travel, country, network };
      if (trip.back > this.window.startMs - DAY_MS) trips.push(trip);
      t = trip.back + (business ? r.range(4, 20) : r.range(10, 40)) * DAY_MS;
    }
    if (trips.length > 0) this.trips.set(i, trips);
  }

  private buildVisitors(v: number): void {
    const r = new Rng(hash2(this.seed, 0x7151));
    const span = this.window.endMs - this.window.startMs;
    for (let k = 0; k < v; k++) {
      const country = r.weighted(this.travelCum);
      const ctry = COUNTRIES[country] as (typeof COUNTRIES)[number];
      const region = r.chance(0.5) ? 0 : r.weighted(this.regionCum);
      const a = this.newAccount(AccountClass.PRIVATE, Segment.CONSUMER, region, Profile.PRIVATE, 0, true);
      const i = this.lineCount++;
      this.ensure(this.lineCount, this.accountCount);
      this.accLines[a] = 1;
      this.account[i] = a;
      this.kind[i] = LineKind.VISITOR;
      this.profile[i] = Profile.PRIVATE;
      this.region[i] = region;
      this.homeCell[i] = this.randomCell(region, r);
      this.favCountry[i] = country;
      this.tac[i] = r.int(TACS.length);
      this.features[i] = F.ROAMING;
      this.behaviour[i] = Behaviour.HEAVY_INTL;
      this.voiceRate[i] = r.lognormal(2, 0.6);
      this.smsRate[i] = r.lognormal(3, 0.8);
      this.dataRate[i] = r.lognormal(8, 0.5);
      this.mtRate[i] = r.lognormal(1, 0.5);
      this.smsMtRate[i] = r.lognormal(2, 0.5);
      this.durMedianS[i] = r.lognormal(this.clean.durationMedianPrivateS, 0.35);
      this.durShape[i] = r.range(1.6, 2.6);
      this.gapShape[i] = r.range(0.6, 0.95);
      this.contacts[i] = 20;
      // Stays of 2-10 days arriving from 5 days before the window to its end [proposal].
      const from = Math.round(this.window.startMs - 5 * DAY_MS + r.next() * (span + 5 * DAY_MS));
      const to = Math.round(from + r.range(2, 10) * DAY_MS);
      this.stays.set(i, { from, to, country, network: r.int(ctry.networks.length) });
    }
    this.visitorLines = v;
  }

  /**
   * Benign look-alikes on top of --subscribers (issue #13 point 5), each from its own random stream so that
   * with every share at 0 the population and its traffic are exactly what they were without them:
   * - M2M/IoT SIMs (clean.m2mShare): fleets of 3-30 SIMs of a business account, each at one fixed cell;
   * - A2P/OTP gateway lines (clean.a2pShare): business lines sending codes to many numbers in many countries;
   * - family in a hot-listed country (clean.familyHighRiskShare of the family-abroad lines) and expatriates
   *   forwarding to their own mobile there (clean.expatHighRiskShare of the lines forwarding abroad).
   * Travellers forwarding to a local SIM while abroad (clean.travellerForwardShare) need no line: lookalikes.ts.
   */
  private buildLookalikes(n: number): void {
    const c = this.clean;
    const r = new Rng(hash2(this.seed, 0x10a1));
    const startDay = Math.floor(this.window.startMs / DAY_MS);
    const m2m = Math.round(n * c.m2mShare);
    for (let made = 0; made < m2m; ) {
      const count = Math.min(m2m - made, 3 + r.int(28));
      const region = r.weighted(this.regionCum);
      const a = this.newAccount(AccountClass.BUSINESS, Segment.ENTERPRISE, region, Profile.BUSINESS_0900, startDay - 60 - r.int(1500), false);
      const first = this.lineCount;
      for (let k = 0; k < count; k++) this.addLookalikeLine(a, region, Behaviour.M2M, r);
      this.m2mFleets.push({ first, count });
      made += count;
    }
    const a2p = Math.round(n * c.a2pShare);
    for (let k = 0; k < a2p; k++) {
      const region = r.weighted(this.regionCum);
      const a = this.newAccount(AccountClass.BUSINESS, Segment.SME, region, Profile.BUSINESS_0900, startDay - 90 - r.int(1500), false);
      this.a2pLines.push(this.addLookalikeLine(a, region, Behaviour.A2P, r));
    }
    // Hot-listed family and expatriates: Caribbean ranges of the FBI list (real diasporas) [proposal].
    const caribbean = RISK_RANGES.filter((x) => x.listed && x.cc === '1');
    for (let i = 0; i < n; i++) {
      if (this.behaviour[i] === Behaviour.HEAVY_INTL && r.chance(c.familyHighRiskShare)) this.familyRisk.set(i, r.pick(caribbean));
      if ((this.features[i] as number) & F.FWD_INTL_CFU && r.chance(c.expatHighRiskShare)) {
        const range = r.pick(caribbean);
        this.familyRisk.set(i, range);
        this.fwdNumber.set(i, range.prefix + digits(hash3(this.seed, 0xe7a, i), range.length - range.prefix.length, 2));
      }
    }
  }

  private addLookalikeLine(a: number, region: number, behaviour: number, r: Rng): number {
    const i = this.lineCount++;
    this.ensure(this.lineCount, this.accountCount);
    this.accLines[a] = (this.accLines[a] as number) + 1;
    this.account[i] = a;
    this.kind[i] = LineKind.MOBILE;
    this.profile[i] = Profile.BUSINESS_0900;
    this.behaviour[i] = behaviour;
    this.region[i] = region;
    this.lookalikeLines++;
    this.numberIdx[i] = this.msisdnPerm.m - this.lookalikeLines;
    if (this.numberIdx[i]! < this.homeLines + this.scenarioLines) throw new RangeError('no numbers left in our block for the M2M and A2P lines');
    this.homeCell[i] = this.randomCell(region, r);
    this.installDay[i] = (this.accCreatedDay[a] as number) + r.int(30);
    this.tac[i] = r.int(TACS.length);
    this.status[i] = LineStatus.ACTIVE;
    this.features[i] = behaviour === Behaviour.M2M ? F.BAR_PREMIUM : 0;
    this.plan[i] = 4;
    return i;
  }

  /**
   * A fresh line for a fraud scenario (SIM-box SIMs, a subscription-fraud SIM): a new private prepaid or
   * business account installed shortly before the attack. It carries no clean traffic of its own; the
   * reference data lists it like any other line.
   */
  addScenarioLine(opts: { installMs: number; region: number; business?: boolean; account?: number }): number {
    const day = Math.floor(opts.installMs / DAY_MS);
    const a = opts.account ?? this.newAccount(opts.business ? AccountClass.BUSINESS : AccountClass.PRIVATE, opts.business ? Segment.SME : Segment.CONSUMER, opts.region, opts.business ? Profile.BUSINESS_0900 : Profile.PRIVATE, day, !opts.business);
    const i = this.lineCount++;
    this.ensure(this.lineCount, this.accountCount);
    this.accLines[a] = (this.accLines[a] as number) + 1;
    this.account[i] = a;
    this.kind[i] = LineKind.MOBILE;
    this.profile[i] = Profile.PRIVATE;
    this.behaviour[i] = Behaviour.SCENARIO;
    this.region[i] = opts.region;
    // Numbers after the home lines' (visitors have foreign numbers and use none).
    const numberIdx = this.homeLines + this.scenarioLines++;
    if (numberIdx >= this.msisdnPerm.m - this.lookalikeLines) throw new RangeError(`too many scenario SIMs for ${this.homeLines} subscribers (at most ${this.msisdnPerm.m - this.homeLines - this.lookalikeLines})`);
    this.numberIdx[i] = numberIdx;
    this.homeCell[i] = (this.cells.regionStart[opts.region] as number) + (hash3(this.seed, 0x5ce, i) % (this.cells.regionCount[opts.region] as number));
    this.installDay[i] = day;
    this.tac[i] = hash2(this.seed, i) % TACS.length;
    this.features[i] = F.ROAMING | (opts.business ? 0 : F.PREPAID);
    this.plan[i] = opts.business ? 4 : 0;
    return i;
  }

  /**
   * An enterprise PBX customer added for a scenario when the population has none to spare (small
   * populations). Its lines carry clean traffic like any other PBX's.
   */
  addScenarioPbx(region: number, lines: number, createdMs: number, r: Rng): number {
    const a = this.newAccount(AccountClass.PBX, Segment.ENTERPRISE, region, Profile.BUSINESS_0900, Math.floor(createdMs / DAY_MS), false);
    const block = this.pbxBlocks[region] as number;
    this.pbxBlocks[region] = block + 1;
    for (let k = 0; k < lines; k++) this.addPbxLine(a, block, k, r);
    return a;
  }

  // -------------------------------------------------------------------------------------------------------
  // Where a line is

  tripAt(i: number, t: number): Trip | undefined {
    const trips = this.trips.get(i);
    if (!trips) return undefined;
    for (const tr of trips) if (t >= tr.depart && t < tr.back) return tr;
    return undefined;
  }

  /** A business day trip to another region, or null: [depart, arrive) travel, [arrive, leave) there, [leave, back) travel. */
  dayTrip(i: number, day: number, holiday: boolean): { region: number; depart: number; arrive: number; leave: number; back: number } | null {
    if (!((this.features[i] as number) & F.DOMESTIC_TRAVELLER) || holiday) return null;
    const dow = (((day + 4) % 7) + 7) % 7;
    if (dow === 0 || dow === 6) return null;
    const h = hash3(this.seed, i, day);
    if (unit(h) >= 0.2) return null; // one weekday in five [proposal]
    const home = this.region[i] as number;
    let region = hash2(h, 1) % REGIONS.length;
    if (region === home) region = (region + 1) % REGIONS.length;
    const a = REGIONS[home] as (typeof REGIONS)[number];
    const b = REGIONS[region] as (typeof REGIONS)[number];
    // Rail or road at ~120 km/h door to door, plus half an hour [proposal].
    const travel = Math.round((distanceKm(a.lat, a.lon, b.lat, b.lon) / 120 + 0.5) * HOUR_MS);
    const arrive = localToUtc(HOME_ZONE, day, 10 * 60);
    const leave = localToUtc(HOME_ZONE, day, 16 * 60);
    if (travel > 4 * HOUR_MS) return null;
    return { region, depart: arrive - travel, arrive, leave, back: leave + travel };
  }
}

export function imeiOf(tacIdx: number, h: number): string {
  const body = (TACS[tacIdx % TACS.length] as string) + String((h >>> 0) % 1_000_000).padStart(6, '0');
  return body + luhn(body);
}

function offnetMobileOf(h: number): string {
  return PLAN.ownMobileElsewhere(h);
}

// ---------------------------------------------------------------------------------------------------------
// Names and addresses (fictional)

export function accountName(pop: Population, a: number): string {
  const h = hash3(pop.seed, 0xa11, a);
  const cls = pop.accClass[a] as number;
  const seg = pop.accSegment[a] as number;
  const de = PLAN.addressStyle === 'de';
  if (cls === AccountClass.PRIVATE) return de ? `${DE_FIRST[h % DE_FIRST.length] as string} ${DE_LAST[(h >>> 8) % DE_LAST.length] as string}` : `${FIRST[h % FIRST.length] as string} ${LAST[(h >>> 8) % LAST.length] as string}`;
  const base = BIZ_A[h % BIZ_A.length] as string;
  const ltd = de ? 'GmbH' : 'Ltd';
  if (seg === Segment.CALL_CENTRE) return `${base} ${CC_NAMES[(h >>> 8) % CC_NAMES.length] as string} ${ltd}`;
  if (seg === Segment.TELESALES) return `${base} ${TS_NAMES[(h >>> 8) % TS_NAMES.length] as string} ${ltd}`;
  return `${base} ${BIZ_B[(h >>> 8) % BIZ_B.length] as string} ${de ? ((h >>> 16) % 3 === 0 ? 'KG' : 'GmbH') : (h >>> 16) % 3 === 0 ? 'LLP' : 'Ltd'}`;
}

export function accountAddress(pop: Population, a: number): { addressLine: string; city: string; postcode: string } {
  const h = hash3(pop.seed, 0xadd, a);
  const r = REGIONS[pop.accRegion[a] as number] as (typeof REGIONS)[number];
  const pc = r.postcodes[h % r.postcodes.length] as string;
  if (PLAN.addressStyle === 'de') return { addressLine: `${DE_STREETS[(h >>> 3) % DE_STREETS.length] as string} ${1 + ((h >>> 18) % 180)}`, city: r.name, postcode: pc };
  const inward = `${1 + ((h >>> 4) % 9)}${String.fromCharCode(65 + ((h >>> 8) % 26))}${String.fromCharCode(65 + ((h >>> 13) % 26))}`;
  return { addressLine: `${1 + ((h >>> 18) % 180)} ${STREETS[(h >>> 3) % STREETS.length] as string}`, city: r.name, postcode: `${pc} ${inward}` };
}

/**
 * The service address (issue #16, the CSR): where the lines are. Private accounts and most businesses are
 * served where they are billed; a third of business and PBX accounts have a site elsewhere in their region
 * (head office billed, branch served) [proposal].
 */
export function serviceAddress(pop: Population, a: number): { addressLine: string; city: string; postcode: string } {
  const billing = accountAddress(pop, a);
  if (pop.accClass[a] === AccountClass.PRIVATE || hash3(pop.seed, 0x5e7, a) % 3 !== 0) return billing;
  const h = hash3(pop.seed, 0x5e8, a);
  const r = REGIONS[pop.accRegion[a] as number] as (typeof REGIONS)[number];
  const pc = r.postcodes[h % r.postcodes.length] as string;
  if (PLAN.addressStyle === 'de') return { addressLine: `${DE_STREETS[(h >>> 3) % DE_STREETS.length] as string} ${1 + ((h >>> 20) % 30)}, Gebäude ${1 + ((h >>> 25) % 4)}`, city: r.name, postcode: pc };
  const inward = `${1 + ((h >>> 4) % 9)}${String.fromCharCode(65 + ((h >>> 8) % 26))}${String.fromCharCode(65 + ((h >>> 13) % 26))}`;
  const unit = `Unit ${1 + ((h >>> 20) % 30)}, ${STREETS[(h >>> 3) % STREETS.length] as string}`;
  return { addressLine: unit, city: r.name, postcode: `${pc} ${inward}` };
}

/**
 * The account PIN a customer would quote (4 digits), known only to the simulator: the reference data carry its
 * salted, keyed hash (schemas/pin.ts). Port-request simulations use it to fill correct and wrong requests.
 */
export function accountPin(pop: Population, a: number): string {
  return String(hash3(pop.seed, 0x919, a) % 10_000).padStart(4, '0');
}

/** Per-account salt of the PIN hash (deterministic, so the same seed writes the same files). */
export function pinSalt(pop: Population, a: number): string {
  return (hash3(pop.seed, 0x5a17, a) >>> 0).toString(16).padStart(8, '0') + (hash3(pop.seed, 0x5a18, a) >>> 0).toString(16).padStart(8, '0');
}

/** The business directory heading of an account (its name's trade), for listings. */
export function directoryCategory(pop: Population, a: number): string | null {
  if (pop.accClass[a] === AccountClass.PRIVATE) return null;
  const h = hash3(pop.seed, 0xa11, a);
  const seg = pop.accSegment[a] as number;
  if (seg === Segment.CALL_CENTRE) return 'Call Centres';
  if (seg === Segment.TELESALES) return 'Telemarketing';
  return BIZ_B[(h >>> 8) % BIZ_B.length] as string;
}
