// Pipeline steps (plugins/pipeline.ts) over the plugin modules: each adapter reads the request through
// RequestContext, calls its module's check, and turns the module's result into an Outcome. Failure results
// of the modules are shared frozen objects, so their Denials are made once and reused (WeakMap), and the
// steps allocate nothing on the way through.
import type { ErrorCode } from '@turnpike/common';
import { deny, type Answer, type Denial, type Identified, type Outcome, type Step } from './pipeline.js';
import type { RequestContext } from './request-context.js';
import { authenticate, KEY_AUTH_MESSAGES, type KeyAuthPolicy, type KeyOwner } from './key-auth/index.js';
import { readJwtToken, verifyJwt, type JwtPolicy, type JwtResult } from './jwt-auth/index.js';
import { verifyHmac, type HmacPolicy, type HmacResult } from './hmac-auth/index.js';
import { verifyBasic, type BasicPolicy, type BasicResult } from './basic-auth/index.js';
import { checkIp, type IpPolicy } from './ip-restriction/index.js';
import { preflight, responseHeaders, type CorsPolicy, type PreflightAnswer } from './cors/index.js';
import { checkAcl, type AclPolicy } from './acl/index.js';
import { checkSubscription } from './acl/subscriptions.js';
import { checkQuota } from '../quota/check.js';
import { threadQuotaUsage } from '../quota/usage-table.js';
import { validateRequest, type RequestValidationDenial, type RequestValidationPolicy } from './request-validation/index.js';
import { checkWaf, type WafPolicy } from './waf/index.js';
import { checkRateLimit, type RateLimitSelection } from './rate-limiting/index.js';

/** A module's failure result as a Denial, made once per (shared) failure object. */
const denials = new WeakMap<object, Denial>();
function denialOf(f: { code: ErrorCode | string; status: number; message: string; wwwAuthenticate?: string | null }): Denial {
  let d = denials.get(f);
  if (d === undefined) {
    d = deny(f.status, f.code as ErrorCode, f.message, f.wwwAuthenticate ? ['www-authenticate', f.wwwAuthenticate] : null);
    denials.set(f, d);
  }
  return d;
}

/** The identity of a consumer's credential, with the headers the upstream gets; shared per (owner, credential) where possible. */
function identified(consumerId: string, credentialId: string, upstreamHeaders: readonly string[] | null): Identified {
  return { kind: 'identity', consumerId, credentialId, upstreamHeaders };
}

// The request whose headers a synchronous module call reads: one function for every call, no closure per request.
let reading: RequestContext | null = null;
function readHeader(name: string): string {
  return reading!.header(name);
}
// ---- authentication -----------------------------------------------------------------------------------------

const KEY_CHALLENGE = 'ApiKey realm="turnpike"';
const keyDenials = Object.fromEntries(
  (Object.keys(KEY_AUTH_MESSAGES) as (keyof typeof KEY_AUTH_MESSAGES)[]).map((code) => [code, deny(401, code, KEY_AUTH_MESSAGES[code], ['www-authenticate', KEY_CHALLENGE])]),
) as Record<keyof typeof KEY_AUTH_MESSAGES, Denial>;
const keyIdentities = new WeakMap<KeyOwner, Identified>();

/** The WWW-Authenticate challenge of API keys (not an IANA scheme; names where to send the key). */
export const API_KEY_CHALLENGE = KEY_CHALLENGE;

export function keyAuthStep(policy: KeyAuthPolicy): Step<RequestContext> {
  return {
    name: 'key-auth',
    phase: 'auth',
    needsBody: false,
    present(ctx) {
      for (const n of policy.headerNames) if (ctx.header(n) !== '') return true;
      return policy.queryNames.length > 0 && ctx.query !== '' && queryHasValue(ctx.query, policy.queryNames);
    },
    run(ctx) {
      reading = ctx;
      const r = authenticate(policy, ctx.tables.keys, readHeader, ctx.query, ctx.nowMs);
      reading = null;
      if (!r.ok) return keyDenials[r.code];
      if (policy.hideCredentials) {
        ctx.hideHeaders(policy.headerNames);
        if (policy.queryNames.length > 0) ctx.hideQuery(policy.queryNames);
      }
      // The call record's credential_id is the key's id. One identity kept per consumer: a new one is made
      // only when the consumer's requests switch keys.
      const keyIds = ctx.tables.keys.keyIds;
      const credentialId = keyIds === undefined ? '' : (keyIds.get(r.hex) ?? '');
      let who = keyIdentities.get(r.owner);
      if (who === undefined || who.credentialId !== credentialId || who.consumerId !== r.owner.consumerId) {
        keyIdentities.set(r.owner, (who = identified(r.owner.consumerId, credentialId, null)));
      }
      return who;
    },
  };
}

function tokenOf(policy: JwtPolicy, ctx: RequestContext): string {
  reading = ctx;
  const token = readJwtToken(policy, readHeader, ctx.query);
  reading = null;
  return token;
}

/** Names hidden per policy, made once (not an array literal per request). */
const hideLists = new WeakMap<object, { headers: readonly string[]; query: readonly string[] }>();
function hideListOf(policy: JwtPolicy): { headers: readonly string[]; query: readonly string[] } {
  let l = hideLists.get(policy);
  if (l === undefined) hideLists.set(policy, (l = { headers: [policy.headerName], query: policy.queryParam === null ? [] : [policy.queryParam] }));
  return l;
}

function jwtOutcome(policy: JwtPolicy, ctx: RequestContext, r: JwtResult): Outcome {
  if (!r.ok) return denialOf(r);
  if (policy.hideCredentials) {
    const l = hideListOf(policy);
    ctx.hideHeaders(l.headers);
    if (l.query.length > 0) ctx.hideQuery(l.query);
  }
  // Claim headers the client sent itself are never forwarded: a token without the claim must not let them through.
  if (r.headerNames.length > 0) ctx.hideHeaders(r.headerNames);
  return { kind: 'identity', consumerId: r.consumerId, credentialId: r.credentialId, upstreamHeaders: r.headers.length > 0 ? r.headers : null, claims: r.claims };
}

export function jwtAuthStep(policy: JwtPolicy): Step<RequestContext> {
  return {
    name: 'jwt-auth',
    phase: 'auth',
    needsBody: false,
    present: (ctx) => tokenOf(policy, ctx) !== '',
    run(ctx) {
      const token = tokenOf(policy, ctx);
      const r = verifyJwt(policy, ctx.tables.jwt, token, ctx.nowMs);
      if (r instanceof Promise) return r.then((v) => jwtOutcome(policy, ctx, v));
      return jwtOutcome(policy, ctx, r);
    },
  };
}

/** Whether the raw query has a non-empty value for any of `names`. */
function queryHasValue(query: string, names: readonly string[]): boolean {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0 && eq < part.length - 1 && names.includes(part.slice(0, eq))) return true;
  }
  return false;
}

function hmacOutcome(policy: HmacPolicy, ctx: RequestContext, r: HmacResult): Outcome {
  if (!r.ok) return denialOf(r);
  if (policy.hideCredentials) ctx.hideHeaders(['authorization']);
  return identified(r.consumerId, r.credentialId, null);
}

export function hmacAuthStep(policy: HmacPolicy): Step<RequestContext> {
  return {
    name: 'hmac-auth',
    phase: 'auth',
    needsBody: policy.validateBody,
    present: (ctx) => /^(hmac|signature)\s/i.test(ctx.header('authorization')),
    run(ctx) {
      const pathWithQuery = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`;
      const r = verifyHmac(policy, ctx.tables.hmac, { method: ctx.method, pathWithQuery, header: (n) => ctx.header(n), body: ctx.body }, ctx.nowMs);
      return hmacOutcome(policy, ctx, r);
    },
  };
}

function basicOutcome(policy: BasicPolicy, ctx: RequestContext, r: BasicResult): Outcome {
  if (!r.ok) return denialOf(r);
  if (policy.hideCredentials) ctx.hideHeaders(['authorization']);
  return identified(r.consumerId, r.credentialId, null);
}

export function basicAuthStep(policy: BasicPolicy): Step<RequestContext> {
  return {
    name: 'basic-auth',
    phase: 'auth',
    needsBody: false,
    present: (ctx) => /^basic(\s|$)/i.test(ctx.header('authorization')),
    run(ctx) {
      const r = verifyBasic(policy, ctx.tables.basic, ctx.header('authorization'), ctx.nowMs);
      if (r instanceof Promise) return r.then((v) => basicOutcome(policy, ctx, v));
      return basicOutcome(policy, ctx, r);
    },
  };
}

/**
 * The answer to a request that carries none of a route's credentials: 401 with one challenge per scheme
 * (RFC 9110 §11.6.1 allows several WWW-Authenticate fields), the first scheme's code.
 */
export function missingCredentials(first: ErrorCode, challenges: readonly string[]): Denial {
  const headers: string[] = [];
  for (const c of challenges) headers.push('www-authenticate', c);
  return deny(401, first, 'credentials are required (none of the accepted schemes was presented)', headers);
}

// ---- access -----------------------------------------------------------------------------------------------

export function ipRestrictionStep(policy: IpPolicy): Step<RequestContext> {
  return {
    name: 'ip-restriction',
    phase: 'pre-auth',
    needsBody: false,
    run(ctx) {
      const d = checkIp(policy, ctx.peerIp, ctx.header('x-forwarded-for'), ctx.header('forwarded'));
      return d === null ? null : denialOf(d);
    },
  };
}

const corsAnswers = new WeakMap<PreflightAnswer, Denial>();
/**
 * CORS runs first: a preflight is answered here (never authenticated: browsers send none), and an actual
 * request's Access-Control-* headers go on whatever answer it gets, the gateway's own 401/403 included.
 */
export function corsStep(policy: CorsPolicy): Step<RequestContext> {
  return {
    name: 'cors',
    phase: 'pre-auth',
    needsBody: false,
    run(ctx) {
      const origin = ctx.header('origin');
      if (ctx.method === 'OPTIONS') {
        const a = preflight(policy, origin, ctx.header('access-control-request-method'), ctx.header('access-control-request-headers'));
        if (a !== null) {
          if (a.status === 204) {
            // The headers array is reused by the next preflight of this policy: copy it for this answer.
            const answer: Answer = { kind: 'answer', status: 204, headers: a.headers.slice() };
            return answer;
          }
          let d = corsAnswers.get(a);
          if (d === undefined) corsAnswers.set(a, (d = deny(403, 'TP_ERR_CORS_FORBIDDEN', a.message)));
          return d;
        }
      }
      const h = responseHeaders(policy, origin);
      if (h !== null) ctx.addResponseHeaders(h);
      ctx.ownResponseHeaders('access-control-');
      return null;
    },
  };
}

export function aclStep(policy: AclPolicy): Step<RequestContext> {
  return {
    name: 'acl',
    phase: 'access',
    needsBody: false,
    run(ctx) {
      const owner = ctx.consumerId === '' ? undefined : ctx.tables.ownerOf(ctx.consumerId);
      const d = checkAcl(policy, ctx.consumerId, owner === undefined ? NO_GROUPS : owner.groupIds);
      return d === null ? null : denialOf(d);
    },
  };
}
const NO_GROUPS: readonly string[] = Object.freeze([]);

/** For services with `subscription_required`: the identified consumer needs an approved subscription. */
export const subscriptionStep: Step<RequestContext> = {
  name: 'subscription',
  phase: 'access',
  needsBody: false,
  run(ctx) {
    const d = checkSubscription(ctx.tables.subscriptions, ctx.consumerId, ctx.serviceId);
    return d === null ? null : denialOf(d);
  },
};

/**
 * After the subscription check: the quotas of the subscription's plan (quota/check.ts). A consumer over a
 * quota gets 429 TP_ERR_QUOTA_EXCEEDED; an admitted request is counted locally until the control plane's
 * next usage snapshot, and carries the X-Quota-* headers.
 */
export const quotaStep: Step<RequestContext> = {
  name: 'quota',
  phase: 'access',
  needsBody: false,
  run(ctx) {
    if (ctx.consumerId === '') return null;
    const q = ctx.tables.quotas.get(ctx.consumerId, ctx.serviceId);
    if (q === undefined) return null;
    const v = checkQuota(q, threadQuotaUsage, ctx.nowMs);
    if (!v.ok) return deny(429, 'TP_ERR_QUOTA_EXCEEDED', v.message, v.headers);
    if (v.headers.length > 0) ctx.addResponseHeaders(v.headers);
    return null;
  },
};

/** The JSON error body's `fields` list each problem: `/<part><pointer>` (`/query/limit`, `/body/owner/name`). */
function validationDenial(d: RequestValidationDenial): Denial {
  return deny(d.status, d.code, d.message, null, d.problems.length === 0 ? null : d.problems.map((p) => ({ path: `/${p.in}${p.path}`, message: p.message })));
}

export function requestValidationStep(policy: RequestValidationPolicy): Step<RequestContext> {
  return {
    name: 'request-validation',
    phase: 'access',
    needsBody: policy.inspectsBody,
    run(ctx) {
      const d = validateRequest(policy, {
        method: ctx.method,
        path: ctx.path,
        query: ctx.query,
        header: (n) => {
          const v = ctx.header(n);
          return v === '' ? undefined : v;
        },
        body: ctx.body,
      });
      return d === null ? null : validationDenial(d);
    },
  };
}

export function wafStep(policy: WafPolicy): Step<RequestContext> {
  return {
    name: 'waf',
    // Before authentication: an attack signature is refused without spending a credential check on it.
    phase: 'pre-auth',
    needsBody: policy.body !== null,
    run(ctx) {
      const v = checkWaf(policy, { path: ctx.path, query: ctx.query, headers: ctx.received, contentLength: ctx.declaredLength, body: ctx.body });
      if (v === null) return null;
      if (!v.block) {
        ctx.note('TP_WAF_LOGGED', `${v.ruleId} (${v.category}) in ${v.target}`);
        return null;
      }
      let d = denials.get(v);
      if (d === undefined) denials.set(v, (d = deny(v.status, v.code, `request refused by WAF rule ${v.ruleId} (${v.category}, in ${v.target})`)));
      return d;
    },
  };
}

/**
 * rate-limiting, after authentication so consumer and credential keys see the caller; a consumer-scoped
 * instance replaces the route's for its consumer.
 */
export function rateLimitStep(sel: RateLimitSelection): Step<RequestContext> {
  const { base, forConsumer } = sel;
  return {
    name: 'rate-limiting',
    phase: 'access',
    needsBody: false,
    run(ctx) {
      const policy = forConsumer !== null && ctx.consumerId !== '' ? (forConsumer(ctx.consumerId) ?? base) : base;
      return policy === null ? null : checkRateLimit(policy, ctx);
    },
  };
}

/**
 * Where a subscription is required, after it: the rate limit of the subscription's plan (a token bucket per
 * consumer and service; rate-limiting/plans.ts), 429 TP_ERR_RATE_LIMITED like a rate-limiting instance.
 */
export const planRateLimitStep: Step<RequestContext> = {
  name: 'plan-rate-limit',
  phase: 'access',
  needsBody: false,
  run(ctx) {
    if (ctx.consumerId === '') return null;
    const p = ctx.tables.planRateLimits?.get(ctx.consumerId, ctx.serviceId);
    return p === undefined ? null : checkRateLimit(p, ctx);
  },
};
