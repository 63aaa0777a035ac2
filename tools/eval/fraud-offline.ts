/**
 * The detector on generated traffic in one process, without Kafka or ClickHouse: generate -> rate -> key
 * -> detect -> score. For tuning thresholds quickly (`cdr-pipeline eval fraud --in-process`) and for the
 * detector's cost benchmark; `cdr-pipeline eval fraud` runs the same through the real pipeline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cdr, FraudAlert, SourcedCdr } from '../../schemas/index.js';
import { createTraffic, evasiveParams, writeReference } from '../../simulators/traffic/index.js';
import { writeHomeTariffs } from '../../simulators/traffic/tariffs.js';
import { createRatingStage } from '../../enrich/rate/stage.js';
import { createFraudKeyer, Detector, loadRuleBook, microsOf } from '../../enrich/fraud/index.js';
import { scoreFraud, type FraudScore } from './fraud-score.js';

export interface OfflineEvalOptions {
  seed: number;
  subscribers: number;
  startMs: number;
  days: number;
  scenarios: readonly string[] | 'all' | 'none';
  params?: Record<string, string>;
  rulesFile?: string;
  partitions?: number;
  /** Partial records (CDR contract v3) every this many ms of a long call or session; default EVAL_PARTIAL_INTERVAL_MS, 0 = off. */
  partialIntervalMs?: number;
  /** plain: the scenarios' defaults; evasive: their evasive variants (simulators/traffic/scenarios EVASIVE). */
  variant?: 'plain' | 'evasive';
  /** Home country of the generated operator (GB default, DE); DE is rated with its derived tariff book. */
  homeCountry?: string;
}

/**
 * The evaluation's traffic writes long calls and data sessions as TS 32.298 partial records every 5 minutes
 * (CDR contract v3; a "hot billing" interval of the kind fraud teams set on their switches [proposal]): a long
 * forwarded leg is seen 5 minutes after it starts, not when it is released (issue #14).
 */
export const EVAL_PARTIAL_INTERVAL_MS = 5 * 60_000;

export interface OfflineEvalResult {
  score: FraudScore;
  alerts: FraudAlert[];
  records: number;
  events: number;
  seconds: { generateRate: number; keyDetect: number };
}

/** Kafka's default partitioner is murmur2; any stable hash shows the same per-key ordering here. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

/** Re-orders a seizure-ordered stream into release order (a record is emitted once nothing earlier can follow). */
export function* releaseOrder(records: Iterable<Cdr>): Generator<Cdr> {
  const heap: Cdr[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]!.releaseTime <= heap[i]!.releaseTime) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): Cdr => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.releaseTime < heap[m]!.releaseTime) m = l;
        if (r < heap.length && heap[r]!.releaseTime < heap[m]!.releaseTime) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  for (const c of records) {
    while (heap.length > 0 && heap[0]!.releaseTime <= c.seizureTime) yield pop();
    heap.push(c);
    up(heap.length - 1);
  }
  while (heap.length > 0) yield pop();
}

export function runOfflineEval(o: OfflineEvalOptions): OfflineEvalResult {
  const dir = mkdtempSync(join(tmpdir(), 'cdr-fraud-'));
  try {
    const params = { ...(o.variant === 'evasive' && o.scenarios !== 'none' ? evasiveParams(o.scenarios) : {}), ...(o.params ?? {}) };
    const traffic = createTraffic({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs: o.startMs + o.days * 86_400_000, scenarios: o.scenarios, params, homeCountry: o.homeCountry ?? 'GB', partialIntervalMs: o.partialIntervalMs ?? EVAL_PARTIAL_INTERVAL_MS });
    writeReference(dir, traffic.reference());
    const stage = createRatingStage(dir, writeHomeTariffs(dir, traffic.plan) ?? '');
    const keyer = createFraudKeyer(stage.reference, stage.rating.normaliser);
    const detector = new Detector(loadRuleBook(o.rulesFile ?? ''));
    const parts = o.partitions ?? 4;
    const latest = new Map<string, FraudAlert>();
    const costs = new Map<string, readonly [number, number]>();
    let records = 0;
    let events = 0;
    let tGen = 0;
    let tDet = 0;
    const offsets = new Array<number>(parts).fill(0);
    let t = performance.now();
    for (const batch of chunks(releaseOrder(traffic.records()), 5000)) {
      const scs: SourcedCdr[] = batch.map((cdr, i) => ({ cdr, topic: 'cdrs', partition: 0, offset: String(records + i) }));
      stage.rateBatch(scs);
      records += batch.length;
      const t1 = performance.now();
      tGen += t1 - t;
      for (const sc of scs) {
        const c = microsOf(sc.rated?.cost_total);
        // The parts of a call share its record id: the call's cost is their sum, released with its last part.
        if (c > 0) costs.set(sc.cdr.recordId, [sc.cdr.releaseTime, c + (costs.get(sc.cdr.recordId)?.[1] ?? 0)]);
        for (const ev of keyer(sc)) {
          events++;
          const p = partitionOf(ev.key, parts);
          for (const a of detector.process(p, offsets[p]!++, ev)) latest.set(a.alertId, a);
        }
      }
      for (let p = 0; p < parts; p++) for (const a of detector.sweep(p)) latest.set(a.alertId, a);
      t = performance.now();
      tDet += t - t1;
    }
    for (let p = 0; p < parts; p++) for (const a of detector.sweep(p, true)) latest.set(a.alertId, a);
    const alerts = [...latest.values()];
    const score = scoreFraud({ alerts, labels: traffic.labels(), lines: [...traffic.reference().lines()], records: costs, subscribers: o.subscribers, days: o.days });
    return { score, alerts, records, events, seconds: { generateRate: tGen / 1000, keyDetect: tDet / 1000 } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function* chunks<T>(it: Iterable<T>, n: number): Generator<T[]> {
  let b: T[] = [];
  for (const x of it) {
    b.push(x);
    if (b.length >= n) {
      yield b;
      b = [];
    }
  }
  if (b.length) yield b;
}
