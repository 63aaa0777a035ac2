/**
 * Prometheus configuration and alert rules, checked with the real promtool (Debian bookworm's 2.42, made
 * available without installing anything by test/tools/promtool.sh): the config and rules must load, and
 * the unit tests in alerts.test.yml must pass. Also: every alert has its runbook annotations and a test
 * showing it both firing and quiet, and every expression names only metrics the pipeline exports.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../schemas/index.js';
import { checkRefs, exportedSeries, metricsFromTelemetry, promqlRefs } from './tools/promql.js';

const dir = join(packageRoot, 'dashboards', 'prometheus');
let promtool = '';

function run(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtool, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}`.trim() };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(join(dir, 'alerts.yml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);

interface UnitTests {
  tests: { alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] }[] }[];
}
const unitTests = parse(readFileSync(join(dir, 'alerts.test.yml'), 'utf8')) as UnitTests;

describe('Prometheus rules (promtool)', () => {
  beforeAll(() => {
    promtool = execFileSync('bash', [join(packageRoot, 'test', 'tools', 'promtool.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    expect(promtool).not.toBe('');
  });

  it('promtool check config accepts prometheus.yml and the rule files it loads', () => {
    const r = run('check', 'config', 'prometheus.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('promtool check rules accepts alerts.yml', () => {
    const r = run('check', 'rules', 'alerts.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('promtool test rules passes alerts.test.yml', () => {
    const r = run('test', 'rules', 'alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });
});

describe('alert rules: content', () => {
  const expected = ['PipelineDown', 'PipelineNotReady', 'ConsumerLagHigh', 'DataStale', 'CommitsStalled', 'DeadLettersSpike', 'SinkBackpressure', 'SinkErrors', 'AggregatesNotRefreshed', 'FraudCriticalAlert', 'FraudDetectorStalled'];

  it('defines the expected alerts, each with a severity and runbook-style annotations', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([...expected].sort());
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      for (const k of ['summary', 'description', 'runbook']) expect(a.annotations?.[k]?.length ?? 0, `${a.alert}: ${k}`).toBeGreaterThan(20);
      expect(a.annotations!.runbook, `${a.alert}: runbook should be numbered steps`).toMatch(/^1\. /);
    }
  });

  it('alerts.test.yml shows every alert firing and every alert quiet at least once', () => {
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const name of expected) {
      const mine = cases.filter((c) => c.alertname === name);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${name} never fires in alerts.test.yml`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${name} is never shown quiet in alerts.test.yml`).toBe(true);
    }
  });

  it('expressions use only metrics and labels the pipeline exports (plus Prometheus `up`)', () => {
    const series = exportedSeries(metricsFromTelemetry(join(packageRoot, 'pipeline', 'telemetry.ts')));
    for (const r of rules) {
      const problems = checkRefs(promqlRefs(r.expr), series, new Set(['up']));
      expect(problems, `${r.alert ?? r.record}: ${r.expr}`).toEqual([]);
    }
  });
});
