// Route checks a JSON schema cannot state: regular expressions (paths starting with `~`, `regex` matchers)
// must compile, stay short and avoid nested unbounded quantifiers; a matcher has a value exactly when its
// kind compares one. The control plane refuses such input, the CLI reports it per file path, and nodes
// reject an entity that fails them (config written by an older control plane).
import type { FieldError } from '../errors.js';
import type { MatchKind, RouteMatcher } from './route.js';

/** Longest regular expression a route may carry (the `~` not counted). */
export const MAX_ROUTE_REGEX_LENGTH = 512;

/**
 * Whether an unboundedly repeated group (`*`, `+`, `{n,}`) contains an unbounded quantifier itself, as in
 * `(a+)+` or `(?:x*y)*`: the shape behind catastrophic backtracking. A cheap guard, not a proof of
 * safety: overlapping alternatives under repetition (`(a|a)+`) are not detected.
 */
export function hasNestedQuantifier(src: string): boolean {
  // One flag per open group: does an unbounded quantifier occur inside it?
  const open: boolean[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charCodeAt(i);
    let groupHadUnbounded = false;
    if (c === 92 /* \ */) i += 2;
    else if (c === 91 /* [ */) {
      i++;
      if (src[i] === '^') i++;
      if (src[i] === ']') i++; // a leading `]` is literal in some dialects; harmless here
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === 40 /* ( */) {
      open.push(false);
      i++;
      continue;
    } else if (c === 41 /* ) */) {
      groupHadUnbounded = open.pop() ?? false;
      i++;
    } else if (c === 124 /* | */) {
      i++;
      continue;
    } else i++;
    const q = quantifierAt(src, i);
    if (q) {
      if (q.unbounded && groupHadUnbounded) return true;
      i += q.length;
    }
    const top = open.length - 1;
    if (top >= 0 && ((q?.unbounded ?? false) || groupHadUnbounded)) open[top] = true;
  }
  return false;
}

function quantifierAt(src: string, i: number): { length: number; unbounded: boolean } | null {
  const c = src[i];
  let length = 0;
  let unbounded = false;
  if (c === '*' || c === '+') {
    length = 1;
    unbounded = true;
  } else if (c === '?') length = 1;
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
    if (!m) return null;
    length = m[0].length;
    unbounded = m[2] !== undefined && m[3] === '';
  } else return null;
  if (src[i + length] === '?') length++; // lazy
  return { length, unbounded };
}

/** What is wrong with a regular expression a route carries, or null. */
export function routeRegexProblem(src: string): string | null {
  if (src.length === 0) return 'regular expression is empty';
  if (src.length > MAX_ROUTE_REGEX_LENGTH) return `regular expression is longer than ${MAX_ROUTE_REGEX_LENGTH} characters`;
  try {
    new RegExp(src);
  } catch (e) {
    // V8 says "Invalid regular expression: /<source>/: <reason>": the source is already in the field.
    const msg = (e as Error).message;
    return `invalid regular expression: ${msg.slice(msg.lastIndexOf(': ') + 2)}`;
  }
  if (hasNestedQuantifier(src)) return 'regular expression repeats a group that itself contains *, + or {n,} (nested quantifiers can backtrack catastrophically)';
  return null;
}

/** What is wrong with a route path beyond its schema pattern (regex paths only), or null. */
export function routePathProblem(path: string): string | null {
  return path.startsWith('~') ? routeRegexProblem(path.slice(1)) : null;
}

const NEEDS_VALUE: Record<MatchKind, boolean> = { exact: true, prefix: true, regex: true, present: false, absent: false };

function matcherProblems(list: readonly RouteMatcher[] | undefined, field: 'headers' | 'query'): FieldError[] {
  const out: FieldError[] = [];
  (list ?? []).forEach((m, i) => {
    if (NEEDS_VALUE[m.match] && m.value === undefined) out.push({ path: `/${field}/${i}/value`, message: `is required for match "${m.match}"` });
    else if (!NEEDS_VALUE[m.match] && m.value !== undefined) out.push({ path: `/${field}/${i}/value`, message: `is not allowed for match "${m.match}"` });
    else if (m.match === 'regex') {
      const p = routeRegexProblem(m.value as string);
      if (p) out.push({ path: `/${field}/${i}/value`, message: p });
    }
  });
  return out;
}

/** Field errors (JSON pointers into the route) for checks beyond the schema; empty when fine. */
export function routeProblems(r: { paths?: readonly string[]; headers?: readonly RouteMatcher[]; query?: readonly RouteMatcher[] }): FieldError[] {
  const out: FieldError[] = [];
  (r.paths ?? []).forEach((p, i) => {
    const problem = routePathProblem(p);
    if (problem) out.push({ path: `/paths/${i}`, message: problem });
  });
  out.push(...matcherProblems(r.headers, 'headers'), ...matcherProblems(r.query, 'query'));
  return out;
}

/** The stored form of matchers: `ignore_case` always present, fields in one order (stable diffs and exports). */
export function normalizeMatchers(list: readonly RouteMatcher[] | undefined): RouteMatcher[] {
  return (list ?? []).map((m) => {
    const out: RouteMatcher = { name: m.name, match: m.match };
    if (m.value !== undefined) out.value = m.value;
    out.ignore_case = m.ignore_case ?? false;
    return out;
  });
}
