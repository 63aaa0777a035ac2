/** Reference data and tariffs reload without a restart; a change that does not load keeps the old version. */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createTraffic, writeReference } from '../simulators/traffic/index.js';
import { defaultTariffPath } from '../enrich/rate/index.js';
import { watchRatingStage } from '../enrich/rate/stage.js';

it('swaps in changed reference data atomically, and keeps the old version when the change is invalid', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reload-'));
  const start = Date.UTC(2026, 9, 5, 6);
  const traffic = createTraffic({ seed: 3, subscribers: 300, startMs: start, endMs: start + 3_600_000, scenarios: 'none' });
  writeReference(dir, traffic.reference());
  const book = join(dir, 'tariffs.json');
  copyFileSync(defaultTariffPath(), book);
  const reloads: string[] = [];
  const errors: string[] = [];
  const w = watchRatingStage(dir, book, 0, { onReload: (s) => reloads.push(s.version), onError: (e) => errors.push(e.message) });
  const cdr = [...traffic.records()].find((c) => c.eventType === 'VOICE_MO' && c.billableMs > 60_000)!;
  const v1 = w.current().version;
  const sc = () => [{ cdr, topic: 't', partition: 0, offset: '0' }] as Parameters<ReturnType<typeof w.current>['rateBatch']>[0];
  const first = sc();
  w.current().rateBatch(first);
  expect(first[0]!.rated!.rating_status).toBe('RATED');
  expect(w.check()).toBe(false);

  // The served line is removed from the inventory: the next batch is rated against the new data.
  const lines = readFileSync(join(dir, 'lines.csv'), 'utf8').split('\n');
  writeFileSync(join(dir, 'lines.csv'), lines.filter((l) => !l.startsWith(cdr.servedMsisdn + ',')).join('\n'));
  expect(w.check()).toBe(true);
  const v2 = w.current().version;
  expect(v2).not.toBe(v1);
  expect(reloads).toEqual([v2]);
  const second = sc();
  w.current().rateBatch(second);
  expect(second[0]!.rated).toMatchObject({ rating_status: 'UNRATED', unrated_reason: 'UNKNOWN_ACCOUNT', rating_version: v2 });

  // A broken tariff book: reported, the version in force stays.
  writeFileSync(book, '{ "format": "nope" ');
  expect(w.check()).toBe(false);
  expect(errors).toHaveLength(1);
  expect(w.current().version).toBe(v2);
  w.stop();
});
