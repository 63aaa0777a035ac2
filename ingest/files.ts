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
 *
 * Hostile folders (the folder is written by others; docs/components/file-source.md):
 * - only regular files with one link, directly inside the folder, are read: symlinks, hard links (nlink > 1),
 *   FIFOs, devices and anything resolving elsewhere are refused and logged once; the open itself uses
 *   O_NOFOLLOW | O_NONBLOCK (a file swapped for a link or a FIFO after the check is not followed, and a FIFO
 *   cannot block the open) and the opened handle must be a regular file;
 * - `done/` and `failed/` must be real directories (lstat): a symlink there would move files out of the folder;
 * - the checkpoint file is written through a temporary file with a random name created with
 *   O_CREAT | O_EXCL | O_NOFOLLOW (a planted `*.tmp` link cannot redirect the write) and renamed over it; it is
 *   read with O_NOFOLLOW, and a corrupt one is a CheckpointError (exit 2), never a crash that quotes its bytes;
 * - a file is moved to done/ or failed/ only if the path still names the file that was read (lstat dev/ino
 *   equal to the open handle's fstat): a file replaced meanwhile is left in place and read as a new file.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import { lstat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
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
  /** Largest container block accepted, compressed or inflated (default 64 MiB, schemas/container.ts). */
  maxBlockBytes?: number;
}

/** The checkpoint file cannot be used (not a regular file, unreadable, not the JSON this source writes). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
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
  /** Device and inode of the file that was opened and read: the move checks the path still names it. */
  dev?: number;
  ino?: number;
}

const MAX_DEAD_BYTES = 16 * 1024 * 1024;
/**
 * Files are opened without following symlinks: a link dropped in the folder (to /etc/shadow, a key, another
 * tenant's files) is refused, never read into dead_letters, and so is a file swapped for a link between the
 * check and the open (open(2) O_NOFOLLOW fails with ELOOP on a final symlink).
 */
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

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
    this.state = readState(this.stateFile);
    for (const sub of ['done', 'failed']) {
      mkdirSync(join(o.dir, sub), { recursive: true });
      requireRealDir(join(o.dir, sub));
    }
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
    // A hard link makes any file the pipeline user can read (a key, another tenant's drop) look like a
    // regular file of the folder; switches write a file once and rename it, so theirs have one link.
    if (st.nlink > 1) return void this.refuse(name, 'has other hard links (nlink > 1)');
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
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, READ_NOFOLLOW);
      // What was opened, not what was checked: a FIFO, device or hard link swapped in after the check is refused.
      const fst = await fh.stat();
      if (!fst.isFile() || fst.nlink > 1) {
        this.files.delete(topic);
        this.refuse(name, fst.isFile() ? 'has other hard links (nlink > 1)' : 'not a regular file');
        return;
      }
      progress.dev = fst.dev;
      progress.ino = fst.ino;
      reader = await ContainerReader.open(path, READ_NOFOLLOW, { fh, ...(this.o.maxBlockBytes !== undefined ? { maxBlockBytes: this.o.maxBlockBytes } : {}) });
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
      const bytes = fh ? await readRange(fh, from, MAX_DEAD_BYTES) : Buffer.alloc(0);
      const offset = String(progress.state.record + countPending(progress));
      progress.pending.set(String(Number(offset) + 1), { position: size, block: progress.state.block, record: Number(offset) + 1 });
      this.o.log.warn({ file: name, err: err.message }, 'container file is unreadable from here on; sending it to the dead-letter path');
      await handler({ topic, partition: 0, firstOffset: offset, lastOffset: offset, highWatermark: String(Number(offset) + 1), records: [{ key: Buffer.from(name), value: bytes, offset, timestamp: mtimeMs, poison: { code: DeadLetterCode.CONTAINER_CORRUPT, message: err.message } }] }, ctx);
    } finally {
      await fh?.close();
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
    const sub = p.failed ? 'failed' : 'done';
    const target = join(this.o.dir, sub, p.name);
    // The target folder must still be a real directory (a symlink put there since start-up would move the
    // file out of the folder): the file then stays where it is, with its checkpoint at its end (a restart
    // reads nothing of it again), and the refusal is logged as an error.
    try {
      requireRealDir(join(this.o.dir, sub));
    } catch (err) {
      // Kept in `files` (finished): the listing skips it from now on.
      this.refuse(p.name, `not moved: ${(err as Error).message}`);
      this.o.log.error({ file: p.name, err: (err as Error).message }, 'finished file not moved: the target folder is not a real directory');
      return;
    }
    // Only the file that was read is moved: one replaced meanwhile (same name, another inode) is a new file,
    // left in place to be read from the start.
    const now = lstatOrUndefined(p.path);
    const same = now !== undefined && p.ino !== undefined && now.isFile() && now.dev === p.dev && now.ino === p.ino;
    if (same) renameSync(p.path, target);
    delete this.state[p.name];
    this.save();
    this.files.delete(topic);
    if (!same) {
      this.o.log.warn({ file: p.name, records: p.state.record }, 'file was replaced or removed while it was read: the new file is left in place and read from the start');
      return;
    }
    this.o.log.info({ file: p.name, records: p.state.record, movedTo: target }, p.failed ? 'file finished with unreadable parts' : 'file done');
  }

  /**
   * Atomic checkpoint: a temporary file with a random name, created exclusively without following links
   * (O_EXCL | O_NOFOLLOW: a link planted at a predictable `.tmp` name used to redirect this write to any file
   * the pipeline user can write), then renamed over the state file.
   */
  private save(): void {
    const tmp = `${this.stateFile}.${randomBytes(8).toString('hex')}.tmp`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, JSON.stringify(this.state));
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
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

/** Bytes of the already open (and checked) file: never a second open of a path that may have changed. */
async function readRange(fh: FileHandle, from: number, max: number): Promise<Buffer> {
  const size = (await fh.stat()).size;
  const len = Math.max(0, Math.min(max, size - from));
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, from);
  return buf;
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** `done/` and `failed/` must be directories themselves, not links to one. */
function requireRealDir(path: string): void {
  const st = lstatOrUndefined(path);
  if (!st?.isDirectory()) throw new CheckpointError(`${path} must be a directory inside the drop folder${st?.isSymbolicLink() ? ' (it is a symbolic link: files would be moved out of the folder)' : ''}`);
}

/**
 * The checkpoints: absent = none. Read without following a link, and checked field by field: a corrupt file
 * stops start-up with a CheckpointError (exit 2) naming the file, never quoting it. A forged checkpoint (a
 * writer of the folder can write it) can only make this source skip or re-read blocks of a file with the
 * recorded size and mtime: re-reads collapse in ClickHouse; skipped records are that writer's own drops.
 */
function readState(path: string): Record<string, FileState> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    throw new CheckpointError(`checkpoint file ${path} cannot be opened (${code === 'ELOOP' ? 'it is a symbolic link' : (code ?? 'error')})`);
  }
  let text: string;
  try {
    if (!fstatSync(fd).isFile()) throw new CheckpointError(`checkpoint file ${path} is not a regular file`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CheckpointError(`checkpoint file ${path} is not valid JSON (corrupt or truncated): move it away to read every file in the folder from the start`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CheckpointError(`checkpoint file ${path} is not a JSON object`);
  const nat = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  for (const [name, st] of Object.entries(parsed)) {
    const f = st as Partial<FileState> | null;
    if (typeof f !== 'object' || f === null || !nat(f.size) || !Number.isSafeInteger(f.mtimeMs) || !(nat(f.position) || f.position === -1) || !nat(f.block) || !nat(f.record)) {
      throw new CheckpointError(`checkpoint file ${path}: the entry of ${JSON.stringify(name.slice(0, 100))} is not a checkpoint (size, mtimeMs, position, block, record)`);
    }
  }
  return parsed as Record<string, FileState>;
}

