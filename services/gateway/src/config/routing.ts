// The routing part of a snapshot (upstreams → services → routes → router), compiled in full or, for a live
// change to upstreams, services or routes, incrementally: only the changed entities and what depends on them
// are recompiled (an upstream's services, a service's routes), and the router is derived from the previous
// one with `Router.withChanges`, which shares everything the change does not touch. Snapshots stay
// immutable: the previous router and maps are never changed, so a request still holding them is unaffected.
// The result is the one a full compile of the same entries gives (ranks keep the full compile's tie-break
// order: docs/architecture.md, "Incremental compile").
import { compileWsApi, wsApiUpstreamIds } from '../websocket-api/compiled.js';
import { serviceSplitProblems, upstreamPolicies, type Route, type Service, type Upstream } from '@turnpike/common';
import { Router, type RouteSpec } from '../router/index.js';
import { createBalancer } from '../upstream/balancer.js';
import { upstreamTlsOptions } from '../upstream/pools.js';
import type { ResilienceRegistry } from '../upstream/resilience.js';
import { CompiledSplits } from '../upstream/splits.js';
import { ALWAYS_AVAILABLE } from '../upstream/target-health.js';
import { TurnpikeError } from '@turnpike/common';
import { compilePluginIndex, DEFAULT_PLUGIN_CONTEXT, routePolicies, type PluginContext, type PluginIndex, type RouteServiceInfo } from '../plugins/chain.js';
import type { CompiledAiIntegration } from '../ai/candidates.js';
import { CompiledLambda, targetOf } from '../integrations/lambda/integration.js';
import { lambdaCredentials } from '../integrations/lambda/credentials.js';
import { LambdaClient } from '../integrations/lambda/invocation.js';
import { lifecycleHeaders, type CompiledRoute, type CompiledService, type CompiledUpstream, type PoolFactory, type Rejection, type UpstreamTarget } from './compiler.js';

interface Parsed<T> {
  key: string;
  id: string;
  data: T;
}

/** The parsed entities a routing compile reads, by KV key (CompileCache.parsed). */
export interface RoutingInputs {
  upstreams: ReadonlyMap<string, Parsed<unknown>>;
  services: ReadonlyMap<string, Parsed<unknown>>;
  routes: ReadonlyMap<string, Parsed<unknown>>;
  plugins: ReadonlyMap<string, Parsed<unknown>>;
  /** `openapi_docs.<service id>`: services' OpenAPI documents (request-validation); absent on older control planes. */
  openapi_docs?: ReadonlyMap<string, Parsed<unknown>>;
}

export interface RoutingResult {
  router: Router<CompiledRoute>;
  /** Services', plugins' and routes' rejections (schema rejections are the cache's). */
  rejected: Rejection[];
  counts: { upstreams: number; services: number; routes: number };
  poolKeys: ReadonlySet<string>;
  resilienceKeys: ReadonlySet<string>;
}

const UPSTREAMS = 'upstreams.';
/** Connect timeout towards a lambda integration's Invoke API endpoint (its timeout_ms bounds the whole call). */
const LAMBDA_CONNECT_TIMEOUT_MS = 5_000;
const SERVICES = 'services.';
const ROUTES = 'routes.';

/** The upstream a service proxies to ('' for none); recorded for every service so its upstream's changes find it. */
function upstreamIdOf(s: Service): string {
  const i = s.integration ?? null;
  if (i !== null && i.type !== 'http' && i.type !== 'websocket') return '';
  return i?.upstream_id ?? s.upstream_id ?? '';
}

/** The balancers' guard for upstreams with health checks or a breaker (hoisted: no closure per upstream). */
function targetAvailable(t: UpstreamTarget): boolean {
  return t.health.available;
}

function addTo(index: Map<string, Set<string>>, key: string, member: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(member);
}

function removeFrom(index: Map<string, Set<string>>, key: string | undefined, member: string): void {
  if (key === undefined) return;
  const set = index.get(key);
  if (set && set.delete(member) && set.size === 0) index.delete(key);
}

/**
 * Holds what the last compile built, and the reverse dependencies an incremental one needs. Owned by one
 * CompileCache; the maps here are the compiler's working state, never handed to a snapshot (snapshots get
 * the router, which is persistent, and fresh counts/sets).
 */
export class RoutingCompiler {
  #router = new Router<CompiledRoute>();
  readonly #upstreams = new Map<string, CompiledUpstream>();
  readonly #upstreamPools = new Map<string, string[]>();
  /** lambda service id → the pool key of its Invoke API endpoint. */
  readonly #lambdaPools = new Map<string, string>();
  /** upstream id → its ResilienceRegistry keys. */
  readonly #upstreamResilience = new Map<string, string[]>();
  #resilience: ResilienceRegistry | null = null;
  /** service id → the upstreams its splits name (dependencies besides its own upstream). */
  readonly #splitUpstreamsOfService = new Map<string, string[]>();
  readonly #services = new Map<string, CompiledService>();
  /** Draft and retired services: valid config whose routes are left out without a rejection. */
  readonly #unrouted = new Set<string>();
  readonly #serviceRejections = new Map<string, Rejection>();
  readonly #routeRejections = new Map<string, Rejection>();
  #plugins: { index: PluginIndex; rejections: Rejection[] } = compilePluginIndex([]);
  /** upstream id → ids of the services that name it. */
  readonly #servicesByUpstream = new Map<string, Set<string>>();
  readonly #upstreamOfService = new Map<string, string>();
  /** service id → keys of the routes that name it (routed or not: a service that appears brings them in). */
  readonly #routesByService = new Map<string, Set<string>>();
  readonly #serviceOfRoute = new Map<string, string>();
  /**
   * route key → rank: increasing in the order of CompileCache.parsed.routes (a Map: a changed route keeps its
   * place, a new one goes last), which is the order a full compile hands routes to the router in.
   */
  readonly #rank = new Map<string, number>();
  #nextRank = 0;
  #stages: ReadonlySet<string> | null = null;
  #pluginContext: PluginContext = DEFAULT_PLUGIN_CONTEXT;
  /** service id → what its routes' steps need of it (subscription requirement, OpenAPI document). */
  readonly #serviceInfo = new Map<string, RouteServiceInfo>();
  #openapiDocs: ReadonlyMap<string, Parsed<unknown>> | undefined = undefined;

  /** Compiles everything in `inputs` from scratch. */
  full(
    inputs: RoutingInputs,
    poolFor: PoolFactory,
    stages: ReadonlySet<string> | null,
    resilience: ResilienceRegistry | null = null,
    pluginContext: PluginContext = DEFAULT_PLUGIN_CONTEXT,
  ): RoutingResult {
    this.#resilience = resilience;
    this.#pluginContext = pluginContext;
    this.#openapiDocs = inputs.openapi_docs;
    this.#serviceInfo.clear();
    this.#lambdaPools.clear();
    for (const m of [this.#upstreams, this.#upstreamPools, this.#upstreamResilience, this.#splitUpstreamsOfService, this.#services, this.#serviceRejections, this.#routeRejections]) m.clear();
    for (const m of [this.#servicesByUpstream, this.#upstreamOfService, this.#routesByService, this.#serviceOfRoute, this.#rank]) m.clear();
    this.#unrouted.clear();
    this.#nextRank = 0;
    this.#stages = stages;
    for (const p of inputs.upstreams.values()) this.#compileUpstream(p.id, p as Parsed<Upstream>, poolFor);
    for (const p of inputs.services.values()) this.#compileService(p.id, p as Parsed<Service>, poolFor);
    this.#plugins = compilePluginIndex(inputs.plugins.values(), pluginContext);
    const specs: RouteSpec<CompiledRoute>[] = [];
    for (const [key, p] of inputs.routes) {
      this.#rank.set(key, this.#nextRank++);
      const spec = this.#compileRoute(key, p as Parsed<Route>);
      if (spec) specs.push(spec);
    }
    this.#router = new Router(specs);
    return this.#result();
  }

  /**
   * Applies the routing keys changed since the last compile (`changedKeys`: entries whose parse result
   * changed, consumers and keys excluded). Returns null, changing nothing, when the change needs a full
   * compile: anything but upstreams, services and routes (plugins feed every route's policies), or other stages.
   */
  update(
    changedKeys: readonly string[],
    inputs: RoutingInputs,
    poolFor: PoolFactory,
    stages: ReadonlySet<string> | null,
    resilience: ResilienceRegistry | null = null,
    pluginContext: PluginContext = DEFAULT_PLUGIN_CONTEXT,
  ): RoutingResult | null {
    if (stages !== this.#stages || resilience !== this.#resilience || pluginContext !== this.#pluginContext) return null;
    const upstreamIds = new Set<string>();
    const serviceIds = new Set<string>();
    const routeKeys = new Set<string>();
    for (const key of changedKeys) {
      if (key.startsWith(UPSTREAMS)) upstreamIds.add(key.slice(UPSTREAMS.length));
      else if (key.startsWith(SERVICES)) serviceIds.add(key.slice(SERVICES.length));
      else if (key.startsWith(ROUTES)) routeKeys.add(key);
      else return null;
    }
    for (const id of upstreamIds) {
      this.#compileUpstream(id, inputs.upstreams.get(UPSTREAMS + id) as Parsed<Upstream> | undefined, poolFor);
      for (const s of this.#servicesByUpstream.get(id) ?? []) serviceIds.add(s);
    }
    for (const id of serviceIds) {
      this.#compileService(id, inputs.services.get(SERVICES + id) as Parsed<Service> | undefined, poolFor);
      for (const r of this.#routesByService.get(id) ?? []) routeKeys.add(r);
    }
    const upserts: RouteSpec<CompiledRoute>[] = [];
    const removals: string[] = [];
    for (const key of routeKeys) {
      const p = inputs.routes.get(key) as Parsed<Route> | undefined;
      if (!p) this.#rank.delete(key);
      else if (!this.#rank.has(key)) this.#rank.set(key, this.#nextRank++);
      const spec = this.#compileRoute(key, p);
      if (spec) upserts.push(spec);
      else removals.push(key.slice(ROUTES.length));
    }
    this.#router = this.#router.withChanges(upserts, removals);
    return this.#result();
  }

  #result(): RoutingResult {
    const poolKeys = new Set<string>();
    for (const keys of this.#upstreamPools.values()) for (const k of keys) poolKeys.add(k);
    for (const k of this.#lambdaPools.values()) poolKeys.add(k);
    const resilienceKeys = new Set<string>();
    for (const keys of this.#upstreamResilience.values()) for (const k of keys) resilienceKeys.add(k);
    return {
      router: this.#router,
      rejected: [...this.#serviceRejections.values(), ...this.#plugins.rejections, ...this.#routeRejections.values()],
      counts: { upstreams: this.#upstreams.size, services: this.#services.size, routes: this.#router.size },
      poolKeys,
      resilienceKeys,
    };
  }

  /** (Re)compiles one upstream; `p` undefined: it is gone. */
  #compileUpstream(id: string, p: Parsed<Upstream> | undefined, poolFor: PoolFactory): void {
    this.#upstreams.delete(id);
    this.#upstreamPools.delete(id);
    this.#upstreamResilience.delete(id);
    if (!p) return;
    const data = p.data;
    const pools: string[] = [];
    // Retries, health checks and breaker: enforced when the node keeps their state (a ResilienceRegistry).
    const registry = this.#resilience;
    const policies = registry ? upstreamPolicies(data) : null;
    const rkeys: string[] = [];
    const resilience = registry && policies ? registry.compile(id, policies, rkeys) : null;
    const tls = data.scheme === 'https' ? upstreamTlsOptions(data.tls) : undefined;
    const targets = data.targets.map((t) => {
      const host = t.host.includes(':') && !t.host.startsWith('[') ? `[${t.host}]` : t.host;
      const origin = `${data.scheme}://${host}:${t.port}`;
      const pool = poolFor(origin, data.connect_timeout_ms, tls);
      const { key, dispatcher } = pool;
      pools.push(key);
      const health = resilience?.guarded ? registry!.target(id, origin, policies!, rkeys, pool.tls ?? tls) : ALWAYS_AVAILABLE;
      return { item: { origin, poolKey: key, dispatcher, inFlight: 0, health, tls: pool.tls ?? tls ?? null }, weight: t.weight, id: origin };
    });
    const algorithm = data.algorithm ?? 'round-robin';
    const h = algorithm === 'consistent-hash' ? data.hash_on : null;
    this.#upstreams.set(id, {
      id,
      balancer: createBalancer(algorithm, targets, resilience?.guarded ? targetAvailable : null),
      hashOn: h ? { source: h.source, name: (h.name ?? '').toLowerCase() } : null,
      readTimeoutMs: data.read_timeout_ms,
      totalTimeoutMs: data.total_timeout_ms ?? 0,
      resilience,
      targets: targets.map((t) => t.item),
    });
    this.#upstreamPools.set(id, pools);
    this.#upstreamResilience.set(id, rkeys);
  }

  /** (Re)compiles one service against the current upstreams; `p` undefined: it is gone. */
  #compileService(id: string, p: Parsed<Service> | undefined, poolFor: PoolFactory): void {
    this.#services.delete(id);
    this.#lambdaPools.delete(id);
    this.#unrouted.delete(id);
    this.#serviceRejections.delete(SERVICES + id);
    removeFrom(this.#servicesByUpstream, this.#upstreamOfService.get(id), id);
    this.#upstreamOfService.delete(id);
    for (const u of this.#splitUpstreamsOfService.get(id) ?? []) removeFrom(this.#servicesByUpstream, u, id);
    this.#splitUpstreamsOfService.delete(id);
    this.#serviceInfo.delete(id);
    if (!p) return;
    const { key, data } = p;
    this.#serviceInfo.set(id, { subscriptionRequired: (data as { subscription_required?: unknown }).subscription_required === true, openapi: this.#openapiDocOf(id) });
    const upstreamId = upstreamIdOf(data);
    this.#upstreamOfService.set(id, upstreamId);
    addTo(this.#servicesByUpstream, upstreamId, id);
    // A change to an upstream a split names recompiles this service too.
    const splitSpecs = data.splits ?? [];
    if (splitSpecs.length > 0) {
      const ids = splitSpecs.map((sp) => sp.upstream_id.toLowerCase());
      this.#splitUpstreamsOfService.set(id, ids);
      for (const u of ids) addTo(this.#servicesByUpstream, u, id);
    }
    if (data.lifecycle === 'draft' || data.lifecycle === 'retired') {
      this.#unrouted.add(id);
      return;
    }
    const basePath = data.base_path.replace(/\/+$/, '');
    const integration = data.integration ?? null;
    if (integration !== null && integration.type === 'ai') {
      // Providers and templates are looked up per call in the snapshot's AI tables (ai/tables.ts): a
      // provider change does not recompile routing.
      const ai = compileAiIntegration(integration);
      this.#services.set(id, { id, basePath, upstream: null, integration: 'ai', websocket: null, ai, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits: null });
      return;
    }
    if (integration !== null && integration.type === 'websocket-api') {
      // Its routes' upstreams: a change to one recompiles this service (kept with the split upstreams).
      const ids = wsApiUpstreamIds(integration);
      this.#splitUpstreamsOfService.set(id, ids);
      for (const u of ids) addTo(this.#servicesByUpstream, u, id);
      const wsApi = compileWsApi(integration, (u) => this.#upstreams.get(u), { serviceId: id, keyring: this.#pluginContext.keyring ?? null });
      if (typeof wsApi === 'string') {
        this.#serviceRejections.set(key, { key, reason: wsApi });
        return;
      }
      this.#services.set(id, { id, basePath, upstream: null, integration: 'websocket-api', websocket: null, ai: null, wsApi, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits: null });
      return;
    }
    if (integration !== null && integration.type === 'lambda') {
      // The Invoke API endpoint's connections come from the node's pools (kept warm across recompiles).
      let lambda: CompiledLambda;
      try {
        const pool = poolFor(LambdaClient.originOf(targetOf(integration)), LAMBDA_CONNECT_TIMEOUT_MS);
        this.#lambdaPools.set(id, pool.key);
        // Stored credentials (opened with the node's keyring, the one plugin secrets use) before the environment's.
        const creds = lambdaCredentials(integration.credentials, id, this.#pluginContext.keyring ?? null);
        lambda = new CompiledLambda(integration, pool.dispatcher, creds.credentials, creds.missing ?? undefined);
      } catch (e) {
        // An endpoint the schema let through but no client can use: this service is refused, the rest compiles.
        this.#serviceRejections.set(key, { key, reason: `lambda integration: ${e instanceof Error ? e.message : String(e)}` });
        return;
      }
      this.#services.set(id, { id, basePath, upstream: null, integration: 'lambda', websocket: null, ai: null, lambda, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits: null });
      return;
    }
    if (integration !== null && integration.type !== 'http' && integration.type !== 'websocket') {
      // Valid config this node version does not serve yet: routed, and answered with a 502 that says so.
      // (Every type of this version is served above: this keeps a newer control plane's types answered, not rejected.)
      this.#services.set(id, { id, basePath, upstream: null, integration: (integration as { type: string }).type, websocket: null, ai: null, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits: null });
      return;
    }
    const upstream = this.#upstreams.get(upstreamId);
    if (!upstream) {
      this.#serviceRejections.set(key, { key, reason: `upstream ${upstreamId || '(none)'} is missing or rejected` });
      return;
    }
    if (integration?.type === 'websocket') {
      // Upgrades only: the upstream is reached through `websocket`, so the HTTP handler answers plain requests 426.
      const subprotocols = integration.subprotocols && integration.subprotocols.length > 0 ? new Set(integration.subprotocols) : null;
      const websocket = { upstream, idleTimeoutMs: integration.idle_timeout_ms, subprotocols };
      this.#services.set(id, { id, basePath, upstream: null, integration: 'websocket', websocket, ai: null, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits: null });
      return;
    }
    let splits: CompiledSplits<CompiledUpstream> | null = null;
    if (splitSpecs.length > 0) {
      const problems = serviceSplitProblems(data);
      const missing = splitSpecs.findIndex((sp) => !this.#upstreams.has(sp.upstream_id.toLowerCase()));
      if (missing !== -1) problems.push({ path: `/splits/${missing}/upstream_id`, message: `upstream ${splitSpecs[missing]!.upstream_id} is missing or rejected` });
      if (problems.length > 0) {
        this.#serviceRejections.set(key, { key, reason: 'invalid splits', fields: problems });
        return;
      }
      splits = new CompiledSplits(
        upstream,
        splitSpecs.map((sp) => ({ upstream: this.#upstreams.get(sp.upstream_id.toLowerCase())!, weight: sp.weight, header: sp.header ?? null })),
      );
    }
    this.#services.set(id, { id, basePath, upstream, integration: null, websocket: null, ai: null, responseHeaders: lifecycleHeaders(data), tenantId: tenantOf(data), splits });
  }

  /** The service's OpenAPI document as published (`openapi_docs.<id>`), or null. The same object while unchanged. */
  #openapiDocOf(serviceId: string): unknown {
    const entry = this.#openapiDocs?.get(`openapi_docs.${serviceId}`)?.data as { document?: unknown } | undefined;
    return entry?.document ?? null;
  }

  /** The router spec of one route, or null when it is gone, rejected or not served here. */
  #compileRoute(key: string, p: Parsed<Route> | undefined): RouteSpec<CompiledRoute> | null {
    this.#routeRejections.delete(key);
    removeFrom(this.#routesByService, this.#serviceOfRoute.get(key), key);
    this.#serviceOfRoute.delete(key);
    if (!p) return null;
    const { id, data } = p;
    this.#serviceOfRoute.set(key, data.service_id);
    addTo(this.#routesByService, data.service_id, key);
    const service = this.#services.get(data.service_id);
    if (!service) {
      // A draft or retired service is valid config that does not route: its routes are left out, not rejected.
      if (!this.#unrouted.has(data.service_id)) this.#routeRejections.set(key, { key, reason: `service ${data.service_id} is missing or rejected` });
      return null;
    }
    // A route for another stage is valid config this node does not serve (TP_STAGES).
    if (this.#stages && data.stage !== null && !this.#stages.has(data.stage)) return null;
    let policies: ReturnType<typeof routePolicies>;
    try {
      policies = routePolicies(this.#plugins.index, id, service.id, data.plugins, this.#serviceInfo.get(service.id));
    } catch (e) {
      // A plugin that cannot apply to this route (request-validation and an unusable OpenAPI document):
      // the route is refused rather than served unchecked.
      if (!(e instanceof TurnpikeError)) throw e;
      this.#routeRejections.set(key, { key, reason: `plugin config cannot apply: ${e.message}`, ...(e.fields ? { fields: e.fields } : {}) });
      return null;
    }
    return {
      id,
      hosts: data.hosts,
      methods: data.methods,
      paths: data.paths,
      priority: data.priority,
      headers: data.headers,
      query: data.query,
      rank: this.#rank.get(key)!,
      value: { id, service, stripPath: data.strip_path, anyMethod: data.methods.length === 0, series: null, ...policies },
    };
  }
}

/** A service's `ai` integration in the form the AI runtime reads (ids lower case, defaults filled in). */
function compileAiIntegration(i: Extract<NonNullable<Service['integration']>, { type: 'ai' }>): CompiledAiIntegration {
  return {
    providerIds: i.provider_ids.map((p) => p.toLowerCase()),
    model: i.model ?? null,
    promptTemplateId: i.prompt_template_id ? i.prompt_template_id.toLowerCase() : null,
    promptTemplateVersion: i.prompt_template_id && i.prompt_template_version !== undefined ? i.prompt_template_version : null,
    strategy: i.strategy ?? 'fallback',
    weights: i.weights ?? null,
    retries: i.retries ?? 0,
    cacheTtlMs: (i.cache_ttl_s ?? 0) * 1000,
  };
}

/** The service's tenant as the control plane publishes it (lower case), or null. */
function tenantOf(s: Service): string | null {
  const t = (s as Service & { tenant_id?: unknown }).tenant_id;
  return typeof t === 'string' && t !== '' ? t.toLowerCase() : null;
}
