/**
 * A small re-implementation of what Grafana and the grafana-clickhouse-datasource plugin do to a panel's
 * raw SQL before ClickHouse sees it, so dashboard tests can run every panel's query on the real engine
 * (chDB) without a Grafana server (no Grafana server can run on the test machines).
 *
 * Order, as in the plugin (src/data/CHDatasource.ts applyTemplateVariables, then the Go backend):
 *   1. frontend macro $__conditionalAll(condition, $var): `1=1` when the variable's current value is All
 *      or empty, else the condition (applyConditionalAll);
 *   2. Grafana template variables: $var, ${var}, ${var:format}, [[var]] (templateSrv.replace);
 *   3. backend macros (pkg/macros/macros.go), with the expansions documented for v4.5+.
 *
 * Only the macros of the pinned plugin version (docker-compose.yml, GF_PLUGINS_PREINSTALL_SYNC) are
 * accepted; anything else throws, so a dashboard cannot use a macro the deployed plugin lacks.
 */

/** grafana-clickhouse-datasource version pinned in docker-compose.yml; test/compose.test.ts checks they agree. */
export const CLICKHOUSE_PLUGIN_VERSION = '4.20.0';

/**
 * Backend macros present in every release from v4.5.0 through the pinned 4.20.0 (pkg/macros/macros.go).
 * v4.19 added $__timeFrom, $__timeTo and $__timeGroup; they are left out on purpose so the dashboards also
 * work on plugin versions 4.5–4.18.
 */
export const BACKEND_MACROS = [
  'fromTime',
  'toTime',
  'fromTime_ms',
  'toTime_ms',
  'timeFilter',
  'timeFilter_ms',
  'dateFilter',
  'dateTimeFilter',
  'dt',
  'timeInterval',
  'timeInterval_ms',
  'interval_s',
] as const;

/** Frontend macros this expander implements ($__adHocFilters exists in the plugin but is not used here). */
export const FRONTEND_MACROS = ['conditionalAll'] as const;

export const SUPPORTED_MACROS: ReadonlySet<string> = new Set<string>([...BACKEND_MACROS, ...FRONTEND_MACROS]);

/** Every `$__name` in a query, in order of appearance (names may repeat). */
export function macrosIn(sql: string): string[] {
  return [...sql.matchAll(/\$__([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

export interface TemplateVariable {
  name: string;
  /** Current value: one value, or several for a multi-value variable; `$__all` for All. */
  current: string | string[];
  /** Every option value (what All expands to when the variable has no allValue). */
  options: string[];
  allValue?: string | undefined;
}

export interface ExpandContext {
  /** Dashboard time range, epoch ms. */
  fromMs: number;
  toMs: number;
  /** The panel's interval (Grafana's $__interval), ms. */
  intervalMs: number;
  variables: TemplateVariable[];
}

/** Arguments of a macro call whose `(` is at `open`: split on top-level commas, raw text kept. */
function macroArgs(sql: string, open: number): { args: string[]; end: number } {
  let depth = 0;
  let quote: string | undefined;
  let start = open + 1;
  const args: string[] = [];
  for (let i = open; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(sql.slice(start, i));
        return { args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  throw new Error(`unbalanced parentheses in macro call at ${open}: ${sql.slice(open - 20, open + 40)}`);
}

function isAll(v: TemplateVariable | undefined): boolean {
  if (!v) return false;
  // The plugin compares current.value.toString(): an array ['$__all'] and '$__all' both read as All.
  const s = Array.isArray(v.current) ? v.current.join(',') : v.current;
  return s === '' || s === '$__all';
}

/** Step 1: $__conditionalAll, right to left like the plugin. */
export function applyConditionalAll(sql: string, variables: TemplateVariable[]): string {
  const macro = '$__conditionalAll(';
  let at = sql.lastIndexOf(macro);
  while (at !== -1) {
    const { args, end } = macroArgs(sql, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`$__conditionalAll takes 2 arguments, got ${args.length}: ${sql.slice(at, end)}`);
    const ref = /(?<=\$\{)\w+(?=\})|(?<=\$)\w+/.exec(args[1]!.trim());
    if (!ref) throw new Error(`$__conditionalAll's second argument must be a variable: ${args[1]}`);
    const variable = variables.find((v) => v.name === ref[0]);
    if (!variable) throw new Error(`$__conditionalAll refers to unknown variable ${ref[0]}`);
    const phrase = isAll(variable) ? '1=1' : args[0]!;
    sql = sql.slice(0, at) + phrase + sql.slice(end);
    at = sql.lastIndexOf(macro);
  }
  return sql;
}

function values(v: TemplateVariable): string[] {
  const cur = Array.isArray(v.current) ? v.current : [v.current];
  if (cur.includes('$__all')) return v.allValue !== undefined ? [v.allValue] : v.options;
  return cur;
}

function format(v: TemplateVariable, fmt: string | undefined): string {
  const vals = values(v);
  const allValue = v.allValue !== undefined && vals.length === 1 && vals[0] === v.allValue;
  switch (fmt) {
    case undefined:
    case 'raw':
    case 'csv':
      return vals.join(',');
    case 'singlequote':
      // Grafana: each value in single quotes, `'` escaped as `\'` (a custom allValue is left raw).
      return allValue ? vals[0]! : vals.map((s) => `'${s.replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return allValue ? vals[0]! : vals.map((s) => `"${s.replace(/"/g, '\\"')}"`).join(',');
    case 'sqlstring':
      return vals.map((s) => `'${s.replace(/'/g, "''")}'`).join(',');
    default:
      throw new Error(`variable format ${fmt} is not implemented by the test expander`);
  }
}

/** Step 2: Grafana template variables. `$__` names are macros or Grafana built-ins and are left alone. */
export function interpolateVariables(sql: string, variables: TemplateVariable[]): string {
  const lookup = (name: string) => {
    const v = variables.find((x) => x.name === name);
    if (!v) throw new Error(`unknown template variable $${name}`);
    return v;
  };
  return sql.replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)/g, (m, n1?: string, f1?: string, n2?: string, f2?: string, n3?: string) => {
    const name = n1 ?? n2 ?? n3!;
    if (name.startsWith('__')) return m;
    return format(lookup(name), f1 ?? f2);
  });
}

const sec = (ms: number) => Math.floor(ms / 1000);
const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Step 3: the backend macros, expansions as in pkg/macros/macros.go (v4.5+). */
export function expandBackendMacros(sql: string, ctx: ExpandContext): string {
  const intervalS = Math.max(Math.floor(ctx.intervalMs / 1000), 1);
  const intervalMs = Math.max(Math.floor(ctx.intervalMs), 1);
  const dt = (ms: number) => `toDateTime(${sec(ms)})`;
  const dt64 = (ms: number) => `fromUnixTimestamp64Milli(${Math.floor(ms)})`;
  const d = (ms: number) => `toDate('${isoDate(ms)}')`;
  const one = (name: string, args: string[]) => {
    if (args.length !== 1) throw new Error(`$__${name} takes 1 argument, got ${args.length}`);
    return args[0]!.trim();
  };
  const expansions: Record<string, (args: string[] | undefined) => string> = {
    fromTime: () => dt(ctx.fromMs),
    toTime: () => dt(ctx.toMs),
    fromTime_ms: () => dt64(ctx.fromMs),
    toTime_ms: () => dt64(ctx.toMs),
    timeFilter: (a) => {
      const c = one('timeFilter', a ?? []);
      return `${c} >= ${dt(ctx.fromMs)} AND ${c} <= ${dt(ctx.toMs)}`;
    },
    timeFilter_ms: (a) => {
      const c = one('timeFilter_ms', a ?? []);
      return `${c} >= ${dt64(ctx.fromMs)} AND ${c} <= ${dt64(ctx.toMs)}`;
    },
    dateFilter: (a) => {
      const c = one('dateFilter', a ?? []);
      return `${c} >= ${d(ctx.fromMs)} AND ${c} <= ${d(ctx.toMs)}`;
    },
    dateTimeFilter: (a) => {
      if (!a || a.length !== 2) throw new Error('$__dateTimeFilter takes 2 arguments');
      const [dc, tc] = [a[0]!.trim(), a[1]!.trim()];
      return `(${dc} >= ${d(ctx.fromMs)} AND ${dc} <= ${d(ctx.toMs)}) AND (${tc} >= ${dt(ctx.fromMs)} AND ${tc} <= ${dt(ctx.toMs)})`;
    },
    timeInterval: (a) => `toStartOfInterval(toDateTime(${one('timeInterval', a ?? [])}), INTERVAL ${intervalS} second)`,
    timeInterval_ms: (a) => `toStartOfInterval(toDateTime64(${one('timeInterval_ms', a ?? [])}, 3), INTERVAL ${intervalMs} millisecond)`,
    interval_s: () => String(intervalS),
  };
  expansions.dt = expansions.dateTimeFilter!;

  let out = '';
  let i = 0;
  const re = /\$__([A-Za-z0-9_]+)/g;
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const name = m[1]!;
    const fn = expansions[name];
    if (!fn) throw new Error(`$__${name} is not a macro of grafana-clickhouse-datasource ${CLICKHOUSE_PLUGIN_VERSION} (or not implemented here)`);
    out += sql.slice(i, m.index);
    const after = m.index + m[0].length;
    if (sql[after] === '(') {
      const { args, end } = macroArgs(sql, after);
      out += fn(args);
      i = end;
    } else {
      out += fn(undefined);
      i = after;
    }
    re.lastIndex = i;
  }
  return out + sql.slice(i);
}

/** All three steps: what ClickHouse receives for a panel target's rawSql. */
export function expandQuery(rawSql: string, ctx: ExpandContext): string {
  for (const name of macrosIn(rawSql)) {
    if (!SUPPORTED_MACROS.has(name)) throw new Error(`unsupported macro $__${name} (plugin ${CLICKHOUSE_PLUGIN_VERSION})`);
  }
  return expandBackendMacros(interpolateVariables(applyConditionalAll(rawSql, ctx.variables), ctx.variables), ctx);
}

/**
 * Grafana relative time (`now`, `now-6h`, `now-30m`, `now-7d`, and future ends such as `now+7d` for forecasts) to
 * epoch ms; rounding (`/d`) is not supported.
 */
export function parseRelativeTime(expr: string, nowMs: number): number {
  if (expr === 'now') return nowMs;
  const m = /^now([+-])(\d+)([smhdw])$/.exec(expr);
  if (!m) throw new Error(`unsupported time expression ${expr}`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[3] as 's' | 'm' | 'h' | 'd' | 'w'];
  return nowMs + (m[1] === '+' ? 1 : -1) * Number(m[2]) * unit;
}

/** Grafana duration strings as used for a panel's min interval (`30s`, `1m`, `5m`, `1h`). */
export function parseDurationMs(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new Error(`unsupported duration ${s}`);
  return Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

/**
 * The interval Grafana hands a panel: range / maxDataPoints (default: about the panel's width in pixels;
 * 1000 here), never below the panel's min interval. Grafana also rounds to a "nice" step; any value is
 * valid SQL, so the test only keeps whole seconds.
 */
export function panelIntervalMs(fromMs: number, toMs: number, minInterval: string | undefined, maxDataPoints = 1000): number {
  const raw = Math.max((toMs - fromMs) / maxDataPoints, minInterval ? parseDurationMs(minInterval) : 1);
  return Math.max(1000, Math.round(raw / 1000) * 1000);
}
