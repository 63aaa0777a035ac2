/**
 * SourceMerge: puts the events of one fraud-events partition into one order that depends on the events
 * alone, not on how the CDR partitions feeding it happened to interleave on the topic.
 *
 * Every CDR partition (a "source") publishes its events in its own order, and the runner's flushes decide
 * how the sources interleave on a fraud-events partition: two runs of the same input, or a run with a
 * restart, interleave differently. A rule judging each event against the ones already arrived (a Wangiri
 * range fed by many lines, a PBX account) would then fire on another event, with another window start
 * (alert id) and exposure. So the events are held here and released in release order: by the release time
 * of the CDR each came from (`at`: the publisher stamps it as the Kafka record's timestamp), the order a
 * switch writes CDRs and the in-process evaluation's order, with ties broken by source, the event's own
 * release time, record id, group and key — a total order over distinct events. (Not the event's own time:
 * a SIM-cloning sighting carries the times of an earlier record, and would be out of order in its source.)
 *
 * An event is released once every source has gone past its CDR's release time: each source's progress is
 * the latest release time it delivered to this partition, from its events and from the progress markers the
 * publisher sends to every partition after each stored batch (so a source with nothing for this partition
 * still moves on). A source more than `holdMs` of traffic time behind the fastest stops holding the others
 * back, and at most `maxBuffered` events are held (memory stays bounded whatever a source does); an event
 * arriving behind what was already released is passed on at once (`behind`) — the only case where the
 * order depends on arrival, counted so it can be seen. The CDR topic keeps each switch's release order, so
 * that happens only when a source lags by more than `holdMs`, or its records are out of release order.
 */
import type { FraudEvent } from '../../schemas/index.js';

export interface MergedEvent {
  offset: number;
  event: FraudEvent;
  /** Release time of the CDR the event came from (its source's position; the record's Kafka timestamp). */
  at: number;
}

export interface SourceMergeOptions {
  /** CDR partitions feeding the events (sources 0..sources-1 are expected; more are added when seen). */
  sources: number;
  /** A source this far (traffic time) behind the fastest stops holding the release back. */
  holdMs: number;
  /** Events held at most; beyond, the oldest are released whatever the sources (bounded memory). */
  maxBuffered: number;
}

/**
 * Release order: release time of the CDR, then source, the event's own release time, record id, group, key
 * (identical events tie: they are duplicates).
 */
function before(a: MergedEvent, b: MergedEvent): boolean {
  if (a.at !== b.at) return a.at < b.at;
  const x = a.event;
  const y = b.event;
  const sx = x.source ?? 0;
  const sy = y.source ?? 0;
  if (sx !== sy) return sx < sy;
  if (x.end !== y.end) return x.end < y.end;
  if (x.recordId !== y.recordId) return x.recordId < y.recordId;
  if (x.group !== y.group) return x.group < y.group;
  return x.key < y.key;
}

export class SourceMerge {
  private readonly heap: MergedEvent[] = [];
  /** Latest release time delivered per source (events and markers). */
  private readonly progress: number[] = [];
  /** Held offsets, for the low watermark: counts per offset, and the offsets in arrival order. */
  private readonly held = new Map<number, number>();
  private readonly arrival: number[] = [];
  private head = 0;
  /** Release time of the latest event released: events behind it cannot be put in order any more. */
  private released = -Infinity;
  /** The first release time seen: where a source not heard from yet counts as being. */
  private first = Infinity;
  readonly stats = { behind: 0, forced: 0 };

  constructor(private readonly o: SourceMergeOptions) {}

  get size(): number {
    return this.heap.length;
  }

  /** A source announces that it delivered everything up to this release time (a progress marker). */
  mark(source: number, end: number): void {
    if (this.first === Infinity) this.first = end;
    if (end > (this.progress[source] ?? -Infinity)) this.progress[source] = end;
  }

  /**
   * Takes an event in. Returns it at once when it is behind what was already released (it cannot be put in
   * order any more), otherwise holds it until release().
   */
  push(offset: number, event: FraudEvent, at: number = event.end): MergedEvent | null {
    const m = { offset, event, at };
    this.mark(event.source ?? 0, at);
    if (at < this.released) {
      this.stats.behind++;
      return m;
    }
    const h = this.heap;
    let i = h.length;
    h.push(m);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(m, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = m;
    this.held.set(offset, (this.held.get(offset) ?? 0) + 1);
    if (this.arrival.length > this.head && offset < this.arrival[this.arrival.length - 1]!) this.unordered = true;
    this.arrival.push(offset);
    return null;
  }

  /**
   * The release time below which every source has delivered everything (the merge's frontier). A source not
   * heard from yet counts as being at the first release time the partition saw.
   */
  frontier(): number {
    let fastest = -Infinity;
    for (const t of this.progress) if (t !== undefined && t > fastest) fastest = t;
    let f = fastest;
    for (let s = 0; s < Math.max(this.o.sources, this.progress.length); s++) {
      const t = this.progress[s] ?? this.first;
      if (t < f && fastest - t <= this.o.holdMs) f = t;
    }
    return f;
  }

  /** The events that can go, in release order: strictly before the frontier (a source may still deliver more at it). */
  release(): MergedEvent[] {
    const out: MergedEvent[] = [];
    const f = this.frontier();
    const h = this.heap;
    while (h.length > 0 && (h[0]!.at < f || h.length > this.o.maxBuffered)) {
      if (!(h[0]!.at < f)) this.stats.forced++;
      const m = this.pop();
      if (m.at > this.released) this.released = m.at;
      out.push(m);
    }
    return out;
  }

  /** Everything held, in release order (an explicit end of input: tests and evaluations). */
  flush(): MergedEvent[] {
    const out: MergedEvent[] = [];
    while (this.heap.length > 0) {
      const m = this.pop();
      if (m.at > this.released) this.released = m.at;
      out.push(m);
    }
    return out;
  }

  /** The lowest offset held (Infinity when none): the partition's commit must not pass it. */
  minOffset(): number {
    const a = this.arrival;
    while (this.head < a.length) {
      const o = a[this.head]!;
      if ((this.held.get(o) ?? 0) > 0) return Math.min(o, this.scanIfUnordered(o));
      this.head++;
      if (this.head > 4096 && this.head * 2 > a.length) {
        a.splice(0, this.head);
        this.head = 0;
      }
    }
    return Infinity;
  }

  private pop(): MergedEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && before(h[l + 1]!, h[l]!) ? l + 1 : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    const n = (this.held.get(top.offset) ?? 1) - 1;
    if (n > 0) this.held.set(top.offset, n);
    else this.held.delete(top.offset);
    return top;
  }

  /** Offsets of a Kafka partition arrive in increasing order; should one not, the held set is scanned. */
  private unordered = false;
  private scanIfUnordered(first: number): number {
    if (!this.unordered) return first;
    let min = first;
    for (const o of this.held.keys()) if (o < min) min = o;
    return min;
  }
}
