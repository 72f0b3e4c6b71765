// When two routes would compete for the same requests with nothing to choose between them: same
// normalized path, overlapping hosts and methods (empty = any), same priority.

export interface RouteMatchSpec {
  hosts: readonly string[];
  paths: readonly string[];
  methods: readonly string[];
  priority: number;
}

/**
 * `/users/{id}/` and `/users/{uid}` match the same requests: parameter names are erased, a trailing
 * slash is dropped (except for `/`) and percent-escapes are upper-cased.
 */
export function normalizePath(path: string): string {
  let p = path.replace(/\{[A-Za-z_][A-Za-z0-9_]*\}/g, '{}').replace(/%[0-9a-fA-F]{2}/g, (m) => m.toUpperCase());
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

export function routesConflict(a: RouteMatchSpec, b: RouteMatchSpec): boolean {
  if (a.priority !== b.priority) return false;
  const pa = new Set(normalizePaths(a.paths));
  if (!normalizePaths(b.paths).some((p) => pa.has(p))) return false;
  if (!overlaps(a.hosts, b.hosts, (h) => h.toLowerCase())) return false;
  return overlaps(a.methods, b.methods, (m) => m.toUpperCase());
}
