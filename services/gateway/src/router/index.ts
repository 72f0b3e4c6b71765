// The route matcher: compiled once per config snapshot, pure, no I/O. Hosts are looked up exactly (routes
// with hosts take precedence over host-less ones), then a segment trie is walked: literal children are
// tried before `{param}` children, every node where a route path ends is a prefix-match candidate, and
// the best candidate wins by (literal segments, segment count, priority, method-specific).

export interface RouteSpec<T> {
  id: string;
  /** Exact host names, matched case-insensitively; empty = any host. */
  hosts: readonly string[];
  /** Upper-case HTTP methods; empty = any method. */
  methods: readonly string[];
  /** `/a/{p}/b` patterns, prefix-matched on segment boundaries. */
  paths: readonly string[];
  priority: number;
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  routeId: string;
  params: Record<string, string>;
  /** Length of the request path prefix the route path covered (for strip_path). */
  prefixLength: number;
}

interface Terminal<T> {
  routeId: string;
  value: T;
  priority: number;
  paramNames: readonly string[];
  /** Tie-break between equal routes: compile order, for deterministic results. */
  order: number;
}

class Node<T> {
  literal: Map<string, Node<T>> | null = null;
  param: Node<T> | null = null;
  /** Best terminal per method, and for any method (null when none ends here). */
  byMethod: Map<string, Terminal<T>> | null = null;
  anyMethod: Terminal<T> | null = null;
}

function better<T>(a: Terminal<T>, b: Terminal<T> | null | undefined): boolean {
  if (!b) return true;
  return a.priority > b.priority || (a.priority === b.priority && a.order < b.order);
}

/** Splits a route pattern into segments; `{name}` segments become params. */
export function parsePattern(path: string): { segments: { literal: string | null; param: string | null }[] } {
  const segments: { literal: string | null; param: string | null }[] = [];
  for (const s of path.split('/')) {
    if (s === '') continue;
    if (s.length > 2 && s.charCodeAt(0) === 123 /* { */ && s.charCodeAt(s.length - 1) === 125 /* } */) {
      segments.push({ literal: null, param: s.slice(1, -1) });
    } else segments.push({ literal: s, param: null });
  }
  return { segments };
}

export class Router<T> {
  readonly #byHost = new Map<string, Node<T>>();
  readonly #anyHost: Node<T> | null;
  readonly size: number;

  constructor(specs: readonly RouteSpec<T>[]) {
    let anyHost: Node<T> | null = null;
    let order = 0;
    for (const spec of specs) {
      for (const path of spec.paths) {
        const { segments } = parsePattern(path);
        const roots: Node<T>[] = [];
        if (spec.hosts.length === 0) roots.push((anyHost ??= new Node<T>()));
        for (const h of spec.hosts) {
          const key = h.toLowerCase();
          let root = this.#byHost.get(key);
          if (!root) this.#byHost.set(key, (root = new Node<T>()));
          roots.push(root);
        }
        const paramNames = segments.filter((s) => s.param !== null).map((s) => s.param as string);
        const terminal: Terminal<T> = { routeId: spec.id, value: spec.value, priority: spec.priority, paramNames, order: order++ };
        for (const root of roots) {
          let node = root;
          for (const seg of segments) {
            if (seg.literal !== null) {
              node.literal ??= new Map();
              let next = node.literal.get(seg.literal);
              if (!next) node.literal.set(seg.literal, (next = new Node<T>()));
              node = next;
            } else node = node.param ??= new Node<T>();
          }
          if (spec.methods.length === 0) {
            if (better(terminal, node.anyMethod)) node.anyMethod = terminal;
          } else {
            node.byMethod ??= new Map();
            for (const m of spec.methods) if (better(terminal, node.byMethod.get(m))) node.byMethod.set(m, terminal);
          }
        }
      }
    }
    this.#anyHost = anyHost;
    this.size = specs.length;
  }

  /** `host` without port; `path` without query string. */
  match(method: string, host: string, path: string): RouteMatch<T> | null {
    if (this.#byHost.size > 0 && host !== '') {
      let root = this.#byHost.get(host);
      if (!root) {
        const lower = host.toLowerCase();
        if (lower !== host) root = this.#byHost.get(lower);
      }
      if (root) {
        const m = this.#matchIn(root, method, path);
        if (m) return m;
      }
    }
    return this.#anyHost ? this.#matchIn(this.#anyHost, method, path) : null;
  }

  #matchIn(root: Node<T>, method: string, path: string): RouteMatch<T> | null {
    const s = new Search<T>(method, path);
    s.walk(root, path.charCodeAt(0) === 47 ? 1 : 0, 0, 0, 0);
    const best = s.best;
    if (!best) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < best.paramNames.length; i++) params[best.paramNames[i] as string] = s.bestParams[i] as string;
    return { value: best.value, routeId: best.routeId, params, prefixLength: s.bestEnd };
  }
}

/** One lookup's state: a depth-first walk that keeps the best terminal seen. */
class Search<T> {
  best: Terminal<T> | null = null;
  bestLiterals = -1;
  bestDepth = -1;
  bestMethodSpecific = false;
  bestEnd = 0;
  bestParams: string[] = [];
  readonly #params: string[] = [];

  constructor(
    readonly method: string,
    readonly path: string,
  ) {}

  /** `pos`: start of the next segment; `end`: end of the path matched so far. */
  walk(node: Node<T>, pos: number, end: number, depth: number, literals: number): void {
    this.#consider(node, end, depth, literals);
    const path = this.path;
    // Skip empty segments (`//`, trailing `/`).
    while (pos < path.length && path.charCodeAt(pos) === 47) pos++;
    if (pos >= path.length) return;
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

  #consider(node: Node<T>, end: number, depth: number, literals: number): void {
    let t: Terminal<T> | null | undefined = node.byMethod?.get(this.method);
    let methodSpecific = true;
    if (!t || (node.anyMethod && node.anyMethod.priority > t.priority)) {
      if (node.anyMethod) {
        t = node.anyMethod;
        methodSpecific = false;
      }
    }
    if (!t) return;
    if (this.best) {
      if (literals !== this.bestLiterals) {
        if (literals < this.bestLiterals) return;
      } else if (depth !== this.bestDepth) {
        if (depth < this.bestDepth) return;
      } else if (t.priority !== this.best.priority) {
        if (t.priority < this.best.priority) return;
      } else if (methodSpecific !== this.bestMethodSpecific) {
        if (!methodSpecific) return;
      } else if (t.order > this.best.order) return;
    }
    this.best = t;
    this.bestLiterals = literals;
    this.bestDepth = depth;
    this.bestMethodSpecific = methodSpecific;
    this.bestEnd = end;
    this.bestParams = this.#params.slice();
  }
}
