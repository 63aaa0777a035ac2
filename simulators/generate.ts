/**
 * `cdr-pipeline generate`: the traffic generator as a product. Builds the population and its traffic
 * (simulators/traffic), optionally writes the reference data it implies, publishes the CDRs to Kafka as Avro
 * keyed by served MSISDN (as fast as possible or at a target rate), mixes in corrupt records on request,
 * and writes the fraud labels as JSON lines once the traffic is done.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { cdrCodec, type Cdr, type Log } from '../schemas/index.js';
import { createTraffic, scenarioHelp, writeReference, type Traffic } from './traffic/index.js';
import { writeHomeTariffs } from './traffic/tariffs.js';
import { DAY_MS, localToUtc } from './traffic/calendar.js';
import { homePlan } from './traffic/home.js';
import type { BillingOutput } from './billing/generate-billing.js';
import type { KafkaSecurity } from '../schemas/security.js';

export interface GenerateOptions {
  seed: number;
  subscribers: number;
  startMs: number;
  endMs: number;
  scenarios: string[] | 'all' | 'none';
  params: Record<string, string>;
  /** Home country of the operator (GB or DE; default GB). */
  homeCountry?: string;
  /** Holiday spec; absent: the home country's public holidays. */
  holidays?: string[];
  /** Stop after this many CDRs (corrupt records not counted). */
  maxRecords: number | null;
  corrupt: number;
  /** Kafka output, or null (generate without publishing: labels, reference data, speed). */
  kafka: { brokers: string[]; topic: string; security?: KafkaSecurity | undefined } | null;
  /** Target CDRs per second; null = as fast as possible. */
  ratePerSec: number | null;
  labelsOut: string | null;
  referenceOut: string | null;
  /** Bill the traffic and write invoice lines with labelled billing errors (needs referenceOut, the whole window). */
  billing?: BillingOutput | null;
  chunk: number;
  /** Write long calls and data sessions as partial records, one per interval (0 or absent: complete records). */
  partialIntervalMs?: number;
  log: Log;
}

export interface GenerateResult {
  records: number;
  corrupt: number;
  labels: number;
  seconds: number;
  reference: Record<string, number> | null;
}

/** Default window: Monday 5 October 2026, 00:00 Europe/London, for 7 days. */
export const DEFAULT_START = '2026-10-05';

/** A partial-record interval: `30m`, `90s`, `1h`, or milliseconds; `0` or `off` = complete records only. */
export function parseInterval(s: string, what: string): number {
  if (s === 'off') return 0;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'] : NaN;
  if (!Number.isSafeInteger(ms) || (ms > 0 && ms < 60_000)) throw new RangeError(`${what} must be off, 0 or a duration of at least 1m (30m, 90s, 1h), got "${s}"`);
  return ms;
}

/** `YYYY-MM-DD` (local midnight in the home country's time zone) or an ISO instant with a zone. */
export function parseInstant(s: string, what: string, homeCountry = 'GB'): number {
  const zone = homePlan(homeCountry).zone;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const day = Date.parse(`${s}T00:00:00Z`) / DAY_MS;
    if (Number.isFinite(day)) return localToUtc(zone, day, 0);
  }
  const t = Date.parse(s);
  if (!Number.isFinite(t) || !/(Z|[+-]\d\d:?\d\d)$/.test(s)) throw new RangeError(`${what} must be YYYY-MM-DD (local midnight, ${zone.name}) or an ISO instant with a zone, got "${s}"`);
  return t;
}

export async function runGenerate(o: GenerateOptions, print: (line: string) => void): Promise<GenerateResult> {
  const started = performance.now();
  const traffic = createTraffic({ seed: o.seed, subscribers: o.subscribers, startMs: o.startMs, endMs: o.endMs, scenarios: o.scenarios, params: o.params, homeCountry: o.homeCountry ?? 'GB', ...(o.holidays ? { holidays: o.holidays } : {}), partialIntervalMs: o.partialIntervalMs ?? 0 });
  let reference: Record<string, number> | null = null;
  // With billing, the reference data is the inventory with the injected billing errors: written after the traffic.
  const billing = o.billing ? (await import('./billing/generate-billing.js')).startBilling(traffic, o, o.billing) : null;
  if (o.referenceOut && !billing) {
    reference = writeReference(o.referenceOut, traffic.reference());
    print(`reference data: ${Object.entries(reference).map(([f, n]) => `${f} ${n}`).join(', ')} -> ${o.referenceOut}`);
    const tariffs = writeHomeTariffs(o.referenceOut, traffic.plan);
    if (tariffs !== null) print(`tariff book for ${traffic.plan.countryName} (${traffic.plan.operator.currency}): ${tariffs} (rate with rating.tariffFile=${tariffs})`);
  }
  const counts = o.kafka ? await publish(traffic, o, billing?.addBatch) : consume(traffic, o.maxRecords, billing?.addBatch);
  if (billing && o.billing && o.referenceOut) {
    const b = billing.finish(o.referenceOut);
    reference = b.reference;
    print(`reference data (the inventory as the pipeline sees it, with the injected inventory errors): ${Object.entries(reference).map(([f, n]) => `${f} ${n}`).join(', ')} -> ${o.referenceOut}`);
    print(`invoices: ${b.lines} lines on ${b.invoices} invoices for ${b.periods.join(', ')} -> ${o.billing.invoicesOut}; ${b.labels} billing labels${o.billing.labelsOut ? ` -> ${o.billing.labelsOut}` : ''}; injected ${Object.entries(b.injected).map(([k, n]) => `${n} ${k}`).join(', ')}`);
  }
  const labels = traffic.labels();
  if (o.labelsOut) {
    mkdirSync(dirname(o.labelsOut), { recursive: true });
    const fd = openSync(o.labelsOut, 'w');
    try {
      for (const l of labels) writeSync(fd, JSON.stringify(l) + '\n');
    } finally {
      closeSync(fd);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  o.log.info({ records: counts.records, corrupt: counts.corrupt, labels: labels.length, seconds }, 'generated');
  return { records: counts.records, corrupt: counts.corrupt, labels: labels.length, seconds, reference };
}

/** Runs the traffic without publishing (labels, reference data, billing, speed). */
function consume(traffic: Traffic, max: number | null, onBatch?: (cdrs: Cdr[]) => void): { records: number; corrupt: number } {
  let n = 0;
  if (onBatch) {
    for (const b of traffic.batches(5000)) {
      onBatch(b);
      n += b.length;
    }
    return { records: n, corrupt: 0 };
  }
  const it = traffic.records();
  while (n !== max && !it.next().done) n++;
  return { records: n, corrupt: 0 };
}

async function publish(traffic: Traffic, o: GenerateOptions, onBatch?: (cdrs: Cdr[]) => void): Promise<{ records: number; corrupt: number }> {
  const kafka = o.kafka as NonNullable<GenerateOptions['kafka']>;
  // Loaded here, not at the top: the CLI imports this module for its help text, and kafkajs is heavy.
  const { KafkaSink } = await import('../sinks/kafka.js');
  const { corruptRecord } = await import('./produce.js');
  const codec = cdrCodec();
  const sink = new KafkaSink({ brokers: kafka.brokers, security: kafka.security, clientId: 'cdr-pipeline-generator', log: o.log });
  await sink.connect();
  // At a target rate, send in ticks of 50 ms so the stream is smooth rather than bursty.
  const chunk = o.ratePerSec ? Math.max(1, Math.min(o.chunk, Math.round(o.ratePerSec / 20))) : o.chunk;
  // Corrupt records at deterministic positions: spread evenly over --records, else one every 100 records.
  const spacing = o.corrupt > 0 ? Math.max(1, Math.floor(o.maxRecords !== null ? o.maxRecords / (o.corrupt + 1) : 100)) : Infinity;
  let n = 0;
  let bad = 0;
  const t0 = performance.now();
  try {
    outer: for (const batch of traffic.batches(chunk)) {
      const out: { key: string; value: Buffer }[] = [];
      for (const cdr of batch as Cdr[]) {
        const value = codec.encode(cdr);
        out.push({ key: cdr.servedMsisdn, value });
        n++;
        if (bad < o.corrupt && n % spacing === 0) out.push({ key: cdr.servedMsisdn, value: corruptRecord(bad++, value, cdr).value });
        if (n === o.maxRecords) {
          await sink.send(kafka.topic, out);
          break outer;
        }
      }
      await sink.send(kafka.topic, out);
      onBatch?.(batch as Cdr[]);
      if (o.ratePerSec) {
        const ahead = (n / o.ratePerSec) * 1000 - (performance.now() - t0);
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      }
    }
  } finally {
    await sink.disconnect();
  }
  return { records: n, corrupt: bad };
}

/** The `generate --help` text; scenarios and parameters are printed from their declarations. */
export function generateHelp(): string {
  return `Generates deterministic synthetic traffic (same seed and options, same records and labels): a subscriber
population with clean traffic (daily and weekly shape, holidays, trend, roaming, forwarding, hard negatives)
and optional labelled fraud scenarios. Publishes the CDRs to Kafka as Avro keyed by served MSISDN, in
seizure-time order; writes the labels (JSON lines) and the reference data the population implies (CSV,
docs/REFERENCE-DATA.md). Creates the topic with kafka.partitions partitions if missing.

      --seed N            seed (default 42)
      --subscribers N     home lines: mobile and PBX DDI lines (default 10000); visitors come on top
      --days N            length of the window in days (default 7)
      --home-country C    the operator's home country: GB (default; Ofcom numbering, Europe/London, England
                          and Wales bank holidays) or DE (German numbering with variable-length numbers,
                          015x/016x/017x mobiles, Europe/Berlin, German public holidays, 110/112/115/116117,
                          mailbox 0157 33...). With --reference-out, DE also writes tariffs.json (EUR): rate
                          with rating.tariffFile=DIR/tariffs.json
      --start DATE        window start: YYYY-MM-DD (midnight in the home time zone) or ISO instant (default ${DEFAULT_START})
      --end DATE          window end instead of --days
      --scenarios LIST    fraud scenarios: comma list, all or none (default none)
      --param K=V         a parameter, repeatable: SCENARIO.PARAM=VALUE or clean.PARAM=VALUE
      --holidays LIST     uk (England and Wales bank holidays), de (German public holidays), none, and/or
                          YYYY-MM-DD[=name] (default: the home country's)
      --topic T           topic (default kafka.topic, cdr.raw)
      --rate N            target CDRs per second (default: as fast as possible)
      --records N         stop after N CDRs (default: the whole window)
      --corrupt N         corrupt records mixed in for dead-letter tests (default 0)
      --partial-interval D  write answered calls and data sessions longer than D as TS 32.298 partial records
                          (CDR contract v3: recordSequenceNumber 1, 2, ..., one part per D from the seizure,
                          causeForTerm 1 on all but the last), e.g. 30m; default off (complete records)
      --no-kafka          do not publish (write labels/reference data only, or measure the generator)
      --labels-out FILE   fraud labels, one JSON object per line, written when the traffic is done
      --reference-out DIR customer inventory, numbering plan, cells, networks ... (CSV + operator.json)
      --invoices-out FILE bill the traffic like a billing system (per UTC month; needs --reference-out and the
                          whole window, not --records) and write the invoice lines (CSV, docs/RECONCILIATION.md)
                          with labelled billing errors of every kind the reconciliation reports. The reference
                          data is then the inventory as the pipeline sees it (injected inventory errors included).
                          Import with: reference import DIR, import invoices FILE, import benchmarks --from-tariffs
      --billing-labels-out FILE  ground truth of the billing errors, one JSON object per line (schemas/billing.ts)
      --billing-errors N  injected errors of each kind (default 2; each in an account of its own)
      --unused-days N     the unused-line window the natural labels assume (default 30, as report reconcile)

${scenarioHelp()}`;
}
