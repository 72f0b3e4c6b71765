// A request's query string as API Gateway events carry it (custom authorizers, Lambda integrations, WebSocket
// API events): names and values decoded (`+` as space, percent escapes; a malformed escape is kept as sent,
// never an error), every value of a name in order.

function decodeLoose(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** Query parameters decoded, every value of each name in order. */
export function queryParams(query: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeLoose(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeLoose(part.slice(eq + 1));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}
