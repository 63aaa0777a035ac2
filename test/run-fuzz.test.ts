/**
 * Mutation fuzzing of the whole `run` (issue #11, "What to build" 7): valid CDRs of the traffic generator
 * (every fraud scenario) with mutated copies mixed in (bit flips, truncations, huge varints, lengths and
 * counts, out-of-range ints, absurd times, empty values, garbage), through the real broker, the real
 * pipeline in a child process (tools/fuzz/run.ts) with embedded ClickHouse and fraud detection on.
 * A record that blocks the pipeline fails this test within the stall bound, naming the record's bytes; it
 * never hangs the test runner. The 200k run of the issue is the same harness (docs/RELIABILITY.md).
 */
import { Partitioners } from 'kafkajs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { cdrCodec, type Cdr } from '../schemas/index.js';
import { createTraffic } from '../simulators/traffic/index.js';
import { prng } from '../simulators/synthetic.js';
import { decodeStrict, domainViolations, encodeRaw, fuzzMessages, HUGE_VARINT, MUTATOR_KINDS, mutate, varint } from '../tools/fuzz/mutate.js';
import { formatReport, kafkaPartition, runFuzz } from '../tools/fuzz/run.js';
import { quietLog } from './helpers.js';

const brokers = inject('kafkaBrokers');
const START = Date.UTC(2026, 9, 5, 23);

function sample(n: number): Cdr[] {
  const out: Cdr[] = [];
  for (const c of createTraffic({ seed: 5, subscribers: 500, startMs: START, endMs: START + 86_400_000, scenarios: 'all' }).records()) {
    out.push(c);
    if (out.length >= n) break;
  }
  return out;
}

describe('mutation library', () => {
  const codec = cdrCodec();
  const cdrs = sample(400);
  const domain = { minTimeMs: Date.UTC(2000, 0, 1), maxTimeMs: Date.UTC(2030, 0, 1), maxDurationMs: 86_400_000, durationToleranceMs: 1000 };

  it('the raw encoder writes what avsc writes, and the strict decoder reads it back in its domain', () => {
    for (const c of cdrs) {
      const raw = encodeRaw(c);
      expect(raw.equals(codec.encode(c))).toBe(true);
      const d = decodeStrict(raw);
      expect(d.ok, d.ok ? '' : d.reason).toBe(true);
      if (d.ok) {
        expect(d.record.recordId).toBe(c.recordId);
        expect(d.record.seizureTime).toBe(BigInt(c.seizureTime));
        expect(domainViolations(d.record, domain)).toEqual([]);
      }
    }
  });

  it('the oracle refuses what a lenient decoder would store wrapped or hang on', () => {
    const c = cdrs[0]!;
    expect(decodeStrict(encodeRaw(c, { redirectionCounter: varint(2n ** 40n) }))).toMatchObject({ ok: false, reason: expect.stringContaining('beyond 32 bits') });
    expect(decodeStrict(encodeRaw(c, { extensions: Buffer.concat([HUGE_VARINT, varint(0)]) }))).toMatchObject({ ok: false });
    expect(decodeStrict(Buffer.concat([codec.encode(c), Buffer.from([2])]))).toMatchObject({ ok: false, reason: '1 trailing bytes' });
    const wrapped = decodeStrict(encodeRaw(c, { redirectionCounter: varint(300) }));
    expect(wrapped.ok && domainViolations(wrapped.record, domain)).toEqual(['redirectionCounter 300 outside 0..255']);
    const y3000 = Date.UTC(3000, 0, 1);
    const late = decodeStrict(encodeRaw({ ...c, seizureTime: y3000, answerTime: null, releaseTime: y3000 + 5000, durationMs: 5000, billableMs: 0 }));
    expect(late.ok && domainViolations(late.record, domain).join()).toContain('seizureTime');
    const skew = decodeStrict(encodeRaw({ ...c, durationMs: c.durationMs + 3_600_000 }));
    expect(skew.ok && domainViolations(skew.record, domain).join()).toContain('!= release - seizure');
  });

  it('mutations are deterministic by seed, and every mutator runs', () => {
    const run = (seed: number) => [...fuzzMessages(cdrs, 200, 300, seed, (x) => codec.encode(x))];
    const a = run(3);
    const b = run(3);
    expect(a.map((m) => m.value.toString('hex'))).toEqual(b.map((m) => m.value.toString('hex')));
    expect(run(4).map((m) => m.value.toString('hex'))).not.toEqual(a.map((m) => m.value.toString('hex')));
    expect(a.filter((m) => m.kind !== 'valid')).toHaveLength(300);
    const rnd = prng(9);
    for (const kind of MUTATOR_KINDS) for (let i = 0; i < 20; i++) expect(mutate(rnd, cdrs[i]!, codec.encode(cdrs[i]!), kind).kind).toBe(kind);
    expect(new Set(a.map((m) => m.kind))).toEqual(new Set(['valid', ...MUTATOR_KINDS]));
  });

  it('predicts the partition of the project producer (kafkajs DefaultPartitioner, murmur2 as Java)', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1], offlineReplicas: [] }));
    for (const c of cdrs) {
      const want = partitioner({ topic: 't', partitionMetadata, message: { key: c.servedMsisdn, value: null } });
      expect(kafkaPartition(c.servedMsisdn, 6)).toBe(want);
    }
  });
});

describe('whole run under fuzzed input (real Kafka, embedded ClickHouse in a child process, fraud on)', () => {
  it('20k messages, 60% mutated: each offset stored or dead-lettered exactly once with its bytes, nothing out of its domain, nothing stalls', async () => {
    const report = await runFuzz({
      brokers,
      messages: Number(process.env.FUZZ_MESSAGES ?? 20_000),
      mutatedShare: 0.6,
      seed: Number(process.env.FUZZ_SEED ?? 23),
      partitions: 3,
      dataDir: mkdtempSync(join(tmpdir(), 'cdr-fuzz-')),
      fraud: true,
      stallMs: 20_000,
      timeoutMs: 150_000,
      recordTimeoutMs: 3000,
      log: quietLog,
      progress: (l) => console.log(l),
    });
    const text = formatReport(report);
    console.log(text);
    expect(report.failures, text).toEqual([]);
    expect(report.mutated * 2).toBeGreaterThan(report.produced);
    expect(report.stored + report.deadLetters).toBe(report.produced);
    expect(report.outcomes.valid).toEqual({ stored: report.byKind.valid });
    // Fraud scenarios survive the noise: the detector raised alerts, and read the events topic to its end.
    expect(Object.values(report.fraud.alerts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 300_000);
});
