import { Writable } from 'node:stream';
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
});
