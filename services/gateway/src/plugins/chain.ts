// Compiles plugin attachments (KV kind `plugins`) into per-route policies when config is compiled, so the
// hot path reads `route.keyAuth` / `route.sizeLimit` / `route.pipeline` and does no lookups of its own.
// Precedence (docs/configuration.md, "Plugins"):
//  - route-level: a route-scoped instance > the route's inline `plugins['key-auth']` > service > global;
//  - once authentication has identified the consumer (types whose scopes allow `consumer`): consumer + route >
//    consumer + service > consumer alone, each overriding every instance without a consumer;
//  - disabled instances are ignored, as if absent.
// A route's plugin steps (plugins/steps.ts) run in phase order: pre-auth (cors, ip-restriction, waf), auth
// (several schemes: any one of them), access (acl, the service's subscription requirement, request
// validation, then the transformations: mock, response-transformer, request-transformer). A route whose only
// plugin is key-auth keeps the handler's inline fast path (`keyAuth`).
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import {
  PLUGIN_TYPE_NAMES,
  PLUGIN_TYPES,
  TurnpikeError,
  type AclConfig,
  type BasicAuthConfig,
  type CorsConfig,
  type CustomAuthorizerConfig,
  type Keyring,
  type Oauth2IntrospectionConfig,
  type ErrorCode,
  type FieldError,
  type HmacAuthConfig,
  type IpRestrictionConfig,
  type JwtAuthConfig,
  type KeyAuthConfig,
  type MtlsAuthConfig,
  type PluginTypeName,
  type RequestSizeLimitingConfig,
  type RequestValidationConfig,
  type RateLimitingConfig,
  type RoutePlugins,
  type WafConfig,
  type RequestTransformerConfig,
  type ResponseTransformerConfig,
  type MockConfig,
  type ProxyCacheConfig,
  type CallCaptureConfig,
} from '@turnpike/common';
import { compileKeyAuth, type KeyAuthPolicy } from './key-auth/index.js';
import { compileSizeLimit, type SizeLimitPolicy } from './request-size-limiting/index.js';
import { compileJwtPolicy, type JwtPolicy } from './jwt-auth/index.js';
import { compileHmacPolicy, type HmacPolicy } from './hmac-auth/index.js';
import { compileBasicPolicy, type BasicPolicy } from './basic-auth/index.js';
import { compileIpRestriction, NO_TRUSTED_PROXIES, type IpPolicy, type TrustedProxies } from './ip-restriction/index.js';
import { compileCors, type CorsPolicy } from './cors/index.js';
import { compileAcl, type AclPolicy } from './acl/index.js';
import { compileRequestValidation, type RequestValidationPolicy } from './request-validation/index.js';
import { compileWaf, type WafPolicy } from './waf/index.js';
import { compileIntrospection, INTROSPECTION_CHALLENGE, introspectionStep, type IntrospectionPolicy } from './oauth2-introspection/index.js';
import { authorizerStep, compileAuthorizer, type AuthorizerPolicy } from './custom-authorizer/index.js';
import { compileMtlsPolicy, MTLS_CHALLENGE, mtlsAuthStep, type MtlsPolicy } from './mtls-auth/index.js';
import { compileRequestTransformer, requestTransformerStep, type RequestTransformerPolicy } from './request-transformer/index.js';
import { compileResponseTransformer, responseTransformerStep, type ResponseTransformerPolicy } from './response-transformer/index.js';
import { compileMock, mockStep, type MockPolicy } from './mock/index.js';
import { compileProxyCache, proxyCacheStep, type ProxyCachePolicy } from './proxy-cache/index.js';
import { compileRateLimit, type RateLimitPolicy, type RateLimitRegistry, type RateLimitSelection } from './rate-limiting/index.js';
import { callCaptureStep, compileCallCapture, withRedactedHeaders, type CallCapturePolicy } from './call-capture/index.js';
import { anyOfAuth, orderSteps, type Step } from './pipeline.js';
import type { RequestContext } from './request-context.js';
import {
  API_KEY_CHALLENGE,
  aclStep,
  basicAuthStep,
  corsStep,
  hmacAuthStep,
  ipRestrictionStep,
  jwtAuthStep,
  keyAuthStep,
  missingCredentials,
  planRateLimitStep,
  rateLimitStep,
  requestValidationStep,
  subscriptionStep,
  quotaStep,
  wafStep,
} from './steps.js';

/** A route's compiled steps (null on the route when it has none beyond the key-auth fast path). */
export interface Pipeline {
  readonly steps: readonly Step<RequestContext>[];
  /** Some step reads the whole body: the handler buffers it (up to the body limit) before that step. */
  readonly needsBody: boolean;
  /** Some step may answer asynchronously or read the body: the handler keeps what it needs past its return. */
  readonly names: string;
}

/** What a compiled route carries for its plugins. */
export interface RoutePolicies {
  /** Set only when key-auth is the route's one plugin step: the handler checks it inline. */
  keyAuth: KeyAuthPolicy | null;
  sizeLimit: SizeLimitPolicy | null;
  pipeline: Pipeline | null;
}

/** Node settings plugin compiles read. */
export interface PluginContext {
  /** TP_TRUSTED_PROXIES: ip-restriction instances without their own trusted_proxies use these. */
  trustedProxies: TrustedProxies;
  /** Opens plugin secrets the control plane sealed (introspection client secrets, authorizer AWS keys). */
  keyring?: Keyring | null;
  /** The proxy thread's rate limiters (cluster sync); unset: a local-only registry shared by such compiles. */
  rateLimits?: RateLimitRegistry | null;
}
export const DEFAULT_PLUGIN_CONTEXT: PluginContext = { trustedProxies: NO_TRUSTED_PROXIES };

/** The plugin instance a config belongs to: its id (the sealing context of its secrets) and its sealed secrets. */
export interface PluginEntry {
  id: string;
  /** JSON pointer into the config → sealed value (`PluginType.secretFields`); null for none. */
  secret: Readonly<Record<string, unknown>> | null;
}

/** A compiled instance that applies but is not usable on this node: reported, and its requests get 503. */
export interface Unusable {
  readonly unavailable: string | null;
}

// Config schemas use `format: 'uri'` (authorizer URLs): the control plane checked it; the node checks it too.
if (!FormatRegistry.Has('uri')) FormatRegistry.Set('uri', (v) => URL.canParse(v));

/** What a route's service contributes to its steps. */
export interface RouteServiceInfo {
  /** The service requires an approved subscription (`subscription_required`). */
  subscriptionRequired: boolean;
  /** The service's OpenAPI document (request-validation, source `openapi`); null for none. */
  openapi: unknown;
}
const NO_SERVICE_INFO: RouteServiceInfo = { subscriptionRequired: false, openapi: null };

/** request-validation is compiled per route's service (its OpenAPI document): the index keeps the config. */
interface DeferredValidation {
  readonly cfg: RequestValidationConfig;
  readonly byDoc: WeakMap<object, RequestValidationPolicy | TurnpikeError>;
  noDoc: RequestValidationPolicy | TurnpikeError | null;
}

/** The gateway's implementation of each registered plugin type: its config compiled to a policy. */
export const PLUGIN_COMPILERS = {
  'key-auth': (cfg: Record<string, unknown>): KeyAuthPolicy => compileKeyAuth(cfg as KeyAuthConfig),
  'request-size-limiting': (cfg: Record<string, unknown>): SizeLimitPolicy => compileSizeLimit(cfg as unknown as RequestSizeLimitingConfig),
  'jwt-auth': (cfg: Record<string, unknown>): JwtPolicy => compileJwtPolicy(cfg as JwtAuthConfig),
  'hmac-auth': (cfg: Record<string, unknown>): HmacPolicy => compileHmacPolicy(cfg as HmacAuthConfig),
  'basic-auth': (cfg: Record<string, unknown>): BasicPolicy => compileBasicPolicy(cfg as BasicAuthConfig),
  'ip-restriction': (cfg: Record<string, unknown>, ctx: PluginContext): IpPolicy => compileIpRestriction(cfg as unknown as IpRestrictionConfig, ctx.trustedProxies),
  cors: (cfg: Record<string, unknown>): CorsPolicy => compileCors(cfg as unknown as CorsConfig),
  acl: (cfg: Record<string, unknown>): AclPolicy => compileAcl(cfg as unknown as AclConfig),
  'request-validation': (cfg: Record<string, unknown>): DeferredValidation => ({ cfg: cfg as unknown as RequestValidationConfig, byDoc: new WeakMap(), noDoc: null }),
  waf: (cfg: Record<string, unknown>): WafPolicy => compileWaf(cfg as unknown as WafConfig),
  'oauth2-introspection': (cfg: Record<string, unknown>, ctx: PluginContext, e: PluginEntry): IntrospectionPolicy => {
    const r = compileIntrospection(cfg as unknown as Oauth2IntrospectionConfig, { keyring: ctx.keyring ?? null, pluginId: e.id, secrets: e.secret });
    if (typeof r === 'string') throw new TurnpikeError('TP_ERR_VALIDATION', r);
    return r;
  },
  // Never throws: an authorizer this node cannot call (no credentials, a secret it cannot open) is kept,
  // reported, and answers 503 (failing closed; an absent authorizer would let every request through).
  'custom-authorizer': (cfg: Record<string, unknown>, ctx: PluginContext, e: PluginEntry): AuthorizerPolicy =>
    compileAuthorizer(cfg as unknown as CustomAuthorizerConfig, { keyring: ctx.keyring ?? null, pluginId: e.id, secrets: e.secret }),
  'mtls-auth': (cfg: Record<string, unknown>): MtlsPolicy => compileMtlsPolicy(cfg as unknown as MtlsAuthConfig),
  'request-transformer': (cfg: Record<string, unknown>): RequestTransformerPolicy => compileRequestTransformer(cfg as unknown as RequestTransformerConfig),
  'response-transformer': (cfg: Record<string, unknown>): ResponseTransformerPolicy => compileResponseTransformer(cfg as unknown as ResponseTransformerConfig),
  mock: (cfg: Record<string, unknown>): MockPolicy => compileMock(cfg as unknown as MockConfig),
  'proxy-cache': (cfg: Record<string, unknown>): ProxyCachePolicy => compileProxyCache(cfg as unknown as ProxyCacheConfig),
  'rate-limiting': (cfg: Record<string, unknown>, ctx: PluginContext, e: PluginEntry): RateLimitPolicy =>
    compileRateLimit(cfg as unknown as RateLimitingConfig, e.id, ctx.rateLimits ?? undefined),
  'call-capture': (cfg: Record<string, unknown>): CallCapturePolicy => compileCallCapture(cfg as unknown as CallCaptureConfig),
} satisfies Record<PluginTypeName, (config: Record<string, unknown>, ctx: PluginContext, entry: PluginEntry) => unknown>;
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
  /** Pipelines by the identity of what they are built from: routes with the same plugins share one. */
  readonly pipelines: Map<string, Pipeline | null>;
};

export interface PluginRejection {
  key: string;
  reason: string;
  fields?: FieldError[];
}

interface PluginData {
  id?: unknown;
  secret?: unknown;
  type?: unknown;
  enabled?: unknown;
  scope?: { service_id?: unknown; route_id?: unknown; consumer_id?: unknown } | null;
  config?: unknown;
}

const CHECKS = new Map<string, { schema: TSchema; check: TypeCheck<TSchema> }>(PLUGIN_TYPES.map((t) => [t.name, { schema: t.config, check: TypeCompiler.Compile(t.config) }]));
// A parsed entry is the same object while its KV value is unchanged: its validated, compiled policy is kept
// (per plugin context: a change of the node's settings compiles again).
type EntryResult = { policy: unknown; warning?: Omit<PluginRejection, 'key'> } | { rejection: Omit<PluginRejection, 'key'> };
const compiledOf = new WeakMap<object, { ctx: PluginContext; result: EntryResult }>();

function emptyScoped<P>(): Scoped<P> {
  return { global: null, service: new Map(), route: new Map(), consumer: new Map(), consumerService: new Map(), consumerRoute: new Map() };
}

function compileEntry(data: PluginData, ctx: PluginContext): EntryResult {
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
  // What the schema cannot say (a CIDR's host bits, a regex): the control plane refuses it at write time;
  // a config written by an older one is rejected here with the same field paths.
  const problems = pluginTypeProblems(type, config);
  if (problems.length > 0) return { rejection: { reason: `invalid ${type} config`, fields: problems.map((f) => ({ path: `/config${f.path}`, message: f.message })) } };
  const entryOf: PluginEntry = {
    id: typeof data.id === 'string' ? data.id : '',
    secret: typeof data.secret === 'object' && data.secret !== null ? (data.secret as Record<string, unknown>) : null,
  };
  try {
    const policy = (PLUGIN_COMPILERS[type as PluginTypeName] as (c: Record<string, unknown>, x: PluginContext, e: PluginEntry) => unknown)(config, ctx, entryOf);
    const unavailable = (policy as Partial<Unusable>).unavailable;
    if (typeof unavailable === 'string') return { policy, warning: { reason: `${type} cannot be used on this node (its requests get 503): ${unavailable}` } };
    return { policy };
  } catch (e) {
    if (!(e instanceof TurnpikeError)) throw e;
    const fields = (e.fields ?? []).map((f) => ({ path: `/config${f.path}`, message: f.message }));
    return { rejection: { reason: `invalid ${type} config: ${e.message}`, fields } };
  }
}

function pluginTypeProblems(type: string, config: Record<string, unknown>): FieldError[] {
  const t = PLUGIN_TYPES.find((p) => p.name === type);
  return t?.problems ? t.problems(config as never) : [];
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
export function compilePluginIndex(
  entries: Iterable<{ key: string; data: unknown }>,
  ctx: PluginContext = DEFAULT_PLUGIN_CONTEXT,
): { index: PluginIndex; rejections: PluginRejection[] } {
  const index = Object.fromEntries(PLUGIN_TYPE_NAMES.map((n) => [n, emptyScoped()])) as unknown as PluginIndex;
  Object.assign(index, { sizeByService: new Map(), pipelines: new Map() });
  const rejections: PluginRejection[] = [];
  for (const { key, data } of entries) {
    const d = data as PluginData;
    if (d.enabled === false) continue;
    let memo = compiledOf.get(d);
    if (!memo || memo.ctx !== ctx) compiledOf.set(d, (memo = { ctx, result: compileEntry(d, ctx) }));
    const compiled = memo.result;
    if ('rejection' in compiled) {
      rejections.push({ key, ...compiled.rejection });
      continue;
    }
    if (compiled.warning) rejections.push({ key, ...compiled.warning });
    place(index[d.type as PluginTypeName] as Scoped<unknown>, d.scope ?? {}, compiled.policy);
  }
  return { index, rejections };
}

/** The instance of one type that applies to a route: route > service > global. */
function pick<P>(s: Scoped<P>, routeId: string, serviceId: string): P | null {
  return s.route.get(routeId) ?? s.service.get(serviceId) ?? s.global;
}

/**
 * The policies of one route, every precedence rule applied. Throws TurnpikeError (field paths into the
 * service's OpenAPI document) when a request-validation instance cannot use the route's service document:
 * the route is then rejected rather than served unchecked.
 */
export function routePolicies(index: PluginIndex, routeId: string, serviceId: string, inline: RoutePlugins, service: RouteServiceInfo = NO_SERVICE_INFO): RoutePolicies {
  const ka = index['key-auth'];
  const inlineKa = inline['key-auth'];
  const keyAuth = ka.route.get(routeId) ?? (inlineKa ? compileKeyAuth(inlineKa) : null) ?? ka.service.get(serviceId) ?? ka.global;

  const sl = index['request-size-limiting'];
  const base = sl.route.get(routeId) ?? sl.service.get(serviceId) ?? sl.global;
  const consumers = consumerLimits(index, routeId, serviceId);
  const sizeLimit = consumers === null ? base : { maxBodyBytes: base ? base.maxBodyBytes : Infinity, byConsumer: consumers };

  const parts: (object | null)[] = [
    keyAuth,
    pick(index['jwt-auth'], routeId, serviceId),
    pick(index['hmac-auth'], routeId, serviceId),
    pick(index['basic-auth'], routeId, serviceId),
    pick(index['oauth2-introspection'], routeId, serviceId),
    pick(index['custom-authorizer'], routeId, serviceId),
    pick(index['mtls-auth'], routeId, serviceId),
    pick(index.cors, routeId, serviceId),
    pick(index['ip-restriction'], routeId, serviceId),
    pick(index.waf, routeId, serviceId),
    pick(index.acl, routeId, serviceId),
    validationFor(pick(index['request-validation'], routeId, serviceId), service.openapi),
    rateLimitFor(index['rate-limiting'], routeId, serviceId),
    pick(index['proxy-cache'], routeId, serviceId),
    pick(index.mock, routeId, serviceId),
    pick(index['response-transformer'], routeId, serviceId),
    pick(index['request-transformer'], routeId, serviceId),
    pick(index['call-capture'], routeId, serviceId),
  ];
  if (parts.every((p, i) => i === 0 || p === null) && !service.subscriptionRequired) return { keyAuth, sizeLimit, pipeline: null };
  let memoKey = service.subscriptionRequired ? 's' : '-';
  for (const p of parts) memoKey += ':' + (p === null ? '' : identityOf(p));
  let pipeline = index.pipelines.get(memoKey);
  if (pipeline === undefined) index.pipelines.set(memoKey, (pipeline = buildPipeline(parts as Parts, service.subscriptionRequired)));
  return { keyAuth: null, sizeLimit, pipeline };
}

type Parts = [
  KeyAuthPolicy | null,
  JwtPolicy | null,
  HmacPolicy | null,
  BasicPolicy | null,
  IntrospectionPolicy | null,
  AuthorizerPolicy | null,
  MtlsPolicy | null,
  CorsPolicy | null,
  IpPolicy | null,
  WafPolicy | null,
  AclPolicy | null,
  RequestValidationPolicy | null,
  RateLimitSelection | null,
  ProxyCachePolicy | null,
  MockPolicy | null,
  ResponseTransformerPolicy | null,
  RequestTransformerPolicy | null,
  CallCapturePolicy | null,
];

function buildPipeline([keyAuth, jwt, hmac, basic, introspection, authorizer, mtls, cors, ip, waf, acl, validation, rateLimit, cache, mock, responseTransformer, requestTransformer, capture]: Parts, subscriptionRequired: boolean): Pipeline {
  const steps: Step<RequestContext>[] = [];
  // First: a request a later step refuses is captured too. The route's credential headers are redacted.
  if (capture) {
    const credentialHeaders = [...(keyAuth ? keyAuth.headerNames : []), ...(jwt ? [jwt.headerName] : [])];
    steps.push(callCaptureStep(withRedactedHeaders(capture, credentialHeaders)));
  }
  if (cors) steps.push(corsStep(cors));
  if (ip) steps.push(ipRestrictionStep(ip));
  if (waf) steps.push(wafStep(waf));
  const auth: Step<RequestContext>[] = [];
  const challenges: string[] = [];
  let firstCode: ErrorCode | null = null;
  if (keyAuth) {
    auth.push(keyAuthStep(keyAuth));
    challenges.push(API_KEY_CHALLENGE);
    firstCode ??= 'TP_ERR_AUTH_KEY_MISSING';
  }
  if (jwt) {
    auth.push(jwtAuthStep(jwt));
    challenges.push('Bearer realm="turnpike"');
    firstCode ??= 'TP_ERR_AUTH_TOKEN_MISSING';
  }
  if (hmac) {
    auth.push(hmacAuthStep(hmac));
    challenges.push(hmac.failures.missing.wwwAuthenticate!);
    firstCode ??= 'TP_ERR_AUTH_SIGNATURE_MISSING';
  }
  if (basic) {
    auth.push(basicAuthStep(basic));
    challenges.push(basic.failures.missing.wwwAuthenticate!);
    firstCode ??= 'TP_ERR_AUTH_BASIC_MISSING';
  }
  if (introspection) {
    auth.push(introspectionStep(introspection));
    if (!challenges.includes(INTROSPECTION_CHALLENGE)) challenges.push(INTROSPECTION_CHALLENGE);
    firstCode ??= 'TP_ERR_AUTH_TOKEN_MISSING';
  }
  if (authorizer) {
    auth.push(authorizerStep(authorizer));
    firstCode ??= 'TP_ERR_AUTHORIZER_IDENTITY_MISSING';
  }
  if (mtls) {
    auth.push(mtlsAuthStep(mtls));
    challenges.push(MTLS_CHALLENGE);
    firstCode ??= 'TP_ERR_AUTH_CERT_MISSING';
  }
  if (auth.length > 0) steps.push(anyOfAuth(auth, missingCredentials(firstCode!, challenges)));
  if (acl) steps.push(aclStep(acl));
  // Usage-plan quotas come with the subscription: enforced where one is required (quota/).
  // Rate limits before the quota: a request refused with 429 does not use up the plan's quota.
  if (subscriptionRequired) steps.push(subscriptionStep, planRateLimitStep);
  if (rateLimit) steps.push(rateLimitStep(rateLimit));
  if (subscriptionRequired) steps.push(quotaStep);
  if (validation) steps.push(requestValidationStep(validation));
  // Last: a cached answer is given only to a request every other check (rate limits included) admitted.
  // Transformations after every check (docs/configuration.md, "Transformations"): a mock answers before the
  // cache (a mock is not stored); the response-transformer's hook is registered before the cache's, so the
  // cache stores what the client got; the request is transformed only when it will go upstream (after a miss).
  if (mock) steps.push(mockStep(mock));
  if (responseTransformer) steps.push(responseTransformerStep(responseTransformer));
  if (cache) steps.push(proxyCacheStep(cache));
  if (requestTransformer) steps.push(requestTransformerStep(requestTransformer));
  const ordered = orderSteps(steps);
  return { steps: ordered.steps, needsBody: ordered.needsBody, names: ordered.steps.map((s) => s.name).join(',') };
}

/** Selections without consumer overrides, one per policy (so routes sharing an instance share a pipeline). */
const plainSelections = new WeakMap<RateLimitPolicy, RateLimitSelection>();

/**
 * The route's rate limiting: route > service > global, replaced for a consumer by its consumer + route >
 * consumer + service > consumer instance. Null when none applies.
 */
function rateLimitFor(s: Scoped<RateLimitPolicy>, routeId: string, serviceId: string): RateLimitSelection | null {
  const base = pick(s, routeId, serviceId);
  const byRoute = s.consumerRoute.get(routeId);
  const byService = s.consumerService.get(serviceId);
  if (s.consumer.size === 0 && byRoute === undefined && byService === undefined) {
    if (base === null) return null;
    let sel = plainSelections.get(base);
    if (sel === undefined) plainSelections.set(base, (sel = { base, forConsumer: null }));
    return sel;
  }
  // Shared by the routes with the same base and consumer overrides (the service's, unless the route has its own).
  let memo = consumerSelections.get(s);
  if (memo === undefined) consumerSelections.set(s, (memo = new Map()));
  const memoKey = `${base === null ? '' : identityOf(base)}|${byRoute !== undefined ? `r:${routeId}` : `s:${serviceId}`}`;
  let sel = memo.get(memoKey);
  if (sel === undefined) {
    const consumer = s.consumer;
    memo.set(memoKey, (sel = { base, forConsumer: (id) => byRoute?.get(id) ?? byService?.get(id) ?? consumer.get(id) }));
  }
  return sel;
}
/** Per plugin index (one per compile): selections with consumer overrides. */
const consumerSelections = new WeakMap<Scoped<RateLimitPolicy>, Map<string, RateLimitSelection>>();

/** The route's request-validation policy for its service's document; throws what compiling it threw. */
function validationFor(d: DeferredValidation | null, doc: unknown): RequestValidationPolicy | null {
  if (d === null) return null;
  let r: RequestValidationPolicy | TurnpikeError;
  const usesDoc = d.cfg.source === 'openapi' && typeof doc === 'object' && doc !== null;
  if (usesDoc) {
    const memo = d.byDoc.get(doc);
    r = memo ?? compileOrError(d.cfg, doc);
    if (memo === undefined) d.byDoc.set(doc, r);
  } else r = d.noDoc ??= compileOrError(d.cfg, null);
  if (r instanceof TurnpikeError) throw r;
  return r;
}

function compileOrError(cfg: RequestValidationConfig, doc: unknown): RequestValidationPolicy | TurnpikeError {
  try {
    return compileRequestValidation(cfg, doc);
  } catch (e) {
    if (e instanceof TurnpikeError) return e;
    throw e;
  }
}

const ids = new WeakMap<object, number>();
let nextId = 0;
function identityOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = ++nextId));
  return id;
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
