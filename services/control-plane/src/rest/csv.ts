// RFC 4180 CSV: CRLF line ends; a field with a comma, quote, CR or LF is quoted and its quotes doubled.
// A field starting with = + - @ (or tab/CR) gets a leading apostrophe so a spreadsheet opening the
// export does not evaluate attacker-controlled paths or user agents as formulas.

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
  if (typeof v === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A header line of `columns`, then one line per row in that column order. */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  let out = columns.map(csvField).join(',') + '\r\n';
  for (const r of rows) out += columns.map((c) => csvField(r[c])).join(',') + '\r\n';
  return out;
}
