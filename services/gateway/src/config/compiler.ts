// Compiles the raw KV entries (`<kind>.<id>` → envelope JSON) into an immutable snapshot the hot path
// reads with table lookups only. Invalid entities, and entities whose references are missing or
// rejected, are left out and reported; everything else still compiles.
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import {
  Consumer,
  META_REVISION_KEY,
  Route,
  Service,
  Upstream,
  parseEntityKey,
  routeProblems,
  type CoreEntityKind,
  type EntityKind,
  RESOURCE_KINDS,
  type FieldError,
} from '@turnpike/common';
import type { Dispatcher } from 'undici';
import { Router, type RouteSpec } from '../router/index.js';
import { createBalancer, type Balancer } from '../upstream/balancer.js';
import type { KeyAuthPolicy, KeyOwner } from '../plugins/key-auth/index.js';
import type { SizeLimitPolicy } from '../plugins/request-size-limiting/index.js';
import { compilePluginIndex, routePolicies } from '../plugins/chain.js';
import { KeyIndex } from './key-index.js';

if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

export interface UpstreamTarget {
  origin: string;
  poolKey: string;
  dispatcher: Dispatcher;
  /** Requests on this target now (kept by the proxy; read by least-connections). */
  inFlight: number;
}

/** The request attribute a consistent-hash upstream keys on; `name` lowercased (header or cookie name). */
export interface CompiledHashOn {
  source: 'header' | 'cookie' | 'client-ip' | 'path';
  name: string;
}

export interface CompiledUpstream {
  id: string;
  balancer: Balancer<UpstreamTarget>;
  /** Set for consistent-hash upstreams only. */
  hashOn: CompiledHashOn | null;
  readTimeoutMs: number;
  /** Budget for the whole exchange; 0 for none. */
  totalTimeoutMs: number;
}

export interface CompiledService {
  id: string;
  /** Without a trailing slash; '' for none. */
  basePath: string;
  /** Null when the service's integration is not served by this node (see `integration`). */
  upstream: CompiledUpstream | null;
  /** `lambda`, `websocket` or `ai` for services this node version answers with TP_ERR_INTEGRATION_UNAVAILABLE; null for http. */
  integration: string | null;
  /**
   * Header name/value pairs every proxied response of this service carries (a deprecated service's
   * `Deprecation`/`Sunset`), formatted here so the hot path only writes them; null for none.
   */
  responseHeaders: readonly string[] | null;
}

export interface CompiledRoute {
  id: string;
  service: CompiledService;
  stripPath: boolean;
  keyAuth: KeyAuthPolicy | null;
  /** request-size-limiting (plugins/chain.ts); null: the node's limit only. */
  sizeLimit: SizeLimitPolicy | null;
}

export interface Rejection {
  key: string;
  reason: string;
  fields?: FieldError[];
}

export interface Snapshot {
  revision: number;
  router: Router<CompiledRoute>;
  keys: ReadonlyMap<string, KeyOwner>;
  rejected: readonly Rejection[];
  counts: Record<CoreEntityKind, number>;
  poolKeys: ReadonlySet<string>;
}

export type PoolFactory = (origin: string, connectTimeoutMs: number) => { key: string; dispatcher: Dispatcher };

interface Parsed<T> {
  key: string;
  id: string;
  data: T;
}

const SCHEMAS: Record<Exclude<CoreEntityKind, 'keys'>, TSchema> = { upstreams: Upstream, services: Service, routes: Route, consumers: Consumer };
// Compiled validators: at 100,000+ entities the interpreting Value.Check dominated a full compile.
const CHECKS: Record<Exclude<CoreEntityKind, 'keys'>, TypeCheck<TSchema>> = {
  upstreams: TypeCompiler.Compile(Upstream),
  services: TypeCompiler.Compile(Service),
  routes: TypeCompiler.Compile(Route),
  consumers: TypeCompiler.Compile(Consumer),
};

/** What one KV entry contributes, computed from its raw value alone (so it can be reused while that is unchanged). */
type EntryResult =
  | { t: 'skip'; revision: number | null }
  | { t: 'rejected'; revision: number | null; rejection: Rejection }
  | { t: 'ok'; revision: number | null; kind: EntityKind; parsed: Parsed<unknown> }
  /** A valid consumer or API key: held by the cache's KeyIndex, not as a parsed object. */
  | { t: 'indexed'; revision: number | null };

const RESOURCE_KIND_SET: ReadonlySet<EntityKind> = new Set(RESOURCE_KINDS);
function isResourceKind(kind: EntityKind): kind is Exclude<EntityKind, CoreEntityKind> {
  return RESOURCE_KIND_SET.has(kind);
}

function parseEntry(key: string, raw: string): EntryResult {
  if (key === META_REVISION_KEY) {
    const r = safeJson(raw) as { revision?: unknown } | undefined;
    return { t: 'skip', revision: typeof r?.revision === 'number' ? r.revision : null };
  }
  const parsedKey = parseEntityKey(key);
  if (!parsedKey) return { t: 'skip', revision: null }; // Not an entity this node version knows; newer control planes may add kinds.
  const env = safeJson(raw) as { kind?: unknown; revision?: unknown; data?: unknown } | undefined;
  if (!env || typeof env !== 'object' || env.kind !== parsedKey.kind || typeof env.data !== 'object' || env.data === null) {
    return { t: 'rejected', revision: null, rejection: { key, reason: 'not a config envelope {kind, revision, data} of the key’s kind' } };
  }
  const revision = typeof env.revision === 'number' ? env.revision : null;
  // Freshly parsed, so owned here: defaults may be filled in place.
  const data = env.data as Record<string, unknown>;
  if (parsedKey.kind === 'keys') {
    const problem = checkApiKey(data);
    if (problem) return { t: 'rejected', revision, rejection: { key, reason: problem } };
  } else if (!isResourceKind(parsedKey.kind)) {
    const schema = SCHEMAS[parsedKey.kind];
    const check = CHECKS[parsedKey.kind];
    // Consumers (100,000+ at scale) arrive complete from the control plane: filling defaults (an interpreted
    // walk of the schema) only when the compiled check fails halved their cost.
    if (parsedKey.kind !== 'consumers' || !check.Check(data)) Value.Default(schema, data);
    if (!check.Check(data)) {
      const fields = [...check.Errors(data)].slice(0, 10).map((e) => ({ path: e.path || '/', message: e.message }));
      return { t: 'rejected', revision, rejection: { key, reason: 'failed schema validation', fields } };
    }
    // Regular expressions and matcher values: what the schema cannot say (config from an older control plane).
    const routeFields = parsedKey.kind === 'routes' ? routeProblems(data as Route) : [];
    if (routeFields.length > 0) return { t: 'rejected', revision, rejection: { key, reason: 'invalid route', fields: routeFields } };
  }
  if (data.id !== parsedKey.id) {
    return { t: 'rejected', revision, rejection: { key, reason: `data.id ${String(data.id)} does not match the key` } };
  }
  // The cache keeps every consumer for the life of the node: keep only what the key table reads.
  const kept = parsedKey.kind === 'consumers' ? { id: data.id, username: data.username } : data;
  return { t: 'ok', revision, kind: parsedKey.kind, parsed: { key, id: parsedKey.id, data: kept } };
}

/**
 * What earlier compiles hand to the next one. A change to one entity must not cost a parse and validation
 * of every entity (100,000+ at scale): the cache keeps each entry's result, indexed by kind, and a compile
 * told which keys changed updates only those. The API-key table (the largest structure: one entry per key)
 * is reused as long as no consumer or key changed.
 */
export class CompileCache {
  readonly #results = new Map<string, { raw: string; result: EntryResult }>();
  readonly parsed: { [K in EntityKind]: Map<string, Parsed<unknown>> } = {
    upstreams: new Map(),
    services: new Map(),
    routes: new Map(),
    consumers: new Map(),
    keys: new Map(),
    // Kept for the policy compilers that read them; validated by the control plane's resource store.
    consumer_groups: new Map(),
    credentials: new Map(),
    plans: new Map(),
    subscriptions: new Map(),
    plugins: new Map(),
    ai_providers: new Map(),
    prompt_templates: new Map(),
  };
  readonly rejected = new Map<string, Rejection>();
  /** The highest revision of any entry (meta.revision included). */
  revision = 0;
  /** Consumers and API keys, updated in place entry by entry (the table snapshots share). */
  readonly keyIndex = new KeyIndex();
  /**
   * The last snapshot compiled with routing inputs (everything but consumers, keys and meta.revision) and
   * the rejections that compile added: a change to consumers or keys alone reuses its router and maps.
   */
  routing: { snapshot: Snapshot; rejected: readonly Rejection[] } | null = null;
  /** True once a full pass filled it: only then may a compile update just the changed keys. */
  primed = false;

  get size(): number {
    return this.#results.size;
  }

  keyList(): string[] {
    return [...this.#results.keys()];
  }

  /** Records the entry's raw value; returns false when it is unchanged. */
  set(key: string, raw: string): boolean {
    const old = this.#results.get(key);
    if (old && old.raw === raw) return false;
    let result = parseEntry(key, raw);
    if (result.t === 'ok' && (result.kind === 'consumers' || result.kind === 'keys')) {
      const data = result.parsed.data as { username: string; consumer_id: string; key_sha256: string };
      if (result.kind === 'consumers') this.keyIndex.setConsumer(result.parsed.id, data.username);
      else this.keyIndex.setKey(key, data.consumer_id, data.key_sha256.toLowerCase());
      result = { t: 'indexed', revision: result.revision };
    }
    this.#results.set(key, { raw, result });
    if (old) this.#unindex(key, old.result, result);
    // Map.set keeps an existing key's position, so a changed entity keeps its place (routes' tie-break order).
    if (result.t === 'rejected') this.rejected.set(key, result.rejection);
    else if (result.t === 'ok') this.parsed[result.kind].set(key, result.parsed);
    if (result.revision !== null && result.revision > this.revision) this.revision = result.revision;
    else if (old && old.result.revision === this.revision && (result.revision ?? -1) < this.revision) this.#recomputeRevision();
    return true;
  }

  delete(key: string): boolean {
    const old = this.#results.get(key);
    if (!old) return false;
    this.#results.delete(key);
    this.#unindex(key, old.result, null);
    if (old.result.revision === this.revision) this.#recomputeRevision();
    return true;
  }

  #unindex(key: string, old: EntryResult, next: EntryResult | null): void {
    if (old.t === 'rejected' && next?.t !== 'rejected') this.rejected.delete(key);
    if (old.t === 'ok' && !(next?.t === 'ok' && next.kind === old.kind)) this.parsed[old.kind].delete(key);
    if (old.t === 'indexed' && next?.t !== 'indexed') {
      if (isConsumerKey(key)) this.keyIndex.deleteConsumer(key.slice(CONSUMERS_PREFIX.length));
      else this.keyIndex.deleteKey(key);
    }
  }

  #recomputeRevision(): void {
    let r = 0;
    for (const { result } of this.#results.values()) if (result.revision !== null && result.revision > r) r = result.revision;
    this.revision = r;
  }
}

export interface CompileOptions {
  /** Serve only routes of these stages plus stage-less ones (TP_STAGES); undefined/null: every route. */
  stages?: ReadonlySet<string> | null;
}

const CONSUMERS_PREFIX = 'consumers.';
const isConsumerKey = (key: string): boolean => key.startsWith(CONSUMERS_PREFIX);
/** Entries that never change routing: consumers, API keys and the revision marker. */
const isKeyInput = (key: string): boolean => key.startsWith(CONSUMERS_PREFIX) || key.startsWith('keys.') || key === META_REVISION_KEY;

/**
 * `changed`: the keys set or deleted since the compile that last used `cache` (a live change); without it
 * (or with a fresh cache) every entry is looked at.
 */
export function compileSnapshot(
  entries: ReadonlyMap<string, string>,
  poolFor: PoolFactory,
  cache: CompileCache = new CompileCache(),
  changed?: ReadonlySet<string>,
  options: CompileOptions = {},
): Snapshot {
  let routingChanged = cache.routing === null;
  const touch = (key: string, didChange: boolean): void => {
    if (didChange && !isKeyInput(key)) routingChanged = true;
  };
  if (changed && cache.primed) {
    for (const key of changed) {
      const raw = entries.get(key);
      touch(key, raw === undefined ? cache.delete(key) : cache.set(key, raw));
    }
  } else {
    for (const [key, raw] of entries) touch(key, cache.set(key, raw));
    if (cache.size > entries.size) for (const key of cache.keyList()) if (!entries.has(key)) touch(key, cache.delete(key));
    cache.primed = true;
  }
  const rejected: Rejection[] = [...cache.rejected.values()];
  const revision = cache.revision;
  const byKind = cache.parsed;
  const keyIndex = cache.keyIndex;
  const keyCounts = { consumers: keyIndex.consumerCount, keys: keyIndex.table.size };
  if (!routingChanged && cache.routing) {
    // Only consumers, keys or the revision changed: the router, services and upstreams stand as they are.
    const prev = cache.routing.snapshot;
    return {
      ...prev,
      revision,
      keys: keyIndex.table,
      rejected: [...rejected, ...cache.routing.rejected, ...keyIndex.rejections()],
      counts: { ...prev.counts, ...keyCounts },
    };
  }
  const schemaRejections = rejected.length;

  const poolKeys = new Set<string>();
  const upstreams = new Map<string, CompiledUpstream>();
  for (const { id, data } of byKind.upstreams.values() as MapIterator<Parsed<Upstream>>) {
    const targets = data.targets.map((t) => {
      const host = t.host.includes(':') && !t.host.startsWith('[') ? `[${t.host}]` : t.host;
      const origin = `${data.scheme}://${host}:${t.port}`;
      const { key, dispatcher } = poolFor(origin, data.connect_timeout_ms);
      poolKeys.add(key);
      return { item: { origin, poolKey: key, dispatcher, inFlight: 0 }, weight: t.weight, id: origin };
    });
    const algorithm = data.algorithm ?? 'round-robin';
    const h = algorithm === 'consistent-hash' ? data.hash_on : null;
    upstreams.set(id, {
      id,
      balancer: createBalancer(algorithm, targets),
      hashOn: h ? { source: h.source, name: (h.name ?? '').toLowerCase() } : null,
      readTimeoutMs: data.read_timeout_ms,
      totalTimeoutMs: data.total_timeout_ms ?? 0,
    });
  }

  const services = new Map<string, CompiledService>();
  const unrouted = new Set<string>();
  for (const { key, id, data } of byKind.services.values() as MapIterator<Parsed<Service>>) {
    if (data.lifecycle === 'draft' || data.lifecycle === 'retired') {
      unrouted.add(id);
      continue;
    }
    const basePath = data.base_path.replace(/\/+$/, '');
    const integration = data.integration ?? null;
    if (integration !== null && integration.type !== 'http') {
      // Valid config this node version does not serve yet: routed, and answered with a 502 that says so.
      services.set(id, { id, basePath, upstream: null, integration: integration.type, responseHeaders: lifecycleHeaders(data) });
      continue;
    }
    const upstreamId = integration?.upstream_id ?? data.upstream_id ?? '';
    const upstream = upstreams.get(upstreamId);
    if (!upstream) {
      rejected.push({ key, reason: `upstream ${upstreamId || '(none)'} is missing or rejected` });
      continue;
    }
    services.set(id, { id, basePath, upstream, integration: null, responseHeaders: lifecycleHeaders(data) });
  }

  // Plugin attachments → per-route policies (precedence decided there, once per compile).
  const plugins = compilePluginIndex(byKind.plugins.values());
  rejected.push(...plugins.rejections);
  const specs: RouteSpec<CompiledRoute>[] = [];
  for (const { key, id, data } of byKind.routes.values() as MapIterator<Parsed<Route>>) {
    const service = services.get(data.service_id);
    if (!service) {
      // A draft or retired service is valid config that does not route: its routes are left out, not rejected.
      if (!unrouted.has(data.service_id)) rejected.push({ key, reason: `service ${data.service_id} is missing or rejected` });
      continue;
    }
    // A route for another stage is valid config this node does not serve (TP_STAGES).
    if (options.stages && data.stage !== null && !options.stages.has(data.stage)) continue;
    specs.push({
      id,
      hosts: data.hosts,
      methods: data.methods,
      paths: data.paths,
      priority: data.priority,
      headers: data.headers,
      query: data.query,
      value: { id, service, stripPath: data.strip_path, ...routePolicies(plugins.index, id, service.id, data.plugins) },
    });
  }

  const routingRejections = rejected.slice(schemaRejections);
  rejected.push(...keyIndex.rejections());
  const keys = keyIndex.table;

  const snapshot: Snapshot = {
    revision,
    router: new Router(specs),
    keys,
    rejected,
    counts: { upstreams: upstreams.size, services: services.size, routes: specs.length, ...keyCounts },
    poolKeys,
  };
  cache.routing = { snapshot, rejected: routingRejections };
  return snapshot;
}

/** `Deprecation: true` (RFC 9745) and, with a sunset date, `Sunset: <HTTP-date>` (RFC 8594) for a deprecated service. */
export function lifecycleHeaders(s: Pick<Service, 'lifecycle' | 'sunset_at'>): string[] | null {
  if (s.lifecycle !== 'deprecated') return null;
  const pairs = ['deprecation', 'true'];
  if (s.sunset_at) pairs.push('sunset', new Date(s.sunset_at).toUTCString());
  return pairs;
}

function checkApiKey(d: Record<string, unknown>): string | null {
  if (typeof d.id !== 'string' || d.id === '') return 'api key without id';
  if (typeof d.consumer_id !== 'string' || d.consumer_id === '') return 'api key without consumer_id';
  if (typeof d.key_sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(d.key_sha256)) return 'key_sha256 must be 64 hex characters';
  return null;
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
