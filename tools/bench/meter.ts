/**
 * Process meters for the benchmark (Linux /proc; elsewhere the /proc figures are null):
 * - CPU of this whole process (all threads) from process.cpuUsage(), and per thread from /proc/self/task, grouped
 *   by what runs there: the main JS thread, V8's worker threads (parallel/concurrent GC, compilation), libuv's
 *   pool (chDB runs inserts and queries there), and the engine's own threads (ClickHouse merges, Kafka engine);
 * - GC pauses of the main thread (perf_hooks 'gc' entries);
 * - peak RSS (VmHWM: the kernel's high-water mark of this process, so nothing between samples is missed);
 * - CPU of other processes (the broker, a ClickHouse endpoint) from /proc/<pid>/stat.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** USER_HZ: clock ticks per second in /proc stat files (100 on every Linux this runs on). */
const HZ = 100;

/** utime+stime of a process or thread, in seconds; null when unreadable. */
export function statCpuSeconds(path: string): number | null {
  try {
    const f = readFileSync(path, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return null;
  }
}

export function procCpuSeconds(pid: number | undefined): number | null {
  return pid ? statCpuSeconds(`/proc/${pid}/stat`) : null;
}

export type ThreadGroup = 'main' | 'v8' | 'libuv' | 'engine';

/**
 * V8 platform threads of a Node 20 process started with --v8-pool-size=4 (bench.ts starts scenario processes so).
 * Every Node thread is named "node", so they are told apart by creation order, which is fixed at start-up
 * (node.cc InitializeOncePerProcess, then the environment): the main thread, the platform's delayed-task
 * scheduler and its 4 workers (GC: parallel scavenge/mark, concurrent marking and sweeping; compilation), the
 * inspector's signal thread, then libuv's pool (4 threads by default; chDB runs inserts and queries there).
 * Checked on Node 20.20: a GC-heavy loop moves only threads 2-5, pbkdf2 calls only threads 7-10.
 */
export const V8_POOL_SIZE = 4;

/** CPU seconds per thread group of this process (/proc/self/task/<tid>/{comm,stat}). */
export function threadCpu(): Record<ThreadGroup, number> | null {
  const out: Record<ThreadGroup, number> = { main: 0, v8: 0, libuv: 0, engine: 0 };
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b);
  } catch {
    return null;
  }
  let nodeRank = 0;
  for (const tid of tids) {
    const cpu = statCpuSeconds(`/proc/self/task/${tid}/stat`);
    if (cpu === null) continue;
    let comm = '';
    try {
      comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    let g: ThreadGroup = 'engine';
    if (tid === process.pid) g = 'main';
    else if (comm === 'node' || comm.startsWith('V8 ') || comm.startsWith('libuv')) {
      nodeRank++;
      g = comm.startsWith('V8 ') || (comm === 'node' && nodeRank <= 1 + V8_POOL_SIZE) ? 'v8' : 'libuv';
    }
    out[g] += cpu;
  }
  return out;
}

/** Peak resident set of this process (VmHWM), MB. */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) return Math.round(Number(m[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

/** The process listening on a local TCP port (the broker the bench did not start), via /proc/net/tcp* and fds. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // LISTEN
      const local = cols[1] ?? '';
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** The main thread's [seconds on a CPU, seconds runnable but waiting for one] (/proc/self/task/<pid>/schedstat). */
export function mainSchedstat(): [number, number] | null {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return [run! / 1e9, wait! / 1e9];
  } catch {
    return null;
  }
}

export interface MeterReading {
  seconds: number;
  cpuSeconds: number;
  /** Main-thread GC pauses (perf_hooks), wall seconds. */
  gcPauseSeconds: number;
  /**
   * GC CPU estimate: V8's platform threads (parallel and concurrent GC work) plus the main thread's pauses
   * scaled by the share of its runnable time it was on a CPU (schedstat): on a loaded machine a pause's
   * wall time includes waiting for a core.
   */
  gcCpuSeconds: number;
  /** The main thread's on-CPU share of its runnable time over the window. */
  mainOnCpuShare: number;
  /** By kind: minor (scavenge), major (mark-compact), incremental, weak callbacks. */
  gcPauseByKind: Record<string, number>;
  threads: Record<ThreadGroup | 'exited', number> | null;
  /** CPU seconds of each watched process over the same window. */
  external: Record<string, number | null>;
}

const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

/** Measures one window: start() at the first consumed record, read() when everything is through. */
export class WindowMeter {
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage | undefined;
  private threads0: Record<ThreadGroup, number> | null = null;
  private sched0: [number, number] | null = null;
  private ext0: Record<string, number | null> = {};
  private gc = 0;
  private gcByKind: Record<string, number> = {};
  private readonly obs: PerformanceObserver;
  private started = false;

  constructor(private readonly watch: Record<string, number | undefined>) {
    this.obs = new PerformanceObserver((list) => {
      if (!this.started) return;
      for (const e of list.getEntries()) {
        this.gc += e.duration / 1000;
        const kind = GC_KINDS[((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other';
        this.gcByKind[kind] = (this.gcByKind[kind] ?? 0) + e.duration / 1000;
      }
    });
    this.obs.observe({ entryTypes: ['gc'] });
  }

  get running(): boolean {
    return this.started;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.threads0 = threadCpu();
    this.sched0 = mainSchedstat();
    for (const [k, pid] of Object.entries(this.watch)) this.ext0[k] = procCpuSeconds(pid);
  }

  /** Seconds since start(). */
  elapsed(): number {
    return this.started ? (performance.now() - this.t0) / 1000 : 0;
  }

  read(): MeterReading {
    const seconds = (performance.now() - this.t0) / 1000;
    const cpu = process.cpuUsage(this.cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const th = threadCpu();
    let threads: MeterReading['threads'] = null;
    if (th && this.threads0) {
      const d = { main: th.main - this.threads0.main, v8: th.v8 - this.threads0.v8, libuv: th.libuv - this.threads0.libuv, engine: th.engine - this.threads0.engine };
      // Threads that ended within the window took their CPU with them (it is still in the process total).
      threads = { ...d, exited: Math.max(0, cpuSeconds - d.main - d.v8 - d.libuv - d.engine) };
    }
    const external: Record<string, number | null> = {};
    for (const [k, pid] of Object.entries(this.watch)) {
      const a = this.ext0[k];
      const b = procCpuSeconds(pid);
      external[k] = a === null || a === undefined || b === null ? null : b - a;
    }
    this.obs.disconnect();
    const s1 = mainSchedstat();
    let mainOnCpuShare = 1;
    if (s1 && this.sched0) {
      const run = s1[0] - this.sched0[0];
      const wait = s1[1] - this.sched0[1];
      if (run + wait > 0) mainOnCpuShare = run / (run + wait);
    }
    const gcCpuSeconds = (threads?.v8 ?? 0) + this.gc * mainOnCpuShare;
    return { seconds, cpuSeconds, gcPauseSeconds: this.gc, gcCpuSeconds, mainOnCpuShare, gcPauseByKind: { ...this.gcByKind }, threads, external };
  }
}
