/**
 * Cross-checks between PromQL written in dashboards/alert rules and the metrics the pipeline exports
 * (pipeline/telemetry.ts): a renamed metric or label would otherwise only show up as an empty panel or an
 * alert that can never fire. Not a PromQL parser: enough of the grammar to find metric and label names.
 */
import { readFileSync } from 'node:fs';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricDef {
  name: string;
  type: MetricType;
  labels: string[];
}

/** The metrics created in a telemetry source file (`new client.Counter({ name: '...', labelNames: [...] })`). */
export function metricsFromTelemetry(path: string): Map<string, MetricDef> {
  const src = readFileSync(path, 'utf8');
  const defs = new Map<string, MetricDef>();
  const re = /new client\.(Counter|Gauge|Histogram|Summary)\(\{([^]*?)\}\)/g;
  for (const m of src.matchAll(re)) {
    const body = m[2]!;
    const name = /name:\s*'([^']+)'/.exec(body)?.[1];
    if (!name) throw new Error(`metric without a literal name in ${path}: ${body.slice(0, 80)}`);
    const labels = [.../labelNames:\s*\[([^\]]*)\]/.exec(body)?.[1]?.matchAll(/'([^']+)'/g) ?? []].map((x) => x[1]!);
    defs.set(name, { name, type: m[1]!.toLowerCase() as MetricType, labels });
  }
  return defs;
}

/** Series names a scrape of these metrics contains: histograms add _bucket (with `le`), _sum and _count. */
export function exportedSeries(defs: Map<string, MetricDef>): Map<string, { def: MetricDef; labels: string[] }> {
  const out = new Map<string, { def: MetricDef; labels: string[] }>();
  for (const def of defs.values()) {
    if (def.type === 'histogram') {
      out.set(`${def.name}_bucket`, { def, labels: [...def.labels, 'le'] });
      out.set(`${def.name}_sum`, { def, labels: def.labels });
      out.set(`${def.name}_count`, { def, labels: def.labels });
    } else if (def.type === 'summary') {
      out.set(def.name, { def, labels: [...def.labels, 'quantile'] });
      out.set(`${def.name}_sum`, { def, labels: def.labels });
      out.set(`${def.name}_count`, { def, labels: def.labels });
    } else {
      out.set(def.name, { def, labels: def.labels });
    }
  }
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'atan2', 'inf', 'nan', 'Inf', 'NaN']);

export interface PromqlRefs {
  metrics: string[];
  labels: string[];
}

/** Metric names and label names (matchers, grouping and label functions' arguments are not included) an expression uses. */
export function promqlRefs(expr: string): PromqlRefs {
  const labels: string[] = [];
  let s = expr.replace(/#.*$/gm, ' ');
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const m of inner.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.push(m[1]!);
    return ' ';
  });
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, list: string) => {
    for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) labels.push(l);
    return ' ';
  });
  const metrics: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index - 1];
    if (before !== undefined && /[0-9.$]/.test(before)) continue; // 5m, 1e6, $var
    if (KEYWORDS.has(word)) continue;
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // function call
    metrics.push(word);
  }
  return { metrics, labels };
}

/** A Grafana Prometheus variable query: label_values(metric, label), label_values(label), metrics(re), query_result(expr). */
export function variableQueryRefs(query: string): PromqlRefs {
  const lv = /^\s*label_values\(\s*(?:(.+),)?\s*(\w+)\s*\)\s*$/.exec(query);
  if (lv) {
    const inner = lv[1] ? promqlRefs(lv[1]) : { metrics: [], labels: [] };
    return { metrics: inner.metrics, labels: [...inner.labels, lv[2]!] };
  }
  const qr = /^\s*query_result\((.*)\)\s*$/.exec(query);
  if (qr) return promqlRefs(qr[1]!);
  throw new Error(`unsupported variable query: ${query}`);
}

/**
 * Problems with an expression: metric names the pipeline does not export (beyond `allowedExtra`, e.g.
 * Prometheus's `up`), and label names none of the referenced series carry (job and instance are added by
 * Prometheus at scrape time).
 */
export function checkRefs(refs: PromqlRefs, series: Map<string, { labels: string[] }>, allowedExtra: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const known = new Set(['job', 'instance', '__name__']);
  for (const name of refs.metrics) {
    const s = series.get(name);
    if (s) s.labels.forEach((l) => known.add(l));
    else if (!allowedExtra.has(name)) problems.push(`unknown metric ${name}`);
  }
  if (refs.metrics.length === 0) problems.push('no metric referenced');
  for (const l of refs.labels) if (!known.has(l)) problems.push(`label ${l} is not on ${refs.metrics.join(', ')}`);
  return problems;
}
