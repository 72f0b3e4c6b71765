// A raw query string as a list of parameters that keeps each untouched parameter's original encoding, for
// the transformers' remove/rename/replace/add. Names compare decoded (`a%20b` is `a b`; `+` is a space).

export interface QueryParam {
  /** The name and value as they appear in the raw query (value null: `name` without `=`). */
  rawName: string;
  rawValue: string | null;
  /** The decoded name (the raw one when it does not decode). */
  name: string;
}

/** `+` as a space, then percent-decoding; the input itself when it is not valid percent-encoding. */
export function decodeQueryComponent(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

export function parseQuery(raw: string): QueryParam[] {
  const out: QueryParam[] = [];
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    out.push({ rawName, rawValue: eq < 0 ? null : part.slice(eq + 1), name: decodeQueryComponent(rawName) });
  }
  return out;
}

export function serializeQuery(params: readonly QueryParam[]): string {
  let out = '';
  for (const p of params) {
    if (out !== '') out += '&';
    out += p.rawValue === null ? p.rawName : `${p.rawName}=${p.rawValue}`;
  }
  return out;
}

/** The first value of `name`, decoded; undefined when absent (a name without `=` has the value ''). */
export function queryValue(params: readonly QueryParam[], name: string): string | undefined {
  for (const p of params) if (p.name === name) return p.rawValue === null ? '' : decodeQueryComponent(p.rawValue);
  return undefined;
}

/** A parameter written by the gateway: name and value percent-encoded. */
export function encodedParam(name: string, value: string): QueryParam {
  return { rawName: encodeURIComponent(name), rawValue: encodeURIComponent(value), name };
}
