/**
 * Avro Object Container Files (Avro 1.11 specification, "Object Container Files"), as switches drop them:
 *   header: 'O' 'b' 'j' 0x01, a metadata map<bytes> (avro.schema required, avro.codec optional), 16-byte sync;
 *   blocks: record count (long), byte size (long), the (compressed) records, the sync marker.
 * Reading is done block by block so a file source can checkpoint after each block and resume mid-file; the
 * records of a block are returned as their original bytes (split with the writer schema), so a record that
 * fails later still reaches the dead-letter path with the bytes the switch wrote.
 * Codecs: null and deflate (the two the specification requires, and the two avsc supports without plug-ins).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import avro from 'avsc';
import { DEFAULT_AVRO_LIMITS, guardFor } from './avro-guard.js';
import { schemaTooDeep } from './index.js';

/**
 * Largest block accepted, compressed or inflated (default 64 MiB). A deflate block is inflated with this as
 * zlib's maxOutputLength: a 1.5 MB "zip bomb" block that inflates to 1.5 GB is refused as CORRUPT_BLOCK at
 * once instead of taking seconds and a gigabyte and a half of memory.
 */
export const DEFAULT_MAX_BLOCK_BYTES = 64 * 1024 * 1024;

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const metaType = avro.Type.forSchema({ type: 'map', values: 'bytes' });
const longType = avro.Type.forSchema('long');

export type ContainerCodec = 'null' | 'deflate';
export const CONTAINER_CODECS: readonly ContainerCodec[] = ['null', 'deflate'];

export class ContainerError extends Error {
  constructor(
    readonly kind: 'NOT_A_CONTAINER' | 'UNSUPPORTED_CODEC' | 'BAD_SYNC' | 'TRUNCATED_BLOCK' | 'BAD_SCHEMA' | 'CORRUPT_BLOCK',
    message: string,
  ) {
    super(message);
    this.name = 'ContainerError';
  }
}

export interface ContainerHeader {
  schema: object;
  codec: ContainerCodec;
  sync: Buffer;
  /** Byte position of the first block. */
  dataStart: number;
}

export interface ContainerBlock {
  /** 0-based block number in the file. */
  index: number;
  /** Byte position of the block in the file. */
  position: number;
  /** Byte position of the next block (the resume point once this block is stored). */
  nextPosition: number;
  /** Index of the block's first record within the file. */
  firstRecord: number;
  /** The records' original (uncompressed) bytes; a record that cannot be split ends the list with the rest. */
  records: Buffer[];
  /** Set when splitting failed: the bytes from the first unsplittable record to the block's end. */
  unsplittable?: { bytes: Buffer; message: string; count: number };
}

/** Reads a container file block by block, holding one block in memory at a time. */
export class ContainerReader {
  private constructor(
    private readonly fh: FileHandle,
    readonly header: ContainerHeader,
    private readonly writer: avro.Type,
    readonly size: number,
    private readonly maxBlockBytes: number,
  ) {}

  /**
   * `flags`: fs open flags (ingest/files.ts adds O_NOFOLLOW so a file swapped for a symlink is not followed).
   * `fh`: an already open handle (the file source opens and checks it itself); closed on failure.
   */
  static async open(path: string, flags: string | number = 'r', opts: { fh?: FileHandle; maxBlockBytes?: number } = {}): Promise<ContainerReader> {
    const fh = opts.fh ?? (await open(path, flags));
    try {
      const size = (await fh.stat()).size;
      const head = Buffer.alloc(Math.min(size, 1 << 20));
      await fh.read(head, 0, head.length, 0);
      if (head.length < 4 || !head.subarray(0, 4).equals(MAGIC)) throw new ContainerError('NOT_A_CONTAINER', `${path}: not an Avro object container file`);
      // Walked with the Avro guard first: a hostile header map count would make avsc loop (schemas/avro-guard.ts).
      const metaGuard = guardFor(metaType);
      if (metaGuard.walk(head, 4, head.length, DEFAULT_AVRO_LIMITS) < 0) throw new ContainerError('NOT_A_CONTAINER', `${path}: header metadata unreadable: ${metaGuard.message}`);
      const meta = metaType.decode(head, 4);
      if (meta.offset < 0 || meta.offset + 16 > head.length) throw new ContainerError('NOT_A_CONTAINER', `${path}: header truncated`);
      const m = meta.value as Record<string, Buffer>;
      const codec = (m['avro.codec']?.toString() || 'null') as ContainerCodec;
      if (!CONTAINER_CODECS.includes(codec)) throw new ContainerError('UNSUPPORTED_CODEC', `${path}: codec ${codec} is not supported (supported: ${CONTAINER_CODECS.join(', ')})`);
      let schema: object;
      let writer: avro.Type;
      try {
        schema = JSON.parse(m['avro.schema']?.toString() ?? 'null') as object;
        // Checked before avsc (recursive) sees it: a schema nested thousands of levels overflowed the stack.
        const deep = schemaTooDeep(schema);
        if (deep) throw new Error(deep);
        writer = avro.Type.forSchema(schema as avro.Schema);
        guardFor(writer); // compiled now, so a schema the guard cannot compile is BAD_SCHEMA here
      } catch (err) {
        throw new ContainerError('BAD_SCHEMA', `${path}: header schema is invalid: ${(err as Error).message}`);
      }
      const sync = Buffer.from(head.subarray(meta.offset, meta.offset + 16));
      return new ContainerReader(fh, { schema, codec, sync, dataStart: meta.offset + 16 }, writer, size, opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES);
    } catch (err) {
      if (!opts.fh) await fh.close(); // a handle the caller opened stays the caller's to close
      throw err;
    }
  }

  /**
   * Yields blocks from `position` (a block boundary, e.g. a checkpoint) to the end of the file.
   * `firstRecord` is the index of the record the block at `position` starts with.
   */
  async *blocks(position = this.header.dataStart, firstBlock = 0, firstRecord = 0): AsyncGenerator<ContainerBlock> {
    let pos = position;
    let index = firstBlock;
    let record = firstRecord;
    const prefix = Buffer.alloc(20);
    while (pos < this.size) {
      const { bytesRead } = await this.fh.read(prefix, 0, prefix.length, pos);
      const c = longType.decode(prefix.subarray(0, bytesRead), 0);
      const s = c.offset >= 0 ? longType.decode(prefix.subarray(0, bytesRead), c.offset) : { value: 0, offset: -1 };
      if (c.offset < 0 || s.offset < 0) throw new ContainerError('TRUNCATED_BLOCK', `block ${index} at byte ${pos}: header truncated`);
      const count = c.value as number;
      const byteSize = s.value as number;
      const dataPos = pos + s.offset;
      if (count < 0 || byteSize < 0 || dataPos + byteSize + 16 > this.size) throw new ContainerError('TRUNCATED_BLOCK', `block ${index} at byte ${pos}: ${byteSize} bytes announced, file ends first`);
      if (byteSize > this.maxBlockBytes) throw new ContainerError('CORRUPT_BLOCK', `block ${index} at byte ${pos}: ${byteSize} bytes, larger than the largest block accepted (${this.maxBlockBytes})`);
      const body = Buffer.alloc(byteSize + 16);
      await this.fh.read(body, 0, body.length, dataPos);
      if (!body.subarray(byteSize).equals(this.header.sync)) throw new ContainerError('BAD_SYNC', `block ${index} at byte ${pos}: sync marker mismatch`);
      let data: Buffer;
      try {
        data = this.header.codec === 'deflate' ? inflateRawSync(body.subarray(0, byteSize), { maxOutputLength: this.maxBlockBytes }) : body.subarray(0, byteSize);
      } catch (err) {
        const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        throw new ContainerError('CORRUPT_BLOCK', `block ${index} at byte ${pos}: ${tooLarge ? `inflates to more than the largest block accepted (${(this.maxBlockBytes / 1048576).toFixed(1)} MiB)` : (err as Error).message}`);
      }
      const split = this.split(data, count);
      yield { index, position: pos, nextPosition: dataPos + byteSize + 16, firstRecord: record, ...split };
      pos = dataPos + byteSize + 16;
      index++;
      // Record indexes the block used: its records plus those its unreadable piece stands for (count, or one
      // more than announced when bytes were left over after the announced records).
      record += split.records.length + (split.unsplittable?.count ?? 0);
    }
  }

  /** Splits a block into records with the writer schema (Avro binary is not self-delimiting). */
  private split(data: Buffer, count: number): Pick<ContainerBlock, 'records' | 'unsplittable'> {
    const records: Buffer[] = [];
    // The guard finds each record's end in O(bytes) without decoding it (schemas/avro-guard.ts): a hostile
    // count or length inside a record cannot make the split loop. Limits on items and depth are the decoder's
    // defaults; the decoder applies the configured ones (and decode.maxRecordBytes) to each record.
    const guard = guardFor(this.writer);
    let off = 0;
    for (let i = 0; i < count; i++) {
      const end = guard.walk(data, off, data.length, DEFAULT_AVRO_LIMITS);
      if (end < 0) return { records, unsplittable: { bytes: data.subarray(off), message: guard.fault === 'TRUNCATED' ? `record truncated inside its block (${guard.message})` : guard.message, count: count - i } };
      // Zero-byte records (a writer schema that can encode to nothing) cannot bound an announced count.
      if (end === off && i >= DEFAULT_AVRO_LIMITS.maxItems) return { records, unsplittable: { bytes: data.subarray(off), message: `block announces ${count} records of zero bytes`, count: count - i } };
      records.push(data.subarray(off, end));
      off = end;
    }
    // Bytes after the announced records: more records than the count says (a writer bug or a tampered count).
    // They were silently dropped before; now they are a CONTAINER_CORRUPT piece with their bytes.
    if (off < data.length) return { records, unsplittable: { bytes: data.subarray(off), message: `${data.length - off} bytes left after the block's ${count} announced records`, count: 1 } };
    return { records };
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Writes records (already Avro-encoded with `schema`) as a container file; used by the generator and tests. */
export async function writeContainerFile(path: string, schema: object, records: Buffer[], opts: { codec?: ContainerCodec; recordsPerBlock?: number } = {}): Promise<void> {
  const codec = opts.codec ?? 'deflate';
  const per = opts.recordsPerBlock ?? 1000;
  const sync = randomBytes(16);
  const parts: Buffer[] = [MAGIC, metaType.toBuffer({ 'avro.schema': Buffer.from(JSON.stringify(schema)), 'avro.codec': Buffer.from(codec) }), sync];
  for (let i = 0; i < records.length; i += per) {
    const chunk = records.slice(i, i + per);
    const raw = Buffer.concat(chunk);
    const data = codec === 'deflate' ? deflateRawSync(raw) : raw;
    parts.push(longType.toBuffer(chunk.length), longType.toBuffer(data.length), data, sync);
  }
  await writeFile(path, Buffer.concat(parts));
}
