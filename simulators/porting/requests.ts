/**
 * Labelled port requests for a generated population (issue #16): correct requests written the way people
 * write them (case, punctuation, "St" for "Street", national number formats, the name in another order), and
 * requests with each kind of fault, each labelled with the codes the losing carrier must answer. The PINs come
 * from the simulator (population.ts accountPin); the reference data only hold their hashes.
 */
import type { PortRequest } from '../../porting/requests.js';
import { AccountClass, LineKind, LineStatus, accountName, accountPin, serviceAddress, type Population } from '../traffic/population.js';

export interface LabelledRequest {
  request: PortRequest;
  /** Codes expected, sorted; empty = accepted. */
  expected: string[];
  note: string;
}

const ABBREV: [RegExp, string][] = [
  [/\bStreet\b/, 'St'],
  [/\bRoad\b/, 'Rd.'],
  [/\bAvenue\b/, 'Ave'],
  [/\bLane\b/, 'Ln'],
];

/** A human rendering of an address line: abbreviations, case, a comma, the town and a postcode without space. */
function humanAddress(line: string, city: string, postcode: string, k: number): string {
  let s = line;
  for (const [re, to] of ABBREV) s = s.replace(re, to);
  if (k % 3 === 0) s = s.toUpperCase();
  if (k % 3 === 1) s = s.toLowerCase();
  return k % 2 === 0 ? `${s}, ${city} ${postcode.replace(' ', '')}` : `${s.replace(/^(\d+) /, '$1, ')}`;
}

function humanName(name: string, cls: number, k: number): string {
  if (cls === AccountClass.PRIVATE) {
    const [first, ...rest] = name.split(' ');
    return k % 2 === 0 ? `${rest.join(' ').toUpperCase()}, ${first}` : name.toLowerCase();
  }
  return k % 2 === 0 ? name.replace(/ Ltd$/, ' Limited').toUpperCase() : name.replace(/ (Ltd|LLP)$/, '');
}

function humanNumber(e164: string, k: number): string {
  if (k % 3 === 0) return `0${e164.slice(2, 6)} ${e164.slice(6)}`;
  if (k % 3 === 1) return `+44 ${e164.slice(2)}`;
  return e164;
}

export function labelledRequests(pop: Population, opts: { receivedMs: number; count?: number }): LabelledRequest[] {
  const out: LabelledRequest[] = [];
  let seq = 0;
  const base = (a: number, k: number, numbers: string[]): PortRequest => {
    const svc = serviceAddress(pop, a);
    return {
      requestId: `PR-${++seq}`,
      receivedMs: opts.receivedMs + seq * 60_000,
      telephoneNumbers: numbers.map((n, j) => humanNumber(n, k + j)),
      accountNumber: pop.accountId(a),
      pin: accountPin(pop, a),
      customerName: humanName(accountName(pop, a), pop.accClass[a] as number, k),
      serviceAddress: humanAddress(svc.addressLine, svc.city, svc.postcode, k),
      requestingCompany: 'Gaining Mobile plc',
      contactName: 'Porting Desk',
      contactPhone: '+44 20 7946 0000',
      contactEmail: 'porting@gaining.example',
      loa: 'yes',
      action: 'new',
      line: seq,
    };
  };
  // Accounts with an active first line, home customers only.
  const accounts: number[] = [];
  for (let a = 0; a < pop.accountCount; a++) {
    const f = pop.accFirstLine[a] as number;
    if (pop.kind[f] === LineKind.VISITOR || (pop.accLines[a] as number) === 0 || pop.status[f] !== LineStatus.ACTIVE) continue;
    accounts.push(a);
  }
  // Correct requests come from accounts of up to 5 lines (the largest account is kept for the page limit).
  const small = accounts.filter((a) => (pop.accLines[a] as number) <= 5);
  const n = Math.min(opts.count ?? 40, small.length);
  const activeLines = (a: number) => {
    const xs: string[] = [];
    for (let i = pop.accFirstLine[a] as number, e = i + (pop.accLines[a] as number); i < e; i++) if (pop.status[i] === LineStatus.ACTIVE && pop.account[i] === a) xs.push(pop.msisdn(i));
    return xs;
  };
  for (let k = 0; k < n; k++) {
    const a = small[(k * 7919) % small.length]!;
    const lines = activeLines(a);
    out.push({ request: base(a, k, lines.slice(0, 1 + (k % Math.min(3, lines.length)))), expected: [], note: 'correct, written by a person' });
  }
  const a0 = small[0]!;
  const a1 = small[1]!;
  const l0 = activeLines(a0)[0]!;
  const l1 = activeLines(a1)[0]!;
  const wrongPin = (pin: string) => String((Number(pin) + 1) % 10_000).padStart(4, '0');
  const add = (r: PortRequest, expected: string[], note: string) => out.push({ request: r, expected: [...expected].sort(), note });
  add({ ...base(a0, 0, [l0]), accountNumber: 'AC99999999' }, ['001'], 'unknown account');
  let free = '';
  for (let p = pop.msisdnBlockSize() - 1; p >= 0 && free === ''; p--) if (pop.lineOfMsisdn(pop.blockNumber(p)) === -1) free = pop.blockNumber(p);
  add({ ...base(a0, 1, [l0]), telephoneNumbers: [`+${free}`] }, ['001'], 'a number of our range nobody holds');
  add({ ...base(a0, 2, [l0]), telephoneNumbers: ['+33 6 12 34 56 78'] }, ['002'], 'a French mobile number');
  add({ ...base(a0, 0, [l0]), pin: '' }, ['003'], 'no PIN');
  add({ ...base(a0, 1, [l0]), serviceAddress: '' }, ['003'], 'no service address');
  add({ ...base(a0, 2, [l0]), loa: 'requested' }, ['004'], 'LOA requested, no response');
  add({ ...base(a0, 0, [l0]), pin: wrongPin(accountPin(pop, a0)) }, ['018'], 'wrong PIN');
  add({ ...base(a0, 1, [l0, l1]) }, ['018'], 'a number of another account');
  add({ ...base(a0, 2, [l0]), customerName: 'Someone Else Entirely' }, ['018'], 'another name');
  add({ ...base(a0, 0, [l0]), serviceAddress: '999 Nowhere Boulevard, XX1 1XX' }, ['018'], 'another address');
  add({ ...base(a0, 1, [l0]), contactName: '', contactPhone: '', contactEmail: '' }, ['501'], 'no contact');
  add({ ...base(a0, 2, [l0]), loa: 'no' }, ['501'], 'LOA box not checked');
  add({ ...base(a0, 0, [l0]), pin: wrongPin(accountPin(pop, a0)), loa: 'no' }, ['018', '501'], 'wrong PIN and no LOA: two codes');
  add({ ...base(a0, 1, [l0]), action: 'cancel' }, ['201'], 'cancelled');
  const dup = base(a1, 1, [l1]);
  add(dup, [], 'first of a pair with one request id');
  add({ ...dup, line: dup.line + 1000 }, ['200'], 'the same request id again');
  // 052: the largest account (a PBX) at a page size that makes its CSR too long (the test sets it).
  let big = accounts[0]!;
  for (const a of accounts) if ((pop.accLines[a] as number) > (pop.accLines[big] as number)) big = a;
  add(base(big, 0, activeLines(big).slice(0, 2)), ['052'], `the largest account (${pop.accLines[big]} lines)`);
  return out;
}
