/**
 * A tariff book for a home country other than GB (issue #13). The bundled book (schemas/tariffs/default.json)
 * prices a UK operator: GBP, Europe/London time bands, England and Wales bank holidays, UK number ranges as
 * national destinations. For a DE operator the same structure (plans, bands, rates, roaming zones) is kept
 * and what is national is swapped: German ranges become the national destinations, the UK an ordinary
 * European one, prices are read as EUR, bands follow Europe/Berlin and German public holidays. Only the
 * evaluation and `generate --reference-out` use it (the product always rates with the book it is given).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTariffPath, loadTariffBook } from '../../enrich/rate/index.js';
import { isoDate } from './calendar.js';
import type { HomePlan } from './home.js';

type Json = Record<string, unknown>;

/** The destinations of the bundled book that are national, re-pointed at the home country's ranges. */
function germanDestinations(plan: HomePlan): Record<string, unknown> {
  const H = plan.operator;
  return {
    UK_GEOGRAPHIC: { description: 'DE geographic (02-09)', prefixes: ['492', '493', '494', '495', '496', '497', '498', '499'] },
    UK_NON_GEOGRAPHIC: { description: 'DE national subscriber numbers (032)', prefixes: ['4932'] },
    UK_MOBILE: { description: 'DE mobile (015x, 016x, 017x)', prefixes: ['4915', '4916', '4917'] },
    UK_ONNET: [H.msisdnBlock],
    ALBION_SERVICES: [H.serviceBlock],
    VOICEMAIL: { description: 'Mailboxes (0157 33 ...), the voicemail platform, retrieval (3311)', prefixes: ['4915733'], shortCodes: [plan.voicemailCode] },
    UK_PERSONAL: { description: 'DE personal numbers (0700)', prefixes: ['49700'] },
    UK_PAGING: { description: 'DE mass-call services (0137)', prefixes: ['49137'] },
    UK_FREEPHONE: ['49800'],
    UK_SHARED_COST: ['49180'],
    UK_PREMIUM: ['49900'],
    UK_OTHER: { description: 'Any other German number', prefixes: ['49'] },
    EMERGENCY: { shortCodes: ['112', '110'] },
    NON_EMERGENCY: { description: 'Public administration (115) and on-call doctors (116117)', shortCodes: ['115', '116117'] },
    CUSTOMER_CARE: { shortCodes: [plan.care] },
    DIRECTORY: { description: 'Directory enquiries 118xx', shortCodes: ['118'] },
    UK_NETWORKS: { description: 'Serving networks (MCC) of data sessions at home', networks: [H.mcc] },
  };
}

/**
 * The tariff book for a home country: null for GB (the bundled book as it is), else a derived book. Names of
 * destinations keep the bundled book's (UK_MOBILE is "national mobile") except that "UK_" reads "DE_".
 */
export function homeTariffBook(plan: HomePlan, base: Json = loadTariffBook(defaultTariffPath()) as unknown as Json): Json | null {
  if (plan.operator.country === 'GB') return null;
  if (plan.operator.country !== 'DE') throw new RangeError(`no tariff book for home country ${plan.operator.country}`);
  const book = JSON.parse(JSON.stringify(base)) as Json;
  const dest = book.destinations as Record<string, unknown>;
  Object.assign(dest, germanDestinations(plan));
  // Germany leaves the European lists, the UK joins them.
  const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : (((v as Json).prefixes as string[] | undefined) ?? []));
  const europeFixed = list(dest.EUROPE_FIXED).filter((p) => p !== '49');
  const europeMobile = list(dest.EUROPE_MOBILE).filter((p) => !p.startsWith('49'));
  dest.EUROPE_FIXED = [...europeFixed, '44'];
  dest.EUROPE_MOBILE = [...europeMobile, '447'];
  const eu = dest.EU_NETWORKS as Json;
  eu.networks = (eu.networks as string[]).filter((m) => m !== plan.operator.mcc);
  const zones = book.roamingZones as Record<string, string[]>;
  for (const z of Object.keys(zones)) zones[z] = (zones[z] as string[]).filter((c) => c !== plan.operator.country);
  // Bands: German public holidays, Berlin time.
  const days: string[] = [];
  for (let y = 2024; y <= 2030; y++) for (const h of plan.holidays(y)) days.push(isoDate(h.day));
  book.calendars = { [plan.operator.country]: days };
  for (const sched of Object.values(book.bandSchedules as Record<string, Json[]>)) for (const b of sched) if (b.holidays !== undefined) b.holidays = plan.operator.country;
  book.currency = plan.operator.currency;
  book.timezone = plan.zone.name;
  book.description = `${String(book.description ?? '')} — derived for ${plan.operator.name} (${plan.countryName}): national ranges, EUR, ${plan.zone.name}, public holidays of ${plan.countryName} (simulators/traffic/tariffs.ts)`;
  // Destination names: "UK_" reads "DE_" (rates keep their names).
  const renamed = JSON.stringify({ destinations: book.destinations, tariffs: book.tariffs }).replaceAll('"UK_', `"${plan.operator.country}_`).replaceAll('"ALBION_SERVICES"', '"OPERATOR_SERVICES"');
  const r = JSON.parse(renamed) as Json;
  book.destinations = r.destinations;
  book.tariffs = r.tariffs;
  return book;
}

/** Writes `tariffs.json` for the home country into dir and returns its path; null for GB (use the bundled book). */
export function writeHomeTariffs(dir: string, plan: HomePlan): string | null {
  const book = homeTariffBook(plan);
  if (book === null) return null;
  const path = join(dir, 'tariffs.json');
  writeFileSync(path, JSON.stringify(book, null, 2) + '\n');
  return path;
}
