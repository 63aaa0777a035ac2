/**
 * The shared CSV reader (schemas/csv.ts) and its two callers: reference data (enrich/reference.ts) and the
 * billing files (reports/reconciliation/invoices.ts). RFC 4180 cases, line numbers, every chunk boundary of the incremental
 * parser, a random round trip through the writer, and the callers reading the same data written with CRLF and
 * a byte order mark.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CsvEncodingError, CsvParser, csvField, csvLine, mapHeader, parseCsv, parseCsvBytes, readCsvFile, rowOf, type CsvRecord } from '../schemas/csv.js';
import { BENCHMARK_COLUMNS } from '../schemas/billing.js';
import { loadReferenceDir } from '../enrich/reference.js';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { InvoiceFileError, readBenchmarks } from '../reports/reconciliation/invoices.js';

const dir = mkdtempSync(join(tmpdir(), 'csv-'));
const fields = (recs: CsvRecord[]) => recs.map((r) => r.fields);

/** Parses text fed in pieces cut at the given positions. */
function parseInPieces(text: string, cuts: number[]): CsvRecord[] {
  const p = new CsvParser();
  const out: CsvRecord[] = [];
  let at = 0;
  for (const c of [...cuts, text.length]) {
    out.push(...p.push(text.slice(at, c)));
    at = c;
  }
  out.push(...p.end());
  return out;
}

describe('parseCsv (RFC 4180)', () => {
  it('reads plain, quoted and empty fields', () => {
    expect(fields(parseCsv('a,b,c\n1,,3\n'))).toEqual([
      ['a', 'b', 'c'],
      ['1', '', '3'],
    ]);
    expect(fields(parseCsv('"a","",c'))).toEqual([['a', '', 'c']]);
    expect(fields(parseCsv('a,b,\n'))).toEqual([['a', 'b', '']]);
    expect(fields(parseCsv('a,b,'))).toEqual([['a', 'b', '']]);
  });

  it('keeps commas, quotes and line breaks inside quoted fields', () => {
    const text = 'id,description\n1,"Roaming, EU"\n2,"12"" screen"\n3,"two\nlines"\n4,"crlf\r\ninside"\n';
    expect(fields(parseCsv(text))).toEqual([
      ['id', 'description'],
      ['1', 'Roaming, EU'],
      ['2', '12" screen'],
      ['3', 'two\nlines'],
      ['4', 'crlf\r\ninside'],
    ]);
  });

  it('accepts CRLF, LF and lone CR line endings, and a file without a final line break', () => {
    const want = [
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
    ];
    for (const text of ['a,b\r\n1,2\r\n3,4\r\n', 'a,b\n1,2\n3,4', 'a,b\r1,2\r3,4\r', 'a,b\r\n1,2\n3,4']) expect(fields(parseCsv(text))).toEqual(want);
  });

  it('drops a UTF-8 byte order mark at the start, and only there', () => {
    expect(fields(parseCsv('\uFEFFinvoice_id,amount\nX,\uFEFF1\n'))).toEqual([
      ['invoice_id', 'amount'],
      ['X', '\uFEFF1'],
    ]);
    expect(fields(parseCsvBytes(Buffer.from('\uFEFFa,b\n1,2\n', 'utf8')))).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('skips empty lines and numbers every record by the line it starts on', () => {
    const recs = parseCsv('h1,h2\n\n1,"multi\nline\nfield"\r\n\r\n2,x\n""\n');
    expect(recs.map((r) => [r.line, r.fields])).toEqual([
      [1, ['h1', 'h2']],
      [3, ['1', 'multi\nline\nfield']],
      [7, ['2', 'x']],
      [8, ['']],
    ]);
  });

  it('treats a quote inside an unquoted field as a character, and reports text after a closing quote', () => {
    expect(parseCsv('a,12" monitor,b\n')).toEqual([{ line: 1, fields: ['a', '12" monitor', 'b'] }]);
    const [bad, next] = parseCsv('"ab"c,d\ne,f\n');
    expect(bad).toEqual({ line: 1, fields: ['abc', 'd'], problem: 'text after the closing quote of field 1' });
    expect(next).toEqual({ line: 2, fields: ['e', 'f'] });
  });

  it('reports a quoted field that is never closed, on the line it opens', () => {
    const recs = parseCsv('a,b\n1,"open\n2,3\n');
    expect(recs).toHaveLength(2);
    expect(recs[1]).toMatchObject({ line: 2, problem: 'a quoted field (field 2) is not closed before the end of the input' });
  });

  it('gives the same records whatever the chunk boundaries', () => {
    const text = '\uFEFFa,"b ""q"", c",d\r\n"multi\r\nline",,"x"\r\n\r\nlast,"",end\rz';
    const whole = parseCsv(text);
    expect(whole.map((r) => r.line)).toEqual([1, 2, 5, 6]);
    // Every single cut, and text fed one character at a time.
    for (let c = 0; c <= text.length; c++) expect(parseInPieces(text, [c])).toEqual(whole);
    expect(parseInPieces(text, [...text].map((_, i) => i))).toEqual(whole);
  });

  it('round-trips random fields through csvLine', () => {
    const alphabet = ['a', 'Z', '0', ',', '"', '\n', '\r\n', ' ', 'é', '€', '\t'];
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const rows: string[][] = [];
    for (let r = 0; r < 300; r++) {
      const row: string[] = [];
      for (let f = 0; f < 4; f++) {
        let s = '';
        for (let k = rnd(8); k > 0; k--) s += alphabet[rnd(alphabet.length)];
        row.push(s);
      }
      rows.push(row);
    }
    const text = rows.map((r) => csvLine(r)).join('\r\n');
    expect(fields(parseCsv(text))).toEqual(rows);
    expect(csvField(null)).toBe('');
    expect(csvField(12.5)).toBe('12.5');
    expect(csvField('a"b')).toBe('"a""b"');
  });
});

describe('header mapping', () => {
  it('maps columns by name in any order and lists what is missing, unknown or named twice', () => {
    const [head, row, short] = parseCsv(' b ,a,c\n2,1,3\n9,9\n');
    const { header, problems } = mapHeader(head!, { required: ['a', 'b'], optional: ['c'], strict: true });
    expect(problems).toEqual([]);
    expect(rowOf(header, row!)).toEqual({ row: { b: '2', a: '1', c: '3' } });
    expect(rowOf(header, short!)).toEqual({ problem: '2 fields, the header has 3' });
    expect(mapHeader(parseCsv('a,x,a,y\n')[0]!, { required: ['a', 'b', 'c'], strict: true }).problems).toEqual(['header lacks b, c', 'unknown columns x, y', 'column a named twice in the header']);
    expect(mapHeader(parseCsv('a,x\n')[0]!, { required: ['a'] }).problems).toEqual([]);
  });
});

describe('readCsvFile', () => {
  it('streams a large file in chunks with the same records and line numbers as parseCsv, and hashes its bytes', async () => {
    const lines = ['id,text'];
    for (let i = 0; i < 20_000; i++) lines.push(i % 97 === 0 ? `${i},"multi\r\nline, €"` : `${i},plain ${'é'.repeat(i % 5)}`);
    const text = '\uFEFF' + lines.join('\r\n') + '\r\n';
    const file = join(dir, 'big.csv');
    writeFileSync(file, text);
    const hash = createHash('sha256');
    const streamed: CsvRecord[] = [];
    for await (const r of readCsvFile(file, hash)) streamed.push(r);
    expect(streamed).toEqual(parseCsv(text));
    expect(streamed).toHaveLength(20_001);
    expect(streamed[streamed.length - 1]!.line).toBe(20_001 + Math.ceil(20_000 / 97));
    expect(hash.digest('hex')).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
  });

  it('refuses bytes that are not UTF-8, naming the line', async () => {
    const file = join(dir, 'latin1.csv');
    writeFileSync(file, Buffer.concat([Buffer.from('a,b\n1,2\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(',3\n')]));
    const err = await (async () => {
      for await (const _ of readCsvFile(file)) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CsvEncodingError);
    expect((err as CsvEncodingError).line).toBe(3);
    expect(() => parseCsvBytes(readFileSync(file))).toThrow(/line 3: the file is not valid UTF-8/);
  });
});

describe('callers', () => {
  it('reference data reads the same from CRLF files with a byte order mark and quoted fields', () => {
    const traffic = createTraffic({ seed: 5, subscribers: 60, startMs: Date.UTC(2026, 9, 5), endMs: Date.UTC(2026, 9, 6), scenarios: 'none' });
    const plain = join(dir, 'ref-plain');
    const windows = join(dir, 'ref-windows');
    writeReference(plain, traffic.reference());
    writeReference(windows, traffic.reference());
    for (const f of readdirSync(windows).filter((x) => x.endsWith('.csv'))) {
      // Quote every field as a spreadsheet might, then CRLF and a BOM.
      const recs = parseCsv(readFileSync(join(windows, f), 'utf8'));
      writeFileSync(join(windows, f), '\uFEFF' + recs.map((r) => r.fields.map((v) => `"${v.replace(/"/g, '""')}"`).join(',')).join('\r\n') + '\r\n');
    }
    const a = loadReferenceDir(plain);
    const b = loadReferenceDir(windows);
    expect(a.lines.length).toBeGreaterThan(50);
    expect({ ...b, dir: '', version: '' }).toEqual({ ...a, dir: '', version: '' });
  });

  it('reference data problems name the real line, after multi-line fields and empty lines', () => {
    const traffic = createTraffic({ seed: 5, subscribers: 20, startMs: Date.UTC(2026, 9, 5), endMs: Date.UTC(2026, 9, 6), scenarios: 'none' });
    const ref = join(dir, 'ref-bad');
    writeReference(ref, traffic.reference());
    const file = join(ref, 'lines.csv');
    const [head, first, second, ...rest] = readFileSync(file, 'utf8').trimEnd().split('\n');
    // Line 3 is empty; the row starting on line 4 is cut short: its problem is reported on line 4.
    writeFileSync(file, [head, first, '', second!.split(',').slice(0, 3).join(','), ...rest].join('\n') + '\n');
    expect(() => loadReferenceDir(ref)).toThrow(/lines\.csv:4: 3 fields, the header has \d+/);
  });

  it('benchmark rates: CRLF, BOM, quoted descriptions; problems with their line numbers', async () => {
    const file = join(dir, 'benchmarks.csv');
    const header = csvLine(BENCHMARK_COLUMNS);
    writeFileSync(file, `\uFEFF${header}\r\nvoice,international,minute,0.45,"Ofcom cap, ""international"""\r\nvoice,premium,minute,1.50,\r\n`);
    const rates = await readBenchmarks(file);
    expect(rates.map((r) => [r.destination_class, r.rate, r.description])).toEqual([
      ['international', '0.45', 'Ofcom cap, "international"'],
      ['premium', '1.50', ''],
    ]);
    writeFileSync(file, `${header}\nvoice,mobile,minute,"0.10\n",x\n\nvoice,mobile,minute,0.2\nvoice,"mobile"x,minute,0.2,y\n`);
    const err = await readBenchmarks(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvoiceFileError);
    expect((err as InvoiceFileError).problems).toEqual([
      expect.stringMatching(/^line 2: rate must be a non-negative exact decimal/),
      'line 5: 4 fields, the header has 5',
      'line 6: text after the closing quote of field 2',
    ]);
  });
});
