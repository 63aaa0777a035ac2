/**
 * The benchmark's process meters (tools/bench/meter.ts, issue #15): the broker's CPU is found through the port
 * it listens on, CPU is split by thread group, and GC of the measured window is counted. Linux /proc only.
 */
import { createServer } from 'node:net';
import { pbkdf2 } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pidListeningOn, procCpuSeconds, threadCpu, WindowMeter } from '../tools/bench/meter.js';

const linux = process.platform === 'linux';

describe.runIf(linux)('bench meters', () => {
  it('finds the process listening on a port (the broker the bench did not start), and nothing on a closed port', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(pidListeningOn(port)).toBe(process.pid);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(pidListeningOn(port)).toBeUndefined();
    expect(procCpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(procCpuSeconds(2 ** 30)).toBeNull();
  });

  it('measures a window: process CPU covers the thread groups, libuv work is not counted as the main thread, GC is seen', async () => {
    const meter = new WindowMeter({ self: process.pid });
    meter.start();
    const before = threadCpu()!;
    // Main thread: garbage (young-generation collections are reported to the observer).
    let keep: { a: number; b: string }[] = [];
    // By CPU time, not wall time: the machine may be loaded.
    const cpu0 = process.cpuUsage();
    const spent = () => {
      const c = process.cpuUsage(cpu0);
      return (c.user + c.system) / 1e6;
    };
    while (spent() < 0.4) {
      for (let i = 0; i < 10_000; i++) keep.push({ a: i, b: 's' + i });
      if (keep.length > 200_000) keep = [];
    }
    // libuv's pool: pbkdf2 runs there.
    await Promise.all(Array.from({ length: 4 }, () => new Promise((r) => pbkdf2('x', 'y', 500_000, 32, 'sha256', r))));
    await new Promise((r) => setTimeout(r, 50)); // the GC observer reports asynchronously
    const r = meter.read();
    const after = threadCpu()!;
    expect(r.seconds).toBeGreaterThan(0.3);
    expect(r.cpuSeconds).toBeGreaterThan(0.4);
    expect(r.gcPauseSeconds).toBeGreaterThan(0);
    expect(r.gcCpuSeconds).toBeGreaterThan(0);
    expect(r.mainOnCpuShare).toBeGreaterThan(0);
    expect(r.mainOnCpuShare).toBeLessThanOrEqual(1);
    const t = r.threads!;
    // /proc counts in 10 ms ticks: the groups add up to the process's CPU within a few ticks per thread.
    expect(t.main + t.v8 + t.libuv + t.engine + t.exited).toBeCloseTo(r.cpuSeconds, 0);
    // The allocation loop ran on the main thread; V8's threads did part of its garbage collection.
    expect(t.main).toBeGreaterThan(0.1);
    expect(t.main + t.v8).toBeGreaterThan(0.3);
    // The pbkdf2 calls ran on libuv's pool, not on the main thread or V8's.
    expect(after.libuv - before.libuv).toBeGreaterThan(0.1);
    // The watched process is this one: its CPU over the window is the process CPU (to the tick).
    expect(r.external.self).not.toBeNull();
    expect(Math.abs(r.external.self! - r.cpuSeconds)).toBeLessThan(0.1);
  });
});
