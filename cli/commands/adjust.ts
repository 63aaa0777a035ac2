/** `cdr-pipeline adjust`: care adjustments on disputed charges (issue #16 item 4; care/README.md). */
import { readFileSync } from 'node:fs';
import { common, configFrom, loggerFor, out, UsageError, type Command, type Values } from '../command.js';

const str = (v: string | boolean | undefined): string => (typeof v === 'string' ? v : '');

export const adjust: Command = {
  summary: 'care adjustments: credit a disputed charge (CDR or invoice line) within role limits, or queue it for approval; approve, reject, list',
  usage: `cdr-pipeline adjust --id ID (--record R [--charge-type usage|surcharge] | --invoice I --line N) [--amount X] --reason CODE --agent A --role ROLE [--note TEXT]
       cdr-pipeline adjust --file FILE
       cdr-pipeline adjust approve|reject ID --agent A --role ROLE [--note TEXT]
       cdr-pipeline adjust list [--status pending-approval|applied|rejected] [--period YYYY-MM]
       cdr-pipeline adjust reasons`,
  options: {
    ...common,
    id: { type: 'string' },
    record: { type: 'string' },
    'charge-type': { type: 'string' },
    invoice: { type: 'string' },
    line: { type: 'string' },
    amount: { type: 'string' },
    reason: { type: 'string' },
    note: { type: 'string' },
    agent: { type: 'string' },
    role: { type: 'string' },
    file: { type: 'string' },
    status: { type: 'string' },
    period: { type: 'string' },
    policy: { type: 'string' },
    format: { type: 'string' },
  },
  help: `Credits a disputed charge: one invoice line, named directly (--invoice I --line N) or through the CDR it bills
(--record R, its usage line, or --charge-type surcharge). Allowed only on a charge that exists and was billed
(an imported invoice line), for a reason of the catalogue (\`adjust reasons\`), and for at most what is left
of the line (default: all of it). Within the role's limits (per adjustment, and per UTC day of the agent's own
adjustments) it is applied; above them it is refused and queued for approval, which an approving role
(supervisor) gives or refuses with \`adjust approve|reject ID\`. Stored in ClickHouse (care_adjustments) with
who, why, when and the original amount; \`report reconcile\` compares billed - adjusted with rated, and
\`report subscriber\` lists the adjustments beside the records.
The same adjustment id is never applied twice: a resubmission (also a concurrent one, or from another file)
answers "already-applied". An id used before for another adjustment is refused (ID_REUSED).

    --id ID                   the adjustment id (the idempotency key; letters, digits, . _ : -)
    --record R                the CDR (record id) whose charge is credited
    --charge-type T           usage (default) or surcharge: which line of the CDR
    --invoice I --line N      the invoice line instead (any charge type: recurring, feature, one-off too)
    --amount X                exact amount to credit (default: what is left of the line)
    --reason CODE             a reason of the catalogue
    --note TEXT               free text kept with the adjustment
    --agent A --role ROLE     who adjusts, and the role whose limits apply (policy roles)
    --file FILE               many adjustments: CSV with a header, or JSON lines (columns adjustment_id, reason,
                              agent, role, and record_id [charge_type] or invoice_id + line_no, optional amount,
                              note). Validated whole first: a malformed file is reported with line numbers and
                              nothing from it is applied (exit 2)
    --status S, --period P    \`list\`: only adjustments of this status / billing period
    --policy FILE             the care policy (default care.policyFile, else schemas/care/policy.json)
    --format table|json|csv   output (default table)
Exit codes: 0 applied (or already applied: nothing done twice; or decided by \`approve|reject\`), 3 refused
and queued for approval (over a limit), 4 refused (code and reason in the output: UNKNOWN_ROLE,
UNKNOWN_REASON, NOT_FOUND, NOT_BILLED, AMBIGUOUS, EXCEEDS_CHARGE, ALREADY_CREDITED, ID_REUSED, NOT_PENDING,
NOT_APPROVER, SELF_APPROVAL, OVER_APPROVER_LIMIT), 2 usage error or malformed file, 1 runtime failure.
For a file: 4 when any was refused, else 3 when any was queued, else 0.`,
  async run(values, positionals) {
    const [sub, arg] = positionals;
    const format = values.format ?? 'table';
    if (format !== 'table' && format !== 'json' && format !== 'csv') throw new UsageError(`--format expects table, json or csv, got ${String(format)}`);
    const cfg = configFrom(values);
    const log = loggerFor(cfg);
    const { loadPolicy, PolicyError } = await import('../../care/policy.js');
    let policy: import('../../care/policy.js').CarePolicy;
    try {
      policy = loadPolicy(str(values.policy) || cfg.care.policyFile);
    } catch (err) {
      if (err instanceof PolicyError) throw new UsageError(err.message);
      throw err;
    }
    const { renderCsv, renderTable } = await import('../../reports/output.js');
    const print = (rows: Record<string, unknown>[]) => out(format === 'json' ? JSON.stringify(rows, null, 2) : format === 'csv' ? renderCsv(rows) : renderTable(rows));
    if (sub === 'reasons') {
      print([...policy.reasons].map(([code, description]) => ({ code, description })));
      return 0;
    }
    const care = await import('../../care/adjustments.js');
    let requests: import('../../care/adjustments.js').AdjustmentRequest[] | undefined;
    let source = 'cli';
    if (sub === undefined) requests = await requestsFrom(values);
    else if (sub !== 'approve' && sub !== 'reject' && sub !== 'list') throw new UsageError(`unknown subcommand "${sub}": adjust [--file FILE | options], adjust approve|reject ID, adjust list, adjust reasons`);
    else if ((sub === 'approve' || sub === 'reject') && (arg === undefined || str(values.agent) === '' || str(values.role) === '')) throw new UsageError(`usage: cdr-pipeline adjust ${sub} ID --agent A --role ROLE`);
    if (sub === undefined && typeof values.file === 'string') source = values.file;
    const { connectClickHouse, applyMigrations } = await import('../../pipeline/app.js');
    const conn = await connectClickHouse(cfg);
    try {
      await applyMigrations(conn, log);
      if (sub === 'list') {
        const rows = await care.listAdjustments(conn, { status: str(values.status) || undefined, period: str(values.period) || undefined });
        print(rows.map(({ submission: _s, state: _st, msisdn: _m, ...r }) => r));
        return 0;
      }
      const opts = { nowMs: Date.now(), source };
      const results =
        sub === undefined
          ? await care.applyAdjustments(conn, policy, requests!, opts)
          : [await care.decide(conn, policy, { adjustmentId: arg!, approver: str(values.agent), role: str(values.role), approve: sub === 'approve', note: str(values.note) }, opts)];
      print(results.map((r) => ({ adjustment_id: r.adjustmentId, ...(r.line > 0 ? { line: r.line } : {}), outcome: r.outcome, code: r.code, amount: r.amount, currency: r.currency, invoice_line: r.invoiceId ? `${r.invoiceId}/${r.lineNo}` : '', original_amount: r.originalAmount, message: r.message })));
      const count = (o: string) => results.filter((r) => r.outcome === o).length;
      // Counts only: ids and amounts are in the output; never a subscriber number in the log.
      log.info({ adjustments: results.length, applied: count('applied'), queued: count('queued'), refused: count('refused'), already: results.length - count('applied') - count('queued') - count('refused') }, 'adjustments processed');
      for (const r of results) if (r.outcome === 'refused' && format !== 'table') process.stderr.write(`cdr-pipeline adjust: ${r.adjustmentId} refused (${r.code}): ${r.message}\n`);
      return care.exitCodeOf(results);
    } finally {
      await conn.close();
    }
  },
};

/** The requests of `--file FILE`, or the one of the options; a malformed file or bad options are a UsageError (exit 2). */
async function requestsFrom(values: Values): Promise<import('../../care/adjustments.js').AdjustmentRequest[]> {
  const { parseAdjustments, requestOf, AdjustmentFileError } = await import('../../care/requests.js');
  if (typeof values.file === 'string') {
    for (const k of ['id', 'record', 'invoice', 'line', 'amount', 'reason', 'agent', 'role', 'charge-type', 'note']) if (values[k] !== undefined) throw new UsageError(`--file takes every adjustment from the file: --${k} is not allowed with it`);
    try {
      return parseAdjustments(readFileSync(values.file), values.file);
    } catch (err) {
      if (err instanceof AdjustmentFileError) throw new UsageError(err.message);
      throw err;
    }
  }
  const problems: string[] = [];
  const fields: Record<string, string | undefined> = {
    adjustment_id: str(values.id),
    record_id: str(values.record),
    charge_type: str(values['charge-type']),
    invoice_id: str(values.invoice),
    line_no: str(values.line),
    amount: str(values.amount),
    reason: str(values.reason),
    note: str(values.note),
    agent: str(values.agent),
    role: str(values.role),
  };
  const r = requestOf((k) => fields[k], 0, problems);
  const option: Record<string, string> = { adjustment_id: '--id', record_id: '--record', invoice_id: '--invoice', line_no: '--line', charge_type: '--charge-type', amount: '--amount', reason: '--reason', agent: '--agent', role: '--role' };
  if (!r) throw new UsageError(problems.map((p) => p.replace(/\b(adjustment_id|record_id|invoice_id|line_no|charge_type|reason|agent|role)\b(?= )/g, (m) => option[m] ?? m)).join('; '));
  return [r];
}
