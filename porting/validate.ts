/**
 * Port-out validation, the losing carrier's side (issue #16; porting/README.md): each request is checked
 * against the customer inventory (the reference snapshot) and answered accepted, with the CSR extract a
 * gaining carrier needs, or rejected with every code that applies and a readable reason:
 *
 *   001 account telephone number and/or customer location not found (unknown account, or a number of our
 *       ranges that no line holds)
 *   002 account telephone number not ours (outside our number ranges)
 *   003 incomplete or incorrect information (account number, name, address, numbers or PIN missing/malformed)
 *   004 requested LOA, no response
 *   018 customer-supplied information does not match the active account (a number of another account or not
 *       active, the name, the service address, the PIN)
 *   052 account exceeds the maximum page limit (the CSR extract would be longer than 20 pages)
 *   200 duplicate (a request id already answered); 201 requestor cancelled; both answered alone
 *   501 requesting-company contact information incomplete, or the LOA box not checked
 *
 * Names and addresses match tolerantly (match.ts); the account number and the PIN exactly (the PIN against
 * its keyed hash, schemas/pin.ts). The PIN is never part of an answer, a log line or a stored row.
 */
import { verifyPin } from '../schemas/pin.js';
import { serviceTypeOf, type AccountRecord, type FeatureRecord, type LineRecord } from '../schemas/reference.js';
import type { ReferenceData } from '../enrich/reference.js';
import { dueAt, type DueCalendar } from './calendar.js';
import { addressesMatch, namesMatch } from './match.js';
import type { PortRequest } from './requests.js';

export const REJECTION_CODES = {
  '001': 'account telephone number and/or customer location not found',
  '002': 'account telephone number not ours',
  '003': 'incomplete or incorrect information provided',
  '004': 'requested LOA, no response',
  '018': 'customer-supplied account information does not match the active account',
  '052': 'account exceeds the maximum page limit (20 pages)',
  '200': 'duplicate',
  '201': 'requestor cancelled',
  '501': 'required requesting-company contact information incomplete, or LOA box not checked',
} as const;
export type RejectionCode = keyof typeof REJECTION_CODES;

/** What a gaining carrier needs to fill the LOA and the port order (never the PIN). */
export interface CsrExtract {
  accountNumber: string;
  customerName: string;
  serviceAddress: string;
  billingAddress: string;
  /** The lines asked for, then the account's other lines (a partial port leaves them behind). */
  lines: { number: string; type: string; status: string; plan: string; requested: boolean; ddiBlock: string | null }[];
  features: { number: string; code: string }[];
  directoryListings: { number: string; listing: string; name: string | null }[];
}

export interface PortResponse {
  requestId: string;
  outcome: 'accepted' | 'rejected';
  codes: RejectionCode[];
  reason: string;
  receivedMs: number;
  dueMs: number;
  /** The account matched ('' when none). */
  accountId: string;
  telephoneNumbers: string[];
  requestingCompany: string;
  contactName: string;
  loa: boolean;
  pinSupplied: boolean;
  pinMatched: boolean;
  extract?: CsrExtract;
  line: number;
}

export interface PortInventory {
  operatorName: string;
  countryCode: string;
  nationalPrefix: string;
  internationalPrefix: string;
  accounts: Map<string, AccountRecord>;
  lines: Map<string, LineRecord>;
  linesByAccount: Map<string, LineRecord[]>;
  features: Map<string, FeatureRecord[]>;
  listings: Map<string, { number: string; listing: string; name: string | null }[]>;
  /** Our number ranges (numbering plan rows held by the operator), longest first. */
  ownRanges: { prefix: string; minLength: number; maxLength: number }[];
  calendar: DueCalendar;
  pinKey: string;
  /** Rows of a CSR page (the 052 check of the extract). */
  rowsPerPage: number;
  maxPages: number;
}

export function inventoryOf(ref: ReferenceData, pinKey: string, opts: { timezone?: string; rowsPerPage?: number; maxPages?: number } = {}): PortInventory {
  const linesByAccount = new Map<string, LineRecord[]>();
  for (const l of ref.lines) {
    let xs = linesByAccount.get(l.accountId);
    if (!xs) linesByAccount.set(l.accountId, (xs = []));
    xs.push(l);
  }
  const features = new Map<string, FeatureRecord[]>();
  for (const f of ref.features) {
    let xs = features.get(f.msisdn);
    if (!xs) features.set(f.msisdn, (xs = []));
    xs.push(f);
  }
  const listings = new Map<string, { number: string; listing: string; name: string | null }[]>();
  for (const d of ref.directoryListings) {
    let xs = listings.get(d.accountId);
    if (!xs) listings.set(d.accountId, (xs = []));
    xs.push({ number: d.msisdn, listing: d.listingType, name: d.listedName });
  }
  return {
    operatorName: ref.operator.name,
    countryCode: ref.operator.countryCode,
    nationalPrefix: ref.operator.nationalPrefix,
    internationalPrefix: ref.operator.internationalPrefix,
    accounts: new Map(ref.accounts.map((a) => [a.accountId, a])),
    lines: new Map(ref.lines.map((l) => [l.msisdn, l])),
    linesByAccount,
    features,
    listings,
    ownRanges: ref.numberingPlan.filter((r) => r.rangeHolder === ref.operator.name).map((r) => ({ prefix: r.prefix, minLength: r.minLength, maxLength: r.maxLength })),
    calendar: { timezone: opts.timezone ?? ref.operator.timezone, holidays: new Set(ref.holidays.filter((h) => h.country === ref.operator.country).map((h) => h.date)) },
    pinKey,
    rowsPerPage: opts.rowsPerPage ?? 40,
    maxPages: opts.maxPages ?? 20,
  };
}

/** E.164 digits of a number as people write it ("07911 123456", "+44 (0)7911-123456"), or undefined. */
export function e164(raw: string, inv: Pick<PortInventory, 'countryCode' | 'nationalPrefix' | 'internationalPrefix'>): string | undefined {
  let s = raw.replace('(0)', '').replace(/[\s\-().]/g, '');
  if (s.startsWith('+')) s = s.slice(1);
  else if (s.startsWith(inv.internationalPrefix)) s = s.slice(inv.internationalPrefix.length);
  else if (s.startsWith(inv.nationalPrefix)) s = inv.countryCode + s.slice(inv.nationalPrefix.length);
  return /^\d{6,15}$/.test(s) ? s : undefined;
}

function ours(n: string, inv: PortInventory): boolean {
  return inv.ownRanges.some((r) => n.startsWith(r.prefix) && n.length >= r.minLength && n.length <= r.maxLength);
}

const address = (line: string | null | undefined, city: string | null | undefined, postcode: string | null | undefined) => [line, city, postcode].filter((x) => x).join(', ');

/**
 * Validates a batch in order. `seen` holds request ids answered before (from the audit store); ids answered
 * earlier in the batch are added to it, so the second of two requests with one id is a duplicate.
 */
export function validateRequests(requests: readonly PortRequest[], inv: PortInventory, seen: Set<string>): PortResponse[] {
  return requests.map((r) => {
    const res = validateOne(r, inv, seen.has(r.requestId));
    seen.add(r.requestId);
    return res;
  });
}

export function validateOne(r: PortRequest, inv: PortInventory, duplicate: boolean): PortResponse {
  const base = {
    requestId: r.requestId,
    receivedMs: r.receivedMs,
    dueMs: dueAt(r.receivedMs, inv.calendar),
    telephoneNumbers: r.telephoneNumbers,
    requestingCompany: r.requestingCompany,
    contactName: r.contactName,
    loa: r.loa === 'yes',
    pinSupplied: r.pin !== '',
    pinMatched: false,
    line: r.line,
  };
  const reject = (codes: RejectionCode[], details: string[], accountId = ''): PortResponse => ({
    ...base,
    outcome: 'rejected',
    codes,
    reason: codes.map((c, i) => `${c} ${REJECTION_CODES[c]}${details[i] ? `: ${details[i]}` : ''}`).join('; '),
    accountId,
  });
  if (duplicate) return reject(['200'], ['request id already answered']);
  if (r.action === 'cancel') return reject(['201'], ['cancelled by the requesting company']);

  const found = new Map<RejectionCode, string[]>();
  const add = (c: RejectionCode, why: string) => {
    const xs = found.get(c);
    if (xs) xs.push(why);
    else found.set(c, [why]);
  };
  // 501: who is asking, and the LOA box.
  const missingContact = [r.requestingCompany === '' && 'requesting company', r.contactName === '' && 'contact name', r.contactPhone === '' && r.contactEmail === '' && 'contact phone or e-mail'].filter(Boolean);
  if (missingContact.length) add('501', `missing ${missingContact.join(', ')}`);
  if (r.loa === 'no') add('501', 'LOA box not checked');
  if (r.loa === 'requested') add('004', 'the customer has not returned the LOA');
  // 003: what the request must carry, well formed.
  const numbers: string[] = [];
  for (const t of r.telephoneNumbers) {
    const n = e164(t, inv);
    if (n === undefined) add('003', `telephone number "${t}" is not a number`);
    else numbers.push(n);
  }
  if (r.telephoneNumbers.length === 0) add('003', 'no telephone number');
  if (r.accountNumber === '') add('003', 'no account number');
  if (r.customerName === '') add('003', 'no customer name');
  if (r.serviceAddress === '') add('003', 'no service address');
  const pinWellFormed = /^\d{4,8}$/.test(r.pin);
  if (!pinWellFormed) add('003', r.pin === '' ? 'no PIN' : 'the PIN is not 4 to 8 digits');
  // 001 / 002: the numbers and the account.
  const account = r.accountNumber === '' ? undefined : inv.accounts.get(r.accountNumber);
  if (r.accountNumber !== '' && !account) add('001', `account ${r.accountNumber} not found`);
  const lines: LineRecord[] = [];
  for (const n of numbers) {
    // Ours: in a range we hold, or a line of our inventory (PBX DDI blocks sit in geographic ranges).
    if (!ours(n, inv) && !inv.lines.has(n)) {
      add('002', `${n} is not in our number ranges`);
      continue;
    }
    const l = inv.lines.get(n);
    if (!l) add('001', `${n} is not a line of ours`);
    else lines.push(l);
  }
  // 018: against the active account, strictly for the account number and PIN, tolerantly for the rest.
  let pinMatched = false;
  if (account) {
    for (const l of lines) {
      if (l.accountId !== account.accountId) add('018', `${l.msisdn} is not on account ${account.accountId}`);
      else if (l.status !== 'active') add('018', `${l.msisdn} is ${l.status}`);
    }
    if (r.customerName !== '' && !namesMatch(r.customerName, account.name)) add('018', 'the customer name differs');
    const service = { addressLine: account.serviceAddressLine ?? account.addressLine, postcode: account.servicePostcode ?? account.postcode };
    if (r.serviceAddress !== '' && !addressesMatch(r.serviceAddress, service)) add('018', 'the service address differs');
    if (pinWellFormed && account.pinHash) {
      pinMatched = verifyPin(r.pin, account.pinHash, inv.pinKey);
      if (!pinMatched) add('018', 'the PIN does not match');
    }
  }
  if (found.size === 0 && account) {
    const extract = extractOf(account, new Set(lines.map((l) => l.msisdn)), inv);
    // The extract is the gaining carrier's CSR: lines, features and listings, one row each, plus a heading page.
    const pages = 1 + Math.ceil((extract.lines.length + extract.features.length + extract.directoryListings.length) / inv.rowsPerPage);
    if (pages > inv.maxPages) add('052', `the CSR would have ${pages} pages`);
    else return { ...base, pinMatched, outcome: 'accepted', codes: [], reason: `accepted: ${lines.length} number(s) of account ${account.accountId}`, accountId: account.accountId, extract };
  }
  const codes = [...found.keys()].sort();
  return { ...reject(codes, codes.map((c) => found.get(c)!.join(', ')), account?.accountId ?? ''), pinMatched };
}

function extractOf(a: AccountRecord, requested: Set<string>, inv: PortInventory): CsrExtract {
  const lines = (inv.linesByAccount.get(a.accountId) ?? []).filter((l) => l.status !== 'ceased');
  lines.sort((x, y) => Number(requested.has(y.msisdn)) - Number(requested.has(x.msisdn)) || x.msisdn.localeCompare(y.msisdn));
  return {
    accountNumber: a.accountId,
    customerName: a.name,
    serviceAddress: address(a.serviceAddressLine ?? a.addressLine, a.serviceCity ?? a.city, a.servicePostcode ?? a.postcode),
    billingAddress: address(a.addressLine, a.city, a.postcode),
    lines: lines.map((l) => ({ number: l.msisdn, type: serviceTypeOf(l), status: l.status, plan: l.plan, requested: requested.has(l.msisdn), ddiBlock: l.ddiBlock ?? null })),
    features: lines.flatMap((l) => (inv.features.get(l.msisdn) ?? []).map((f) => ({ number: f.msisdn, code: f.code }))),
    directoryListings: inv.listings.get(a.accountId) ?? [],
  };
}
