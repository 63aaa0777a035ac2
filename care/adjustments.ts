/**
 * Care adjustments against ClickHouse (issue #16 item 4; care/README.md): a credit on a disputed charge, i.e.
 * on one invoice line (chosen directly, or through the CDR it bills), for a reason of the catalogue, within the
 * agent role's limits or queued for a supervisor's approval; stored in care_adjustments
 * (schemas/ddl/0032_care_adjustments.sql) with who, why, when and the original amount.
 *
 * Never twice: the adjustment id is the key. A resubmitted id is answered from the stored row (the same content:
 * "already applied"; other content: refused ID_REUSED). Two submissions racing each other both pass that check,
 * so the insert itself decides: it carries the deduplication token `adjust:<id>:submit` (a supervisor's decision
 * `adjust:<id>:decide`) and ClickHouse drops
 * the second block with that token; each submitter then reads the stored row back, and only the one whose
 * `submission` nonce is stored reports "applied". The table is a ReplacingMergeTree on the id as well, so a
 * duplicate that got past both (beyond the deduplication window) still counts once for every FINAL reader.
 */
import { randomUUID } from 'node:crypto';
import { sqlString, type ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { checkRequest, formatMicros, limitDecision, parseAmount, Refusal, SCALE, type CarePolicy, type QueueCode, type RefusalCode } from './policy.js';
import { parseMoney } from '../schemas/reference.js';

export interface AdjustmentRequest {
  adjustmentId: string;
  /** The CDR whose charge is credited (with chargeType), or ... */
  recordId: string;
  /** usage (default) or surcharge: which line of the CDR. */
  chargeType: string;
  /** ... the invoice line itself (invoiceId + lineNo). */
  invoiceId: string;
  lineNo: number | undefined;
  /** Exact decimal; empty = what is left of the line (the whole line when nothing was credited yet). */
  amount: string;
  reason: string;
  note: string;
  agent: string;
  role: string;
  /** Line of the request file (0 for the command line). */
  line: number;
}

export type Outcome = 'applied' | 'queued' | 'rejected' | 'already-applied' | 'already-queued' | 'already-rejected' | 'refused';

export interface AdjustmentResult {
  adjustmentId: string;
  outcome: Outcome;
  /** Refusal or queue code; '' when applied. */
  code: RefusalCode | QueueCode | '';
  /** Why (refused, queued) or what happened, for people. */
  message: string;
  amount: string;
  originalAmount: string;
  currency: string;
  invoiceId: string;
  lineNo: number;
  recordId: string;
  line: number;
}

/** An invoice line as care adjusts it. */
interface ChargeLine {
  period: string;
  account_id: string;
  invoice_id: string;
  line_no: number;
  msisdn: string;
  charge_type: string;
  service: string;
  record_id: string;
  amount: string;
  currency: string;
}

/** A stored adjustment (newest state, FINAL). */
export interface StoredAdjustment {
  adjustment_id: string;
  state: string;
  status: 'pending-approval' | 'applied' | 'rejected';
  submission: string;
  period: string;
  account_id: string;
  msisdn: string;
  invoice_id: string;
  line_no: number;
  charge_type: string;
  service: string;
  record_id: string;
  original_amount: string;
  amount: string;
  currency: string;
  reason: string;
  note: string;
  agent: string;
  role: string;
  requested_at: string;
  queued_because: string;
  decided_by: string;
  decided_role: string;
  decided_at: string | null;
  source: string;
}

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
const micros = (s: string) => parseMoney(s, SCALE);

const STORED_COLUMNS = `adjustment_id, state, toString(status) AS status, submission, toString(period) AS period, account_id, msisdn, invoice_id, line_no, toString(charge_type) AS charge_type,
  toString(service) AS service, record_id, toString(original_amount) AS original_amount, toString(amount) AS amount, toString(currency) AS currency, toString(reason) AS reason,
  note, agent, toString(role) AS role, toString(requested_at) AS requested_at, queued_because, decided_by, toString(decided_role) AS decided_role, toString(decided_at) AS decided_at, source`;

/** Money keeps its 6 decimals on the way out ("12.500000"), as in the reports. */
const SETTINGS = { output_format_decimal_trailing_zeros: 1 } as const;

/** Amounts with their 6 decimals, whatever ClickHouse's text form ("0.3678" -> "0.367800"). */
const exact = (a: StoredAdjustment): StoredAdjustment => ({ ...a, amount: formatMicros(micros(a.amount)), original_amount: formatMicros(micros(a.original_amount)) });

export async function readAdjustment(conn: ClickHouseConnection, id: string): Promise<StoredAdjustment | undefined> {
  const [row] = await conn.query<StoredAdjustment>(`SELECT ${STORED_COLUMNS} FROM care_adjustments FINAL WHERE adjustment_id = ${sqlString(id)}`, SETTINGS);
  return row && exact(row);
}

/** Adjustments as stored (newest state of each), optionally of one status, oldest first. */
export async function listAdjustments(conn: ClickHouseConnection, where: { status?: string; period?: string; msisdn?: string } = {}): Promise<StoredAdjustment[]> {
  const cond = ['1'];
  if (where.status) cond.push(`status = ${sqlString(where.status)}`);
  if (where.period) cond.push(`period = ${sqlString(where.period)}`);
  if (where.msisdn) cond.push(`msisdn = ${sqlString(where.msisdn)}`);
  return (await conn.query<StoredAdjustment>(`SELECT ${STORED_COLUMNS} FROM care_adjustments FINAL WHERE ${cond.join(' AND ')} ORDER BY requested_at, adjustment_id`, SETTINGS)).map(exact);
}

/** The invoice line a request points at, or why there is none. */
async function chargeOf(conn: ClickHouseConnection, r: AdjustmentRequest): Promise<ChargeLine | Refusal> {
  const cols = `toString(period) AS period, account_id, invoice_id, line_no, msisdn, toString(charge_type) AS charge_type, toString(service) AS service, record_id, toString(amount) AS amount, toString(currency) AS currency`;
  if (r.invoiceId !== '') {
    const rows = await conn.query<ChargeLine>(`SELECT ${cols} FROM invoice_lines FINAL WHERE invoice_id = ${sqlString(r.invoiceId)} AND line_no = ${Number(r.lineNo)}`, SETTINGS);
    if (rows.length === 0) return new Refusal('NOT_FOUND', `invoice line ${r.invoiceId}/${r.lineNo} does not exist (not in the imported invoices)`);
    rows[0]!.amount = formatMicros(micros(rows[0]!.amount));
    if (r.recordId !== '' && rows[0]!.record_id !== r.recordId) return new Refusal('NOT_FOUND', `invoice line ${r.invoiceId}/${r.lineNo} does not bill CDR ${r.recordId}`);
    return rows[0]!;
  }
  const rows = await conn.query<ChargeLine>(`SELECT ${cols} FROM invoice_lines FINAL WHERE record_id = ${sqlString(r.recordId)} AND charge_type = ${sqlString(r.chargeType)} ORDER BY invoice_id, line_no`, SETTINGS);
  if (rows.length === 1) return { ...rows[0]!, amount: formatMicros(micros(rows[0]!.amount)) };
  if (rows.length > 1) return new Refusal('AMBIGUOUS', `CDR ${r.recordId} is billed on ${rows.length} ${r.chargeType} lines (${rows.map((l) => `${l.invoice_id}/${l.line_no}`).join(', ')}): name the line with --invoice and --line`);
  const [cdr] = await conn.query<{ n: string }>(`SELECT count() AS n FROM cdrs WHERE record_id = ${sqlString(r.recordId)}`);
  if (Number(cdr?.n ?? 0) === 0) return new Refusal('NOT_FOUND', `CDR ${r.recordId} does not exist`);
  return new Refusal('NOT_BILLED', `CDR ${r.recordId} was not billed (no ${r.chargeType} line on any imported invoice): nothing to credit`);
}

/** What applied adjustments already credited on a line (micro-units). */
async function creditedOn(conn: ClickHouseConnection, l: ChargeLine): Promise<bigint> {
  const [row] = await conn.query<{ credited: string }>(
    `SELECT toString(sum(amount)) AS credited FROM care_adjustments FINAL WHERE status = 'applied' AND period = ${sqlString(l.period)} AND account_id = ${sqlString(l.account_id)} AND invoice_id = ${sqlString(l.invoice_id)} AND line_no = ${Number(l.line_no)}`,
  );
  return micros(row?.credited ?? '0');
}

/** What an agent applied on their own authority (or approved) on the UTC day of `nowMs` (micro-units). */
async function usedOnDay(conn: ClickHouseConnection, agent: string, nowMs: number): Promise<bigint> {
  const [row] = await conn.query<{ used: string }>(
    `SELECT toString(sum(amount)) AS used FROM care_adjustments FINAL WHERE status = 'applied' AND decided_by = ${sqlString(agent)} AND toDate(decided_at) = toDate(${sqlString(chTime(nowMs))})`,
  );
  return micros(row?.used ?? '0');
}

/** The same request as the stored one (a resubmission), judged on what the request names. */
function sameRequest(s: StoredAdjustment, r: AdjustmentRequest, amount: bigint | undefined): boolean {
  return (
    s.agent === r.agent &&
    s.reason === r.reason &&
    (r.recordId === '' || s.record_id === r.recordId) &&
    (r.invoiceId === '' || (s.invoice_id === r.invoiceId && Number(s.line_no) === r.lineNo)) &&
    (amount === undefined || micros(s.amount) === amount)
  );
}

function resultOf(r: AdjustmentRequest, outcome: Outcome, code: AdjustmentResult['code'], message: string, l?: { amount: string; original_amount?: string; currency: string; invoice_id: string; line_no: number; record_id: string }): AdjustmentResult {
  return {
    adjustmentId: r.adjustmentId,
    outcome,
    code,
    message,
    amount: l && 'original_amount' in l ? l.amount : '',
    originalAmount: l ? (l.original_amount ?? l.amount) : '',
    currency: l?.currency ?? '',
    invoiceId: l?.invoice_id ?? r.invoiceId,
    lineNo: l ? Number(l.line_no) : (r.lineNo ?? 0),
    recordId: l?.record_id ?? r.recordId,
    line: r.line,
  };
}

function alreadyOutcome(s: StoredAdjustment): Outcome {
  return s.status === 'applied' ? 'already-applied' : s.status === 'rejected' ? 'already-rejected' : 'already-queued';
}

function describeStored(s: StoredAdjustment): string {
  return s.status === 'applied'
    ? `already applied (${s.amount} ${s.currency} by ${s.decided_by} at ${s.decided_at}): not applied again`
    : s.status === 'rejected'
      ? `already rejected by ${s.decided_by} at ${s.decided_at}`
      : `already queued for approval since ${s.requested_at} (${s.queued_because})`;
}

/** Inserts one state row; true when the stored row is this submission's (false: another submission won). */
async function insertState(conn: ClickHouseConnection, row: Omit<StoredAdjustment, 'state' | 'submission' | 'decided_at'> & { decided_at: string | null }, state: 1 | 2, step: 'submit' | 'decide'): Promise<{ won: boolean; stored: StoredAdjustment }> {
  const submission = randomUUID();
  // One token for the submission (whatever its state: two racing submissions may judge the daily limit
  // differently) and one for the decision on a queued adjustment.
  await conn.insert('care_adjustments', JSON.stringify({ ...row, state, submission }) + '\n', { insert_deduplication_token: `adjust:${row.adjustment_id}:${step}` });
  const stored = await readAdjustment(conn, row.adjustment_id);
  if (!stored) throw new Error(`adjustment ${row.adjustment_id} was inserted but cannot be read back`);
  return { won: stored.submission === submission && Number(stored.state) === state, stored };
}

export interface ApplyOptions {
  nowMs: number;
  /** Where the request came from (file name, or "cli"). */
  source: string;
}

/**
 * Applies (or queues, or refuses) each request, one after another: a request's daily limit sees the ones
 * before it. Never throws for a refusal; ClickHouse failures propagate.
 */
export async function applyAdjustments(conn: ClickHouseConnection, policy: CarePolicy, requests: readonly AdjustmentRequest[], o: ApplyOptions): Promise<AdjustmentResult[]> {
  const out: AdjustmentResult[] = [];
  for (const r of requests) out.push(await applyOne(conn, policy, r, o));
  return out;
}

async function applyOne(conn: ClickHouseConnection, policy: CarePolicy, r: AdjustmentRequest, o: ApplyOptions): Promise<AdjustmentResult> {
  const limits = checkRequest(policy, r.role, r.reason);
  if (limits instanceof Refusal) return resultOf(r, 'refused', limits.code, limits.message);
  let asked: bigint | undefined;
  if (r.amount !== '') {
    const a = parseAmount(r.amount);
    if ('problem' in a) throw new Error(`adjustment ${r.adjustmentId}: ${a.problem}`); // validated at the boundary (parseAdjustments)
    asked = a.micros;
  }
  const prior = await readAdjustment(conn, r.adjustmentId);
  if (prior) {
    if (!sameRequest(prior, r, asked)) return resultOf(r, 'refused', 'ID_REUSED', `adjustment id ${r.adjustmentId} was used before for another adjustment (${prior.invoice_id}/${prior.line_no}, ${prior.amount} ${prior.currency}, ${prior.reason}, agent ${prior.agent}): choose a new id`, prior);
    return resultOf(r, alreadyOutcome(prior), '', describeStored(prior), prior);
  }
  const charge = await chargeOf(conn, r);
  if (charge instanceof Refusal) return resultOf(r, 'refused', charge.code, charge.message);
  const original = micros(charge.amount);
  const left = original - (await creditedOn(conn, charge));
  if (left <= 0n) return resultOf(r, 'refused', 'ALREADY_CREDITED', `invoice line ${charge.invoice_id}/${charge.line_no} (${charge.amount} ${charge.currency}) is already credited in full`, charge);
  const amount = asked ?? left;
  if (amount > left) return resultOf(r, 'refused', 'EXCEEDS_CHARGE', `${formatMicros(amount)} is more than is left to credit on invoice line ${charge.invoice_id}/${charge.line_no} (${formatMicros(left)} of ${charge.amount} ${charge.currency})`, charge);
  const decision = limitDecision(limits, r.role, amount, await usedOnDay(conn, r.agent, o.nowMs));
  const now = chTime(o.nowMs);
  const row = {
    adjustment_id: r.adjustmentId,
    status: decision.apply ? ('applied' as const) : ('pending-approval' as const),
    period: charge.period,
    account_id: charge.account_id,
    msisdn: charge.msisdn,
    invoice_id: charge.invoice_id,
    line_no: Number(charge.line_no),
    charge_type: charge.charge_type,
    service: charge.service,
    record_id: charge.record_id,
    original_amount: charge.amount,
    amount: formatMicros(amount),
    currency: charge.currency,
    reason: r.reason,
    note: r.note,
    agent: r.agent,
    role: r.role,
    requested_at: now,
    queued_because: decision.apply ? '' : decision.message,
    decided_by: decision.apply ? r.agent : '',
    decided_role: decision.apply ? r.role : '',
    decided_at: decision.apply ? now : null,
    source: o.source,
  };
  const { won, stored } = await insertState(conn, row, decision.apply ? 2 : 1, 'submit');
  if (!won) {
    // A racing submission of the same id got there first.
    if (!sameRequest(stored, r, asked)) return resultOf(r, 'refused', 'ID_REUSED', `adjustment id ${r.adjustmentId} was just used by another submission for another adjustment: choose a new id`, stored);
    return resultOf(r, alreadyOutcome(stored), '', describeStored(stored), stored);
  }
  if (decision.apply) return resultOf(r, 'applied', '', `credited ${stored.amount} ${stored.currency} on invoice line ${stored.invoice_id}/${stored.line_no} (${stored.charge_type}, original ${stored.original_amount})`, stored);
  return resultOf(r, 'queued', decision.code, `refused and queued for approval: ${decision.message}`, stored);
}

export interface Decision {
  adjustmentId: string;
  approver: string;
  role: string;
  /** approve (apply it) or reject. */
  approve: boolean;
  note?: string;
}

/** A supervisor's decision on a queued adjustment. Refusals are results; ClickHouse failures propagate. */
export async function decide(conn: ClickHouseConnection, policy: CarePolicy, d: Decision, o: ApplyOptions): Promise<AdjustmentResult> {
  const r: AdjustmentRequest = { adjustmentId: d.adjustmentId, recordId: '', chargeType: '', invoiceId: '', lineNo: undefined, amount: '', reason: '', note: '', agent: d.approver, role: d.role, line: 0 };
  const limits = policy.roles.get(d.role);
  if (!limits) return resultOf(r, 'refused', 'UNKNOWN_ROLE', `role "${d.role}" is not in the care policy (${[...policy.roles.keys()].join(', ')})`);
  if (!limits.approve) return resultOf(r, 'refused', 'NOT_APPROVER', `role "${d.role}" may not approve or reject adjustments (the policy's approving roles: ${[...policy.roles].filter(([, l]) => l.approve).map(([k]) => k).join(', ') || 'none'})`);
  const s = await readAdjustment(conn, d.adjustmentId);
  if (!s) return resultOf(r, 'refused', 'NOT_FOUND', `no adjustment ${d.adjustmentId}`);
  if (s.status !== 'pending-approval') return resultOf(r, alreadyOutcome(s), 'NOT_PENDING', describeStored(s), s);
  if (s.agent === d.approver) return resultOf(r, 'refused', 'SELF_APPROVAL', `${d.approver} requested adjustment ${d.adjustmentId}: another approver must decide`, s);
  const amount = micros(s.amount);
  if (d.approve) {
    if (amount > limits.perAdjustment) return resultOf(r, 'refused', 'OVER_APPROVER_LIMIT', `${s.amount} is above the ${d.role} limit of ${formatMicros(limits.perAdjustment)} per adjustment: a role with a higher limit must approve`, s);
    const used = await usedOnDay(conn, d.approver, o.nowMs);
    if (used + amount > limits.perDay) return resultOf(r, 'refused', 'OVER_APPROVER_LIMIT', `${formatMicros(used)} already adjusted or approved today + ${s.amount} is above the ${d.role} limit of ${formatMicros(limits.perDay)} per day`, s);
    const left = micros(s.original_amount) - (await creditedOn(conn, s));
    if (amount > left) return resultOf(r, 'refused', 'EXCEEDS_CHARGE', `${s.amount} is more than is left to credit on invoice line ${s.invoice_id}/${s.line_no} (${formatMicros(left)}): credited by other adjustments meanwhile`, s);
  }
  const { state: _state, submission: _sub, ...rest } = s;
  const now = chTime(o.nowMs);
  const row = { ...rest, status: d.approve ? ('applied' as const) : ('rejected' as const), note: d.note ? `${s.note}${s.note ? ' | ' : ''}${d.note}` : s.note, decided_by: d.approver, decided_role: d.role, decided_at: now, line_no: Number(s.line_no), source: s.source };
  const { won, stored } = await insertState(conn, row, 2, 'decide');
  if (!won) return resultOf(r, alreadyOutcome(stored), 'NOT_PENDING', describeStored(stored), stored);
  return resultOf(r, d.approve ? 'applied' : 'rejected', '', d.approve ? `approved: credited ${stored.amount} ${stored.currency} on invoice line ${stored.invoice_id}/${stored.line_no}` : `rejected: nothing credited`, stored);
}

/** Exit code of a run of results (care/README.md): 4 any refused, else 3 any queued, else 0. */
export function exitCodeOf(results: readonly AdjustmentResult[]): number {
  if (results.some((x) => x.outcome === 'refused')) return 4;
  if (results.some((x) => x.outcome === 'queued' || x.outcome === 'already-queued')) return 3;
  return 0;
}
