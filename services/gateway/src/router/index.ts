// The route matcher: compiled once per config snapshot, pure, no I/O. Precedence (docs/configuration.md,
// "Route matching"):
//  1. Host buckets, tried in order until one yields a match: the exact host, then wildcard hosts longest
//     fixed part first (`*.example.com` / `api.*`; a leading wildcard before a trailing one of equal length),
//     then host-less routes.
//  2. Within a bucket, a segment trie is walked (literal children before `{param}` children); every node
//     where a route path ends, and every catch-all `{name*}`, is a candidate. Candidates rank by: more literal
//     segments, more segments, covering the whole path (a catch-all, or a path ending at the request's end)
//     over a prefix, more header/query matchers, higher priority, method-specific over any-method, compile order.
//  3. If the best trie candidate covers the whole path it wins. Otherwise regex routes (`~...`) are tried in
//     priority order, then compile order; the first that matches wins. Otherwise the trie's prefix match does.
// Routes without matchers never look at headers or the query string; regex routes cost nothing when absent.
import type { MatchKind, RouteMatcher } from '@turnpike/common';

export interface RouteSpec<T> {
  id: string;
  /** Exact host names or wildcards (`*.example.com`, `api.*`), case-insensitive; empty = any host. */
  hosts: readonly string[];
  /** Upper-case HTTP methods; empty = any method. */
  methods: readonly string[];
  /** `/a/{p}/b` and `/a/{rest*}` patterns (prefix-matched on segment boundaries) or `~regex`. */
  paths: readonly string[];
  priority: number;
  /** Conditions on request headers (lower-case names); all must hold. */
  headers?: readonly RouteMatcher[];
  /** Conditions on query-string parameters; all must hold. */
  query?: readonly RouteMatcher[];
  value: T;
}

/** What matchers read from the request; consulted only for routes that have matchers. */
export interface RequestView {
  /** The header's value; undefined when absent. */
  header(name: string): string | undefined;
  /** The first value of the decoded query parameter ('' for `?flag`); undefined when absent. */
  queryParam(name: string): string | undefined;
}

export interface RouteMatch<T> {
  value: T;
  routeId: string;
  params: Record<string, string>;
  /** Length of the request path prefix the route path covered (for strip_path). */
  prefixLength: number;
}

const KIND: Record<MatchKind, number> = { exact: 0, prefix: 1, regex: 2, present: 3, absent: 4 };

interface CompiledMatcher {
  inQuery: boolean;
  name: string;
  kind: number;
  /** Lower-cased when ignoreCase. */
  value: string;
  ignoreCase: boolean;
  re: RegExp | null;
}

function compileMatchers(headers: readonly RouteMatcher[] | undefined, query: readonly RouteMatcher[] | undefined): CompiledMatcher[] | null {
  const out: CompiledMatcher[] = [];
  const add = (m: RouteMatcher, inQuery: boolean): void => {
    const ignoreCase = m.ignore_case === true;
    const kind = KIND[m.match];
    const value = m.value ?? '';
    out.push({
      inQuery,
      name: inQuery ? m.name : m.name.toLowerCase(),
      kind,
      value: ignoreCase ? value.toLowerCase() : value,
      ignoreCase,
      re: kind === 2 ? new RegExp(value, ignoreCase ? 'i' : '') : null,
    });
  };
  for (const m of headers ?? []) add(m, false);
  for (const m of query ?? []) add(m, true);
  return out.length === 0 ? null : out;
}

function matchersHold(ms: readonly CompiledMatcher[], req: RequestView | undefined): boolean {
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    const v = req === undefined ? undefined : m.inQuery ? req.queryParam(m.name) : req.header(m.name);
    switch (m.kind) {
      case 3:
        if (v === undefined) return false;
        continue;
      case 4:
        if (v !== undefined) return false;
        continue;
    }
    if (v === undefined) return false;
    if (m.kind === 2) {
      if (!m.re!.test(v)) return false;
      continue;
    }
    const s = m.ignoreCase ? v.toLowerCase() : v;
    if (m.kind === 0 ? s !== m.value : !s.startsWith(m.value)) return false;
  }
  return true;
}

interface Terminal<T> {
  routeId: string;
  value: T;
  priority: number;
  paramNames: readonly string[];
  matchers: CompiledMatcher[] | null;
  matcherCount: number;
  /** Tie-break between equal routes: compile order, for deterministic results. */
  order: number;
}

/** Terminals of one node and method, best first; nothing after a matcher-less terminal (it always holds). */
function insertTerminal<T>(list: Terminal<T>[], t: Terminal<T>): void {
  let i = 0;
  while (i < list.length && !outranks(t, list[i]!)) i++;
  if (i > 0 && list[i - 1]!.matchers === null) return; // shadowed by an unconditional, better terminal
  list.splice(i, 0, t);
  if (t.matchers === null) list.length = i + 1;
}

function outranks<T>(a: Terminal<T>, b: Terminal<T>): boolean {
  if (a.matcherCount !== b.matcherCount) return a.matcherCount > b.matcherCount;
  if (a.priority !== b.priority) return a.priority > b.priority;
  return a.order < b.order;
}

function firstHolding<T>(list: Terminal<T>[] | null | undefined, req: RequestView | undefined): Terminal<T> | null {
  if (!list) return null;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t.matchers === null || matchersHold(t.matchers, req)) return t;
  }
  return null;
}

class Node<T> {
  literal: Map<string, Node<T>> | null = null;
  param: Node<T> | null = null;
  /** Terminals of catch-all paths ending in `{name*}` right below this node. */
  catchAll: Node<T> | null = null;
  byMethod: Map<string, Terminal<T>[]> | null = null;
  anyMethod: Terminal<T>[] | null = null;
}

interface RegexRoute<T> {
  re: RegExp;
  methods: ReadonlySet<string> | null;
  terminal: Terminal<T>;
}

/** The routes of one host pattern (or of no host). */
class Bucket<T> {
  root: Node<T> | null = null;
  regex: RegexRoute<T>[] | null = null;
}

interface Segment {
  literal: string | null;
  param: string | null;
  catchAll: boolean;
}

/** Splits a route pattern into segments; `{name}` segments become params, a final `{name*}` a catch-all. */
export function parsePattern(path: string): { segments: Segment[] } {
  const segments: Segment[] = [];
  for (const s of path.split('/')) {
    if (s === '') continue;
    if (s.length > 2 && s.charCodeAt(0) === 123 /* { */ && s.charCodeAt(s.length - 1) === 125 /* } */) {
      const catchAll = s.charCodeAt(s.length - 2) === 42; /* * */
      segments.push({ literal: null, param: s.slice(1, catchAll ? -2 : -1), catchAll });
    } else segments.push({ literal: s, param: null, catchAll: false });
  }
  return { segments };
}

export class Router<T> {
  readonly #exact = new Map<string, Bucket<T>>();
  /** `*.example.com` under `.example.com`. */
  readonly #suffix = new Map<string, Bucket<T>>();
  /** `api.*` under `api.`. */
  readonly #prefix = new Map<string, Bucket<T>>();
  readonly #anyHost: Bucket<T> | null;
  readonly #hasHosts: boolean;
  readonly #hasWildcards: boolean;
  readonly size: number;

  constructor(specs: readonly RouteSpec<T>[]) {
    let anyHost: Bucket<T> | null = null;
    let order = 0;
    const regexBuckets = new Set<Bucket<T>>();
    for (const spec of specs) {
      const buckets: Bucket<T>[] = [];
      if (spec.hosts.length === 0) buckets.push((anyHost ??= new Bucket<T>()));
      for (const h of new Set(spec.hosts.map((x) => x.toLowerCase()))) {
        const [table, key] = h.startsWith('*.') ? [this.#suffix, h.slice(1)] : h.endsWith('.*') ? [this.#prefix, h.slice(0, -1)] : [this.#exact, h];
        let b = table.get(key);
        if (!b) table.set(key, (b = new Bucket<T>()));
        buckets.push(b);
      }
      const matchers = compileMatchers(spec.headers, spec.query);
      const methods = spec.methods.length === 0 ? null : new Set(spec.methods);
      for (const path of spec.paths) {
        if (path.charCodeAt(0) === 126 /* ~ */) {
          const re = new RegExp(path.slice(1), 'y');
          const terminal = this.#terminal(spec, matchers, [], order++);
          for (const b of buckets) {
            (b.regex ??= []).push({ re, methods, terminal });
            regexBuckets.add(b);
          }
          continue;
        }
        const { segments } = parsePattern(path);
        const paramNames = segments.filter((s) => s.param !== null).map((s) => s.param as string);
        const terminal = this.#terminal(spec, matchers, paramNames, order++);
        for (const b of buckets) {
          let node = (b.root ??= new Node<T>());
          for (const seg of segments) {
            if (seg.catchAll) node = node.catchAll ??= new Node<T>();
            else if (seg.literal !== null) {
              node.literal ??= new Map();
              let next = node.literal.get(seg.literal);
              if (!next) node.literal.set(seg.literal, (next = new Node<T>()));
              node = next;
            } else node = node.param ??= new Node<T>();
          }
          if (methods === null) insertTerminal((node.anyMethod ??= []), terminal);
          else {
            node.byMethod ??= new Map();
            for (const m of methods) {
              let list = node.byMethod.get(m);
              if (!list) node.byMethod.set(m, (list = []));
              insertTerminal(list, terminal);
            }
          }
        }
      }
    }
    for (const b of regexBuckets) b.regex!.sort((x, y) => y.terminal.priority - x.terminal.priority || x.terminal.order - y.terminal.order);
    this.#anyHost = anyHost;
    this.#hasWildcards = this.#suffix.size > 0 || this.#prefix.size > 0;
    this.#hasHosts = this.#hasWildcards || this.#exact.size > 0;
    this.size = specs.length;
  }

  #terminal(spec: RouteSpec<T>, matchers: CompiledMatcher[] | null, paramNames: string[], order: number): Terminal<T> {
    return { routeId: spec.id, value: spec.value, priority: spec.priority, paramNames, matchers, matcherCount: matchers?.length ?? 0, order };
  }

  /** `host` without port; `path` without query string; `req` for routes with header/query matchers. */
  match(method: string, host: string, path: string, req?: RequestView): RouteMatch<T> | null {
    if (this.#hasHosts && host !== '') {
      // Hosts arrive lower-case almost always: fold only after a miss.
      let lower = host;
      let exact = this.#exact.get(host);
      if (exact === undefined) {
        lower = host.toLowerCase();
        if (lower !== host) exact = this.#exact.get(lower);
      }
      if (exact !== undefined) {
        const m = this.#matchIn(exact, method, path, req);
        if (m) return m;
        if (lower === host) lower = host.toLowerCase();
      }
      if (this.#hasWildcards) {
        const m = this.#matchWildcards(lower, method, path, req);
        if (m) return m;
      }
    }
    return this.#anyHost ? this.#matchIn(this.#anyHost, method, path, req) : null;
  }

  /** Wildcard buckets, longest fixed part first: suffixes `.b.c` before `.c`, prefixes `a.b.` before `a.`. */
  #matchWildcards(host: string, method: string, path: string, req: RequestView | undefined): RouteMatch<T> | null {
    // Suffix candidates start at each '.' after the first label; prefix candidates end at each '.' before the last.
    let s = this.#suffix.size > 0 ? host.indexOf('.', 1) : -1;
    let p = this.#prefix.size > 0 ? host.lastIndexOf('.', host.length - 2) : -1;
    while (s !== -1 || p !== -1) {
      const sLen = s === -1 ? -1 : host.length - s;
      const pLen = p === -1 ? -1 : p + 1;
      let b: Bucket<T> | undefined;
      if (sLen >= pLen) {
        b = this.#suffix.get(host.slice(s));
        s = host.indexOf('.', s + 1);
      } else {
        b = p > 0 ? this.#prefix.get(host.slice(0, p + 1)) : undefined;
        p = p > 0 ? host.lastIndexOf('.', p - 1) : -1;
      }
      if (b) {
        const m = this.#matchIn(b, method, path, req);
        if (m) return m;
      }
    }
    return null;
  }

  #matchIn(b: Bucket<T>, method: string, path: string, req: RequestView | undefined): RouteMatch<T> | null {
    let s: Search<T> | null = null;
    if (b.root) {
      s = new Search<T>(method, path, req);
      s.walk(b.root, path.charCodeAt(0) === 47 ? 1 : 0, 0, 0, 0);
      if (s.best && s.bestFull) return s.result();
    }
    if (b.regex) {
      for (const r of b.regex) {
        if (r.methods !== null && !r.methods.has(method)) continue;
        r.re.lastIndex = 0;
        const m = r.re.exec(path);
        if (!m) continue;
        const t = r.terminal;
        if (t.matchers !== null && !matchersHold(t.matchers, req)) continue;
        const params: Record<string, string> = {};
        if (m.groups) for (const k in m.groups) if (m.groups[k] !== undefined) params[k] = m.groups[k];
        return { value: t.value, routeId: t.routeId, params, prefixLength: m[0].length };
      }
    }
    return s && s.best ? s.result() : null;
  }
}

/** One lookup's state: a depth-first walk that keeps the best terminal seen. */
class Search<T> {
  best: Terminal<T> | null = null;
  bestLiterals = -1;
  bestDepth = -1;
  bestFull = false;
  bestMethodSpecific = false;
  bestEnd = 0;
  bestParams: string[] = [];
  readonly #params: string[] = [];

  constructor(
    readonly method: string,
    readonly path: string,
    readonly req: RequestView | undefined,
  ) {}

  result(): RouteMatch<T> {
    const best = this.best!;
    const params: Record<string, string> = {};
    for (let i = 0; i < best.paramNames.length; i++) params[best.paramNames[i] as string] = this.bestParams[i] as string;
    return { value: best.value, routeId: best.routeId, params, prefixLength: this.bestEnd };
  }

  /** `pos`: start of the next segment; `end`: end of the path matched so far. */
  walk(node: Node<T>, pos: number, end: number, depth: number, literals: number): void {
    const path = this.path;
    // Skip empty segments (`//`, trailing `/`).
    while (pos < path.length && path.charCodeAt(pos) === 47) pos++;
    const full = pos >= path.length;
    if (node.anyMethod !== null || node.byMethod !== null) this.#consider(node, end, depth, literals, full);
    if (node.catchAll) {
      this.#params.push(path.slice(pos));
      this.#consider(node.catchAll, end, depth, literals, true);
      this.#params.pop();
    }
    if (full) return;
    let next = path.indexOf('/', pos);
    if (next === -1) next = path.length;
    if (node.literal) {
      const child = node.literal.get(path.slice(pos, next));
      if (child) this.walk(child, next + 1, next, depth + 1, literals + 1);
    }
    if (node.param) {
      this.#params.push(path.slice(pos, next));
      this.walk(node.param, next + 1, next, depth + 1, literals);
      this.#params.pop();
    }
  }

  #consider(node: Node<T>, end: number, depth: number, literals: number, full: boolean): void {
    // Cheap structural ranks first: matchers are evaluated only for a candidate that could still win.
    if (this.best) {
      if (literals !== this.bestLiterals) {
        if (literals < this.bestLiterals) return;
      } else if (depth !== this.bestDepth) {
        if (depth < this.bestDepth) return;
      } else if (full !== this.bestFull && !full) return;
    }
    // Fast path: the first terminal of a list without matchers needs no request access.
    const sl = node.byMethod === null ? undefined : node.byMethod.get(this.method);
    const specific = sl === undefined ? null : sl[0]!.matchers === null ? sl[0]! : firstHolding(sl, this.req);
    const al = node.anyMethod;
    const any = al === null ? null : al[0]!.matchers === null ? al[0]! : firstHolding(al, this.req);
    let t: Terminal<T>;
    let methodSpecific: boolean;
    if (specific !== null && (any === null || !anyBeatsSpecific(any, specific))) {
      t = specific;
      methodSpecific = true;
    } else if (any !== null) {
      t = any;
      methodSpecific = false;
    } else return;
    const b = this.best;
    if (b && literals === this.bestLiterals && depth === this.bestDepth && full === this.bestFull) {
      if (t.matcherCount !== b.matcherCount) {
        if (t.matcherCount < b.matcherCount) return;
      } else if (t.priority !== b.priority) {
        if (t.priority < b.priority) return;
      } else if (methodSpecific !== this.bestMethodSpecific) {
        if (!methodSpecific) return;
      } else if (t.order > b.order) return;
    }
    this.best = t;
    this.bestLiterals = literals;
    this.bestDepth = depth;
    this.bestFull = full;
    this.bestMethodSpecific = methodSpecific;
    this.bestEnd = end;
    this.bestParams = this.#params.slice();
  }
}

/** Between the two candidates of one node: more matchers, then higher priority; a tie goes to the method-specific one. */
function anyBeatsSpecific<T>(any: Terminal<T>, specific: Terminal<T>): boolean {
  if (any.matcherCount !== specific.matcherCount) return any.matcherCount > specific.matcherCount;
  return any.priority > specific.priority;
}
