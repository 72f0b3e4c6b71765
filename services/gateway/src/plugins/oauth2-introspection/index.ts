// oauth2-introspection: a bearer token is sent to the authorization server's introspection endpoint (RFC
// 7662) and admitted when the answer says active, within exp/nbf, with the required scopes; the answer's
// consumer_claim names the consumer (by username). Answers are cached per token (SHA-256 of it; the raw
// token is never kept): active ones until min(cache_ttl_ms, exp), inactive ones for negative_cache_ttl_ms;
// endpoint failures are never cached. Concurrent requests with the same uncached token share one call.
//
// A cached answer decides synchronously; only a call to the endpoint returns a Promise (which never rejects).
// An endpoint that cannot answer is a 503 (an outage is not a bad credential), or with fail_open the request
// goes on unauthenticated.
import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { isSealed, open, type Keyring, type Oauth2IntrospectionConfig } from '@turnpike/common';
import { deny, type Denial, type Identified, type Outcome, type Step } from '../pipeline.js';
import type { RequestContext } from '../request-context.js';
import type { KeyOwner } from '../key-auth/index.js';
import { headerSafe, readJwtToken, VerifiedTokenCache, type JwtPolicy } from '../jwt-auth/index.js';
import { basicAuthorization, introspect, IntrospectionUnavailable, type IntrospectionEndpoint } from './introspect.js';

export { basicAuthorization, introspect, IntrospectionUnavailable, MAX_ANSWER_BYTES, type IntrospectionEndpoint } from './introspect.js';

// ---- verdicts (what an introspection answer means, once normalized) -----------------------------------------

/** An active token's answer, as far as this policy needs it. Shared by every request presenting the token. */
export interface ActiveToken {
  readonly kind: 'active';
  /** The consumer_claim's value ('' when the answer has none usable). */
  readonly claimValue: string;
  /** Whether the answer's scopes include every required scope of the policy. */
  readonly scopeOk: boolean;
  /** When the token expires (exp, epoch ms); Infinity without exp. */
  readonly expiresAtMs: number;
  /** claims_to_headers pairs, flat [name, value, …] (header-safe values). */
  readonly headers: readonly string[];
  readonly credentialId: string;
  /** The last identity made from this token, and the owner it was made for (consumers may change). */
  owner: KeyOwner | null;
  identity: Identified | null;
}

/** A refused token (cached for negative_cache_ttl_ms): the Denial to answer with. */
export interface RefusedToken {
  readonly kind: 'refused';
  readonly denial: Denial;
}

/** The endpoint could not answer (never cached); `why` is for the call log. */
export interface Unavailable {
  readonly kind: 'unavailable';
  readonly why: string;
}

export type Verdict = ActiveToken | RefusedToken | Unavailable;

const REALM = 'Bearer realm="turnpike"';
/** The WWW-Authenticate challenge of a request without a token (for anyOfAuth's combined 401). */
export const INTROSPECTION_CHALLENGE = REALM;
function invalid(code: 'TP_ERR_AUTH_TOKEN_INVALID' | 'TP_ERR_AUTH_TOKEN_MALFORMED' | 'TP_ERR_AUTH_TOKEN_EXPIRED' | 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID', message: string): Denial {
  // RFC 6750 §3: error_description is a quoted-string of printable ASCII without '"' or '\' (none here).
  return deny(401, code, message, ['www-authenticate', `${REALM}, error="invalid_token", error_description="${message}"`]);
}

/** The refusals, built once (the hot path returns these, it never allocates one). */
export const IntrospectionDenials = {
  // RFC 6750 §3.1: no error code when the request carried no token.
  missing: deny(401, 'TP_ERR_AUTH_TOKEN_MISSING', 'a bearer token is required', ['www-authenticate', REALM]),
  malformed: invalid('TP_ERR_AUTH_TOKEN_MALFORMED', 'the token is not a well-formed bearer token'),
  inactive: invalid('TP_ERR_AUTH_TOKEN_INVALID', 'the token is not active'),
  expired: invalid('TP_ERR_AUTH_TOKEN_EXPIRED', 'the token has expired'),
  notYetValid: invalid('TP_ERR_AUTH_TOKEN_NOT_YET_VALID', 'the token is not valid yet'),
  unknownConsumer: invalid('TP_ERR_AUTH_TOKEN_INVALID', 'the token does not belong to a known consumer'),
  unavailable: deny(503, 'TP_ERR_AUTH_UNAVAILABLE', 'the token cannot be checked now (the authorization server is unavailable); try again later'),
} as const;

const REFUSED_INACTIVE: RefusedToken = Object.freeze({ kind: 'refused', denial: IntrospectionDenials.inactive });
const REFUSED_EXPIRED: RefusedToken = Object.freeze({ kind: 'refused', denial: IntrospectionDenials.expired });
const REFUSED_NOT_YET: RefusedToken = Object.freeze({ kind: 'refused', denial: IntrospectionDenials.notYetValid });

// ---- policy (the plugin instance's config, compiled) --------------------------------------------------------

/** Entries of each of a policy's caches (active answers, refusals). */
export const DEFAULT_CACHE_ENTRIES = 10_000;
/** Introspection calls one policy may have in flight; beyond, tokens get 503 (or fail_open) at once. */
export const DEFAULT_MAX_IN_FLIGHT = 1_024;
/** Longer tokens are refused without a call. */
export const MAX_TOKEN_CHARS = 8 * 1024;
/** RFC 6750 §2.1 b64token: anything else is refused without a call. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface IntrospectionPolicy {
  /** Where the token is read (readJwtToken's reader: header + scheme, then query parameter). */
  readonly source: JwtPolicy;
  readonly endpoint: IntrospectionEndpoint;
  readonly consumerClaim: string;
  /** Username of the consumer for active tokens whose claim names none; null: 401. */
  readonly anonymousConsumer: string | null;
  readonly claimHeaders: readonly (readonly [string, string])[];
  /** Every header claims_to_headers can set: removed from the client's request on every request let through. */
  readonly headerNames: readonly string[];
  readonly requiredScopes: readonly string[];
  readonly hideCredentials: boolean;
  readonly failOpen: boolean;
  readonly cacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  /** 403 for missing scopes (names the required ones, RFC 6750 §3). */
  readonly scopeDenial: Denial;
  /** Active answers by token SHA-256 (base64). */
  readonly active: VerifiedTokenCache<ActiveToken>;
  /** Refusals by token SHA-256 (base64): a separate LRU, so a flood of bad tokens cannot evict good ones. */
  readonly refused: VerifiedTokenCache<RefusedToken>;
  /** Calls in flight by token SHA-256: concurrent requests with the same token share one. */
  readonly inFlight: Map<string, Promise<Verdict>>;
  readonly maxInFlight: number;
  /** Counters for metrics and tests. */
  readonly stats: { calls: number; failures: number };
}

export interface IntrospectionOptions {
  /** Opens the sealed client secret (sealed by the control plane with the plugin instance's id as context). */
  keyring: Keyring | null;
  /** The plugin instance's id (the sealing context). */
  pluginId: string;
  /**
   * The data-plane entry's `secret` field: the sealed secret config fields by JSON pointer
   * (`{ "/client_secret": sealed }`, PluginType.secretFields); null or absent when none was stored.
   */
  secrets: Readonly<Record<string, unknown>> | null | undefined;
  /** The HTTP client (undici's global dispatcher when absent). */
  dispatcher?: Dispatcher;
  cacheEntries?: number;
  maxInFlight?: number;
}

/**
 * Compiles one instance's config (schema-valid, defaults filled). Returns the policy, or why this node cannot
 * use the instance (the config is then rejected, not applied): a client secret missing, sent in clear, or
 * not openable with this node's keyring.
 */
export function compileIntrospection(cfg: Oauth2IntrospectionConfig, options: IntrospectionOptions): IntrospectionPolicy | string {
  if (cfg.client_secret !== undefined) return 'client_secret arrived in clear; the control plane seals it (upgrade the control plane)';
  const sealed = options.secrets?.['/client_secret'];
  if (sealed === undefined || sealed === null) return 'client_secret is not set';
  if (!isSealed(sealed)) return 'client_secret is not a sealed secret';
  if (!options.keyring) return 'this node has no secret key to open the client secret (set TP_SECRET_KEY or TP_SECRET_KEYS)';
  let secret: string;
  try {
    secret = open(options.keyring, sealed, options.pluginId);
  } catch (e) {
    return `the client secret cannot be opened: ${e instanceof Error ? e.message : String(e)}`;
  }
  const claimHeaders = Object.entries(cfg.claims_to_headers).map(([claim, header]) => [claim, header.toLowerCase()] as const);
  const entries = options.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
  const scopes = cfg.required_scopes;
  return {
    source: {
      headerName: cfg.header_name.toLowerCase(),
      scheme: cfg.header_scheme.toLowerCase(),
      queryParam: cfg.query_param,
      cookieName: null,
      claimsRequired: [],
      hideCredentials: cfg.hide_credentials,
    },
    endpoint: {
      url: cfg.introspection_url,
      authorization: basicAuthorization(cfg.client_id, secret),
      tokenTypeHint: cfg.token_type_hint,
      timeoutMs: cfg.timeout_ms,
      dispatcher: options.dispatcher,
    },
    consumerClaim: cfg.consumer_claim,
    anonymousConsumer: cfg.anonymous_consumer,
    claimHeaders,
    headerNames: [...new Set(claimHeaders.map(([, h]) => h))],
    requiredScopes: scopes,
    hideCredentials: cfg.hide_credentials,
    failOpen: cfg.fail_open,
    cacheTtlMs: cfg.cache_ttl_ms,
    negativeCacheTtlMs: cfg.negative_cache_ttl_ms,
    scopeDenial: deny(403, 'TP_ERR_AUTH_SCOPE_INSUFFICIENT', `the token lacks a required scope (required: ${scopes.join(' ')})`, [
      'www-authenticate',
      `${REALM}, error="insufficient_scope", error_description="the token lacks a required scope", scope="${scopes.join(' ')}"`,
    ]),
    active: new VerifiedTokenCache<ActiveToken>(entries, cfg.cache_ttl_ms),
    refused: new VerifiedTokenCache<RefusedToken>(entries, cfg.negative_cache_ttl_ms),
    inFlight: new Map(),
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    stats: { calls: 0, failures: 0 },
  };
}

/** The token the request presents ('' for none): the header after the scheme, else the query parameter. */
export function readIntrospectionToken(policy: IntrospectionPolicy, ctx: Pick<RequestContext, 'header' | 'query'>): string {
  return readJwtToken(policy.source, (n) => ctx.header(n), ctx.query);
}

// ---- the answer, normalized ------------------------------------------------------------------------------------

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * RFC 7662 §2.2: `active` is required (a boolean); exp, nbf are NumericDates and scope a space-separated
 * string when present. An answer breaking those rules is the endpoint failing (Unavailable), not the token.
 */
export function verdictOf(policy: IntrospectionPolicy, answer: Record<string, unknown>, nowMs: number, tokenDigest: Buffer): Verdict {
  const { active, exp, nbf, scope } = answer;
  if (typeof active !== 'boolean') return { kind: 'unavailable', why: 'the introspection answer has no boolean "active"' };
  if (!active) return REFUSED_INACTIVE;
  if ((exp !== undefined && !isNumericDate(exp)) || (nbf !== undefined && !isNumericDate(nbf))) {
    return { kind: 'unavailable', why: 'the introspection answer has an exp or nbf that is not a number' };
  }
  if (scope !== undefined && typeof scope !== 'string') return { kind: 'unavailable', why: 'the introspection answer has a scope that is not a string' };
  // Checked here too, not only by the server: our clock decides what this gateway admits.
  if (exp !== undefined && nowMs >= exp * 1000) return REFUSED_EXPIRED;
  if (nbf !== undefined && nbf * 1000 > nowMs) return REFUSED_NOT_YET;
  let scopeOk = true;
  if (policy.requiredScopes.length > 0) {
    const granted = new Set(typeof scope === 'string' ? scope.split(' ') : []);
    scopeOk = policy.requiredScopes.every((s) => granted.has(s));
  }
  const c = Object.hasOwn(answer, policy.consumerClaim) ? answer[policy.consumerClaim] : undefined;
  return {
    kind: 'active',
    claimValue: typeof c === 'string' ? c : typeof c === 'number' && Number.isFinite(c) ? String(c) : '',
    scopeOk,
    expiresAtMs: exp !== undefined ? exp * 1000 : Number.POSITIVE_INFINITY,
    headers: claimHeaders(policy, answer),
    // A stable, non-reversible id of the token for call logs (64 bits of its SHA-256).
    credentialId: `introspection:${tokenDigest.subarray(0, 8).toString('hex')}`,
    owner: null,
    identity: null,
  };
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

function claimHeaders(policy: IntrospectionPolicy, answer: Record<string, unknown>): readonly string[] {
  if (policy.claimHeaders.length === 0) return NO_HEADERS;
  const out: string[] = [];
  for (const [claim, header] of policy.claimHeaders) {
    const v = Object.hasOwn(answer, claim) ? answer[claim] : undefined;
    if (v === undefined || v === null) continue;
    const value = headerSafe(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));
    if (value !== '') out.push(header, value);
  }
  return out;
}

// ---- deciding a request ------------------------------------------------------------------------------------------

/** Asks the endpoint (one call per token at a time); the Promise never rejects. */
function lookup(policy: IntrospectionPolicy, token: string, key: string, digest: Buffer, nowMs: number): Promise<Verdict> | Unavailable {
  const pending = policy.inFlight.get(key);
  if (pending !== undefined) return pending;
  if (policy.inFlight.size >= policy.maxInFlight) return { kind: 'unavailable', why: `${policy.maxInFlight} introspection calls are already in flight` };
  policy.stats.calls++;
  const p = introspect(policy.endpoint, token).then(
    (answer): Verdict => {
      const v = verdictOf(policy, answer, nowMs, digest);
      if (v.kind === 'active') policy.active.set(key, v, nowMs, v.expiresAtMs);
      else if (v.kind === 'refused') policy.refused.set(key, v, nowMs, nowMs + policy.negativeCacheTtlMs);
      else policy.stats.failures++;
      return v;
    },
    (e: unknown): Verdict => {
      policy.stats.failures++;
      return { kind: 'unavailable', why: e instanceof IntrospectionUnavailable ? e.message : 'the introspection request failed' };
    },
  );
  const done = p.finally(() => policy.inFlight.delete(key));
  policy.inFlight.set(key, done);
  return done;
}

function hide(policy: IntrospectionPolicy, ctx: RequestContext): void {
  // Claim headers the client sent itself are never forwarded: a token without the claim must not let them through.
  if (policy.headerNames.length > 0) ctx.hideHeaders(policy.headerNames);
  if (!policy.hideCredentials) return;
  if (ctx.header(policy.source.headerName) !== '') ctx.hideHeaders([policy.source.headerName]);
  if (policy.source.queryParam !== null) ctx.hideQuery([policy.source.queryParam]);
}

/** The Outcome of a verdict for this request. */
export function outcomeOf(policy: IntrospectionPolicy, ctx: RequestContext, v: Verdict): Outcome {
  if (v.kind === 'refused') return v.denial;
  if (v.kind === 'unavailable') {
    ctx.note('TP_AUTH_INTROSPECTION_UNAVAILABLE', v.why);
    if (!policy.failOpen) return IntrospectionDenials.unavailable;
    hide(policy, ctx);
    return null;
  }
  if (!v.scopeOk) return policy.scopeDenial;
  let owner = v.claimValue === '' ? undefined : ctx.tables.ownerByUsername(v.claimValue);
  if (owner === undefined && policy.anonymousConsumer !== null) owner = ctx.tables.ownerByUsername(policy.anonymousConsumer);
  if (owner === undefined) return IntrospectionDenials.unknownConsumer;
  hide(policy, ctx);
  if (v.owner !== owner || v.identity === null) {
    v.owner = owner;
    v.identity = { kind: 'identity', consumerId: owner.consumerId, credentialId: v.credentialId, upstreamHeaders: v.headers.length > 0 ? v.headers : null };
  }
  return v.identity;
}

/**
 * Decides a request: synchronously for a missing or malformed token and a cached answer, else a Promise
 * (never rejecting) settled when the endpoint answered, failed or timed out.
 */
export function checkIntrospection(policy: IntrospectionPolicy, ctx: RequestContext): Outcome | Promise<Outcome> {
  const token = readIntrospectionToken(policy, ctx);
  if (token === '') return IntrospectionDenials.missing;
  if (token.length > MAX_TOKEN_CHARS || !B64TOKEN.test(token)) return IntrospectionDenials.malformed;
  const digest = createHash('sha256').update(token).digest();
  const key = digest.toString('base64');
  const now = ctx.nowMs;
  const hit = policy.active.get(key, now);
  if (hit !== undefined) return outcomeOf(policy, ctx, hit);
  const refused = policy.refused.get(key, now);
  if (refused !== undefined) return refused.denial;
  const r = lookup(policy, token, key, digest, now);
  if (r instanceof Promise) return r.then((v) => outcomeOf(policy, ctx, v));
  return outcomeOf(policy, ctx, r);
}

export function introspectionStep(policy: IntrospectionPolicy): Step<RequestContext> {
  return {
    name: 'oauth2-introspection',
    phase: 'auth',
    needsBody: false,
    present: (ctx) => readIntrospectionToken(policy, ctx) !== '',
    run: (ctx) => checkIntrospection(policy, ctx),
  };
}
