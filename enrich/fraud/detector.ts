/**
 * The stateful fraud detector: per-entity windows of fraud events, the rule book evaluated on each event,
 * and alert episodes — one alert per entity, rule and episode, re-issued with a higher version while it lasts.
 *
 * Determinism: for the same sequence of events per entity the detector produces the same alerts (ids,
 * versions, contents); windows are computed from event times, never from arrival or wall-clock time. So a
 * restart that replays a partition from its low watermark (the oldest event any live window still needs)
 * rebuilds the same state, and alert ids do not change. Duplicated events (a replayed CDR batch) are
 * recognised by record id while they are inside the window and ignored.
 *
 * Time: "traffic time". An alert's detectedAt is the release time of the latest record the decision used —
 * the earliest moment a switch writing CDRs at call release could have delivered everything it needed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { schemaPath, type FraudAlert, type FraudEvent, type Severity } from '../../schemas/index.js';
import type { Finding, Params, Rule, RuleBook } from './rules.js';
import { formatMicros } from '../../schemas/tariff.js';
import { microsOf } from './keying.js';

export interface StoredEvent extends FraudEvent {
  offset: number;
}

/**
 * The low-cardinality fields of a stored event (kind, flags, band, country, category...): one object per
 * distinct combination, shared by every stored event with exactly those values (interned, bounded).
 */
interface Profile {
  readonly kind: FraudEvent['kind'];
  readonly answered: boolean;
  readonly highRisk: boolean;
  readonly international: boolean;
  readonly roaming: boolean;
  readonly band: string;
  readonly businessHours: FraudEvent['businessHours'];
  readonly otherCountry: string | null;
  readonly otherCategory: string | null;
  readonly visitedPlmn: string | null;
  readonly redirectionCounter: number;
  readonly cause: FraudEvent['cause'];
  readonly currency: string;
  readonly accountClass: string | null;
  readonly source: FraudEvent['source'];
}

/** Who an event is about: its entity and subscriber, shared by an entity's consecutive events of one line. */
interface Who {
  readonly group: FraudEvent['group'];
  readonly key: string;
  readonly msisdn: string;
  readonly imsi: string | null;
  readonly imei: string | null;
  readonly accountId: string | null;
  readonly lineAgeDays: number;
}

/** Fields most stored events have null (only international calls have a range, only forwarded legs an original called number). */
interface Rare {
  readonly range: string | null;
  readonly originalCalled: string | null;
  /** The start and end, when BASE + s and start + d do not give them back exactly (not integers): else null. */
  readonly start: number | null;
  readonly end: number | null;
  /** Fields of the event schema not packed here (storedExtras), or null. */
  readonly x: Record<string, unknown> | null;
}

/** The cell of an event and its position, shared by the events seen in that cell. */
interface Place {
  readonly cellId: FraudEvent['cellId'];
  readonly lat: number | null;
  readonly lon: number | null;
}

/**
 * A stored event: the fields that vary per call as its own (record id, times, minutes, cost, other party),
 * the rest through three shared objects (Profile, Who, Place), read by getters of the same names. Every
 * FraudEvent field reads exactly the value the decoded event had, so rules see no difference; the state is
 * 11 fields per event instead of 34 (the windows of a day of every active line are most of the detector's
 * heap, and what V8's marking walks). Fields the event schema gains later, unknown here, are kept in `r.x` and
 * read by getters defined from schemas/avro/fraud-event.avsc (see storedExtras).
 */
class Stored implements StoredEvent {
  constructor(
    public recordId: string,
    /** start - BASE: a small integer, where a timestamp would be a heap number of its own (see BASE). */
    public s: number,
    /** end - start: a small integer too. */
    public d: number,
    public talkMs: number,
    public costMicros: number,
    public offset: number,
    public other: string | null,
    public w: Who,
    public p: Profile,
    public c: Place,
    /** The rarely set fields; null when they are all null. */
    public r: Rare | null,
  ) {}
  get start(): number {
    const r = this.r;
    return r !== null && r.start !== null ? r.start : BASE + this.s;
  }
  get end(): number {
    const r = this.r;
    return r !== null && r.end !== null ? r.end : this.start + this.d;
  }
  get range(): string | null {
    const r = this.r;
    return r === null ? null : r.range;
  }
  get originalCalled(): string | null {
    const r = this.r;
    return r === null ? null : r.originalCalled;
  }
  get group(): FraudEvent['group'] {
    return this.w.group;
  }
  get key(): string {
    return this.w.key;
  }
  get msisdn(): string {
    return this.w.msisdn;
  }
  get imsi(): string | null {
    return this.w.imsi;
  }
  get imei(): string | null {
    return this.w.imei;
  }
  get accountId(): string | null {
    return this.w.accountId;
  }
  get lineAgeDays(): number {
    return this.w.lineAgeDays;
  }
  get kind(): FraudEvent['kind'] {
    return this.p.kind;
  }
  get answered(): boolean {
    return this.p.answered;
  }
  get highRisk(): boolean {
    return this.p.highRisk;
  }
  get international(): boolean {
    return this.p.international;
  }
  get roaming(): boolean {
    return this.p.roaming;
  }
  get band(): string {
    return this.p.band;
  }
  get businessHours(): FraudEvent['businessHours'] {
    return this.p.businessHours;
  }
  get otherCountry(): string | null {
    return this.p.otherCountry;
  }
  get otherCategory(): string | null {
    return this.p.otherCategory;
  }
  get visitedPlmn(): string | null {
    return this.p.visitedPlmn;
  }
  get redirectionCounter(): number {
    return this.p.redirectionCounter;
  }
  get cause(): FraudEvent['cause'] {
    return this.p.cause;
  }
  get currency(): string {
    return this.p.currency;
  }
  get accountClass(): string | null {
    return this.p.accountClass;
  }
  get source(): FraudEvent['source'] {
    return this.p.source;
  }
  get cellId(): FraudEvent['cellId'] {
    return this.c.cellId;
  }
  get lat(): number | null {
    return this.c.lat;
  }
  get lon(): number | null {
    return this.c.lon;
  }
}

/** The FraudEvent fields Stored holds (own or through its shared objects). */
const PACKED = new Set(['group', 'key', 'recordId', 'kind', 'start', 'end', 'talkMs', 'answered', 'msisdn', 'imsi', 'imei', 'other', 'otherCountry', 'otherCategory', 'highRisk', 'international', 'range', 'costMicros', 'currency', 'accountId', 'accountClass', 'band', 'businessHours', 'lineAgeDays', 'roaming', 'visitedPlmn', 'cellId', 'lat', 'lon', 'redirectionCounter', 'cause', 'originalCalled', 'source']);

let extras: readonly string[] | undefined;
/**
 * Fields of the fraud-event schema Stored does not pack (a field added to the contract later): kept per event
 * in `x`, read through getters added here once, so a rule reading a new field sees its value without a change
 * to this file.
 */
function storedExtras(): readonly string[] {
  if (extras !== undefined) return extras;
  const schema = JSON.parse(readFileSync(schemaPath('avro', 'fraud-event.avsc'), 'utf8')) as { fields: { name: string }[] };
  extras = schema.fields.map((f) => f.name).filter((n) => !PACKED.has(n));
  for (const name of extras) {
    Object.defineProperty(Stored.prototype, name, {
      get(this: Stored) {
        return this.r?.x?.[name];
      },
      configurable: true,
    });
  }
  return extras;
}

/**
 * Stored starts are kept relative to the first one stored in the process: within about 24 days of it the
 * difference is a small integer (a Smi, inside the object), where an epoch-milliseconds number needs a heap
 * number of 16 bytes of its own, one more object per event for the GC to mark. Further away it is a heap
 * number again: the same value, only bigger. Exact for integers (times are integer milliseconds).
 */
let BASE = NaN;
const NOWHERE: Place = { cellId: null, lat: null, lon: null };
const sameProfile = (a: Profile, e: FraudEvent) =>
  a.kind === e.kind &&
  a.answered === e.answered &&
  a.highRisk === e.highRisk &&
  a.international === e.international &&
  a.roaming === e.roaming &&
  a.band === e.band &&
  a.businessHours === e.businessHours &&
  a.otherCountry === e.otherCountry &&
  a.otherCategory === e.otherCategory &&
  a.visitedPlmn === e.visitedPlmn &&
  a.redirectionCounter === e.redirectionCounter &&
  a.cause === e.cause &&
  a.currency === e.currency &&
  a.accountClass === e.accountClass &&
  a.source === e.source;
const sameWho = (a: Who, e: FraudEvent) => a.msisdn === e.msisdn && a.imsi === e.imsi && a.imei === e.imei && a.accountId === e.accountId && a.lineAgeDays === e.lineAgeDays;
/** Interned objects kept at most (profiles; cells, ~20 MB at most): beyond, a new combination gets an object of its own. */
const INTERN_MAX = 1 << 16;
const CELLS_MAX = 1 << 18;

interface Episode {
  alert: FraudAlert;
  rule: Rule;
  exposureMicros: number;
  /** Contributing events absorbed so far. */
  events: number;
  firstIds: string[];
  recentIds: string[];
  /** Events released at or before this time are already in the episode (restored from the alert store). */
  restoredUntil: number;
  /**
   * Record ids in the stored version's evidence (the first and the latest it took in): an event released at
   * exactly restoredUntil is new to the episode unless it is one of them (a self-call and its forwarded leg
   * end in the same millisecond, and a version may have gone out between the two).
   */
  restoredIds: ReadonlySet<string> | null;
  /** The fraud-events partition of its entity. */
  partition: number;
  /**
   * Offset through which the latest published version took the partition's events into account, and, for a
   * restored episode, through which the stored version did (-1 unknown: then restoredUntil decides).
   */
  publishedThrough: number;
  restoredThrough: number;
  lastPublishedAt: number;
  lastPublishedExposure: number;
  dirty: boolean;
}

interface Entity {
  group: FraudEvent['group'];
  key: string;
  partition: number;
  events: Stored[];
  /** Latest release time seen for the entity. */
  clock: number;
  /** Open episodes by `${rule}\0${entity}`; null while there are none (most entities never have one). */
  episodes: Map<string, Episode> | null;
  /** Per rule and entity: last seizure of the previous (closed) episode; a new episode only uses later events. */
  closed?: Map<string, number>;
  /** Creation order within the partition (the order a full scan of the partition's map would visit it in). */
  seq: number;
  /** Expiry bucket it is scheduled in (see Part.buckets), NaN when none. */
  due: number;
  /** Has episodes or closed episodes: visited by every sweep. */
  attention: boolean;
  /** Removed from the partition (stale bucket entries skip it). */
  dead: boolean;
}

/**
 * Live offsets of one partition's stored events, as counts per offset over a sliding range, so the low
 * watermark is the first offset with a count, found without visiting the state. Offsets of a fraud-events
 * partition arrive in increasing order in practice; any order is handled (the range grows at either end),
 * and a range that would grow beyond MAX_SPAN switches the partition to scanning its entities.
 */
class LiveOffsets {
  private static readonly MAX_SPAN = 1 << 26;
  private counts = new Uint32Array(1024);
  private base = 0;
  /** First index that may have a count; one past the last index used. */
  private lo = 0;
  private hi = 0;
  exact = true;

  add(offset: number): void {
    if (!this.exact) return;
    if (!Number.isSafeInteger(offset)) {
      this.exact = false;
      return;
    }
    if (this.lo >= this.hi) {
      // Nothing live: start the range here.
      this.counts.fill(0, 0, Math.min(this.hi, this.counts.length));
      this.base = offset;
      this.lo = this.hi = 0;
    }
    let i = offset - this.base;
    if (i < 0) {
      const span = this.hi - i;
      if (span > LiveOffsets.MAX_SPAN) {
        this.exact = false;
        return;
      }
      const next = new Uint32Array(Math.max(this.counts.length, span * 2));
      next.set(this.counts.subarray(0, this.hi), -i);
      this.counts = next;
      this.base = offset;
      this.lo -= i;
      this.hi -= i;
      i = 0;
    } else if (i >= this.counts.length) {
      if (this.lo > 0) {
        this.counts.copyWithin(0, this.lo, this.hi);
        this.counts.fill(0, this.hi - this.lo, this.hi);
        this.base += this.lo;
        this.hi -= this.lo;
        i -= this.lo;
        this.lo = 0;
      }
      if (i >= this.counts.length) {
        if (i + 1 > LiveOffsets.MAX_SPAN) {
          this.exact = false;
          return;
        }
        const next = new Uint32Array(Math.max(this.counts.length * 2, i + 1));
        next.set(this.counts.subarray(0, this.hi));
        this.counts = next;
      }
    }
    this.counts[i]!++;
    if (i < this.lo) this.lo = i;
    if (i >= this.hi) this.hi = i + 1;
  }

  remove(offset: number): void {
    if (!this.exact) return;
    const i = offset - this.base;
    if (i >= 0 && i < this.hi && this.counts[i]! > 0) this.counts[i]!--;
  }

  /** The smallest live offset, Infinity when none. */
  min(): number {
    while (this.lo < this.hi && this.counts[this.lo] === 0) this.lo++;
    return this.lo < this.hi ? this.base + this.lo : Infinity;
  }
}

/** Expiry buckets: one minute of "oldest event + retention" each. */
const BUCKET_MS = 60_000;

/** The state of one fraud-events partition. */
interface Part {
  /** Entities by group, then key (no key string built per event). */
  groups: Map<FraudEvent['group'], Map<string, Entity>>;
  /** Stored events and open episodes (stats() without visiting the state). */
  events: number;
  episodes: number;
  offsets: LiveOffsets;
  /**
   * Entities by the minute their oldest event leaves the retention. A sweep visits only the buckets that are
   * due, and the entities with episodes (`attention`), instead of every entity of the partition every minute.
   */
  buckets: Map<number, Entity[]>;
  /** Keys of `buckets`, a binary min-heap. */
  keys: number[];
  attention: Set<Entity>;
  seq: number;
  /** Offset of the latest event processed. */
  last: number;
  /**
   * Episodes with absorbed events not yet published, and the offset a replay must start from to absorb them
   * again (the lowest offset among them): the low watermark never passes it, so a restart loses none of them.
   */
  pending: Map<Episode, number>;
}

export interface DetectorStats {
  entities: number;
  events: number;
  episodes: number;
  duplicates: number;
  late: number;
  /** Later parts of calls recorded in parts, added to their call's event. */
  continued: number;
}

export interface DetectorOptions {
  /** Events older than the partition's watermark minus this are dropped as too late (default: the longest retention). */
  maxLatenessMs?: number;
  /**
   * Partitions of the CDR topic feeding the fraud-events topic (FraudEvent.source; default 1). Each source
   * reaches a fraud-events partition in its own order, and while the pipeline catches up one source can be
   * hours of traffic ahead of another; the watermark is therefore the slowest source's clock.
   */
  sources?: number;
  /**
   * A source more than this far (traffic time) behind the fastest one stops holding the watermark back
   * (default maxLatenessMs, else 4 h). Traffic time, never the wall clock, so the result is a function of
   * the events alone: a CDR partition without traffic delays the closing of episodes by at most this much.
   */
  holdMs?: number;
  /**
   * Events arrive in release order (the service's SourceMerge puts them in that order): a restored episode
   * then continues after its stored windowEnd, and the stored offset (the order of arrival on the topic, not
   * of processing) is ignored. Without it, the stored offset decides (events arrive in offset order).
   */
  ordered?: boolean;
}

/** Event-time progress of one fraud-events partition. */
interface Clock {
  /** Latest seizure time seen from any source. */
  max: number;
  /** Latest seizure time seen per source. */
  src: number[];
  /** The first seizure time seen on the partition: where a source not heard from yet counts as being. */
  first: number;
}

const SEVERITIES: Severity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

/** Distinct short strings shared by stored events (countries, categories, bands...); bounded. */
const VOCABULARY_MAX = 65_536;

export function alertIdOf(rule: string, entityKind: string, entity: string, firstSeen: number): string {
  return createHash('sha256').update(`${rule}\u0000${entityKind}\u0000${entity}\u0000${firstSeen}`).digest('hex').slice(0, 24);
}

function* entitiesOf(part: Part): Generator<Entity> {
  for (const m of part.groups.values()) yield* m.values();
}

function heapPush(h: number[], k: number): void {
  let i = h.length;
  h.push(k);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]! <= k) break;
    h[i] = h[p]!;
    i = p;
  }
  h[i] = k;
}

function heapPop(h: number[]): number {
  const top = h[0]!;
  const last = h.pop()!;
  if (h.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}

export class Detector {
  /** State per partition of the fraud-events topic. */
  private readonly parts = new Map<number, Part>();
  /** Per partition: event-time progress per source (the stream's position in traffic time). */
  private readonly clocks = new Map<number, Clock>();
  private sources: number;
  private readonly swept = new Map<number, number>();
  private readonly retention = new Map<FraudEvent['group'], number>();
  /** Episodes restored from the alert store, waiting for their entity to appear: entity -> rule -> alert. */
  private readonly restored = new Map<string, Map<string, FraudAlert>>();
  /** Closed episodes from the alert store (entity -> rule -> last seen): their events must not open a new episode after a restart. */
  private readonly restoredClosed = new Map<string, Map<string, number>>();
  private readonly stats_: DetectorStats = { entities: 0, events: 0, episodes: 0, duplicates: 0, late: 0, continued: 0 };
  /** Rule parameters per (account class, band): the rule book's, without building its string key per event. */
  private readonly contexts = new Map<string | null, Map<string, Map<string, Params>>>();
  private readonly vocabulary = new Map<string, string>();
  private readonly profiles = new Map<string, Profile>();
  private readonly cells = new Map<number, Place>();
  private readonly extras = storedExtras();

  constructor(
    readonly book: RuleBook,
    private readonly opts: DetectorOptions = {},
  ) {
    for (const g of ['LINE', 'RANGE', 'DEST', 'CHAIN', 'ACCOUNT', 'DEVICE'] as const) this.retention.set(g, book.retentionMs(g));
    this.sources = Math.max(1, opts.sources ?? 1);
  }

  /** The number of CDR-topic partitions feeding the events (it can only grow, like a topic's partitions). */
  setSources(n: number): void {
    this.sources = Math.max(this.sources, n);
  }

  /**
   * The partition's event-time watermark: the slowest source's latest seizure time, except that a source
   * more than holdMs behind the fastest one stops holding it back (a source not heard from counts as being
   * at the partition's first event). Windows are evicted, episodes closed and events judged late against
   * it, never against the fastest source. With one source it is simply the latest seizure seen. Traffic time
   * only: the same events in the same order give the same watermark, whenever they are processed.
   */
  watermark(partition: number): number {
    const c = this.clocks.get(partition);
    if (!c) return -Infinity;
    // In release order (the SourceMerge already waited for every source) the latest seizure seen is the clock.
    if (this.opts.ordered || (this.sources === 1 && c.src.length <= 1)) return c.max;
    const hold = this.opts.holdMs ?? this.opts.maxLatenessMs ?? 4 * 3_600_000;
    let wm = c.max;
    for (let s = 0; s < Math.max(this.sources, c.src.length); s++) {
      const t = c.src[s] ?? c.first;
      if (t >= wm) continue;
      if (c.max - t > hold) continue; // too far behind: not holding back
      wm = t;
    }
    return wm;
  }

  /** Counts kept as the state changes: constant time, whatever the state's size (the service calls it per batch). */
  stats(): DetectorStats {
    let events = 0;
    let episodes = 0;
    let entities = 0;
    for (const part of this.parts.values()) {
      for (const m of part.groups.values()) entities += m.size;
      events += part.events;
      episodes += part.episodes;
    }
    return { ...this.stats_, entities, events, episodes };
  }

  /** Entities and stored events per entity group (benchmarks, diagnostics; visits the whole state). */
  statsByGroup(): Partial<Record<FraudEvent['group'], { entities: number; events: number }>> {
    const out: Partial<Record<FraudEvent['group'], { entities: number; events: number }>> = {};
    for (const part of this.parts.values()) {
      for (const e of entitiesOf(part)) {
        const g = (out[e.group] ??= { entities: 0, events: 0 });
        g.entities++;
        g.events += e.events.length;
      }
    }
    return out;
  }

  /** The stored events of one entity, oldest first (diagnostics and tests; what the rules are given). */
  eventsOf(partition: number, group: FraudEvent['group'], key: string): readonly StoredEvent[] {
    return this.parts.get(partition)?.groups.get(group)?.get(key)?.events ?? [];
  }

  /**
   * Open alerts from the alert store (ClickHouse), so an episode that began before the replayed window
   * continues under the same id and version sequence after a restart instead of opening a second alert.
   * Call it with the partitions' state dropped, before replaying them from their low watermarks.
   */
  restore(alerts: readonly FraudAlert[]): void {
    // The store's picture replaces any earlier one: an alert restored open before may have been closed since
    // by the member that owned its entity in between.
    this.restored.clear();
    this.restoredClosed.clear();
    for (const a of alerts) {
      if (a.status !== 'CLOSED') {
        let m = this.restored.get(a.entity);
        if (!m) this.restored.set(a.entity, (m = new Map()));
        m.set(a.rule, a);
      } else {
        let m = this.restoredClosed.get(a.entity);
        if (!m) this.restoredClosed.set(a.entity, (m = new Map()));
        if ((m.get(a.rule) ?? -Infinity) < a.lastSeen) m.set(a.rule, a.lastSeen);
      }
    }
  }

  /** Processes one event; returns the alert versions to publish (new or updated episodes). */
  process(partition: number, offset: number, ev: FraudEvent): FraudAlert[] {
    let c = this.clocks.get(partition);
    if (!c) this.clocks.set(partition, (c = { max: -Infinity, src: [], first: ev.start }));
    const src = ev.source ?? 0;
    if (ev.start > (c.src[src] ?? -Infinity)) c.src[src] = ev.start;
    if (ev.start > c.max) c.max = ev.start;
    const wm = this.watermark(partition);
    const keep = this.retention.get(ev.group) ?? 0;
    if (keep === 0) return [];
    if (ev.start < wm - (this.opts.maxLatenessMs ?? keep) - keep) {
      this.stats_.late++;
      return [];
    }
    let part = this.parts.get(partition);
    if (!part) this.parts.set(partition, (part = { groups: new Map(), events: 0, episodes: 0, offsets: new LiveOffsets(), buckets: new Map(), keys: [], attention: new Set(), seq: 0, last: -1, pending: new Map() }));
    part.last = offset;
    let byKey = part.groups.get(ev.group);
    if (!byKey) part.groups.set(ev.group, (byKey = new Map()));
    let ent = byKey.get(ev.key);
    if (!ent) {
      ent = { group: ev.group, key: ev.key, partition, events: [], clock: 0, episodes: null, seq: part.seq++, due: NaN, attention: false, dead: false };
      byKey.set(ev.key, ent);
    }
    // Keep events ordered by seizure (late records slot in), so windows are contiguous; a duplicate has
    // the same seizure time, so it is found on the way.
    const evs = ent.events;
    let i = evs.length;
    while (i > 0 && evs[i - 1]!.start >= ev.start) {
      const o = evs[i - 1]!;
      if (o.recordId === ev.recordId) {
        // A later part of a call recorded in parts (CDR contract v3, TS 32.298: same record id and seizure, a
        // later end): the call's event takes its minutes and cost, and the rules judge the call again. A
        // re-sent part (a replay) ends no later than what the event already holds: a duplicate.
        if (o.start === ev.start && ev.end > o.end) return this.continueCall(part, ent, o, ev, partition, offset);
        this.stats_.duplicates++;
        return [];
      }
      i--;
    }
    // From here on the stored copy is the event (the caller's object is left as it was).
    const stored = this.store(ev, ent, evs, offset);
    ev = stored;
    if (i === evs.length) evs.push(stored);
    else evs.splice(i, 0, stored);
    part.events++;
    part.offsets.add(offset);
    if (i === 0) this.schedule(part, ent, keep);
    if (ev.start > ent.clock) ent.clock = ev.start;
    // An entity fed by several sources may have seen a fast source's future; evict only behind the watermark.
    this.evict(part, ent, keep, Math.min(ent.clock, wm));

    return this.judge(part, ent, stored, null, partition, offset);
  }

  /** A later part of a stored call: its minutes and cost join the call's event, which is judged again. */
  private continueCall(part: Part, ent: Entity, call: Stored, next: FraudEvent, partition: number, offset: number): FraudAlert[] {
    part.last = offset;
    this.setEnd(call, next.end);
    call.talkMs += next.talkMs;
    call.costMicros += next.costMicros;
    if (next.answered && !call.answered) call.p = this.profileOf({ ...call.p, answered: true } as unknown as FraudEvent, ent.events);
    this.stats_.continued++;
    return this.judge(part, ent, call, next.costMicros, partition, offset);
  }

  /**
   * The rules of the event's group on the entity's window ending at ev. `addedMicros` is null for a new
   * event; for a call that took a later part, the cost that part added (the call is already in any episode
   * it contributed to: only the added cost is new to it).
   */
  private judge(part: Part, ent: Entity, ev: Stored, addedMicros: number | null, partition: number, offset: number): FraudAlert[] {
    const out: FraudAlert[] = [];
    const ctx = this.contextOf(ev.accountClass, ev.band);
    for (const rule of this.book.rulesOf(ev.group)) {
      const p = this.book.paramsIn(rule, ctx);
      const entity = rule.entity(ev);
      if (entity === '') continue;
      const contributes = rule.contributes(ev, p);
      const restoredClosed = this.restoredClosed.size === 0 ? undefined : this.restoredClosed.get(entity)?.get(rule.id);
      const restored = this.restored.size === 0 ? undefined : this.restored.get(entity)?.get(rule.id);
      // Most entities have no episode, open or closed, and nothing restored: then nothing but the rule's
      // own decision matters, and the episode key is only built when an episode opens.
      let epKey: string | undefined;
      let ep: Episode | undefined;
      if (ent.episodes !== null || ent.closed !== undefined || restoredClosed !== undefined || restored !== undefined) {
        epKey = `${rule.id}\u0000${entity}`;
        ep = ent.episodes?.get(epKey);
        if (!ep && !ent.closed?.has(epKey) && restoredClosed !== undefined) {
          (ent.closed ??= new Map()).set(epKey, restoredClosed);
          this.attend(part, ent);
        }
        if (!ep && restored !== undefined) {
          const m = this.restored.get(entity)!;
          m.delete(rule.id);
          if (m.size === 0) this.restored.delete(entity);
          ep = this.fromStore(restored, rule, partition, offset);
          this.setEpisode(part, ent, epKey, ep);
        }
        // The entity's own event after the gap starts a new episode. (Its events from a slower source that
        // fall inside the gap, possible only for entities fed by several sources, then join the new one.)
        if (ep && ev.start - ep.alert.lastSeen > this.book.episodeGapMs) {
          // A new episode: the previous one closes first.
          out.push(this.close(ep));
          this.markClosed(part, ent, epKey, ep);
          ep = undefined;
        }
      }
      if (!contributes && !(ep && rule.extends?.(ev))) continue;
      // After an episode closed, its events do not count again: the rule sees only what came after it.
      const after = epKey === undefined ? undefined : ent.closed?.get(epKey);
      const f = contributes ? rule.evaluate(after === undefined ? ent.events : ent.events.filter((e) => e.start > after), ev, p) : null;
      if (ep) {
        // A restored episode has taken in every event through its stored offset (when the store knows it).
        const fresh = ep.restoredThrough >= 0 ? offset > ep.restoredThrough : ev.end > ep.restoredUntil || (ev.end === ep.restoredUntil && ep.restoredIds !== null && !ep.restoredIds.has(ev.recordId));
        if (fresh) this.absorb(ep, [ev], f, addedMicros);
        const a = this.maybePublish(ep, ev.end);
        if (a) out.push(a);
      } else if (f) {
        ep = this.open(rule, ev, entity, f, partition);
        this.setEpisode(part, ent, epKey ?? `${rule.id}\u0000${entity}`, ep);
        out.push(this.publish(ep));
      }
    }
    return out;
  }

  /**
   * Drops events older than their group's retention relative to the partition watermark and closes episodes
   * idle for longer than the episode gap (their CLOSED versions are returned for publishing).
   *
   * The work is proportional to what changes, not to the partition's state: the entities whose oldest event
   * left the retention (expiry buckets), and those with episodes. The result is the same as visiting every
   * entity: the others have nothing to evict, close or publish.
   */
  sweep(partition: number, force = false): FraudAlert[] {
    const clock = this.watermark(partition);
    const out: FraudAlert[] = [];
    if (clock === -Infinity) return out;
    // Once per minute of traffic time, on minute boundaries: when a sweep happens depends on the events
    // alone, also after a restart (a "60 s since the last sweep" rule would restart its phase).
    if (!force && Math.floor(clock / 60_000) === Math.floor((this.swept.get(partition) ?? -Infinity) / 60_000)) return out;
    this.swept.set(partition, clock);
    const part = this.parts.get(partition);
    if (!part) return out;
    // 1. Evict: entities whose oldest event may be older than the retention.
    const upto = Math.floor(clock / BUCKET_MS);
    const again: Entity[] = [];
    while (part.keys.length > 0 && part.keys[0]! <= upto) {
      const k = heapPop(part.keys);
      const list = part.buckets.get(k) ?? [];
      part.buckets.delete(k);
      for (const ent of list) {
        if (ent.dead || ent.due !== k) continue; // removed, or rescheduled earlier since
        ent.due = NaN;
        const keep = this.retention.get(ent.group) ?? 0;
        this.evict(part, ent, keep, clock);
        if (ent.events.length > 0) {
          if (Math.floor((ent.events[0]!.start + keep) / BUCKET_MS) <= upto) again.push(ent);
          else this.schedule(part, ent, keep);
        } else if (ent.episodes === null) this.remove(part, ent);
      }
    }
    for (const ent of again) this.schedule(part, ent, this.retention.get(ent.group) ?? 0);
    // 2. Episodes: close the idle ones, publish what is due; forget closed episodes past the retention.
    if (part.attention.size > 0) {
      const ents = [...part.attention].sort((a, b) => a.seq - b.seq);
      for (const ent of ents) {
        const keep = this.retention.get(ent.group) ?? 0;
        if (ent.episodes !== null) {
          for (const [k, ep] of ent.episodes) {
            if (clock - ep.alert.lastSeen > this.book.episodeGapMs) {
              out.push(this.close(ep));
              this.markClosed(part, ent, k, ep);
            } else if (ep.dirty) {
              const a = this.maybePublish(ep, clock);
              if (a) out.push(a);
            }
          }
        }
        if (ent.closed) {
          for (const [k, t] of ent.closed) if (t < clock - keep) ent.closed.delete(k);
          if (ent.closed.size === 0) ent.closed = undefined;
        }
        if (ent.events.length === 0 && ent.episodes === null) this.remove(part, ent);
        else this.attend(part, ent);
      }
    }
    return out;
  }

  /** The oldest offset any live window of the partition still needs, or `next` when none does. */
  lowWatermark(partition: number, next: number): number {
    const part = this.parts.get(partition);
    if (!part) return next;
    let low = next;
    if (part.offsets.exact) low = Math.min(next, part.offsets.min());
    else for (const ent of entitiesOf(part)) for (const e of ent.events) if (e.offset < low) low = e.offset;
    for (const from of part.pending.values()) if (from < low) low = from;
    return low;
  }

  /** Forgets the state of partitions this member no longer owns (it is rebuilt by whoever owns them). */
  dropPartitions(keep: (partition: number) => boolean): void {
    for (const p of [...this.parts.keys()]) if (!keep(p)) this.parts.delete(p);
    for (const p of [...this.clocks.keys()]) if (!keep(p)) this.clocks.delete(p);
    for (const p of [...this.swept.keys()]) if (!keep(p)) this.swept.delete(p);
  }

  private contextOf(accountClass: string | null, band: string): Map<string, Params> {
    let byBand = this.contexts.get(accountClass);
    if (!byBand) this.contexts.set(accountClass, (byBand = new Map()));
    let ctx = byBand.get(band);
    if (!ctx) byBand.set(band, (ctx = this.book.context(accountClass, band)));
    return ctx;
  }

  /**
   * The stored copy of an event (Stored): the same values, in 11 fields instead of 34, sharing what repeats —
   * the entity's key and group, one Who per line while its subscriber fields stay the same, one Profile per
   * combination of the low-cardinality fields, one Place per cell, the previous events' other party, and
   * one copy of each short code (range). Decoded events carry fresh copies of every string and 34 fields,
   * most of the state's memory. The caller's object is left as it was.
   */
  private store(ev: FraudEvent, ent: Entity, evs: readonly Stored[], offset: number): Stored {
    let w: Who | undefined;
    let c: Place | undefined;
    let other = ev.other;
    let p: Profile | undefined;
    // The previous events of the entity: the same line, cell, profile or number, most likely.
    for (let j = evs.length - 1, n = 0; j >= 0 && n < 4; j--, n++) {
      const o = evs[j]!;
      if (w === undefined && sameWho(o.w, ev)) w = o.w;
      if (c === undefined && o.c.cellId === ev.cellId && o.c.lat === ev.lat && o.c.lon === ev.lon) c = o.c;
      if (p === undefined && sameProfile(o.p, ev)) p = o.p;
      if (other !== null && o.other === other) other = o.other;
    }
    if (w === undefined) {
      const prev = evs[evs.length - 1];
      let msisdn = ev.msisdn === ent.key ? ent.key : ev.msisdn;
      let imsi = ev.imsi;
      let imei = ev.imei;
      let accountId = ev.accountId;
      if (prev !== undefined) {
        if (msisdn === prev.w.msisdn) msisdn = prev.w.msisdn;
        if (imsi !== null && imsi === prev.w.imsi) imsi = prev.w.imsi;
        if (imei !== null && imei === prev.w.imei) imei = prev.w.imei;
        if (accountId !== null && accountId === prev.w.accountId) accountId = prev.w.accountId;
      }
      w = { group: ent.group, key: ent.key, msisdn, imsi, imei, accountId, lineAgeDays: ev.lineAgeDays };
    }
    c ??= this.placeOf(ev);
    p ??= this.profileOf(ev, evs);
    let x: Record<string, unknown> | null = null;
    if (this.extras.length > 0) {
      x = {};
      for (const k of this.extras) x[k] = (ev as unknown as Record<string, unknown>)[k];
    }
    const range = ev.range === null ? null : ev.range === ent.key ? ent.key : this.word(ev.range);
    if (BASE !== BASE && Number.isSafeInteger(ev.start)) BASE = ev.start;
    const rel = ev.start - BASE;
    const start = BASE + rel === ev.start ? null : ev.start;
    const d = ev.end - ev.start;
    const end = ev.start + d === ev.end ? null : ev.end;
    const r = range === null && ev.originalCalled === null && start === null && end === null && x === null ? null : { range, originalCalled: ev.originalCalled, start, end, x };
    return new Stored(ev.recordId, rel, d, ev.talkMs, ev.costMicros, offset, other, w, p, c, r);
  }

  /** Moves a stored call's end (a later part of it). */
  private setEnd(call: Stored, end: number): void {
    const d = end - call.start;
    if (call.start + d === end && (call.r === null || call.r.end === null)) call.d = d;
    else {
      const r = call.r ?? { range: null, originalCalled: null, start: null, end: null, x: null };
      call.r = { ...r, end: call.start + d === end ? null : end };
      call.d = d;
    }
  }

  /** The shared Profile of an event's low-cardinality fields (interned; bounded). */
  private profileOf(ev: FraudEvent, evs: readonly Stored[]): Profile {
    for (let j = evs.length - 1, n = 0; j >= 0 && n < 8; j--, n++) if (sameProfile(evs[j]!.p, ev)) return evs[j]!.p;
    const k = `${ev.kind}\u0001${ev.answered}\u0001${ev.highRisk}\u0001${ev.international}\u0001${ev.roaming}\u0001${ev.band}\u0001${ev.businessHours}\u0001${ev.otherCountry}\u0001${ev.otherCategory}\u0001${ev.visitedPlmn}\u0001${ev.redirectionCounter}\u0001${ev.cause}\u0001${ev.currency}\u0001${ev.accountClass}\u0001${ev.source}`;
    const hit = this.profiles.get(k);
    // The key's text could coincide for different values (null and "null"): the fields decide.
    if (hit !== undefined && sameProfile(hit, ev)) return hit;
    const p: Profile = {
      kind: this.word(ev.kind) as FraudEvent['kind'],
      answered: ev.answered,
      highRisk: ev.highRisk,
      international: ev.international,
      roaming: ev.roaming,
      band: this.word(ev.band)!,
      businessHours: ev.businessHours,
      otherCountry: this.word(ev.otherCountry),
      otherCategory: this.word(ev.otherCategory),
      visitedPlmn: this.word(ev.visitedPlmn),
      redirectionCounter: ev.redirectionCounter,
      cause: ev.cause,
      currency: this.word(ev.currency)!,
      accountClass: this.word(ev.accountClass),
      source: ev.source,
    };
    if (hit === undefined && this.profiles.size < INTERN_MAX) this.profiles.set(k, p);
    return p;
  }

  /** The shared Place of an event's cell (one per cell id while its position stays the same; bounded). */
  private placeOf(ev: FraudEvent): Place {
    if (ev.cellId === null) return ev.lat === null && ev.lon === null ? NOWHERE : { cellId: null, lat: ev.lat, lon: ev.lon };
    const hit = this.cells.get(ev.cellId);
    if (hit !== undefined && hit.lat === ev.lat && hit.lon === ev.lon) return hit;
    const c: Place = { cellId: ev.cellId, lat: ev.lat, lon: ev.lon };
    // A cell whose position changed (reference data reloaded) takes the newer one.
    if (hit !== undefined || this.cells.size < CELLS_MAX) this.cells.set(ev.cellId, c);
    return c;
  }

  private word(s: string | null): string | null {
    if (s === null) return s;
    const w = this.vocabulary.get(s);
    if (w !== undefined) return w;
    if (this.vocabulary.size < VOCABULARY_MAX) this.vocabulary.set(s, s);
    return s;
  }

  /** Puts the entity in the expiry bucket of its oldest event, unless it is in an earlier one already. */
  private schedule(part: Part, ent: Entity, keep: number): void {
    const first = ent.events[0];
    if (first === undefined) return;
    const k = Math.floor((first.start + keep) / BUCKET_MS);
    if (k >= ent.due) return; // an earlier bucket reschedules it when it is due
    ent.due = k;
    let list = part.buckets.get(k);
    if (!list) {
      part.buckets.set(k, (list = []));
      heapPush(part.keys, k);
    }
    list.push(ent);
  }

  /** Keeps `attention` (visited by every sweep) to the entities with episodes or closed episodes. */
  private attend(part: Part, ent: Entity): void {
    const need = ent.episodes !== null || (ent.closed !== undefined && ent.closed.size > 0);
    if (need === ent.attention) return;
    ent.attention = need;
    if (need) part.attention.add(ent);
    else part.attention.delete(ent);
  }

  private setEpisode(part: Part, ent: Entity, epKey: string, ep: Episode): void {
    (ent.episodes ??= new Map()).set(epKey, ep);
    part.episodes++;
    this.attend(part, ent);
  }

  private remove(part: Part, ent: Entity): void {
    part.groups.get(ent.group)?.delete(ent.key);
    ent.dead = true;
    if (ent.attention) {
      ent.attention = false;
      part.attention.delete(ent);
    }
  }

  private markClosed(part: Part, ent: Entity, epKey: string, ep: Episode): void {
    if (ent.episodes?.delete(epKey)) part.episodes--;
    if (ent.episodes?.size === 0) ent.episodes = null;
    (ent.closed ??= new Map()).set(epKey, ep.alert.lastSeen);
    this.attend(part, ent);
  }

  private evict(part: Part, ent: Entity, keep: number, clock: number): void {
    const cut = clock - keep;
    const evs = ent.events;
    let n = 0;
    while (n < evs.length && evs[n]!.start < cut) n++;
    if (n === 0) return;
    for (let j = 0; j < n; j++) part.offsets.remove(evs[j]!.offset);
    evs.splice(0, n);
    part.events -= n;
  }

  private open(rule: Rule, ev: FraudEvent, entity: string, f: Finding, partition: number): Episode {
    const detectedAt = f.events.reduce((m, e) => Math.max(m, e.end), ev.end);
    const alert: FraudAlert = {
      alertId: alertIdOf(rule.id, rule.entityKind, entity, f.windowStart),
      version: 0,
      rule: rule.id,
      fraudType: f.fraudType ?? rule.fraudType,
      entityKind: rule.entityKind,
      entity,
      severity: 'MEDIUM',
      score: 0,
      status: 'OPEN',
      firstSeen: f.windowStart,
      lastSeen: f.events.reduce((m, e) => Math.max(m, e.start), ev.start),
      detectedAt,
      windowStart: f.windowStart,
      windowEnd: detectedAt,
      exposure: '0.000000',
      currency: ev.currency,
      evidence: { recordIds: [], counts: {}, facts: {} },
      eventsPartition: partition,
      eventsOffset: -1,
    };
    const ep: Episode = { alert, rule, exposureMicros: 0, events: 0, firstIds: [], recentIds: [], restoredUntil: 0, restoredIds: null, partition, publishedThrough: -1, restoredThrough: -1, lastPublishedAt: 0, lastPublishedExposure: 0, dirty: true };
    this.absorb(ep, f.events, f);
    return ep;
  }

  /** An episode from its stored version, materialised while processing `offset` of `partition`. */
  private fromStore(a: FraudAlert, rule: Rule, partition: number, offset: number): Episode {
    const alert: FraudAlert = { ...a, evidence: { recordIds: [...a.evidence.recordIds], counts: { ...a.evidence.counts }, facts: { ...a.evidence.facts } } };
    const exposure = microsOf(a.exposure);
    const n = this.book.evidenceRecordIds;
    // The stored position counts only on the same partition (the topic's partition count may have changed).
    const through = !this.opts.ordered && a.eventsPartition === partition && a.eventsOffset >= 0 ? a.eventsOffset : -1;
    return {
      alert,
      rule,
      exposureMicros: exposure,
      events: a.evidence.counts.events ?? 0,
      firstIds: a.evidence.recordIds.slice(0, n),
      recentIds: a.evidence.recordIds.slice(n),
      restoredUntil: a.windowEnd,
      restoredIds: new Set(a.evidence.recordIds),
      partition,
      publishedThrough: through >= 0 ? through : offset - 1,
      restoredThrough: through,
      lastPublishedAt: a.windowEnd,
      lastPublishedExposure: exposure,
      dirty: false,
    };
  }

  private absorb(ep: Episode, events: readonly FraudEvent[], f: Finding | null, addedMicros: number | null = null): void {
    // The low watermark waits for the oldest event absorbed since the last published version, so a restart
    // replays every one of them (in offset order that is publishedThrough + 1; in release order, from the
    // SourceMerge, an absorbed event may sit at a lower offset than events processed before it).
    const part = this.parts.get(ep.partition);
    if (part) {
      let from = part.pending.get(ep) ?? ep.publishedThrough + 1;
      for (const e of events) {
        const o = (e as Partial<StoredEvent>).offset;
        if (o !== undefined && o < from) from = o;
      }
      part.pending.set(ep, from);
    }
    const n = this.book.evidenceRecordIds;
    for (const e of events) {
      if (addedMicros !== null) {
        // A later part of a call the episode has: its cost and end, not another event.
        ep.exposureMicros += addedMicros;
        if (e.end > ep.alert.windowEnd) ep.alert.windowEnd = e.end;
        continue;
      }
      ep.events++;
      ep.exposureMicros += e.costMicros;
      if (ep.firstIds.length < n) ep.firstIds.push(e.recordId);
      else {
        ep.recentIds.push(e.recordId);
        if (ep.recentIds.length > 5) ep.recentIds.shift();
      }
      if (e.start > ep.alert.lastSeen) ep.alert.lastSeen = e.start;
      if (e.end > ep.alert.windowEnd) ep.alert.windowEnd = e.end;
      if (e.currency && !ep.alert.currency) ep.alert.currency = e.currency;
    }
    if (f) {
      // Counts keep the strongest window seen in the episode; facts the latest.
      for (const [k, v] of Object.entries(f.counts)) ep.alert.evidence.counts[k] = Math.max(ep.alert.evidence.counts[k] ?? 0, v);
      Object.assign(ep.alert.evidence.facts, f.facts);
      ep.alert.score = Math.max(ep.alert.score, Math.round((1 - 0.5 / Math.max(1, f.strength)) * 1000) / 1000);
      if (f.fraudType && ep.alert.fraudType !== f.fraudType && ep.alert.version === 0) ep.alert.fraudType = f.fraudType;
    }
    if (ep.rule.id === 'wangiri.burst') ep.alert.evidence.counts.callbacks = (ep.alert.evidence.counts.callbacks ?? 0) + events.filter((e) => e.kind === 'MO').length;
    ep.dirty = true;
  }

  private maybePublish(ep: Episode, now: number): FraudAlert | null {
    if (!ep.dirty) return null;
    const grew = ep.exposureMicros >= ep.lastPublishedExposure * 1.5 && ep.exposureMicros - ep.lastPublishedExposure >= 1_000_000;
    // Once per slot of updateEveryMs of traffic time (slots on the clock, not from the last version): the
    // stored version's windowEnd tells a restored episode which slot it was published in, so it publishes
    // its next versions when the uninterrupted run would have.
    const due = Math.floor(now / this.book.updateEveryMs) > Math.floor(ep.lastPublishedAt / this.book.updateEveryMs);
    const escalates = this.severityOf(ep) !== ep.alert.severity;
    if (!grew && !due && !escalates) return null;
    ep.alert.status = 'UPDATED';
    return this.publish(ep);
  }

  private close(ep: Episode): FraudAlert {
    ep.alert.status = 'CLOSED';
    return this.publish(ep);
  }

  private severityOf(ep: Episode): Severity {
    const base = SEVERITIES.indexOf(this.book.baseSeverity(ep.rule.id));
    const byMoney = ep.exposureMicros >= this.book.criticalExposureMicros ? 3 : ep.exposureMicros >= this.book.highExposureMicros ? 2 : 0;
    return SEVERITIES[Math.max(base, byMoney)]!;
  }

  private publish(ep: Episode): FraudAlert {
    const a = ep.alert;
    a.version++;
    a.severity = this.severityOf(ep);
    a.exposure = formatMicros(ep.exposureMicros);
    a.evidence.counts.events = ep.events;
    a.evidence.recordIds = [...ep.firstIds, ...ep.recentIds];
    // The traffic time the version covers (not the moment it went out): the stored alert has it (windowEnd),
    // so a restored episode publishes its next versions when the uninterrupted run would have.
    ep.lastPublishedAt = a.windowEnd;
    ep.lastPublishedExposure = ep.exposureMicros;
    ep.dirty = false;
    const part = this.parts.get(ep.partition);
    if (part) {
      ep.publishedThrough = part.last;
      part.pending.delete(ep);
    }
    a.eventsPartition = ep.partition;
    a.eventsOffset = ep.publishedThrough;
    return { ...a, evidence: { recordIds: [...a.evidence.recordIds], counts: { ...a.evidence.counts }, facts: { ...a.evidence.facts } } };
  }
}
