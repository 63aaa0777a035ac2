/**
 * Tolerant matching where people type (issue #16): names and addresses compare after case, punctuation and
 * spacing are dropped and common abbreviations expanded ("St" = "Street", "Rd" = "Road", "Ltd" = "Limited",
 * "&" = "and"); word order of a person's name does not matter ("Smith, Amelia" = "Amelia Smith"); a company's
 * legal suffix may be left out. Account numbers and PINs are compared exactly, elsewhere.
 */
const ABBREVIATIONS: Record<string, string> = {
  st: 'street',
  str: 'street',
  rd: 'road',
  ave: 'avenue',
  av: 'avenue',
  ln: 'lane',
  cres: 'crescent',
  cresc: 'crescent',
  dr: 'drive',
  ct: 'court',
  pl: 'place',
  sq: 'square',
  gdns: 'gardens',
  pk: 'park',
  hwy: 'highway',
  ltd: 'limited',
  co: 'company',
  corp: 'corporation',
  inc: 'incorporated',
  svcs: 'services',
  '&': 'and',
  u: 'unit',
};
/** Legal-form words a customer may leave out of a company name. */
const LEGAL_FORMS = new Set(['limited', 'llp', 'plc', 'lp', 'incorporated', 'company', 'corporation']);
const NOISE = new Set(['the']);

/** Lower-case words with punctuation removed and abbreviations expanded. */
export function words(s: string): string[] {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' & ')
    .replace(/[^a-z0-9& ]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => ABBREVIATIONS[w] ?? w);
}

/** Same name, tolerant of case, punctuation, word order, abbreviations and a missing legal suffix. */
export function namesMatch(supplied: string, onFile: string): boolean {
  const a = words(supplied).filter((w) => !NOISE.has(w) && !LEGAL_FORMS.has(w));
  const b = words(onFile).filter((w) => !NOISE.has(w) && !LEGAL_FORMS.has(w));
  if (a.length === 0 || b.length === 0) return false;
  return [...a].sort().join(' ') === [...b].sort().join(' ');
}

/** A UK-style postcode in free text, compacted ("sw1a 1aa" -> "SW1A1AA"), or undefined. */
function postcodeIn(s: string): string | undefined {
  const m = /\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s*(\d[A-Za-z]{2})\b/.exec(s);
  return m ? `${m[1]}${m[2]}`.toUpperCase() : undefined;
}

/**
 * The supplied address names the location on file: every word of the address line on file (house number and
 * street, abbreviations expanded) appears in it, in order, and a postcode in it, if any, is the one on file.
 * The town may be added or left out.
 */
export function addressesMatch(supplied: string, onFile: { addressLine: string; postcode: string }): boolean {
  const want = words(onFile.addressLine).filter((w) => !NOISE.has(w));
  const got = words(supplied).filter((w) => !NOISE.has(w));
  if (want.length === 0) return false;
  let i = 0;
  for (const w of got) if (w === want[i]) i++;
  if (i < want.length) return false;
  const pc = postcodeIn(supplied);
  return pc === undefined || pc === onFile.postcode.replace(/\s+/g, '').toUpperCase();
}
