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
import type { FraudAlert, FraudEvent, Severity } from '../../schemas/index.js';
import type { Finding, Rule, RuleBook } from './rules.js';
import { formatMicros } from '../../schemas/tariff.js';
import { microsOf } from './keying.js';

export interface StoredEvent extends FraudEvent {
  offset: number;
}

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
  lastPublishedAt: number;
  lastPublishedExposure: number;
  dirty: boolean;
}

interface Entity {
  group: FraudEvent['group'];
  key: string;
  partition: number;
  events: StoredEvent[];
  /** Latest release time seen for the entity. */
  clock: number;
  episodes: Map<string, Episode>;
  /** Per rule and entity: last seizure of the previous (closed) episode; a new episode only uses later events. */
  closed?: Map<string, number>;
}

export interface DetectorStats {
  entities: number;
  events: number;
  episodes: number;
  duplicates: number;
  late: number;
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
  /** A source that is behind and has not moved for this long (wall clock) stops holding the watermark back (default 60 s). */
  idleMs?: number;
  /** Wall clock, for idle sources (tests). */
  now?: () => number;
}

/** Event-time progress of one fraud-events partition. */
interface Clock {
  /** Latest seizure time seen from any source. */
  max: number;
  /** Latest seizure time seen per source, and when (wall clock) it last moved. */
  src: number[];
  moved: number[];
  /** When (wall clock) this partition's state began: an unseen source holds the watermark back until idle. */
  since: number;
}

const SEVERITIES: Severity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

export function alertIdOf(rule: string, entityKind: string, entity: string, firstSeen: number): string {
  return createHash('sha256').update(`${rule}\u0000${entityKind}\u0000${entity}\u0000${firstSeen}`).digest('hex').slice(0, 24);
}

export class Detector {
  /** Entities per partition of the fraud-events topic. */
  private readonly parts = new Map<number, Map<string, Entity>>();
  /** Per partition: event-time progress per source (the stream's position in traffic time). */
  private readonly clocks = new Map<number, Clock>();
  private sources: number;
  private readonly now: () => number;
  private readonly swept = new Map<number, number>();
  private readonly retention = new Map<FraudEvent['group'], number>();
  /** Episodes restored from the alert store, waiting for their entity to appear: `${rule}\0${entity}`. */
  private readonly restored = new Map<string, FraudAlert>();
  private readonly stats_: DetectorStats = { entities: 0, events: 0, episodes: 0, duplicates: 0, late: 0 };

  constructor(
    readonly book: RuleBook,
    private readonly opts: DetectorOptions = {},
  ) {
    for (const g of ['LINE', 'RANGE', 'DEST', 'CHAIN', 'ACCOUNT'] as const) this.retention.set(g, book.retentionMs(g));
    this.sources = Math.max(1, opts.sources ?? 1);
    this.now = opts.now ?? Date.now;
  }

  /** The number of CDR-topic partitions feeding the events (it can only grow, like a topic's partitions). */
  setSources(n: number): void {
    this.sources = Math.max(this.sources, n);
  }

  /**
   * The partition's event-time watermark: the slowest source's latest seizure time (sources idle for
   * longer than idleMs while behind are skipped). Windows are evicted, episodes closed and events judged
   * late against it, never against the fastest source. With one source it is simply the latest seizure seen.
   */
  watermark(partition: number): number {
    const c = this.clocks.get(partition);
    if (!c) return -Infinity;
    if (this.sources === 1 && c.src.length <= 1) return c.max;
    const now = this.now();
    const idle = this.opts.idleMs ?? 60_000;
    let wm = c.max;
    for (let s = 0; s < Math.max(this.sources, c.src.length); s++) {
      const t = c.src[s] ?? -Infinity;
      if (t >= wm) continue;
      if (now - (c.moved[s] ?? c.since) > idle) continue; // idle (or silent) and behind: not holding back
      wm = t;
    }
    return wm;
  }

  stats(): DetectorStats {
    let events = 0;
    let episodes = 0;
    let entities = 0;
    for (const m of this.parts.values()) {
      entities += m.size;
      for (const e of m.values()) {
        events += e.events.length;
        episodes += e.episodes.size;
      }
    }
    return { ...this.stats_, entities, events, episodes };
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
      const k = `${a.rule}\u0000${a.entity}`;
      if (a.status !== 'CLOSED') this.restored.set(k, a);
      else if ((this.restoredClosed.get(k) ?? -Infinity) < a.lastSeen) this.restoredClosed.set(k, a.lastSeen);
    }
  }
  /** Closed episodes from the alert store: their events must not open a new episode after a restart. */
  private readonly restoredClosed = new Map<string, number>();

  /** Processes one event; returns the alert versions to publish (new or updated episodes). */
  process(partition: number, offset: number, ev: FraudEvent): FraudAlert[] {
    let c = this.clocks.get(partition);
    if (!c) this.clocks.set(partition, (c = { max: -Infinity, src: [], moved: [], since: this.now() }));
    const src = ev.source ?? 0;
    if (ev.start > (c.src[src] ?? -Infinity)) {
      c.src[src] = ev.start;
      c.moved[src] = this.now();
    }
    if (ev.start > c.max) c.max = ev.start;
    const wm = this.watermark(partition);
    const keep = this.retention.get(ev.group) ?? 0;
    if (keep === 0) return [];
    if (ev.start < wm - (this.opts.maxLatenessMs ?? keep) - keep) {
      this.stats_.late++;
      return [];
    }
    const id = `${ev.group}\u0000${ev.key}`;
    let part = this.parts.get(partition);
    if (!part) this.parts.set(partition, (part = new Map()));
    let ent = part.get(id);
    if (!ent) {
      ent = { group: ev.group, key: ev.key, partition, events: [], clock: 0, episodes: new Map() };
      part.set(id, ent);
    }
    // Keep events ordered by seizure (late records slot in), so windows are contiguous; a duplicate has
    // the same seizure time, so it is found on the way.
    const evs = ent.events;
    let i = evs.length;
    while (i > 0 && evs[i - 1]!.start >= ev.start) {
      if (evs[i - 1]!.recordId === ev.recordId) {
        this.stats_.duplicates++;
        return [];
      }
      i--;
    }
    const stored: StoredEvent = Object.assign(ev, { offset });
    if (i === evs.length) evs.push(stored);
    else evs.splice(i, 0, stored);
    if (ev.start > ent.clock) ent.clock = ev.start;
    // An entity fed by several sources may have seen a fast source's future; evict only behind the watermark.
    this.evict(ent, keep, Math.min(ent.clock, wm));

    const out: FraudAlert[] = [];
    const ctx = this.book.context(ev.accountClass, ev.band);
    for (const rule of this.book.rulesOf(ev.group)) {
      const p = this.book.paramsIn(rule, ctx);
      const entity = rule.entity(ev);
      if (entity === '') continue;
      const epKey = `${rule.id}\u0000${entity}`;
      let ep = ent.episodes.get(epKey);
      if (!ep && !ent.closed?.has(epKey)) {
        const c = this.restoredClosed.get(epKey);
        if (c !== undefined) (ent.closed ??= new Map()).set(epKey, c);
      }
      if (!ep) {
        const r = this.restored.get(epKey);
        if (r) {
          this.restored.delete(epKey);
          ep = this.fromStore(r, rule);
          ent.episodes.set(epKey, ep);
        }
      }
      // The entity's own event after the gap starts a new episode. (Its events from a slower source that
      // fall inside the gap, possible only for entities fed by several sources, then join the new one.)
      if (ep && ev.start - ep.alert.lastSeen > this.book.episodeGapMs) {
        // A new episode: the previous one closes first.
        out.push(this.close(ep));
        this.markClosed(ent, epKey, ep);
        ep = undefined;
      }
      const contributes = rule.contributes(ev, p);
      if (!contributes && !(ep && rule.extends?.(ev))) continue;
      // After an episode closed, its events do not count again: the rule sees only what came after it.
      const after = ent.closed?.get(epKey);
      const f = contributes ? rule.evaluate(after === undefined ? ent.events : ent.events.filter((e) => e.start > after), ev, p) : null;
      if (ep) {
        if (ev.end > ep.restoredUntil) this.absorb(ep, [ev], f);
        const a = this.maybePublish(ep, ev.end);
        if (a) out.push(a);
      } else if (f) {
        ep = this.open(rule, ev, entity, f);
        ent.episodes.set(epKey, ep);
        out.push(this.publish(ep, ep.alert.detectedAt));
      }
    }
    return out;
  }

  /**
   * Drops events older than their group's retention relative to the partition watermark and closes episodes
   * idle for longer than the episode gap (their CLOSED versions are returned for publishing).
   */
  sweep(partition: number, force = false): FraudAlert[] {
    const clock = this.watermark(partition);
    const out: FraudAlert[] = [];
    if (clock === -Infinity) return out;
    // At most once per minute of traffic time: the work is proportional to the partition's entities.
    if (!force && clock - (this.swept.get(partition) ?? -Infinity) < 60_000) return out;
    this.swept.set(partition, clock);
    const part = this.parts.get(partition);
    if (!part) return out;
    for (const [id, ent] of part) {
      const keep = this.retention.get(ent.group) ?? 0;
      this.evict(ent, keep, clock);
      for (const [k, ep] of ent.episodes) {
        if (clock - ep.alert.lastSeen > this.book.episodeGapMs) {
          out.push(this.close(ep));
          this.markClosed(ent, k, ep);
        } else if (ep.dirty) {
          const a = this.maybePublish(ep, clock);
          if (a) out.push(a);
        }
      }
      if (ent.closed) for (const [k, t] of ent.closed) if (t < clock - keep) ent.closed.delete(k);
      if (ent.events.length === 0 && ent.episodes.size === 0) part.delete(id);
    }
    return out;
  }

  /** The oldest offset any live window of the partition still needs, or `next` when none does. */
  lowWatermark(partition: number, next: number): number {
    let low = next;
    for (const ent of this.parts.get(partition)?.values() ?? []) for (const e of ent.events) if (e.offset < low) low = e.offset;
    return low;
  }

  /** Forgets the state of partitions this member no longer owns (it is rebuilt by whoever owns them). */
  dropPartitions(keep: (partition: number) => boolean): void {
    for (const p of [...this.parts.keys()]) if (!keep(p)) this.parts.delete(p);
    for (const p of [...this.clocks.keys()]) if (!keep(p)) this.clocks.delete(p);
    for (const p of [...this.swept.keys()]) if (!keep(p)) this.swept.delete(p);
  }

  private markClosed(ent: Entity, epKey: string, ep: Episode): void {
    ent.episodes.delete(epKey);
    (ent.closed ??= new Map()).set(epKey, ep.alert.lastSeen);
  }

  private evict(ent: Entity, keep: number, clock = ent.clock): void {
    const cut = clock - keep;
    let n = 0;
    while (n < ent.events.length && ent.events[n]!.start < cut) n++;
    if (n > 0) ent.events.splice(0, n);
  }

  private open(rule: Rule, ev: FraudEvent, entity: string, f: Finding): Episode {
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
    };
    const ep: Episode = { alert, rule, exposureMicros: 0, events: 0, firstIds: [], recentIds: [], restoredUntil: 0, lastPublishedAt: 0, lastPublishedExposure: 0, dirty: true };
    this.absorb(ep, f.events, f);
    return ep;
  }

  private fromStore(a: FraudAlert, rule: Rule): Episode {
    const alert: FraudAlert = { ...a, evidence: { recordIds: [...a.evidence.recordIds], counts: { ...a.evidence.counts }, facts: { ...a.evidence.facts } } };
    const exposure = microsOf(a.exposure);
    const n = this.book.evidenceRecordIds;
    return { alert, rule, exposureMicros: exposure, events: a.evidence.counts.events ?? 0, firstIds: a.evidence.recordIds.slice(0, n), recentIds: a.evidence.recordIds.slice(n), restoredUntil: a.windowEnd, lastPublishedAt: a.detectedAt, lastPublishedExposure: exposure, dirty: false };
  }

  private absorb(ep: Episode, events: readonly FraudEvent[], f: Finding | null): void {
    const n = this.book.evidenceRecordIds;
    for (const e of events) {
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
    const due = now - ep.lastPublishedAt >= this.book.updateEveryMs;
    const escalates = this.severityOf(ep) !== ep.alert.severity;
    if (!grew && !due && !escalates) return null;
    ep.alert.status = 'UPDATED';
    return this.publish(ep, now);
  }

  private close(ep: Episode): FraudAlert {
    ep.alert.status = 'CLOSED';
    return this.publish(ep, ep.alert.detectedAt);
  }

  private severityOf(ep: Episode): Severity {
    const base = SEVERITIES.indexOf(this.book.baseSeverity(ep.rule.id));
    const byMoney = ep.exposureMicros >= this.book.criticalExposureMicros ? 3 : ep.exposureMicros >= this.book.highExposureMicros ? 2 : 0;
    return SEVERITIES[Math.max(base, byMoney)]!;
  }

  private publish(ep: Episode, at: number): FraudAlert {
    const a = ep.alert;
    a.version++;
    a.severity = this.severityOf(ep);
    a.exposure = formatMicros(ep.exposureMicros);
    a.evidence.counts.events = ep.events;
    a.evidence.recordIds = [...ep.firstIds, ...ep.recentIds];
    ep.lastPublishedAt = at;
    ep.lastPublishedExposure = ep.exposureMicros;
    ep.dirty = false;
    return { ...a, evidence: { recordIds: [...a.evidence.recordIds], counts: { ...a.evidence.counts }, facts: { ...a.evidence.facts } } };
  }
}
