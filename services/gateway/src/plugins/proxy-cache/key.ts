// Cache keys: one string per request that identifies what the upstream would answer. The primary key holds
// what the config names (route, method, host, path, query, chosen headers, consumer); an entry's full key adds
// the values of the request headers its response's Vary names.
import type { RequestContext } from '../request-context.js';

/** What of a request goes into its primary key (compiled from the plugin's config). */
export interface KeyRule {
  /** Lower-case, sorted. */
  readonly headers: readonly string[];
  readonly query: 'all' | 'listed' | 'none';
  /** vary_query `listed`: these parameters (as sent). */
  readonly queryParams: ReadonlySet<string>;
  readonly perConsumer: boolean;
}

/** What a key reads of a request (a RequestContext is one). */
export type KeySource = Pick<RequestContext, 'routeId' | 'method' | 'host' | 'path' | 'query' | 'consumerId' | 'header'>;

/**
 * The primary key. HEAD shares GET's entries (a HEAD answer is a GET answer without its body); the host is
 * compared case-insensitively; fields are separated by a newline, which no request line or header holds.
 */
export function primaryKey(rule: KeyRule, req: KeySource): string {
  let key = req.routeId + '\n' + (req.method === 'HEAD' ? 'GET' : req.method) + '\n' + req.host.toLowerCase() + '\n' + req.path + '\n';
  if (rule.query !== 'none' && req.query !== '') key += normalizeQuery(req.query, rule.query === 'listed' ? rule.queryParams : null);
  key += '\n';
  for (const h of rule.headers) key += h + ':' + req.header(h) + '\n';
  if (rule.perConsumer) key += '@' + req.consumerId;
  return key;
}

/** The full key of an entry whose response varies on `vary` (lower-case names). */
export function variantKey(primary: string, vary: readonly string[], req: Pick<RequestContext, 'header'>): string {
  if (vary.length === 0) return primary;
  let key = primary + '\nvary';
  for (const h of vary) key += '\n' + h + ':' + req.header(h);
  return key;
}

/**
 * The query's parameters in a canonical order (sorted pairs, empty pairs dropped), `keep` set: only those
 * parameters. `?b=2&a=1` and `?a=1&b=2` are one key; values stay as sent (no decoding: `%41` is not `A`).
 */
export function normalizeQuery(query: string, keep: ReadonlySet<string> | null): string {
  const pairs = query.split('&');
  const out: string[] = [];
  for (const p of pairs) {
    if (p === '') continue;
    if (keep !== null) {
      const eq = p.indexOf('=');
      if (!keep.has(eq < 0 ? p : p.slice(0, eq))) continue;
    }
    out.push(p);
  }
  // Code-unit order, not locale order: the same on every node.
  out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return out.join('&');
}
