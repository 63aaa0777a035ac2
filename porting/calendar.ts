/**
 * When a port-out answer is due (issue #16): 3 business days after the start day, at the cut-off time (15:00)
 * local. The start day is the day the request arrived when that is a business day and it arrived before the
 * cut-off; otherwise the next business day. Business days are Monday to Friday except the holidays of the
 * calendar rating uses (reference data holidays.csv, schemas/holidays.ts), in the operator's time zone.
 *
 * Example (Europe/London): Monday 10:00 -> Thursday 15:00; Monday 16:00 -> Friday 15:00; Friday 16:00 ->
 * Thursday 15:00 (start Monday); a holiday in between moves it one business day on.
 */
const DAY_MS = 86_400_000;

export interface DueCalendar {
  /** IANA zone. */
  timezone: string;
  /** Holiday dates 'YYYY-MM-DD' (local). */
  holidays: ReadonlySet<string>;
  /** Cut-off, minutes after local midnight (default 15:00). */
  cutoffMinutes?: number;
  /** Business days to answer (default 3). */
  businessDays?: number;
}

/** Local calendar date and minutes after midnight of an instant in a zone. */
export function localParts(ms: number, timezone: string): { date: string; minutes: number } {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, minutes: Number(p.hour) * 60 + Number(p.minute) };
}

/** The UTC instant of a local date and time in a zone (the later one in a DST fold). */
export function localToUtc(date: string, minutes: number, timezone: string): number {
  const naive = Date.parse(`${date}T00:00:00Z`) + minutes * 60_000;
  let t = naive;
  // Two rounds of offset correction settle on the right offset away from the transition itself.
  for (let k = 0; k < 3; k++) {
    const p = localParts(t, timezone);
    const seen = Date.parse(`${p.date}T00:00:00Z`) + p.minutes * 60_000;
    t += naive - seen;
  }
  return t;
}

const addDays = (date: string, n: number) => new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);

export function isBusinessDay(date: string, holidays: ReadonlySet<string>): boolean {
  const dow = new Date(`${date}T00:00:00Z`).getUTCDay();
  return dow !== 0 && dow !== 6 && !holidays.has(date);
}

/** The instant an answer to a request received at `receivedMs` is due. */
export function dueAt(receivedMs: number, cal: DueCalendar): number {
  const cutoff = cal.cutoffMinutes ?? 15 * 60;
  const n = cal.businessDays ?? 3;
  const { date, minutes } = localParts(receivedMs, cal.timezone);
  let start = date;
  if (!isBusinessDay(start, cal.holidays) || minutes >= cutoff) {
    do start = addDays(start, 1);
    while (!isBusinessDay(start, cal.holidays));
  }
  let day = start;
  for (let k = 0; k < n; k++) {
    do day = addDays(day, 1);
    while (!isBusinessDay(day, cal.holidays));
  }
  return localToUtc(day, cutoff, cal.timezone);
}
