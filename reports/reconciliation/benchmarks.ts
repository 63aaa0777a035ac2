/**
 * Benchmark rates for the rate audit of billing reconciliation, derived from a tariff book's list prices
 * (`cdr-pipeline import benchmarks --from-tariffs`). Product code: the billing simulator reuses it, never
 * the other way round.
 */
import { parseMoney } from '../../schemas/reference.js';
import { formatMicros, type RateDef, type TariffBookFile } from '../../schemas/tariff.js';
import { parseQuantity } from '../../enrich/rate/index.js';
import { UNIT_BYTE, UNIT_MS } from '../../enrich/rate/compile.js';

const PER_MINUTE_MS = 60_000;

/** Price of a rate per minute (voice), message (SMS) or MB (data), in micro-units, or null when not exact. */
export function unitPriceMicros(def: RateDef, unit: number): bigint | null {
  const g = def.groups?.[0];
  const price = g ? g.price : def.price;
  if (price === undefined) return null;
  const p = parseMoney(price, 6);
  if (p === 0n) return 0n;
  const perQ = g ? g.per : def.per;
  if (perQ === undefined) return null;
  const per = BigInt(parseQuantity(perQ, unit, 'per'));
  const scale = unit === UNIT_MS ? BigInt(PER_MINUTE_MS) : unit === UNIT_BYTE ? 1_000_000n : 1n;
  if ((p * scale) % per !== 0n) return null;
  return (p * scale) / per;
}

/**
 * Benchmark per-minute rates from a tariff book: for every destination a retail tariff prices for voice, the
 * highest per-minute price any version, band or rate group of any retail tariff charges (the list-price
 * ceiling). Inbound-roamer (wholesale) tariffs are left out. `cdr-pipeline import benchmarks --from-tariffs`.
 */
export function benchmarksFromTariffs(book: TariffBookFile): { service: string; destination_class: string; price_unit: string; rate: string; description: string }[] {
  const wholesale = new Set([book.assignments.inboundRoamers, ...Object.values(book.assignments.inboundRoamersByPlmn ?? {})].filter((x): x is string => typeof x === 'string'));
  const best = new Map<string, bigint>();
  for (const [tid, t] of Object.entries(book.tariffs)) {
    if (wholesale.has(tid)) continue;
    for (const v of t.versions) {
      for (const p of v.prices?.voice ?? []) {
        const ids = typeof p.rate === 'string' ? [p.rate] : Object.values(p.rate);
        for (const id of ids) {
          const def = book.rates[id];
          if (!def) continue;
          const prices = (def.groups ?? [{ price: def.price ?? '0', per: def.per ?? 60, increment: 1 }]).map((g) => unitPriceMicros({ price: g.price, per: g.per }, UNIT_MS));
          for (const x of prices) {
            if (x === null) continue;
            const cur = best.get(p.destination);
            if (cur === undefined || x > cur) best.set(p.destination, x);
          }
        }
      }
    }
  }
  return [...best]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([dest, x]) => ({ service: 'voice', destination_class: dest, price_unit: 'minute', rate: formatMicros(Number(x)), description: `highest list price of ${dest} in the tariff book` }));
}

type Benchmark = ReturnType<typeof benchmarksFromTariffs>[number];

/** The highest price per minute (voice) or per MB (data) of each destination a retail tariff prices, in micro-units. */
function highestPrices(book: TariffBookFile, service: 'voice' | 'data', wholesale: ReadonlySet<string>): Map<string, bigint> {
  const unit = service === 'voice' ? UNIT_MS : UNIT_BYTE;
  const best = new Map<string, bigint>();
  for (const [tid, t] of Object.entries(book.tariffs)) {
    if (wholesale.has(tid)) continue;
    for (const v of t.versions) {
      for (const p of v.prices?.[service] ?? []) {
        for (const id of typeof p.rate === 'string' ? [p.rate] : Object.values(p.rate)) {
          const def = book.rates[id];
          if (!def) continue;
          for (const g of def.groups ?? [{ price: def.price ?? '0', per: def.per ?? (service === 'voice' ? 60 : '1MB'), increment: 1 }]) {
            const x = unitPriceMicros({ price: g.price, per: g.per }, unit);
            if (x === null) continue;
            const cur = best.get(p.destination);
            if (cur === undefined || x > cur) best.set(p.destination, x);
          }
        }
      }
    }
  }
  return best;
}

/**
 * Every benchmark the rate audit maps invoice lines to (docs/RECONCILIATION.md "The rate audit"), from a tariff
 * book's list prices (`cdr-pipeline import benchmarks --from-tariffs`):
 * - voice per minute by destination id (benchmarksFromTariffs);
 * - data per MB by data destination: the book's network destinations (UK_NETWORKS) and `*` (any other network),
 *   what the pipeline stores as destination of a data session;
 * - voice and data per roaming zone (EU, WORLD): the highest price of the service anywhere plus the zone's
 *   highest roaming rate for it (a roaming call or session at list prices costs at most that).
 */
export function rateAuditBenchmarksFromTariffs(book: TariffBookFile): Benchmark[] {
  const wholesale = new Set([book.assignments.inboundRoamers, ...Object.values(book.assignments.inboundRoamersByPlmn ?? {})].filter((x): x is string => typeof x === 'string'));
  const out: Benchmark[] = [...benchmarksFromTariffs(book)];
  const data = highestPrices(book, 'data', wholesale);
  for (const [dest, x] of [...data].sort(([a], [b]) => a.localeCompare(b))) {
    out.push({ service: 'data', destination_class: dest, price_unit: 'MB', rate: formatMicros(Number(x)), description: `highest list price of data on ${dest === '*' ? 'any other network' : dest} in the tariff book` });
  }
  const voice = highestPrices(book, 'voice', wholesale);
  for (const service of ['voice', 'data'] as const) {
    const base = [...(service === 'voice' ? voice : data).values()].reduce((m, x) => (x > m ? x : m), 0n);
    const unit = service === 'voice' ? UNIT_MS : UNIT_BYTE;
    const zones = new Map<string, bigint>(Object.keys(book.roamingZones ?? {}).map((z) => [z, 0n]));
    for (const [tid, t] of Object.entries(book.tariffs)) {
      if (wholesale.has(tid)) continue;
      for (const v of t.versions) {
        for (const [zone, rates] of Object.entries(v.roaming ?? {})) {
          const def = rates[service] === undefined ? undefined : book.rates[rates[service]!];
          if (!def) continue;
          for (const g of def.groups ?? [{ price: def.price ?? '0', per: def.per ?? (service === 'voice' ? 60 : '1MB'), increment: 1 }]) {
            const x = unitPriceMicros({ price: g.price, per: g.per }, unit);
            if (x !== null && x > (zones.get(zone) ?? 0n)) zones.set(zone, x);
          }
        }
      }
    }
    for (const [zone, x] of [...zones].sort(([a], [b]) => a.localeCompare(b))) {
      out.push({ service, destination_class: zone, price_unit: service === 'voice' ? 'minute' : 'MB', rate: formatMicros(Number(base + x)), description: `roaming zone ${zone}: highest ${service} list price plus the zone's highest roaming rate` });
    }
  }
  return out;
}

/**
 * What the destination_class of an invoice line may name (docs/RECONCILIATION.md "The rate audit"): the tariff
 * book's destination ids, roaming zones, data network destinations and `*`, plus contract descriptions and
 * benchmark classes known in ClickHouse. `import invoices` lists the values of a file outside this set.
 */
export function destinationNames(book: TariffBookFile): Set<string> {
  return new Set(['*', ...Object.keys(book.destinations), ...Object.keys(book.roamingZones ?? {})]);
}
