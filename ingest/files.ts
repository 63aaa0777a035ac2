/**
 * File source: Avro object container files dropped in a folder by switches or mediation.
 *
 * - Picks up `*.avro` files whose size and mtime have been stable for settleMs (a switch still writing is
 *   left alone; switches that write `name.avro.tmp` and rename are picked up at the rename).
 * - Hands one batch per container block (topic `file:<name>`, partition 0, offsets = record index in the
 *   file) and keeps the bytes of every record, so bad records reach the dead-letter path as written.
 * - Checkpoints in a state file (atomic rename) only what the runner committed, i.e. what the sink
 *   acknowledged, with the byte position of the next block: a restart resumes at that block and skips
 *   nothing; records of a block that was stored but not yet checkpointed are read again and collapse in
 *   ClickHouse (deduplication token and ReplacingMergeTree key), so nothing is counted twice either.
 * - A finished file is moved to `done/`; an unreadable file (or the unreadable rest of one) becomes a
 *   CONTAINER_CORRUPT dead letter with its bytes and the file is moved to `failed/`.
 * One pipeline instance per folder (the state file is not shared).
 */
import { constants, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { lstat, open, readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerError, ContainerReader } from '../schemas/container.js';
import { DeadLetterCode, type BatchHandler, type Log, type Source, type SourceEvents, type SourceRecord } from '../schemas/index.js';

export interface FileSourceOptions {
  dir: string;
  /** File names to pick up. */
  pattern: RegExp;
  settleMs: number;
  pollIntervalMs: number;
  /** Stop once the folder has no more eligible files and everything is committed (batch mode). */
  exitWhenIdle: boolean;
  log: Log;
}

interface FileState {
  /** Size and mtime identify the file version a checkpoint belongs to. */
  size: number;
  mtimeMs: number;
  /** Next block's byte position, block number and first record index: the resume point. */
  position: number;
  block: number;
  record: number;
  totalRecords?: number;
}

interface Progress {
  name: string;
  path: string;
  state: FileState;
  /** Resume points by next record index, for blocks handed out but not yet committed. */
  pending: Map<string, { position: number; block: number; record: number }>;
  readAll: boolean;
  failed: boolean;
}

const MAX_DEAD_BYTES = 16 * 1024 * 1024;
/**
 * Files are opened without following symlinks: a link dropped in the folder (to /etc/shadow, a key, another
 * tenant's files) is refused, never read into dead_letters, and so is a file swapped for a link between the
 * check and the open (open(2) O_NOFOLLOW fails with ELOOP on a final symlink).
 */
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

export class FileSource implements Source {
  private readonly stateFile: string;
  private state: Record<string, FileState>;
  private readonly files = new Map<string, Progress>();
  private running = false;
  private idleResolve: (() => void) | undefined;
  /** The folder's real path: every file read must resolve directly inside it. */
  private readonly realDir: string;
  /** Names refused (symlinks, special files, outside the folder), logged once each. */
  private readonly refused = new Set<string>();

  constructor(private readonly o: FileSourceOptions) {
    this.stateFile = join(o.dir, '.cdr-pipeline-checkpoints.json');
    this.state = existsSync(this.stateFile) ? (JSON.parse(readFileSync(this.stateFile, 'utf8')) as Record<string, FileState>) : {};
    mkdirSync(join(o.dir, 'done'), { recursive: true });
    mkdirSync(join(o.dir, 'failed'), { recursive: true });
    this.realDir = realpathSync(o.dir);
  }

  private refuse(name: string, why: string): void {
    if (this.refused.has(name)) return;
    this.refused.add(name);
    this.o.log.warn({ file: name, reason: why }, 'refusing file in the drop folder: not read (only regular files inside the folder are ingested)');
  }

  /** A regular file whose real path is directly inside the folder; anything else is refused (and logged once). */
  private async eligible(name: string, path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
    const st = await lstat(path).catch(() => undefined);
    if (!st || st.isDirectory()) return undefined;
    if (st.isSymbolicLink()) return void this.refuse(name, 'symbolic link');
    if (!st.isFile()) return void this.refuse(name, 'not a regular file');
    const real = await realpath(path).catch(() => undefined);
    if (real !== join(this.realDir, name)) return void this.refuse(name, 'resolves outside the folder');
    return st;
  }

  /** Resolves once the folder is drained and committed (exitWhenIdle), or when stop() is called. */
  readonly idle = new Promise<void>((r) => (this.idleResolve = r));

  async start(handler: BatchHandler, events: SourceEvents): Promise<void> {
    this.running = true;
    events.onAssigned?.({ [this.o.dir]: [0] });
    void this.loop(handler).catch((err: Error) => events.onCrash?.(err));
  }

  private async loop(handler: BatchHandler): Promise<void> {
    const seen = new Map<string, { size: number; mtimeMs: number; since: number }>();
    while (this.running) {
      let worked = false;
      // Files seen but not yet stable for settleMs: the folder is not drained while any waits (batch mode
      // would otherwise stop on its first listing, before any file had settled, having stored nothing).
      let settling = false;
      for (const name of (await readdir(this.o.dir)).filter((n) => this.o.pattern.test(n)).sort()) {
        if (!this.running) return;
        if (this.files.has(`file:${name}`)) continue;
        const path = join(this.o.dir, name);
        const st = await this.eligible(name, path);
        if (!st) continue;
        const prev = seen.get(name);
        if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
          seen.set(name, { size: st.size, mtimeMs: st.mtimeMs, since: Date.now() });
          if (this.o.settleMs > 0) {
            settling = true;
            continue;
          }
        } else if (Date.now() - prev.since < this.o.settleMs) {
          settling = true;
          continue;
        }
        seen.delete(name);
        worked = true;
        await this.readFile(name, path, st.size, st.mtimeMs, handler);
      }
      if (!worked && !settling && this.o.exitWhenIdle && [...this.files.values()].every((f) => f.readAll && f.pending.size === 0)) {
        this.idleResolve?.();
        return;
      }
      await new Promise((r) => setTimeout(r, this.o.pollIntervalMs));
    }
  }

  private async readFile(name: string, path: string, size: number, mtimeMs: number, handler: BatchHandler): Promise<void> {
    let st = this.state[name];
    if (st && (st.size !== size || st.mtimeMs !== Math.floor(mtimeMs))) {
      this.o.log.warn({ file: name }, 'file changed since its checkpoint; reading it from the start');
      st = undefined;
    }
    const topic = `file:${name}`;
    mtimeMs = Math.floor(mtimeMs);
    const progress: Progress = { name, path, state: st ?? { size, mtimeMs, position: -1, block: 0, record: 0 }, pending: new Map(), readAll: false, failed: false };
    this.files.set(topic, progress);
    const ctx = { heartbeat: async () => undefined, isRunning: () => this.running };
    let reader: ContainerReader | undefined;
    try {
      reader = await ContainerReader.open(path, READ_NOFOLLOW);
      const start = progress.state.position >= 0 ? progress.state.position : reader.header.dataStart;
      if (progress.state.position < 0) progress.state.position = reader.header.dataStart;
      const writerSchema = JSON.stringify(reader.header.schema);
      this.o.log.info({ file: name, resumeAtBlock: progress.state.block, resumeAtRecord: progress.state.record }, 'reading container file');
      for await (const b of reader.blocks(start, progress.state.block, progress.state.record)) {
        if (!this.running) return;
        const records: SourceRecord[] = b.records.map((value, i) => ({ key: null, value, offset: String(b.firstRecord + i), timestamp: mtimeMs }));
        let count = b.records.length;
        if (b.unsplittable) {
          records.push({ key: null, value: b.unsplittable.bytes, offset: String(b.firstRecord + count), timestamp: mtimeMs, poison: { code: DeadLetterCode.CONTAINER_CORRUPT, message: `block ${b.index}: ${b.unsplittable.count} records not readable: ${b.unsplittable.message}` } });
          count += b.unsplittable.count;
        }
        if (records.length === 0) continue;
        const next = b.firstRecord + count;
        progress.pending.set(String(next), { position: b.nextPosition, block: b.index + 1, record: next });
        await handler({ topic, partition: 0, firstOffset: String(b.firstRecord), lastOffset: records[records.length - 1]!.offset, highWatermark: String(next), records, writerSchema }, ctx);
        if (b.unsplittable) progress.failed = true;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
        // Swapped for a symlink after the check: refused like any link, nothing of it read.
        this.files.delete(topic);
        this.refuse(name, 'symbolic link');
        return;
      }
      if (!(err instanceof ContainerError)) throw err;
      // The rest of the file from the resume point is unreadable: one dead letter with those bytes.
      progress.failed = true;
      const from = progress.state.position >= 0 ? progress.state.position : 0;
      const bytes = await readRange(path, from, MAX_DEAD_BYTES);
      const offset = String(progress.state.record + countPending(progress));
      progress.pending.set(String(Number(offset) + 1), { position: size, block: progress.state.block, record: Number(offset) + 1 });
      this.o.log.warn({ file: name, err: err.message }, 'container file is unreadable from here on; sending it to the dead-letter path');
      await handler({ topic, partition: 0, firstOffset: offset, lastOffset: offset, highWatermark: String(Number(offset) + 1), records: [{ key: Buffer.from(name), value: bytes, offset, timestamp: mtimeMs, poison: { code: DeadLetterCode.CONTAINER_CORRUPT, message: err.message } }] }, ctx);
    } finally {
      await reader?.close();
    }
    progress.readAll = true;
    this.finishIfDone(topic);
  }

  async commit(topic: string, _partition: number, nextOffset: string): Promise<void> {
    const p = this.files.get(topic);
    if (!p) return;
    const resume = p.pending.get(nextOffset);
    if (!resume) throw new Error(`${topic}: commit at ${nextOffset} is not a block boundary`);
    for (const k of [...p.pending.keys()]) if (BigInt(k) <= BigInt(nextOffset)) p.pending.delete(k);
    p.state = { ...p.state, ...resume };
    this.state[p.name] = p.state;
    this.save();
    this.finishIfDone(topic);
  }

  private finishIfDone(topic: string): void {
    const p = this.files.get(topic);
    if (!p || !p.readAll || p.pending.size > 0) return;
    const target = join(this.o.dir, p.failed ? 'failed' : 'done', p.name);
    renameSync(p.path, target);
    delete this.state[p.name];
    this.save();
    this.files.delete(topic);
    this.o.log.info({ file: p.name, records: p.state.record, movedTo: target }, p.failed ? 'file finished with unreadable parts' : 'file done');
  }

  private save(): void {
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.stateFile);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.idleResolve?.();
  }
}

function countPending(p: Progress): number {
  let max = p.state.record;
  for (const r of p.pending.values()) if (r.record > max) max = r.record;
  return max - p.state.record;
}

async function readRange(path: string, from: number, max: number): Promise<Buffer> {
  const fh = await open(path, READ_NOFOLLOW);
  try {
    const size = (await fh.stat()).size;
    const len = Math.max(0, Math.min(max, size - from));
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, from);
    return buf;
  } finally {
    await fh.close();
  }
}

