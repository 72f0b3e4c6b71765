// When two routes would compete for the same requests with nothing to choose between them: the same
// stage, a shared host pattern (or both host-less), the same normalized path, overlapping methods (empty =
// any), the same header and query matchers and the same priority. Anything else the router tells apart
// (an exact host beats a wildcard, a host beats none, a route with matchers beats one without).
import type { RouteMatcher } from '@turnpike/common';

export interface RouteMatchSpec {
  hosts: readonly string[];
  paths: readonly string[];
  methods: readonly string[];
  priority: number;
  headers?: readonly RouteMatcher[];
  query?: readonly RouteMatcher[];
  stage?: string | null;
}

/**
 * `/users/{id}/` and `/users/{uid}` match the same requests: parameter names are erased (`{rest*}` becomes
 * `{*}`), a trailing slash is dropped (except for `/`) and percent-escapes are upper-cased. Regex paths
 * (`~...`) are compared as written.
 */
export function normalizePath(path: string): string {
  if (path.startsWith('~')) return path;
  let p = path.replace(/\{[A-Za-z_][A-Za-z0-9_]*\*\}/g, '{*}').replace(/\{[A-Za-z_][A-Za-z0-9_]*\}/g, '{}').replace(/%[0-9a-fA-F]{2}/g, (m) => m.toUpperCase());
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export function normalizePaths(paths: readonly string[]): string[] {
  return [...new Set(paths.map(normalizePath))];
}

/** Two lists of alternatives overlap when either is empty ("any") or they share a value. */
export function overlaps(a: readonly string[], b: readonly string[], fold: (s: string) => string = (s) => s): boolean {
  if (a.length === 0 || b.length === 0) return true;
  const set = new Set(a.map(fold));
  return b.some((x) => set.has(fold(x)));
}

/** Host lists the router cannot tell apart: both host-less, or sharing a host pattern (case-insensitive). */
function sameHostBucket(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === 0 || b.length === 0) return a.length === b.length;
  return overlaps(a, b, (h) => h.toLowerCase());
}

/** Matchers as a set: order-free, `ignore_case` defaulted, a case-insensitive value folded. */
export function matcherKey(list: readonly RouteMatcher[] | undefined): string {
  return (list ?? [])
    .map((m) => {
      const ic = m.ignore_case === true;
      return JSON.stringify([m.name, m.match, ic && m.match !== 'regex' ? (m.value ?? '').toLowerCase() : (m.value ?? null), ic]);
    })
    .sort()
    .join('\n');
}

export function routesConflict(a: RouteMatchSpec, b: RouteMatchSpec): boolean {
  if (a.priority !== b.priority) return false;
  if ((a.stage ?? null) !== (b.stage ?? null)) return false;
  const pa = new Set(normalizePaths(a.paths));
  if (!normalizePaths(b.paths).some((p) => pa.has(p))) return false;
  if (!sameHostBucket(a.hosts, b.hosts)) return false;
  if (!overlaps(a.methods, b.methods, (m) => m.toUpperCase())) return false;
  return matcherKey(a.headers) === matcherKey(b.headers) && matcherKey(a.query) === matcherKey(b.query);
}
