// Compiles plugin attachments (KV kind `plugins`) into per-route policies when config is compiled, so the
// hot path reads `route.keyAuth` / `route.sizeLimit` and does at most one consumer-keyed map lookup.
// Precedence (docs/configuration.md, "Plugins"):
//  - route-level: a route-scoped instance > the route's inline `plugins['key-auth']` > service > global;
//  - once authentication has identified the consumer (types whose scopes allow `consumer`): consumer + route >
//    consumer + service > consumer alone, each overriding every instance without a consumer;
//  - disabled instances are ignored, as if absent.
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { PLUGIN_TYPES, type FieldError, type KeyAuthConfig, type PluginTypeName, type RequestSizeLimitingConfig, type RoutePlugins } from '@turnpike/common';
import { compileKeyAuth, type KeyAuthPolicy } from './key-auth/index.js';
import { compileSizeLimit, type SizeLimitPolicy } from './request-size-limiting/index.js';

/** What a compiled route carries for its plugins. */
export interface RoutePolicies {
  keyAuth: KeyAuthPolicy | null;
  sizeLimit: SizeLimitPolicy | null;
}

/** The gateway's implementation of each registered plugin type: its config compiled to a policy. */
export const PLUGIN_COMPILERS = {
  'key-auth': (cfg: Record<string, unknown>): KeyAuthPolicy => compileKeyAuth(cfg as KeyAuthConfig),
  'request-size-limiting': (cfg: Record<string, unknown>): SizeLimitPolicy => compileSizeLimit(cfg as unknown as RequestSizeLimitingConfig),
} satisfies Record<PluginTypeName, (config: Record<string, unknown>) => unknown>;
type PolicyOf = { [K in PluginTypeName]: ReturnType<(typeof PLUGIN_COMPILERS)[K]> };

/** One type's enabled instances by scope (ids lower-case, as the control plane stores them). */
export interface Scoped<P> {
  global: P | null;
  service: Map<string, P>;
  route: Map<string, P>;
  consumer: Map<string, P>;
  /** service id → consumer id → policy */
  consumerService: Map<string, Map<string, P>>;
  /** route id → consumer id → policy */
  consumerRoute: Map<string, Map<string, P>>;
}

export type PluginIndex = { [K in PluginTypeName]: Scoped<PolicyOf[K]> } & {
  /** Per-service merged consumer limits, shared by that service's routes ('' → consumer-only instances). */
  readonly sizeByService: Map<string, ReadonlyMap<string, number> | null>;
};

export interface PluginRejection {
  key: string;
  reason: string;
  fields?: FieldError[];
}

interface PluginData {
  type?: unknown;
  enabled?: unknown;
  scope?: { service_id?: unknown; route_id?: unknown; consumer_id?: unknown } | null;
  config?: unknown;
}

const CHECKS = new Map<string, { schema: TSchema; check: TypeCheck<TSchema> }>(PLUGIN_TYPES.map((t) => [t.name, { schema: t.config, check: TypeCompiler.Compile(t.config) }]));
// A parsed entry is the same object while its KV value is unchanged: its validated, compiled policy is kept.
const compiledOf = new WeakMap<object, { policy: unknown } | { rejection: Omit<PluginRejection, 'key'> }>();

function emptyScoped<P>(): Scoped<P> {
  return { global: null, service: new Map(), route: new Map(), consumer: new Map(), consumerService: new Map(), consumerRoute: new Map() };
}

function compileEntry(data: PluginData): { policy: unknown } | { rejection: Omit<PluginRejection, 'key'> } {
  const type = typeof data.type === 'string' ? data.type : '';
  const entry = CHECKS.get(type);
  if (!entry || !(type in PLUGIN_COMPILERS)) return { rejection: { reason: `plugin type ${JSON.stringify(type)} is not known to this gateway version` } };
  const s = data.scope ?? {};
  for (const f of ['service_id', 'route_id', 'consumer_id'] as const) {
    if (s[f] !== undefined && typeof s[f] !== 'string') return { rejection: { reason: 'invalid scope', fields: [{ path: `/scope/${f}`, message: 'must be a string' }] } };
  }
  if (s.service_id !== undefined && s.route_id !== undefined) return { rejection: { reason: 'invalid scope', fields: [{ path: '/scope', message: 'names both a service and a route' }] } };
  // Config from the control plane is complete; defaults matter only for one written by an older one.
  const config = (typeof data.config === 'object' && data.config !== null ? structuredClone(data.config) : {}) as Record<string, unknown>;
  if (!entry.check.Check(config)) Value.Default(entry.schema, config);
  if (!entry.check.Check(config)) {
    const fields = [...entry.check.Errors(config)].slice(0, 10).map((e) => ({ path: `/config${e.path}`, message: e.message }));
    return { rejection: { reason: `invalid ${type} config`, fields } };
  }
  return { policy: PLUGIN_COMPILERS[type as PluginTypeName](config) };
}

function place<P>(into: Scoped<P>, scope: NonNullable<PluginData['scope']>, policy: P): void {
  const service = scope.service_id as string | undefined;
  const route = scope.route_id as string | undefined;
  const consumer = scope.consumer_id as string | undefined;
  if (consumer !== undefined) {
    if (route !== undefined) mapIn(into.consumerRoute, route).set(consumer, policy);
    else if (service !== undefined) mapIn(into.consumerService, service).set(consumer, policy);
    else into.consumer.set(consumer, policy);
  } else if (route !== undefined) into.route.set(route, policy);
  else if (service !== undefined) into.service.set(service, policy);
  else into.global = policy;
}

function mapIn<P>(m: Map<string, Map<string, P>>, key: string): Map<string, P> {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  return inner;
}

/** Indexes the enabled, valid plugin instances; invalid ones are reported, not applied. */
export function compilePluginIndex(entries: Iterable<{ key: string; data: unknown }>): { index: PluginIndex; rejections: PluginRejection[] } {
  const index: PluginIndex = { 'key-auth': emptyScoped(), 'request-size-limiting': emptyScoped(), sizeByService: new Map() };
  const rejections: PluginRejection[] = [];
  for (const { key, data } of entries) {
    const d = data as PluginData;
    if (d.enabled === false) continue;
    let compiled = compiledOf.get(d);
    if (!compiled) compiledOf.set(d, (compiled = compileEntry(d)));
    if ('rejection' in compiled) {
      rejections.push({ key, ...compiled.rejection });
      continue;
    }
    place(index[d.type as PluginTypeName] as Scoped<unknown>, d.scope ?? {}, compiled.policy);
  }
  return { index, rejections };
}

/** The policies of one route, every precedence rule applied. */
export function routePolicies(index: PluginIndex, routeId: string, serviceId: string, inline: RoutePlugins): RoutePolicies {
  const ka = index['key-auth'];
  const inlineKa = inline['key-auth'];
  const keyAuth = ka.route.get(routeId) ?? (inlineKa ? compileKeyAuth(inlineKa) : null) ?? ka.service.get(serviceId) ?? ka.global;

  const sl = index['request-size-limiting'];
  const base = sl.route.get(routeId) ?? sl.service.get(serviceId) ?? sl.global;
  const consumers = consumerLimits(index, routeId, serviceId);
  const sizeLimit = consumers === null ? base : { maxBodyBytes: base ? base.maxBodyBytes : Infinity, byConsumer: consumers };
  return { keyAuth, sizeLimit };
}

/** Consumer → limit for one route: consumer + route over consumer + service over consumer alone; maps shared where they can be. */
function consumerLimits(index: PluginIndex, routeId: string, serviceId: string): ReadonlyMap<string, number> | null {
  const sl = index['request-size-limiting'];
  let forService = index.sizeByService.get(serviceId);
  if (forService === undefined) {
    let consumerOnly = index.sizeByService.get('');
    if (consumerOnly === undefined) index.sizeByService.set('', (consumerOnly = merge(null, sl.consumer)));
    forService = merge(consumerOnly, sl.consumerService.get(serviceId) ?? null);
    index.sizeByService.set(serviceId, forService);
  }
  const forRoute = sl.consumerRoute.get(routeId);
  return forRoute ? merge(forService, forRoute) : forService;
}

/** `over` wins; returns `base` itself when there is nothing to add (no copy per route). */
function merge(base: ReadonlyMap<string, number> | null, over: ReadonlyMap<string, SizeLimitPolicy> | null): ReadonlyMap<string, number> | null {
  if (over === null || over.size === 0) return base;
  const out = new Map(base ?? []);
  for (const [consumer, p] of over) out.set(consumer, p.maxBodyBytes);
  return out;
}
