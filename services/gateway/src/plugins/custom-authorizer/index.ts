// custom-authorizer: API Gateway's custom (Lambda) authorizers. The request's identity sources are read (any
// missing: 401, no call), the authorizer is called with a TOKEN or REQUEST event (a Lambda via the Invoke API,
// or an HTTP endpoint), and its answer — an IAM policy or a simple response — is cached by identity for
// result_ttl_ms and evaluated against each request's method ARN. A cache hit answers synchronously; a miss
// returns a Promise shared by concurrent requests with the same identity. Allowed callers pass the answer's
// context to the upstream as headers and, when principalId (or context.consumer) names a consumer, as that
// consumer; otherwise anonymously (consumerId '').
import { customAuthorizerProblems, isSealed, open, parseIdentitySource, type CustomAuthorizerConfig, type IdentitySource, type Keyring } from '@turnpike/common';
import type { Dispatcher } from 'undici';
import { credentialsFromEnv, LambdaInvoker } from '../../integrations/lambda/invoke.js';
import type { AwsCredentials } from '../../integrations/lambda/sigv4.js';
import { deny, type Identified, type Outcome, type Step } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';
import { identityValue, methodArnOf, requestEventV1, requestEventV2, tokenEvent } from './event.js';
import { queryParams } from '../../proxy/query-params.js';
import { allows, parseDecision, type Decision } from './response.js';
import { ResultCache } from './result-cache.js';
import { httpTransport, lambdaTransport, MAX_RESPONSE_BYTES, type AuthorizerTransport, type TransportAnswer } from './transport.js';

export { ResultCache } from './result-cache.js';
export { methodArnOf, ARN_ACCOUNT, ARN_REGION, ARN_STAGE } from './event.js';
export { globMatch, allows, parseDecision, contextHeaders, type Decision } from './response.js';
export type { AuthorizerTransport, TransportAnswer } from './transport.js';

export const AuthorizerDenials = {
  missing: deny(401, 'TP_ERR_AUTHORIZER_IDENTITY_MISSING', 'the request lacks the identity the authorizer needs'),
  invalidToken: deny(401, 'TP_ERR_AUTHORIZER_IDENTITY_MISSING', 'the authorization token is not in the expected form'),
  unauthorized: deny(401, 'TP_ERR_AUTHORIZER_UNAUTHORIZED', 'unauthorized'),
  denied: deny(403, 'TP_ERR_AUTHORIZER_DENIED', 'the authorizer does not allow this request'),
  noConsumer: deny(403, 'TP_ERR_AUTHORIZER_DENIED', 'the authorized principal is not a consumer of this gateway'),
  unavailable: deny(503, 'TP_ERR_AUTH_UNAVAILABLE', 'the authorizer is unavailable; try again later'),
} as const;

/** A call's outcome as cached: a decision, or a Deny without policy (an HTTP authorizer's 403). */
type Answer = Decision | { readonly kind: 'unauthorized' } | { readonly kind: 'error'; readonly reason: string };

const HTTP_DENY: Decision = Object.freeze({ statements: null, isAuthorized: false, principalId: '', consumerName: '', headers: null });

export interface AuthorizerPolicy {
  readonly type: 'token' | 'request';
  readonly sources: readonly IdentitySource[];
  /** token_validation, anchored (the whole header value must match). */
  readonly tokenPattern: RegExp | null;
  readonly version: '1.0' | '2.0';
  readonly simple: boolean;
  readonly ttlMs: number;
  readonly prefix: string;
  readonly failOpen: boolean;
  readonly requireConsumer: boolean;
  readonly hideCredentials: boolean;
  /** The header (lower-case) and query identity sources' names: what hide_credentials hides. */
  readonly sourceHeaders: readonly string[];
  readonly sourceQuery: readonly string[];
  /** null when `unavailable` says why this node cannot call the authorizer. */
  readonly transport: AuthorizerTransport | null;
  readonly unavailable: string | null;
  readonly cache: ResultCache<Decision>;
}

export interface AuthorizerCompileOptions {
  /** Opens a sealed secret_access_key / session_token (sealed by the control plane with the plugin's id). */
  keyring: Keyring | null;
  /** The plugin instance's id: the sealing context of its secrets. */
  pluginId?: string;
  /** The plugin's sealed secret material as the control plane sends it: JSON pointer into the config → sealed value. */
  secrets?: Readonly<Record<string, unknown>> | null;
  /** Where `credentials: environment` reads from (default process.env). */
  env?: NodeJS.ProcessEnv;
  dispatcher?: Dispatcher;
  /** Largest number of identities cached (default 10 000). */
  cacheEntries?: number;
}

/** A secret: given clear in the config, sealed in place, or sealed in the plugin's secret material. */
function secretOf(clear: unknown, pointer: string, options: AuthorizerCompileOptions): string | null {
  const v = clear ?? options.secrets?.[pointer];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (!isSealed(v)) throw new Error(`${pointer} is neither a string nor a sealed secret`);
  if (!options.keyring) throw new Error('this node has no secret key to open the authorizer credentials (set TP_SECRET_KEY or TP_SECRET_KEYS)');
  return open(options.keyring, v, options.pluginId ?? '');
}

function lambdaCredentials(cfg: NonNullable<CustomAuthorizerConfig['lambda']>, options: AuthorizerCompileOptions): AwsCredentials {
  const c = cfg.credentials ?? 'environment';
  if (c === 'environment') {
    const env = credentialsFromEnv(options.env ?? process.env);
    if (!env) throw new Error("no AWS credentials in this node's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)");
    return env;
  }
  const secret = secretOf(c.secret_access_key, '/lambda/credentials/secret_access_key', options);
  if (secret === null) throw new Error('lambda.credentials has an access_key_id without a secret_access_key');
  return { accessKeyId: c.access_key_id, secretAccessKey: secret, sessionToken: secretOf(c.session_token, '/lambda/credentials/session_token', options) };
}

function transportOf(cfg: CustomAuthorizerConfig, options: AuthorizerCompileOptions): AuthorizerTransport {
  if (cfg.kind === 'http') {
    if (!cfg.http) throw new Error('kind http without http settings');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(cfg.http.headers ?? {})) headers[k.toLowerCase()] = v;
    return httpTransport({ url: cfg.http.url, timeoutMs: cfg.http.timeout_ms ?? 3000, headers, ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}) });
  }
  const l = cfg.lambda;
  if (!l) throw new Error('kind lambda without lambda settings');
  const invoker = new LambdaInvoker(
    { functionName: l.function_name, region: l.region, qualifier: l.qualifier ?? null, endpoint: l.endpoint ?? null },
    lambdaCredentials(l, options),
    { timeoutMs: l.timeout_ms ?? 3000, maxPayloadBytes: MAX_RESPONSE_BYTES, ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}) },
  );
  return lambdaTransport(invoker);
}

/**
 * Compiles a config (schema-valid, defaults filled) into a policy. Never throws: what makes the authorizer
 * unusable on this node (a rule the schema cannot state, no credentials, a secret it cannot open) is in
 * `unavailable`, and its requests get 503 (or pass, with fail_open); list it with the node's rejected entries.
 */
export function compileAuthorizer(cfg: CustomAuthorizerConfig, options: AuthorizerCompileOptions): AuthorizerPolicy {
  // Nodes check config against the schema only; the type's own rules (a token authorizer reads one header,
  // token_validation compiles and cannot backtrack catastrophically) are checked here.
  const problems = customAuthorizerProblems(cfg);
  const sources = (cfg.identity_sources ?? []).map(parseIdentitySource).filter((s): s is IdentitySource => s !== null);
  let transport: AuthorizerTransport | null = null;
  let unavailable: string | null = problems.length > 0 ? problems.map((p) => `${p.path.slice(1)}: ${p.message}`).join('; ') : null;
  if (unavailable === null) {
    try {
      transport = transportOf(cfg, options);
    } catch (e) {
      unavailable = e instanceof Error ? e.message : String(e);
    }
  }
  const type = cfg.type ?? 'token';
  return {
    type,
    sources,
    tokenPattern: unavailable === null && type === 'token' && cfg.token_validation ? new RegExp(`^(?:${cfg.token_validation})$`) : null,
    version: cfg.payload_format_version ?? '1.0',
    simple: cfg.enable_simple_responses ?? false,
    ttlMs: cfg.result_ttl_ms ?? 300_000,
    prefix: (cfg.context_header_prefix ?? 'x-authorizer-').toLowerCase(),
    failOpen: cfg.fail_open ?? false,
    requireConsumer: cfg.require_consumer ?? false,
    hideCredentials: cfg.hide_credentials ?? false,
    sourceHeaders: sources.filter((s) => s.in === 'header').map((s) => s.name),
    sourceQuery: sources.filter((s) => s.in === 'query').map((s) => s.name),
    transport,
    unavailable,
    cache: new ResultCache<Decision>(options.cacheEntries),
  };
}

/** Whether the request carries every identity source (context sources always do). */
export function identityPresent(policy: AuthorizerPolicy, ctx: RequestContext): boolean {
  let q: Map<string, string[]> | null = null;
  const query = () => (q ??= queryParams(ctx.query));
  for (const s of policy.sources) if (identityValue(s, ctx, query) === '') return false;
  return true;
}

function toAnswer(policy: AuthorizerPolicy, a: TransportAnswer): Answer {
  if (a.kind === 'unauthorized') return a;
  if (a.kind === 'error') return a;
  if (a.kind === 'deny') return HTTP_DENY;
  const d = parseDecision(a.body, policy.simple, policy.prefix);
  return typeof d === 'string' ? { kind: 'error', reason: d } : d;
}

function isDecision(a: Answer): a is Decision {
  return !('kind' in a);
}

/** The outcome for an allowed or denied decision; side effects on ctx (hidden headers) only when allowed. */
function finish(policy: AuthorizerPolicy, ctx: RequestContext, d: Decision, methodArn: string): Outcome {
  if (!allows(d, methodArn)) return AuthorizerDenials.denied;
  let consumerId = '';
  if (d.consumerName !== '') {
    const owner = ctx.tables.ownerByUsername(d.consumerName);
    if (owner) consumerId = owner.consumerId;
  }
  if (consumerId === '' && policy.requireConsumer) return AuthorizerDenials.noConsumer;
  // The client must not send what looks like the authorizer's context itself.
  const forged: string[] = [];
  const r = ctx.received;
  for (let i = 0; i < r.length; i += 2) if (r[i]!.startsWith(policy.prefix)) forged.push(r[i]!);
  if (forged.length > 0) ctx.hideHeaders(forged);
  if (policy.hideCredentials) {
    if (policy.sourceHeaders.length > 0) ctx.hideHeaders(policy.sourceHeaders);
    if (policy.sourceQuery.length > 0) ctx.hideQuery(policy.sourceQuery);
  }
  const who: Identified = { kind: 'identity', consumerId, credentialId: '', upstreamHeaders: d.headers };
  return who;
}

function failure(policy: AuthorizerPolicy, ctx: RequestContext, reason: string): Outcome {
  ctx.note('TP_ERR_AUTH_UNAVAILABLE', reason);
  return policy.failOpen ? null : AuthorizerDenials.unavailable;
}

function settle(policy: AuthorizerPolicy, ctx: RequestContext, a: Answer, methodArn: string): Outcome {
  if (isDecision(a)) return finish(policy, ctx, a, methodArn);
  if (a.kind === 'unauthorized') return AuthorizerDenials.unauthorized;
  return failure(policy, ctx, a.reason);
}

function eventOf(policy: AuthorizerPolicy, ctx: RequestContext, methodArn: string, values: string[], query: () => Map<string, string[]>): object {
  if (policy.type === 'token') return tokenEvent(values[0]!, methodArn);
  return policy.version === '2.0' ? requestEventV2(ctx, methodArn, query(), values) : requestEventV1(ctx, methodArn, query());
}

/** Authorizes one request: synchronously from the cache (or a refusal), else a Promise that never rejects. */
export function authorize(policy: AuthorizerPolicy, ctx: RequestContext): Outcome | Promise<Outcome> {
  let q: Map<string, string[]> | null = null;
  const query = () => (q ??= queryParams(ctx.query));
  const values: string[] = [];
  for (const s of policy.sources) {
    const v = identityValue(s, ctx, query);
    if (v === '') return AuthorizerDenials.missing;
    values.push(v);
  }
  if (policy.tokenPattern !== null && !policy.tokenPattern.test(values[0]!)) return AuthorizerDenials.invalidToken;
  if (policy.transport === null) return failure(policy, ctx, policy.unavailable ?? 'the authorizer is not configured');
  const methodArn = methodArnOf(ctx);
  const caching = policy.ttlMs > 0;
  const key = caching ? ResultCache.keyOf(values) : '';
  if (caching) {
    const hit = policy.cache.get(key, ctx.nowMs);
    if (hit !== undefined) return finish(policy, ctx, hit, methodArn);
  }
  const transport = policy.transport;
  const call = (): Promise<Answer> =>
    transport.call(eventOf(policy, ctx, methodArn, values, query)).then((a) => {
      const answer = toAnswer(policy, a);
      // Allow and Deny answers are cached; Unauthorized and failures are asked again next time.
      if (caching && isDecision(answer)) policy.cache.set(key, answer, Date.now(), policy.ttlMs);
      return answer;
    });
  const pending = caching ? policy.cache.shared(key, call) : call();
  return pending.then((a) => settle(policy, ctx, a, methodArn));
}

/** The pipeline step (phase auth). */
export function authorizerStep(policy: AuthorizerPolicy): Step<RequestContext> {
  return {
    name: 'custom-authorizer',
    phase: 'auth',
    needsBody: false,
    present: (ctx) => identityPresent(policy, ctx),
    run: (ctx) => authorize(policy, ctx),
  };
}
