/**
 * Determinism of fraud detection (issue #11, "the fraud path restarts cheaply and deterministically"), in one
 * process: generated traffic with campaigns whose entities are fed by many CDR partitions (Wangiri ranges,
 * PBX accounts, forwarding destinations) is keyed as the pipeline keys it, and each fraud-events partition is
 * built as the topic would hold it — the CDR partitions' stored batches interleaved in a random order, each
 * followed by its progress markers — then read the way FraudService reads it (SourceMerge -> Detector, swept
 * as events go, committed at the low watermark). Different interleavings, and restarts from the committed low
 * watermark with the alert store restored, must give the same alerts: same ids, entities, rules, episode starts
 * and exposures. Without the merge (events judged in arrival order) they do not: that is what it fixes.
 * The Kafka path is in test/fraud-pipeline.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FraudAlert, FraudEvent, SourcedCdr } from '../schemas/index.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { createRatingStage } from '../enrich/rate/stage.js';
import { createFraudKeyer, Detector, loadRuleBook, SourceMerge } from '../enrich/fraud/index.js';
import { partitionOf, releaseOrder } from '../tools/eval/fraud-offline.js';

const HOUR = 3_600_000;
const SOURCES = 4;
const PARTS = 4;
/** As FraudService: the merge's holdMs (HOLD_MS), the detector's maxLatenessMs (the default 240 min). */
const HOLD = 7 * 24 * HOUR;
const LATENESS = 4 * HOUR;
const book = loadRuleBook('');

/** A record of the fraud-events topic: an event (its timestamp `at` is its CDR's release time), or a progress marker. */
type Rec = { kind: 'event'; ev: FraudEvent; at: number } | { kind: 'mark'; source: number; end: number };

/** Per CDR partition (source): its CDRs' events in release order, as one list per CDR. */
let bySource: { end: number; events: FraudEvent[] }[][] = [];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'fraud-merge-'));
  try {
    const start = Date.UTC(2026, 9, 5);
    const traffic = createTraffic({ seed: 23, subscribers: 400, startMs: start, endMs: start + 30 * HOUR, scenarios: ['wangiri', 'pbx-hack', 'cf-hijack', 'a-calls-a', 'irsf'] });
    writeReference(dir, traffic.reference());
    const stage = createRatingStage(dir, '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    bySource = Array.from({ length: SOURCES }, () => []);
    const cdrs = [...releaseOrder(traffic.records())];
    const scs: SourcedCdr[] = cdrs.map((cdr, i) => ({ cdr, topic: 'cdrs', partition: partitionOf(cdr.servedMsisdn, SOURCES), offset: String(i) }));
    stage.rateBatch(scs);
    for (const sc of scs) bySource[sc.partition]!.push({ end: sc.cdr.releaseTime, events: keyer(sc) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
afterAll(() => {
  bySource = [];
});

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The fraud-events topic of one interleaving: the sources' batches (1..maxBatch CDRs each) in a random order
 * of sources, each batch's events by entity partition, then the batch's progress marker to every partition.
 * Sources drift apart by up to `drift` of traffic time (the runner reads its partitions side by side, a fetch
 * apart; within the merge's holdMs the order is the events' own).
 */
function topic(seed: number, maxBatch: number, drift = HOUR): Rec[][] {
  const rnd = prng(seed);
  const parts: Rec[][] = Array.from({ length: PARTS }, () => []);
  const next = new Array<number>(SOURCES).fill(0);
  for (;;) {
    const open = [...next.keys()].filter((s) => next[s]! < bySource[s]!.length);
    if (open.length === 0) break;
    const slowest = Math.min(...open.map((s) => bySource[s]![next[s]!]!.end));
    const near = open.filter((s) => bySource[s]![next[s]!]!.end <= slowest + drift);
    const s = near[Math.floor(rnd() * near.length)]!;
    const n = 1 + Math.floor(rnd() * maxBatch);
    const batch = bySource[s]!.slice(next[s], next[s]! + n);
    next[s]! += batch.length;
    for (const c of batch) for (const ev of c.events) parts[partitionOf(`${ev.group}:${ev.key}`, PARTS)]!.push({ kind: 'event', ev, at: c.end });
    const end = batch.reduce((m, c) => Math.max(m, c.end), -Infinity);
    for (const p of parts) p.push({ kind: 'mark', source: s, end });
  }
  return parts;
}

/** What FraudService does with one partition's fetched records (pipeline/fraud.ts onBatch). */
class Reader {
  det: Detector;
  merges = new Map<number, SourceMerge>();
  /** Latest stored version per alert id (the alert store: ClickHouse fraud_alerts FINAL). */
  constructor(
    readonly store: Map<string, FraudAlert>,
    readonly merge: boolean,
  ) {
    this.det = new Detector(book, { maxLatenessMs: LATENESS, ordered: merge, sources: merge ? 1 : SOURCES });
    this.det.restore([...store.values()]);
  }
  private publish(alerts: FraudAlert[]): void {
    for (const a of alerts) if (a.version > (this.store.get(a.alertId)?.version ?? 0)) this.store.set(a.alertId, a);
  }
  private detect(p: number, offset: number, ev: FraudEvent): void {
    this.publish(this.det.process(p, offset, ev));
    this.publish(this.det.sweep(p));
  }
  /** Reads records [from, to) of partition p; returns the offset to commit. */
  batch(p: number, recs: Rec[], from: number, to: number): number {
    let m = this.merges.get(p);
    if (!m) this.merges.set(p, (m = new SourceMerge({ sources: SOURCES, holdMs: HOLD, maxBuffered: 50_000 })));
    for (let o = from; o < to; o++) {
      const r = recs[o]!;
      if (r.kind === 'mark') {
        m.mark(r.source, r.end);
        continue;
      }
      if (!this.merge) {
        this.detect(p, o, r.ev);
        continue;
      }
      const now = m.push(o, r.ev, r.at);
      if (now) this.detect(p, now.offset, now.event);
    }
    for (const x of m.release()) this.detect(p, x.offset, x.event);
    return Math.min(this.det.lowWatermark(p, to), m.minOffset());
  }
  /** End of input: everything held goes, then episodes are swept (the same for every run). */
  finish(p: number): void {
    for (const x of this.merges.get(p)?.flush() ?? []) this.detect(p, x.offset, x.event);
    this.publish(this.det.sweep(p, true));
  }
}

/**
 * Reads every partition in fetches of random size; at each fraction in `restarts` of a partition's records the
 * reader "crashes": a new one restores the alert store and reads on from the committed offset.
 */
function detect(parts: Rec[][], o: { seed: number; merge?: boolean; restarts?: number[] }): { alerts: FraudAlert[]; reread: number; behind: number } {
  const rnd = prng(o.seed);
  const store = new Map<string, FraudAlert>();
  let reader = new Reader(store, o.merge ?? true);
  const pos = parts.map(() => 0);
  const committed = parts.map(() => 0);
  const restarts = [...(o.restarts ?? [])];
  let reread = 0;
  for (;;) {
    const open = [...pos.keys()].filter((p) => pos[p]! < parts[p]!.length);
    if (open.length === 0) break;
    const p = open[Math.floor(rnd() * open.length)]!;
    const to = Math.min(parts[p]!.length, pos[p]! + 1 + Math.floor(rnd() * 3000));
    committed[p] = reader.batch(p, parts[p]!, pos[p]!, to);
    pos[p] = to;
    const done = pos.reduce((a, b) => a + b, 0) / parts.reduce((a, r) => a + r.length, 0);
    if (restarts.length > 0 && done >= restarts[0]!) {
      restarts.shift();
      // A crash: the state goes, the next reader restores the stored alerts and replays from the commits.
      for (let q = 0; q < parts.length; q++) reread += pos[q]! - committed[q]!;
      reader = new Reader(store, o.merge ?? true);
      for (let q = 0; q < parts.length; q++) pos[q] = committed[q]!;
    }
  }
  for (let p = 0; p < parts.length; p++) reader.finish(p);
  const merged = [...reader.merges.values()].map((m) => m.stats);
  return { alerts: [...store.values()], reread, behind: merged.reduce((n, x) => n + x.behind + x.forced, 0) };
}

/** What must not change: the alert, its entity and rule, the episode start and the exposure (latest version). */
const summary = (alerts: readonly FraudAlert[]) => alerts.map((a) => `${a.rule} ${a.entityKind}:${a.entity} ${new Date(a.firstSeen).toISOString()} ${a.exposure} ${a.status} ${a.alertId}`).sort();

describe('fraud detection is a function of the events, not of their interleaving or of restarts', () => {
  it('different interleavings of the CDR partitions and fetch sizes give identical alerts', () => {
    const base = detect(topic(1, 400), { seed: 1 });
    const rules = new Set(base.alerts.map((a) => a.rule));
    // Campaigns fed by many lines (so by several CDR partitions) are in the input.
    expect(rules).toContain('wangiri.burst');
    expect(rules).toContain('pbx.out_of_hours');
    expect(base.alerts.length).toBeGreaterThan(5);
    for (const [seed, maxBatch] of [
      [2, 50],
      [3, 800],
      [4, 5],
    ] as const) {
      const other = detect(topic(seed, maxBatch), { seed });
      expect(other.behind, 'every event put in order (none behind what was released, none forced out)').toBe(0);
      expect(summary(other.alerts), `interleaving ${seed} (batches up to ${maxBatch} CDRs)`).toEqual(summary(base.alerts));
    }
  });

  it('restarts in the middle (state rebuilt from the committed low watermark and the alert store) give identical alerts', () => {
    const parts = topic(5, 300);
    const clean = detect(parts, { seed: 5 });
    const restarted = detect(parts, { seed: 6, restarts: [0.2, 0.45, 0.7, 0.9] });
    expect(restarted.reread, 'restarts re-read some events (the windows)').toBeGreaterThan(0);
    expect(summary(restarted.alerts)).toEqual(summary(clean.alerts));
    // And across interleavings with restarts.
    const other = detect(topic(7, 1000), { seed: 7, restarts: [0.33, 0.66] });
    expect(summary(other.alerts)).toEqual(summary(clean.alerts));
  });

  it('without the merge (events judged in arrival order) the interleaving changes the alerts: what the merge fixes', () => {
    const runs = [
      [1, 400],
      [2, 50],
      [3, 2000],
    ].map(([seed, maxBatch]) => summary(detect(topic(seed!, maxBatch!), { seed: seed!, merge: false }).alerts).join('\n'));
    expect(new Set(runs).size).toBeGreaterThan(1);
  });
});

describe('SourceMerge', () => {
  const ev = (source: number, end: number, recordId = `r${source}-${end}`): FraudEvent =>
    ({ group: 'LINE', key: 'k', recordId, kind: 'MO', start: end - 1000, end, source }) as unknown as FraudEvent;

  it('releases in release-time order once every source has gone past it; ties by source and record id', () => {
    const m = new SourceMerge({ sources: 2, holdMs: HOUR, maxBuffered: 100 });
    expect(m.push(0, ev(1, 5_000))).toBeNull();
    expect(m.push(1, ev(1, 9_000))).toBeNull();
    expect(m.release(), 'source 0 has not been heard from (counts as at the first event)').toEqual([]);
    expect(m.push(2, ev(0, 5_000))).toBeNull();
    expect(m.push(3, ev(0, 7_000))).toBeNull();
    // Frontier: min(source 0 at 7000, source 1 at 9000) = 7000; strictly before it goes.
    expect(m.release().map((x) => [x.offset, x.event.end])).toEqual([
      [2, 5_000],
      [0, 5_000],
    ]);
    expect(m.minOffset()).toBe(1);
    m.mark(0, 20_000); // a progress marker: source 0 delivered everything up to 20000
    expect(m.release().map((x) => x.offset), 'source 1 is at 9000: its event there may still have company').toEqual([3]);
    m.mark(1, 20_000);
    expect(m.release().map((x) => x.offset)).toEqual([1]);
    expect(m.size).toBe(0);
    expect(m.minOffset()).toBe(Infinity);
  });

  it('an event behind what was released passes at once (counted); a source more than holdMs behind stops holding', () => {
    const m = new SourceMerge({ sources: 2, holdMs: HOUR, maxBuffered: 100 });
    m.push(0, ev(0, 1_000));
    m.push(1, ev(1, 2 * HOUR));
    // Source 0 is 2 h behind source 1 (holdMs 1 h): it no longer holds source 1's events back.
    expect(m.release().map((x) => x.offset)).toEqual([0]);
    expect(m.frontier()).toBe(2 * HOUR);
    m.push(2, ev(1, 3 * HOUR));
    expect(m.release().map((x) => x.offset)).toEqual([1]);
    const late = m.push(3, ev(0, 5_000));
    expect(late?.offset, 'behind the released 2 h: passed on at once').toBe(3);
    expect(m.stats.behind).toBe(1);
  });

  it('holds at most maxBuffered events (bounded memory): the oldest go first, counted as forced', () => {
    const m = new SourceMerge({ sources: 2, holdMs: 10 * HOUR, maxBuffered: 3 });
    for (let i = 0; i < 5; i++) m.push(i, ev(0, 1_000 + i));
    // Source 1 never spoke: nothing may go by the frontier, but only 3 may be held.
    expect(m.release().map((x) => x.offset)).toEqual([0, 1]);
    expect(m.size).toBe(3);
    expect(m.stats.forced).toBe(2);
  });
});
