import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createLogger, createMetrics, serveTelemetry } from '../pipeline/telemetry.js';

describe('telemetry', () => {
  it('never logs subscriber identities in clear', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
    const log = createLogger('debug', {}, sink);
    log.info({ msisdn: '447900123456', imsi: '234150000000001', cdr: { servedMsisdn: '447900123456', calledNumber: '441632960000', servedImsi: '234150000000001' } }, 'hello');
    log.child({ component: 'x' }).debug({ imei: '350000000000001', callingNumber: '447900123456' }, 'child');
    const text = lines.join('');
    expect(lines).toHaveLength(2);
    for (const secret of ['447900123456', '234150000000001', '441632960000', '350000000000001']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'hello', service: 'cdr-pipeline' });
  });

  it('serves metrics, liveness and readiness', async () => {
    const m = createMetrics();
    let ready = false;
    const t = await serveTelemetry(m, { live: () => true, ready: () => ready }, '127.0.0.1', 0);
    try {
      m.deadLetters.inc({ code: 'AVRO_TRUNCATED' }, 3);
      const body = await (await fetch(`http://127.0.0.1:${t.port}/metrics`)).text();
      expect(body).toContain('cdr_dead_letters_total{code="AVRO_TRUNCATED"} 3');
      expect(body).toContain('process_cpu_seconds_total');
      expect((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${t.port}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`http://127.0.0.1:${t.port}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${t.port}/nope`)).status).toBe(404);
    } finally {
      await t.close();
    }
  });

  it('fails /healthz while the main thread is blocked in a synchronous loop, and recovers after', async () => {
    const m = createMetrics();
    const t = await serveTelemetry(m, { live: () => true, ready: () => true }, '127.0.0.1', 0, { livenessTimeoutMs: 1000, mainTimeoutMs: 500 });
    // The probe runs in its own thread: this one is about to stop answering anything.
    const shared = new Int32Array(new SharedArrayBuffer(4 * 64));
    const probe = new Worker(
      `const { workerData } = require('node:worker_threads');
       const out = new Int32Array(workerData.buf);
       let i = 1;
       (async () => {
         while (i < out.length) {
           const h = await fetch('http://127.0.0.1:' + workerData.port + '/healthz').then((r) => r.status, () => 0);
           const r = await fetch('http://127.0.0.1:' + workerData.port + '/readyz').then((r) => r.status, () => 0);
           out[i++] = h * 1000 + r;
           Atomics.store(out, 0, i);
           await new Promise((res) => setTimeout(res, 100));
         }
       })();`,
      { eval: true, workerData: { buf: shared.buffer, port: t.port } },
    );
    try {
      const samples = () => Array.from(shared.slice(1, Atomics.load(shared, 0)));
      while (samples().length < 2) await new Promise((r) => setTimeout(r, 20));
      expect(samples().every((s) => s === 200_200)).toBe(true);
      // Block the event loop for 3 s, as a decoder stuck in a huge Avro block count would.
      const before = samples().length;
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        /* busy */
      }
      const during = samples().slice(before);
      // Liveness failed while blocked (after the 1 s timeout), and readiness could not be answered either.
      expect(during.some((s) => Math.floor(s / 1000) === 503)).toBe(true);
      expect(during.some((s) => s % 1000 === 503)).toBe(true);
      // Once the loop runs again, both recover.
      const after = samples().length;
      while (samples().length < after + 3) await new Promise((r) => setTimeout(r, 20));
      expect(samples().slice(-1)[0]).toBe(200_200);
    } finally {
      await probe.terminate();
      await t.close();
    }
  });

  it('exports lag against committed offsets and the commit-stall gauge', async () => {
    const m = createMetrics();
    m.consumerLag.set({ topic: 't', partition: '0' }, 5);
    m.commitStalled.set({ topic: 't', partition: '0' }, 42);
    const body = await m.registry.metrics();
    expect(body).toContain('cdr_source_commit_stalled_seconds{topic="t",partition="0"} 42');
    expect(body).toMatch(/# HELP cdr_source_lag_records High watermark minus the committed offset/);
  });
});
