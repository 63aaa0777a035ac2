/**
 * The port-request file (issue #16; porting/README.md): CSV with a header row, or JSON lines, one request
 * each. The file is validated whole: every malformed request is reported with its line number and nothing
 * from a file with a problem is validated or stored. A request with a field missing or wrong in *content*
 * (an empty account number, a bad PIN) is not malformed: it is answered with code 003 like any carrier would.
 * Malformed means the file cannot be read as requests: a broken row, a missing request id, an unreadable time,
 * an unknown LOA or action value.
 */
import { readRequestFile } from '../schemas/csv.js';

export interface PortRequest {
  requestId: string;
  /** Time the losing carrier received the request (epoch ms). */
  receivedMs: number;
  /** E.164 digits or as written (normalised at validation). */
  telephoneNumbers: string[];
  accountNumber: string;
  /** As supplied: never logged, printed or stored. */
  pin: string;
  customerName: string;
  serviceAddress: string;
  requestingCompany: string;
  contactName: string;
  contactPhone: string;
  contactEmail: string;
  /** yes: the LOA box is checked; no: it is not; requested: an LOA was asked of the customer, no response. */
  loa: 'yes' | 'no' | 'requested';
  /** new: a request; cancel: the requestor cancels it (answered 201). */
  action: 'new' | 'cancel';
  /** 1-based line of the file. */
  line: number;
}

export const REQUEST_COLUMNS = ['request_id', 'received_at', 'telephone_numbers', 'account_number', 'pin', 'customer_name', 'service_address', 'requesting_company', 'contact_name', 'contact_phone', 'contact_email', 'loa'] as const;
const OPTIONAL = ['action'] as const;

export class RequestFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem(s); nothing from it was validated or stored:\n  - ${problems.slice(0, 50).join('\n  - ')}${problems.length > 50 ? `\n  ... and ${problems.length - 50} more` : ''}`);
    this.name = 'RequestFileError';
  }
}

const LOA: Record<string, PortRequest['loa']> = { yes: 'yes', true: 'yes', y: 'yes', '1': 'yes', no: 'no', false: 'no', n: 'no', '0': 'no', '': 'no', requested: 'requested' };

function request(get: (k: string) => unknown, line: number, problems: string[]): PortRequest | undefined {
  const text = (k: string): string => {
    const v = get(k);
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return v.trim();
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    problems.push(`line ${line}: ${k} must be text`);
    return '';
  };
  const before = problems.length;
  const requestId = text('request_id');
  if (!/^[\w.:-]{1,64}$/.test(requestId)) problems.push(`line ${line}: request_id ${requestId === '' ? 'is missing' : `${JSON.stringify(requestId.slice(0, 70))} is not 1-64 letters, digits, . _ : -`}`);
  const received = text('received_at');
  const receivedMs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(received) ? Date.parse(received) : Number.NaN;
  if (Number.isNaN(receivedMs)) problems.push(`line ${line}: received_at ${JSON.stringify(received)} is not an ISO 8601 time with a zone`);
  const rawNumbers = get('telephone_numbers');
  const telephoneNumbers = Array.isArray(rawNumbers) ? rawNumbers.map((x) => String(x).trim()).filter((x) => x !== '') : text('telephone_numbers').split(/[;|]/).map((x) => x.trim()).filter((x) => x !== '');
  const loaRaw = text('loa').toLowerCase();
  const loa = LOA[loaRaw];
  if (loa === undefined) problems.push(`line ${line}: loa must be yes, no or requested, got ${JSON.stringify(loaRaw)}`);
  const actionRaw = text('action').toLowerCase() || 'new';
  if (actionRaw !== 'new' && actionRaw !== 'cancel') problems.push(`line ${line}: action must be new or cancel, got ${JSON.stringify(actionRaw)}`);
  if (problems.length > before) return undefined;
  return {
    requestId,
    receivedMs,
    telephoneNumbers,
    accountNumber: text('account_number'),
    pin: text('pin'),
    customerName: text('customer_name'),
    serviceAddress: text('service_address'),
    requestingCompany: text('requesting_company'),
    contactName: text('contact_name'),
    contactPhone: text('contact_phone'),
    contactEmail: text('contact_email'),
    loa: loa!,
    action: actionRaw as PortRequest['action'],
    line,
  };
}

/** Parses a request file (JSON lines when the first non-blank character is `{`, else CSV). Throws RequestFileError. */
export function parseRequests(bytes: Buffer, file: string): PortRequest[] {
  const out: PortRequest[] = [];
  const problems = readRequestFile(
    bytes,
    { required: REQUEST_COLUMNS, optional: OPTIONAL, strict: true, strictJson: false },
    (get, line, p) => {
      const r = request(get, line, p);
      if (r) out.push(r);
    },
    (p) => {
      throw new RequestFileError(file, p);
    },
  );
  if (problems.length) throw new RequestFileError(file, problems);
  if (out.length === 0) throw new RequestFileError(file, ['no requests']);
  return out;
}
