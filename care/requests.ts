/**
 * Adjustment requests from a file (`cdr-pipeline adjust --file FILE`): CSV with a header row, or JSON lines.
 * Validated whole before anything is applied: a malformed file is reported with the line number of every
 * problem and nothing from it is applied (care/README.md "File").
 */
import { readRequestFile } from '../schemas/csv.js';
import { parseAmount } from './policy.js';
import type { AdjustmentRequest } from './adjustments.js';

export const ADJUSTMENT_COLUMNS = ['adjustment_id', 'reason', 'agent', 'role'] as const;
export const OPTIONAL_COLUMNS = ['record_id', 'charge_type', 'invoice_id', 'line_no', 'amount', 'note'] as const;

export class AdjustmentFileError extends Error {
  override name = 'AdjustmentFileError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing applied:\n  ${problems.join('\n  ')}`);
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * One request from named fields (a file row, a JSON object, or the command line's options), or its problems
 * (pushed with the line prefix). `line` 0 = the command line.
 */
export function requestOf(get: (k: string) => unknown, line: number, problems: string[]): AdjustmentRequest | undefined {
  const at = line > 0 ? `line ${line}: ` : '';
  const before = problems.length;
  const str = (k: string): string => {
    const v = get(k);
    if (v === undefined || v === null) return '';
    if (typeof v === 'number' && k === 'line_no') return String(v);
    if (typeof v !== 'string') {
      problems.push(`${at}${k} must be a string`);
      return '';
    }
    return v.trim();
  };
  const id = str('adjustment_id');
  if (id === '') problems.push(`${at}adjustment_id is required`);
  else if (!ID.test(id)) problems.push(`${at}adjustment_id ${JSON.stringify(id)}: letters, digits and . _ : - (at most 128)`);
  const recordId = str('record_id');
  const invoiceId = str('invoice_id');
  const lineText = str('line_no');
  let lineNo: number | undefined;
  if (lineText !== '') {
    lineNo = Number(lineText);
    if (!/^\d{1,9}$/.test(lineText)) problems.push(`${at}line_no ${JSON.stringify(lineText)} is not a line number`);
  }
  if (invoiceId !== '' && lineNo === undefined) problems.push(`${at}invoice_id needs line_no (the invoice line to credit)`);
  if (invoiceId === '' && lineNo !== undefined) problems.push(`${at}line_no needs invoice_id`);
  if (recordId === '' && invoiceId === '') problems.push(`${at}name the charge: record_id (a CDR) or invoice_id and line_no (an invoice line)`);
  const chargeType = str('charge_type') || 'usage';
  if (chargeType !== 'usage' && chargeType !== 'surcharge') problems.push(`${at}charge_type ${JSON.stringify(chargeType)}: usage or surcharge (a CDR's lines; other charges by invoice_id and line_no)`);
  const amount = str('amount');
  if (amount !== '') {
    const a = parseAmount(amount);
    if ('problem' in a) problems.push(`${at}${a.problem}`);
  }
  const reason = str('reason');
  if (reason === '') problems.push(`${at}reason is required (a code of the catalogue)`);
  const agent = str('agent');
  if (agent === '') problems.push(`${at}agent is required (who adjusts)`);
  const role = str('role');
  if (role === '') problems.push(`${at}role is required (the agent's role in the care policy)`);
  const note = str('note');
  if (problems.length > before) return undefined;
  return { adjustmentId: id, recordId, chargeType, invoiceId, lineNo, amount, reason, note, agent, role, line };
}

/** Parses a request file (JSON lines when the first non-blank character is `{`, else CSV). Throws AdjustmentFileError. */
export function parseAdjustments(bytes: Buffer, file: string): AdjustmentRequest[] {
  const out: AdjustmentRequest[] = [];
  const problems = readRequestFile(
    bytes,
    { required: ADJUSTMENT_COLUMNS, optional: OPTIONAL_COLUMNS, strict: true, strictJson: true },
    (get, line, p) => {
      const r = requestOf(get, line, p);
      if (r) out.push(r);
    },
    (p) => {
      throw new AdjustmentFileError(file, p);
    },
  );
  // The same id twice in one file: the second would only ever be "already applied"; almost surely a typo.
  const seen = new Map<string, number>();
  for (const r of out) {
    const first = seen.get(r.adjustmentId);
    if (first !== undefined) problems.push(`line ${r.line}: adjustment_id ${r.adjustmentId} is already on line ${first}`);
    else seen.set(r.adjustmentId, r.line);
  }
  if (problems.length) throw new AdjustmentFileError(file, problems);
  if (out.length === 0) throw new AdjustmentFileError(file, ['no adjustments']);
  return out;
}
