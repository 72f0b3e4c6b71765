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
  /**
   * Position among routes for the last tie-break (lower wins; the route's paths follow each other). Default:
   * in the constructor, list order; in withChanges, a replaced route keeps its rank and a new one goes last.
   */
  rank?: number;
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
  /** The route path that matched, as configured (`/users/{id}`, `~regex`): Lambda events name it. */
  path: string;
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
  /** The route path this terminal stands for, as configured. */
  path: string;
  value: T;
  priority: number;
  paramNames: readonly string[];
  matchers: CompiledMatcher[] | null;
  matcherCount: number;
  /** Tie-break between equal routes: compile order (the route's rank, then its path's index), for deterministic results. */
  order: number;
  /** The route's methods; null = any. Read only when a node's lookup lists are derived. */
  methods: ReadonlySet<string> | null;
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

/**
 * The edit (a router build or one `withChanges`) that created a trie node, bucket or host table: only that
 * edit may change it in place. Everything older is shared with earlier routers, which stay valid and
 * unchanged (a request in flight may still be matching against one), so it is copied before a change.
 */
type Edit = object;

class Node<T> {
  literal: Map<string, Node<T>> | null = null;
  param: Node<T> | null = null;
  /** Terminals of catch-all paths ending in `{name*}` right below this node. */
  catchAll: Node<T> | null = null;
  byMethod: Map<string, Terminal<T>[]> | null = null;
  anyMethod: Terminal<T>[] | null = null;
  /** Every terminal ending here, shadowed ones included: the lists above are derived from it after a change. */
  terminals: Terminal<T>[] | null = null;

  constructor(readonly edit: Edit) {}

  /** A copy owned by `edit`; children, lookup lists and terminals are shared until changed. */
  copy(edit: Edit): Node<T> {
    const n = new Node<T>(edit);
    n.literal = this.literal;
    n.param = this.param;
    n.catchAll = this.catchAll;
    n.byMethod = this.byMethod;
    n.anyMethod = this.anyMethod;
    n.terminals = this.terminals;
    return n;
  }

  isEmpty(): boolean {
    return this.terminals === null && this.literal === null && this.param === null && this.catchAll === null;
  }

  /** Rebuilds the lookup lists from `terminals` (the result does not depend on insertion order: see insertTerminal). */
  derive(): void {
    let any: Terminal<T>[] | null = null;
    let byMethod: Map<string, Terminal<T>[]> | null = null;
    for (const t of this.terminals ?? []) {
      if (t.methods === null) insertTerminal((any ??= []), t);
      else {
        byMethod ??= new Map();
        for (const m of t.methods) {
          let list = byMethod.get(m);
          if (!list) byMethod.set(m, (list = []));
          insertTerminal(list, t);
        }
      }
    }
    this.anyMethod = any;
    this.byMethod = byMethod;
  }
}

interface RegexRoute<T> {
  re: RegExp;
  methods: ReadonlySet<string> | null;
  terminal: Terminal<T>;
  /** Text every path the regex matches starts with (the pattern's leading literal part); may be ''. */
  prefix: string;
}

/**
 * A bucket's regex routes for lookup: by the first path segment their literal prefix fixes (`~/orders/(\d+)`
 * under `orders`), and the others; each list in match order (priority, then compile order). A lookup merges
 * the list of its first segment with `rest`, so it tries only regexes that can match instead of all of them.
 */
interface RegexIndex<T> {
  byFirst: Map<string, RegexRoute<T>[]>;
  rest: RegexRoute<T>[];
}

function regexFirst(prefix: string): string | null {
  if (prefix.charCodeAt(0) !== 47 /* / */) return null;
  const j = prefix.indexOf('/', 1);
  return j === -1 ? null : prefix.slice(1, j);
}

/** `list` is sorted in match order; the index keeps that order within each list. */
function buildRegexIndex<T>(list: readonly RegexRoute<T>[] | null): RegexIndex<T> | null {
  if (list === null) return null;
  const byFirst = new Map<string, RegexRoute<T>[]>();
  const rest: RegexRoute<T>[] = [];
  for (const r of list) {
    const first = regexFirst(r.prefix);
    if (first === null) rest.push(r);
    else {
      let l = byFirst.get(first);
      if (!l) byFirst.set(first, (l = []));
      l.push(r);
    }
  }
  return { byFirst, rest };
}

/** Match order of regex routes: higher priority first, then compile order. */
function regexBefore<T>(a: RegexRoute<T>, b: RegexRoute<T>): boolean {
  const x = a.terminal;
  const y = b.terminal;
  return x.priority !== y.priority ? x.priority > y.priority : x.order < y.order;
}

/**
 * The literal text a sticky, flag-less regex source must match first: leading characters up to the first
 * metacharacter; a character made optional by a following quantifier is dropped; any `|` gives ''.
 */
export function regexLiteralPrefix(source: string): string {
  if (source.includes('|')) return '';
  let out = '';
  let i = source.charCodeAt(0) === 94 /* ^ */ ? 1 : 0;
  while (i < source.length) {
    let c = source[i]!;
    let next = i + 1;
    if (c === '\\') {
      const e = source[i + 1];
      // Escaped punctuation is literal; `\d`, `\w`, `\1`, `\u…` and the like are not.
      if (e === undefined || /[0-9A-Za-z]/.test(e)) break;
      c = e;
      next = i + 2;
    } else if ('^$.*+?()[]{}'.includes(c)) break;
    const q = source[next];
    if (q === '?' || q === '*' || q === '{') break;
    out += c;
    if (q === '+') break;
    i = next;
  }
  return out;
}

/** The routes of one host pattern (or of no host). */
class Bucket<T> {
  root: Node<T> | null = null;
  regex: RegexRoute<T>[] | null = null;
  /** Derived from `regex` when an edit finishes. */
  regexIndex: RegexIndex<T> | null = null;

  constructor(readonly edit: Edit) {}

  copy(edit: Edit): Bucket<T> {
    const b = new Bucket<T>(edit);
    b.root = this.root;
    b.regex = this.regex;
    b.regexIndex = this.regexIndex;
    return b;
  }
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

/** A route as the router holds it: what it needs to find and remove the route's terminals again. */
interface Placed<T> {
  spec: RouteSpec<T>;
  rank: number;
  /** One per path, in path order. */
  terminals: Terminal<T>[];
}

/** Orders of one route's paths: rank * PATH_SLOTS + path index (a route has at most 64 paths). */
const PATH_SLOTS = 1024;

const ROUTE_SHARDS = 256;

function shardOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return h & (ROUTE_SHARDS - 1);
}

/** Where a host pattern's bucket lives: the table and its key. */
function bucketSlot(host: string): { table: 'exact' | 'suffix' | 'prefix'; key: string } {
  if (host.startsWith('*.')) return { table: 'suffix', key: host.slice(1) };
  if (host.endsWith('.*')) return { table: 'prefix', key: host.slice(0, -1) };
  return { table: 'exact', key: host };
}

/** One edit's working state: which shared tables it has already copied, and the nodes whose terminals changed. */
interface EditState<T> {
  edit: Edit;
  owned: Set<'exact' | 'suffix' | 'prefix'>;
  /** Route-index shards copied by this edit (all of them for a build from scratch). */
  shards: Set<number> | 'all';
  dirty: Set<Node<T>>;
  regexDirty: Set<Bucket<T>>;
  /** Literal-child maps made by this edit (the others are shared). */
  maps: Set<Map<string, Node<T>>>;
}

/**
 * A persistent route matcher: `withChanges` returns a new router that copies only the host tables, buckets,
 * regex lists and trie nodes on the paths of the changed routes and shares everything else with this one,
 * which stays valid and unchanged. The result matches exactly like a router built from scratch from the same
 * routes in the same rank order.
 */
export class Router<T> {
  #exact = new Map<string, Bucket<T>>();
  /** `*.example.com` under `.example.com`. */
  #suffix = new Map<string, Bucket<T>>();
  /** `api.*` under `api.`. */
  #prefix = new Map<string, Bucket<T>>();
  #anyHost: Bucket<T> | null = null;
  #hasHosts = false;
  #hasWildcards = false;
  /**
   * Every route by id, what withChanges needs to take one out again, in shards by a hash of the id: a change
   * copies one small shard, not an index of every route (copying 10,000 entries took ~2 ms).
   */
  #routes: (Map<string, Placed<T>> | undefined)[] = [];
  #size = 0;
  #nextRank = 0;

  /** Route ids are unique: a repeated id replaces the earlier route (keeping its rank). */
  constructor(specs: readonly RouteSpec<T>[] = []) {
    const st = Router.#begin<T>();
    st.owned.add('exact').add('suffix').add('prefix');
    st.shards = 'all';
    for (const spec of specs) this.#upsert(st, spec);
    this.#finish(st);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * A router with `upserts` added or replacing the routes of the same id (a replaced route keeps its rank
   * unless the spec sets one; a new one without a rank goes after every route) and the routes `removals`
   * names taken out (unknown ids are ignored). Costs in proportion to the changed routes, not to the router.
   */
  withChanges(upserts: readonly RouteSpec<T>[], removals: Iterable<string> = []): Router<T> {
    const next = new Router<T>();
    next.#exact = this.#exact;
    next.#suffix = this.#suffix;
    next.#prefix = this.#prefix;
    next.#anyHost = this.#anyHost;
    next.#routes = this.#routes.slice();
    next.#size = this.#size;
    next.#nextRank = this.#nextRank;
    const st = Router.#begin<T>();
    for (const id of removals) {
      const placed = next.#placed(id);
      if (placed) next.#remove(st, placed);
    }
    for (const spec of upserts) next.#upsert(st, spec);
    next.#finish(st);
    return next;
  }

  static #begin<T>(): EditState<T> {
    return { edit: {}, owned: new Set(), shards: new Set(), dirty: new Set(), regexDirty: new Set(), maps: new Set() };
  }

  #finish(st: EditState<T>): void {
    for (const n of st.dirty) n.derive();
    for (const b of st.regexDirty) {
      b.regex?.sort((x, y) => y.terminal.priority - x.terminal.priority || x.terminal.order - y.terminal.order);
      b.regexIndex = buildRegexIndex(b.regex);
    }
    this.#hasWildcards = this.#suffix.size > 0 || this.#prefix.size > 0;
    this.#hasHosts = this.#hasWildcards || this.#exact.size > 0;
  }

  #table(st: EditState<T>, name: 'exact' | 'suffix' | 'prefix', forWrite: boolean): Map<string, Bucket<T>> {
    if (forWrite && !st.owned.has(name)) {
      st.owned.add(name);
      if (name === 'exact') this.#exact = new Map(this.#exact);
      else if (name === 'suffix') this.#suffix = new Map(this.#suffix);
      else this.#prefix = new Map(this.#prefix);
    }
    return name === 'exact' ? this.#exact : name === 'suffix' ? this.#suffix : this.#prefix;
  }

  #placed(id: string): Placed<T> | undefined {
    return this.#routes[shardOf(id)]?.get(id);
  }

  #shardForWrite(st: EditState<T>, id: string): Map<string, Placed<T>> {
    const i = shardOf(id);
    let m = this.#routes[i];
    if (m === undefined || (st.shards !== 'all' && !st.shards.has(i))) {
      this.#routes[i] = m = new Map(m ?? []);
      if (st.shards !== 'all') st.shards.add(i);
    }
    return m;
  }

  /** The bucket of a host pattern (null: host-less routes), owned by this edit; null when absent and !create. */
  #bucket(st: EditState<T>, host: string | null, create: boolean): Bucket<T> | null {
    if (host === null) {
      const b = this.#anyHost;
      if (b === null) return create ? (this.#anyHost = new Bucket<T>(st.edit)) : null;
      return b.edit === st.edit ? b : (this.#anyHost = b.copy(st.edit));
    }
    const { table, key } = bucketSlot(host);
    const b = this.#table(st, table, false).get(key);
    if (b !== undefined && b.edit === st.edit) return b;
    if (b === undefined && !create) return null;
    const owned = b === undefined ? new Bucket<T>(st.edit) : b.copy(st.edit);
    this.#table(st, table, true).set(key, owned);
    return owned;
  }

  #dropIfEmpty(st: EditState<T>, host: string | null, b: Bucket<T>): void {
    if (b.root !== null || b.regex !== null) return;
    if (host === null) this.#anyHost = null;
    else {
      const { table, key } = bucketSlot(host);
      this.#table(st, table, true).delete(key);
    }
  }

  #upsert(st: EditState<T>, spec: RouteSpec<T>): void {
    const old = this.#placed(spec.id);
    if (old) this.#remove(st, old);
    const rank = spec.rank ?? old?.rank ?? this.#nextRank;
    if (rank >= this.#nextRank) this.#nextRank = rank + 1;
    const matchers = compileMatchers(spec.headers, spec.query);
    const methods = spec.methods.length === 0 ? null : new Set(spec.methods);
    const buckets = hostsOf(spec).map((h) => this.#bucket(st, h, true)!);
    const terminals: Terminal<T>[] = [];
    for (let i = 0; i < spec.paths.length; i++) {
      const path = spec.paths[i]!;
      const regex = path.charCodeAt(0) === 126; /* ~ */
      const { segments } = regex ? { segments: [] } : parsePattern(path);
      const paramNames = segments.filter((s) => s.param !== null).map((s) => s.param as string);
      const t: Terminal<T> = {
        routeId: spec.id,
        path,
        value: spec.value,
        priority: spec.priority,
        paramNames,
        matchers,
        matcherCount: matchers?.length ?? 0,
        order: rank * PATH_SLOTS + i,
        methods,
      };
      terminals.push(t);
      if (regex) {
        const re = new RegExp(path.slice(1), 'y');
        const prefix = regexLiteralPrefix(re.source);
        for (const b of buckets) regexForWrite(st, b).push({ re, methods, terminal: t, prefix });
        continue;
      }
      for (const b of buckets) {
        let node = ownedRoot(st, b);
        for (const seg of segments) node = ownedChild(st, node, seg, true)!;
        terminalsForWrite(st, node).push(t);
      }
    }
    this.#shardForWrite(st, spec.id).set(spec.id, { spec, rank, terminals });
    this.#size++;
  }

  #remove(st: EditState<T>, placed: Placed<T>): void {
    this.#shardForWrite(st, placed.spec.id).delete(placed.spec.id);
    this.#size--;
    for (const host of hostsOf(placed.spec)) {
      const b = this.#bucket(st, host, false)!;
      placed.spec.paths.forEach((path, i) => {
        const t = placed.terminals[i]!;
        if (path.charCodeAt(0) === 126 /* ~ */) {
          const list = regexForWrite(st, b).filter((r) => r.terminal !== t);
          b.regex = list.length === 0 ? null : list;
          return;
        }
        // Walk down copying, then take the terminal out and prune the nodes it leaves empty, bottom up.
        const trail: { node: Node<T>; seg: Segment | null }[] = [];
        let node = ownedRoot(st, b);
        trail.push({ node, seg: null });
        for (const seg of parsePattern(path).segments) {
          node = ownedChild(st, node, seg, false)!;
          trail.push({ node, seg });
        }
        const list = terminalsForWrite(st, node);
        list.splice(list.indexOf(t), 1);
        if (list.length === 0) node.terminals = null;
        for (let k = trail.length - 1; k > 0 && trail[k]!.node.isEmpty(); k--) detachChild(st, trail[k - 1]!.node, trail[k]!.seg!);
        if (b.root!.isEmpty()) b.root = null;
      });
      this.#dropIfEmpty(st, host, b);
    }
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
    const ix = b.regexIndex;
    if (ix !== null) {
      const m = matchRegex(ix, method, path, req);
      if (m) return m;
    }
    return s && s.best ? s.result() : null;
  }
}

/** The first regex route, in match order, that matches: the first segment's list merged with the rest. */
function matchRegex<T>(ix: RegexIndex<T>, method: string, path: string, req: RequestView | undefined): RouteMatch<T> | null {
  let a: RegexRoute<T>[] | undefined;
  if (ix.byFirst.size > 0 && path.charCodeAt(0) === 47) {
    const j = path.indexOf('/', 1);
    if (j !== -1) a = ix.byFirst.get(path.slice(1, j));
  }
  const b = ix.rest;
  const na = a === undefined ? 0 : a.length;
  let i = 0;
  let k = 0;
  while (i < na || k < b.length) {
    const r = k >= b.length || (i < na && regexBefore(a![i]!, b[k]!)) ? a![i++]! : b[k++]!;
    if (r.methods !== null && !r.methods.has(method)) continue;
    if (r.prefix !== '' && !path.startsWith(r.prefix)) continue;
    r.re.lastIndex = 0;
    const m = r.re.exec(path);
    if (!m) continue;
    const t = r.terminal;
    if (t.matchers !== null && !matchersHold(t.matchers, req)) continue;
    const params: Record<string, string> = {};
    if (m.groups) for (const key in m.groups) if (m.groups[key] !== undefined) params[key] = m.groups[key];
    return { value: t.value, routeId: t.routeId, params, prefixLength: m[0].length, path: t.path };
  }
  return null;
}

/** The bucket keys of a route: its distinct lower-cased host patterns, or null for a host-less route. */
function hostsOf(spec: RouteSpec<unknown>): (string | null)[] {
  return spec.hosts.length === 0 ? [null] : [...new Set(spec.hosts.map((x) => x.toLowerCase()))];
}

function ownedRoot<T>(st: EditState<T>, b: Bucket<T>): Node<T> {
  const r = b.root;
  if (r === null) return (b.root = new Node<T>(st.edit));
  return r.edit === st.edit ? r : (b.root = r.copy(st.edit));
}

/** The child for `seg`, owned by this edit (copied or, with `create`, made); null when absent and !create. */
function ownedChild<T>(st: EditState<T>, node: Node<T>, seg: Segment, create: boolean): Node<T> | null {
  const cur = seg.catchAll ? node.catchAll : seg.literal !== null ? (node.literal?.get(seg.literal) ?? null) : node.param;
  if (cur !== null && cur.edit === st.edit) return cur;
  if (cur === null && !create) return null;
  const next = cur === null ? new Node<T>(st.edit) : cur.copy(st.edit);
  if (seg.catchAll) node.catchAll = next;
  else if (seg.literal !== null) literalForWrite(st, node).set(seg.literal, next);
  else node.param = next;
  return next;
}

function detachChild<T>(st: EditState<T>, node: Node<T>, seg: Segment): void {
  if (seg.catchAll) node.catchAll = null;
  else if (seg.literal !== null) {
    const m = literalForWrite(st, node);
    m.delete(seg.literal);
    if (m.size === 0) node.literal = null;
  } else node.param = null;
}

function literalForWrite<T>(st: EditState<T>, node: Node<T>): Map<string, Node<T>> {
  let m = node.literal;
  if (m === null || !st.maps.has(m)) {
    node.literal = m = new Map(m ?? []);
    st.maps.add(m);
  }
  return m;
}

function terminalsForWrite<T>(st: EditState<T>, node: Node<T>): Terminal<T>[] {
  if (!st.dirty.has(node)) {
    st.dirty.add(node);
    node.terminals = node.terminals === null ? [] : node.terminals.slice();
  } else if (node.terminals === null) node.terminals = [];
  return node.terminals!;
}

function regexForWrite<T>(st: EditState<T>, b: Bucket<T>): RegexRoute<T>[] {
  if (!st.regexDirty.has(b)) {
    st.regexDirty.add(b);
    b.regex = b.regex === null ? [] : b.regex.slice();
  } else if (b.regex === null) b.regex = [];
  return b.regex!;
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
    return { value: best.value, routeId: best.routeId, params, prefixLength: this.bestEnd, path: best.path };
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
