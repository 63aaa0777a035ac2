/**
 * Port answers in ClickHouse for audit (migration 0031_port_responses.sql): one row per answer, never the
 * PIN (only whether one was supplied and matched). The request ids answered before are read back so a
 * resubmitted id is answered 200. Counts per outcome and code go to a Prometheus text file
 * (node_exporter textfile collector format) when asked: a batch command has no /metrics of its own.
 */
import { writeFileSync, renameSync } from 'node:fs';
import type { ClickHouseConnection } from '../sinks/clickhouse/connection.js';
import { sqlString } from '../sinks/clickhouse/connection.js';
import type { PortResponse } from './validate.js';

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

/** Request ids among `ids` answered before. */
export async function answeredBefore(conn: ClickHouseConnection, ids: readonly string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i += 5000) {
    const chunk = ids.slice(i, i + 5000);
    const rows = await conn.query<{ request_id: string }>(`SELECT DISTINCT request_id FROM port_responses WHERE request_id IN (${chunk.map(sqlString).join(', ')})`);
    for (const r of rows) seen.add(r.request_id);
  }
  return seen;
}

export async function storeResponses(conn: ClickHouseConnection, responses: readonly PortResponse[], answeredMs: number, source: string): Promise<void> {
  if (responses.length === 0) return;
  const body = responses
    .map((r) =>
      JSON.stringify({
        request_id: r.requestId,
        answered_at: chTime(answeredMs),
        received_at: chTime(r.receivedMs),
        due_at: chTime(r.dueMs),
        outcome: r.outcome,
        codes: r.codes,
        reason: r.reason,
        account_id: r.accountId,
        telephone_numbers: r.telephoneNumbers,
        requesting_company: r.requestingCompany,
        contact_name: r.contactName,
        loa: r.loa,
        pin_supplied: r.pinSupplied,
        pin_matched: r.pinMatched,
        source,
      }),
    )
    .join('\n');
  // The same batch inserted again (a retry after a timeout) is dropped by the token.
  await conn.insert('port_responses', body + '\n', { insert_deduplication_token: `port:${source}:${answeredMs}:${responses.length}` });
}

/** Counts as Prometheus text: cdr_port_responses_total{outcome,code}. */
export function metricsText(responses: readonly PortResponse[]): string {
  const counts = new Map<string, number>();
  for (const r of responses) {
    const codes = r.codes.length ? r.codes : [''];
    for (const c of codes) {
      const k = `outcome="${r.outcome}",code="${c}"`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return `# HELP cdr_port_responses_total Port-out requests answered, by outcome and rejection code (a request with several codes counts once per code).\n# TYPE cdr_port_responses_total counter\n${[...counts].map(([k, n]) => `cdr_port_responses_total{${k}} ${n}`).join('\n')}\n`;
}

export function writeMetricsFile(path: string, responses: readonly PortResponse[]): void {
  writeFileSync(path + '.tmp', metricsText(responses));
  renameSync(path + '.tmp', path);
}
