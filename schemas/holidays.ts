/**
 * The operator's bank-holiday calendar (England and Wales by default): used by forecasting and by the
 * traffic simulator. Contract-level data, so product code and simulators share one definition.
 */
const DAY_MS = 86_400_000;

/** Day of week of a day number: 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
function dayOfWeek(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

export interface Holiday {
  day: number;
  name: string;
}

/**
 * Bank holidays of England and Wales (Banking and Financial Dealings Act 1971 as applied by royal
 * proclamation; dates as published on gov.uk/bank-holidays): fixed rules with weekend substitutes, Easter by
 * the anonymous Gregorian algorithm, and the one-off moves and extra days of 2012, 2020, 2022 and 2023.
 */
export function ukBankHolidays(year: number): Holiday[] {
  const d = (m0: number, day: number) => Date.UTC(year, m0, day) / DAY_MS;
  const dow = (day: number) => dayOfWeek(day);
  const out: Holiday[] = [];
  // New Year's Day, moved to Monday when it falls at a weekend.
  const ny = d(0, 1);
  out.push({ day: dow(ny) === 6 ? ny + 2 : dow(ny) === 0 ? ny + 1 : ny, name: "New Year's Day" });
  const easter = easterSunday(year);
  out.push({ day: easter - 2, name: 'Good Friday' }, { day: easter + 1, name: 'Easter Monday' });
  const firstMonMay = d(4, 1) + ((8 - dow(d(4, 1))) % 7);
  const lastMonMay = d(4, 31) - ((dow(d(4, 31)) + 6) % 7);
  const lastMonAug = d(7, 31) - ((dow(d(7, 31)) + 6) % 7);
  const special: Record<number, Holiday[]> = {
    2012: [{ day: d(5, 4), name: 'Spring bank holiday' }, { day: d(5, 5), name: 'Queen’s Diamond Jubilee' }],
    2020: [{ day: d(4, 8), name: 'Early May bank holiday (VE day)' }],
    2022: [{ day: d(5, 2), name: 'Spring bank holiday' }, { day: d(5, 3), name: 'Platinum Jubilee bank holiday' }, { day: d(8, 19), name: 'State Funeral of Queen Elizabeth II' }],
    2023: [{ day: d(4, 8), name: 'Bank holiday for the coronation of King Charles III' }],
  };
  if (year !== 2020) out.push({ day: firstMonMay, name: 'Early May bank holiday' });
  if (year !== 2012 && year !== 2022) out.push({ day: lastMonMay, name: 'Spring bank holiday' });
  out.push({ day: lastMonAug, name: 'Summer bank holiday' });
  out.push(...(special[year] ?? []));
  // Christmas and Boxing Day with substitute days (25th on Saturday: Monday 27th and Tuesday 28th).
  const xmas = d(11, 25);
  const xd = dow(xmas);
  if (xd === 6) out.push({ day: xmas + 2, name: 'Christmas Day (substitute day)' }, { day: xmas + 3, name: 'Boxing Day (substitute day)' });
  else if (xd === 0) out.push({ day: xmas + 1, name: 'Boxing Day' }, { day: xmas + 2, name: 'Christmas Day (substitute day)' });
  else if (xd === 5) out.push({ day: xmas, name: 'Christmas Day' }, { day: xmas + 3, name: 'Boxing Day (substitute day)' });
  else out.push({ day: xmas, name: 'Christmas Day' }, { day: xmas + 1, name: 'Boxing Day' });
  return out.sort((a, b) => a.day - b.day);
}

/** Day number of Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher). */
export function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return Date.UTC(year, month - 1, day) / DAY_MS;
}
