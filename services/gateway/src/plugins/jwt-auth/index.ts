// jwt-auth: a bearer JWT's `iss` selects a consumer's `jwt` credential (issuers are unique cluster-wide) and
// that credential's consumer is the caller. The payload is decoded unverified only to read `iss`; the
// signature is then checked with that issuer's key (its shared secret, PEM key or JWKS) for an `alg` both in
// its allowlist and usable with the key, then exp/nbf/iat (with the issuer's clock skew) and aud.
//
// Synchronous (node:crypto) whenever the key is at hand; a Promise only while a JWKS fetch is needed. jose's
// verifiers are Promise-only (WebCrypto), so jose signs the tests' tokens instead: an independent
// implementation on the other side of every check.
import { createPublicKey, createSecretKey } from 'node:crypto';
import { JWT_ALGORITHMS, isSealed, open, type JwtAuthConfig, type Keyring } from '@turnpike/common';
import { type JwksCache, type JwksRegistry } from './jwks-cache.js';
import { keyFits, verifyKeyOf, verifySignature, type VerifyKey } from './signature.js';
import { VerifiedTokenCache } from './verified-cache.js';

export { JwksCache, JwksRegistry, DEFAULT_JWKS_OPTIONS, type JwksOptions } from './jwks-cache.js';
export { VerifiedTokenCache } from './verified-cache.js';

// ---- results ---------------------------------------------------------------------------------------------

export type JwtFailureCode =
  | 'TP_ERR_AUTH_TOKEN_MISSING'
  | 'TP_ERR_AUTH_TOKEN_MALFORMED'
  | 'TP_ERR_AUTH_TOKEN_INVALID'
  | 'TP_ERR_AUTH_TOKEN_EXPIRED'
  | 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID'
  | 'TP_ERR_AUTH_TOKEN_AUDIENCE'
  | 'TP_ERR_AUTH_ISSUER_UNKNOWN'
  | 'TP_ERR_AUTH_ALG_NOT_ALLOWED'
  | 'TP_ERR_AUTH_UNAVAILABLE';

export interface JwtOk {
  readonly ok: true;
  readonly consumerId: string;
  readonly credentialId: string;
  readonly issuer: string;
  /** The verified payload. Shared with the verified-token cache: read only. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** claims_to_headers for this token, flat: name, value, name, value… (lower-case names, header-safe values). */
  readonly headers: readonly string[];
  /**
   * Every header name the issuer's claims_to_headers can set (lower-case): remove them from the client's
   * request before adding `headers`, or a client could send them itself when its token lacks the claim.
   */
  readonly headerNames: readonly string[];
}

export interface JwtFailure {
  readonly ok: false;
  readonly code: JwtFailureCode;
  /** 401, or 503 for TP_ERR_AUTH_UNAVAILABLE (never 401: an outage is not a bad credential). */
  readonly status: 401 | 503;
  /** Safe for the client and the call log (never the token). */
  readonly message: string;
  /** The WWW-Authenticate value of a 401 (RFC 6750 §3); null with 503. */
  readonly wwwAuthenticate: string | null;
}

export type JwtResult = JwtOk | JwtFailure;

function failure(code: JwtFailureCode, message: string): JwtFailure {
  let www: string | null = null;
  if (code === 'TP_ERR_AUTH_TOKEN_MISSING') www = 'Bearer'; // RFC 6750 §3.1: no error code when no token was sent
  else if (code !== 'TP_ERR_AUTH_UNAVAILABLE') www = `Bearer error="invalid_token", error_description="${message}"`;
  return Object.freeze({ ok: false, code, status: code === 'TP_ERR_AUTH_UNAVAILABLE' ? 503 : 401, message, wwwAuthenticate: www });
}

/** The failures, built once (the hot path returns these, it never allocates one). */
export const JwtFailures = {
  missing: failure('TP_ERR_AUTH_TOKEN_MISSING', 'a bearer token is required'),
  malformed: failure('TP_ERR_AUTH_TOKEN_MALFORMED', 'the token is not a well-formed JWT'),
  signature: failure('TP_ERR_AUTH_TOKEN_INVALID', 'the token signature is not valid'),
  crit: failure('TP_ERR_AUTH_TOKEN_INVALID', 'the token uses a critical header extension this gateway does not support'),
  claimType: failure('TP_ERR_AUTH_TOKEN_INVALID', 'the token has an exp, nbf or iat claim that is not a number'),
  claimMissing: failure('TP_ERR_AUTH_TOKEN_INVALID', 'the token lacks a required claim'),
  expired: failure('TP_ERR_AUTH_TOKEN_EXPIRED', 'the token has expired'),
  notYetValid: failure('TP_ERR_AUTH_TOKEN_NOT_YET_VALID', 'the token is not valid yet'),
  audience: failure('TP_ERR_AUTH_TOKEN_AUDIENCE', 'the token is not meant for this audience'),
  issuer: failure('TP_ERR_AUTH_ISSUER_UNKNOWN', 'the token issuer is not known'),
  alg: failure('TP_ERR_AUTH_ALG_NOT_ALLOWED', 'the token signing algorithm is not allowed for its issuer'),
  unavailable: failure('TP_ERR_AUTH_UNAVAILABLE', "the token issuer's keys are unavailable; try again later"),
} as const;

// ---- policy (the plugin instance's config) ---------------------------------------------------------------

export interface JwtPolicy {
  /** Lower-case header name. */
  readonly headerName: string;
  /** Lower-case scheme ('bearer'); '' when the header holds the bare token. */
  readonly scheme: string;
  readonly queryParam: string | null;
  readonly cookieName: string | null;
  readonly claimsRequired: readonly string[];
  readonly hideCredentials: boolean;
}

export function compileJwtPolicy(cfg: Partial<JwtAuthConfig>): JwtPolicy {
  return {
    headerName: (cfg.header_name ?? 'authorization').toLowerCase(),
    scheme: (cfg.header_scheme ?? 'Bearer').toLowerCase(),
    queryParam: cfg.query_param ?? null,
    cookieName: cfg.cookie_name ?? null,
    claimsRequired: cfg.claims_required ?? ['exp'],
    hideCredentials: cfg.hide_credentials ?? true,
  };
}

/**
 * The token the request presents: the header (after the scheme), else the query parameter, else the cookie;
 * '' when none has one. `getHeader` returns '' for an absent header (uWS semantics); `query` is the raw
 * query string without '?'.
 */
export function readJwtToken(policy: JwtPolicy, getHeader: (lowerName: string) => string, query: string): string {
  const v = getHeader(policy.headerName);
  if (v !== '') {
    const s = policy.scheme;
    if (s === '') return v.trim();
    if (v.length > s.length + 1 && v.charCodeAt(s.length) === 32 && v.slice(0, s.length).toLowerCase() === s) return v.slice(s.length + 1).trim();
  }
  if (policy.queryParam !== null && query !== '') {
    const t = queryValue(query, policy.queryParam);
    if (t !== '') return t;
  }
  if (policy.cookieName !== null) {
    const cookies = getHeader('cookie');
    if (cookies !== '') return cookieValue(cookies, policy.cookieName);
  }
  return '';
}

function queryValue(query: string, name: string): string {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq !== name.length || !part.startsWith(name)) continue;
    const raw = part.slice(eq + 1);
    if (!raw.includes('%')) return raw;
    try {
      return decodeURIComponent(raw);
    } catch {
      return '';
    }
  }
  return '';
}

function cookieValue(header: string, name: string): string {
  for (const part of header.split(';')) {
    const p = part.trim();
    if (p.length > name.length && p.charCodeAt(name.length) === 61 && p.startsWith(name)) return p.slice(name.length + 1).trim();
  }
  return '';
}

/** hide_credentials: the query string without the token parameter. */
export function withoutQueryParam(query: string, name: string): string {
  return query
    .split('&')
    .filter((p) => !(p.startsWith(name) && (p.length === name.length || p.charCodeAt(name.length) === 61)))
    .join('&');
}

/** hide_credentials: the Cookie header without the token cookie ('' when nothing is left). */
export function withoutCookie(header: string, name: string): string {
  return header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !(p.startsWith(name) && p.charCodeAt(name.length) === 61))
    .join('; ');
}

// ---- issuers (compiled from `credentials.<id>` entries of type jwt) ---------------------------------------

export interface JwtIssuer {
  readonly issuer: string;
  readonly credentialId: string;
  readonly consumerId: string;
  readonly algorithms: ReadonlySet<string>;
  /** null: `aud` is not checked. */
  readonly audiences: ReadonlySet<string> | null;
  readonly skewMs: number;
  /** [claim, lower-case header] pairs. */
  readonly claimHeaders: readonly (readonly [string, string])[];
  readonly headerNames: readonly string[];
  /** The shared secret or PEM public key; null with a JWKS. */
  readonly key: VerifyKey | null;
  readonly jwks: JwksCache | null;
  /** Why this node cannot verify this issuer's tokens (they get 503); null when it can. */
  readonly unavailable: string | null;
}

export interface JwtRejection {
  key: string;
  reason: string;
}

export interface JwtIssuerTable {
  readonly issuers: ReadonlyMap<string, JwtIssuer>;
  /** Successful verifications by token SHA-256; a new table (credentials changed) starts empty. */
  readonly verified: VerifiedTokenCache<JwtOk>;
  /** Credentials left out or unusable on this node, for the node's rejected list. */
  readonly rejected: readonly JwtRejection[];
}

export interface JwtIssuerOptions {
  /** Opens HS secrets (sealed by the control plane with the credential's id as context). */
  keyring: Keyring | null;
  /** The node's JWKS caches, kept across compiles. Caches of URIs no issuer uses are dropped. */
  jwks: JwksRegistry;
  /** Verified-token cache bounds: entries, and the longest an entry lives (ms). */
  verifiedEntries?: number;
  verifiedMaxAgeMs?: number;
  /** Fetch new JWKS URIs now rather than on the first token (default true). */
  prefetch?: boolean;
}

const ALGS: ReadonlySet<string> = new Set(JWT_ALGORITHMS);
const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** `entries`: the node's `credentials.<id>` entries (any type; only `jwt` ones are read). */
export function compileJwtIssuers(entries: Iterable<{ id: string; data: unknown }>, options: JwtIssuerOptions): JwtIssuerTable {
  const issuers = new Map<string, JwtIssuer>();
  const rejected: JwtRejection[] = [];
  const uris = new Set<string>();
  const jwt = [...entries].filter((e) => (e.data as { type?: unknown } | null)?.type === 'jwt').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const { id, data } of jwt) {
    const key = `credentials.${id}`;
    const r = compileIssuer(id, data as Record<string, unknown>, options);
    if (typeof r === 'string') {
      rejected.push({ key, reason: r });
      continue;
    }
    const prior = issuers.get(r.issuer);
    if (prior) {
      rejected.push({ key, reason: `issuer ${JSON.stringify(r.issuer)} is already credential ${prior.credentialId}'s` });
      continue;
    }
    if (r.unavailable !== null) rejected.push({ key, reason: r.unavailable });
    if (r.jwks) {
      uris.add(r.jwks.uri);
      if (options.prefetch !== false) r.jwks.prefetch();
    }
    issuers.set(r.issuer, r);
  }
  options.jwks.retain(uris);
  return { issuers, verified: new VerifiedTokenCache<JwtOk>(options.verifiedEntries, options.verifiedMaxAgeMs), rejected };
}

/** An issuer, or why the entry cannot be one (left out). Key problems keep the issuer, as unavailable. */
function compileIssuer(id: string, d: Record<string, unknown>, options: JwtIssuerOptions): JwtIssuer | string {
  const issuer = d.issuer;
  if (typeof issuer !== 'string' || issuer === '') return 'jwt credential without an issuer';
  if (typeof d.consumer_id !== 'string' || d.consumer_id === '') return 'jwt credential without a consumer_id';
  const algs = d.algorithms;
  if (!Array.isArray(algs) || algs.length === 0 || !algs.every((a) => typeof a === 'string' && ALGS.has(a))) return 'algorithms must be a list of JWS algorithms';
  const audiences = d.audiences ?? [];
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string')) return 'audiences must be a list of strings';
  const skew = d.clock_skew_s ?? 60;
  if (typeof skew !== 'number' || !(skew >= 0 && skew <= 600)) return 'clock_skew_s must be 0..600';
  const c2h = d.claims_to_headers ?? {};
  if (typeof c2h !== 'object' || c2h === null || Array.isArray(c2h)) return 'claims_to_headers must be an object';
  const claimHeaders: (readonly [string, string])[] = [];
  for (const [claim, header] of Object.entries(c2h)) {
    if (typeof header !== 'string' || !HEADER_TOKEN.test(header)) return `claims_to_headers.${claim} must be a header name`;
    claimHeaders.push([claim, header.toLowerCase()]);
  }
  let key: VerifyKey | null = null;
  let jwks: JwksCache | null = null;
  let unavailable: string | null = null;
  const hs = algs.filter((a: string) => a.startsWith('HS')).length;
  if (hs > 0 && hs < algs.length) unavailable = 'mixes HS and asymmetric algorithms (algorithm confusion)';
  else if (hs > 0) {
    const sealed = d.secret;
    if (!isSealed(sealed)) unavailable = 'HS algorithms without a sealed secret';
    else if (!options.keyring) unavailable = 'this node has no secret key to open the JWT secret (set TP_SECRET_KEY or TP_SECRET_KEYS)';
    else {
      try {
        key = verifyKeyOf(createSecretKey(Buffer.from(open(options.keyring, sealed, id), 'utf8')));
      } catch (e) {
        unavailable = `the JWT secret cannot be opened: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  } else if (typeof d.jwks_uri === 'string' && /^https?:\/\//.test(d.jwks_uri)) {
    jwks = options.jwks.get(d.jwks_uri);
  } else if (typeof d.public_key === 'string') {
    if (/PRIVATE KEY-----/.test(d.public_key)) unavailable = 'public_key holds a private key';
    else {
      try {
        key = verifyKeyOf(createPublicKey({ key: d.public_key, format: 'pem' }));
      } catch (e) {
        // Never echo OpenSSL's text (it may quote input).
        unavailable = e instanceof Error && /bits|unsupported/.test(e.message) ? `public_key: ${e.message}` : 'public_key is not a PEM public key';
      }
    }
  } else unavailable = 'asymmetric algorithms without jwks_uri or public_key';
  const headerNames = [...new Set(claimHeaders.map(([, h]) => h))];
  return {
    issuer,
    credentialId: id,
    consumerId: d.consumer_id,
    algorithms: new Set(algs as string[]),
    audiences: audiences.length > 0 ? new Set(audiences as string[]) : null,
    skewMs: skew * 1000,
    claimHeaders,
    headerNames,
    key,
    jwks,
    unavailable,
  };
}

// ---- verification ------------------------------------------------------------------------------------------

/** Longer tokens are refused unparsed. */
export const MAX_TOKEN_CHARS = 16 * 1024;
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Signature attempts for a token without `kid` against a JWKS of several keys. */
const MAX_CANDIDATES = 8;

type Json = Record<string, unknown>;

function decodeSegment(token: string, from: number, to: number): Json | null {
  if ((to - from) % 4 === 1) return null; // not base64url of anything
  try {
    const v: unknown = JSON.parse(Buffer.from(token.slice(from, to), 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

/**
 * Verifies `token` (from readJwtToken; '' → TP_ERR_AUTH_TOKEN_MISSING) at `nowMs`. Returns the result
 * synchronously unless the issuer's JWKS must be fetched first; a Promise never rejects.
 */
export function verifyJwt(policy: JwtPolicy, table: JwtIssuerTable, token: string, nowMs: number): JwtResult | Promise<JwtResult> {
  if (token === '') return JwtFailures.missing;
  if (token.length > MAX_TOKEN_CHARS) return JwtFailures.malformed;
  const cacheKey = VerifiedTokenCache.keyOf(token);
  const hit = table.verified.get(cacheKey, nowMs);
  if (hit !== undefined) return required(policy, hit);
  if (!COMPACT.test(token)) return JwtFailures.malformed;
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  const header = decodeSegment(token, 0, dot1);
  const payload = header === null ? null : decodeSegment(token, dot1 + 1, dot2);
  if (header === null || payload === null) return JwtFailures.malformed;
  const alg = header.alg;
  if (typeof alg !== 'string') return JwtFailures.malformed;
  if (alg.toLowerCase() === 'none') return JwtFailures.alg;
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return JwtFailures.malformed;
  // The only use of the unverified payload: choosing whose keys to verify with.
  const iss = payload.iss;
  const issuer = typeof iss === 'string' ? table.issuers.get(iss) : undefined;
  if (issuer === undefined) return JwtFailures.issuer;
  if (issuer.unavailable !== null) return JwtFailures.unavailable;
  if (!issuer.algorithms.has(alg)) return JwtFailures.alg;
  if (header.crit !== undefined) return JwtFailures.crit;
  if (dot2 === token.length - 1) return JwtFailures.signature;
  if (issuer.key !== null) {
    // A static key of another kind (an HS token against an RSA public key, an RS token against a secret).
    if (!keyFits(alg, issuer.key)) return JwtFailures.alg;
    return finish(policy, table, issuer, token, dot2, alg, payload, [issuer.key], nowMs, cacheKey);
  }
  const found = issuer.jwks!.lookup(kid);
  if (found === 'unavailable') return JwtFailures.unavailable;
  if (found instanceof Promise) {
    return found.then(() => {
      const again = issuer.jwks!.lookup(kid, false);
      if (again === 'unavailable' || again instanceof Promise) return JwtFailures.unavailable;
      return finish(policy, table, issuer, token, dot2, alg, payload, again, nowMs, cacheKey);
    });
  }
  return finish(policy, table, issuer, token, dot2, alg, payload, found, nowMs, cacheKey);
}

function finish(
  policy: JwtPolicy,
  table: JwtIssuerTable,
  issuer: JwtIssuer,
  token: string,
  dot2: number,
  alg: string,
  claims: Json,
  keys: readonly VerifyKey[],
  nowMs: number,
  cacheKey: string,
): JwtResult {
  const input = Buffer.from(token.slice(0, dot2), 'latin1');
  const sig = Buffer.from(token.slice(dot2 + 1), 'base64url');
  let verified = false;
  let tried = 0;
  for (let i = 0; i < keys.length && tried < MAX_CANDIDATES && !verified; i++) {
    const k = keys[i]!;
    if (!keyFits(alg, k)) continue;
    tried++;
    verified = verifySignature(alg, k, input, sig);
  }
  if (!verified) return JwtFailures.signature;

  const { exp, nbf, iat } = claims;
  if ((exp !== undefined && !isNumericDate(exp)) || (nbf !== undefined && !isNumericDate(nbf)) || (iat !== undefined && !isNumericDate(iat))) {
    return JwtFailures.claimType;
  }
  const skew = issuer.skewMs;
  if (exp !== undefined && nowMs >= (exp as number) * 1000 + skew) return JwtFailures.expired;
  if (nbf !== undefined && (nbf as number) * 1000 > nowMs + skew) return JwtFailures.notYetValid;
  if (iat !== undefined && (iat as number) * 1000 > nowMs + skew) return JwtFailures.notYetValid;
  if (issuer.audiences !== null && !audienceOk(issuer.audiences, claims.aud)) return JwtFailures.audience;

  const ok: JwtOk = {
    ok: true,
    consumerId: issuer.consumerId,
    credentialId: issuer.credentialId,
    issuer: issuer.issuer,
    claims,
    headers: claimHeaders(issuer, claims),
    headerNames: issuer.headerNames,
  };
  table.verified.set(cacheKey, ok, nowMs, exp !== undefined ? (exp as number) * 1000 + skew : Number.POSITIVE_INFINITY);
  return required(policy, ok);
}

function isNumericDate(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v);
}

function audienceOk(accepted: ReadonlySet<string>, aud: unknown): boolean {
  if (typeof aud === 'string') return accepted.has(aud);
  if (!Array.isArray(aud)) return false;
  for (const a of aud) if (typeof a === 'string' && accepted.has(a)) return true;
  return false;
}

/** The route's claims_required, checked on every result (cached ones too: the cache is per table, not per route). */
function required(policy: JwtPolicy, ok: JwtOk): JwtResult {
  const names = policy.claimsRequired;
  for (let i = 0; i < names.length; i++) {
    const v = Object.hasOwn(ok.claims, names[i]!) ? ok.claims[names[i]!] : undefined;
    if (v === undefined || v === null) return JwtFailures.claimMissing;
  }
  return ok;
}

const EMPTY: readonly string[] = Object.freeze([]);

function claimHeaders(issuer: JwtIssuer, claims: Json): readonly string[] {
  const pairs = issuer.claimHeaders;
  if (pairs.length === 0) return EMPTY;
  const out: string[] = [];
  for (const [claim, header] of pairs) {
    const v = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
    if (v === undefined || v === null) continue;
    const value = headerSafe(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));
    if (value !== '') out.push(header, value);
  }
  return out;
}

const UNSAFE = /[^\t\x20-\x7e]/;
/** Control characters other than tab (CR, LF, NUL…). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/g;
const NON_ASCII = /[^\t\x20-\x7e]+/g;

/**
 * A claim as a header value: control characters (CR/LF included) removed, non-ASCII text percent-encoded
 * as UTF-8 (header values are bytes; proxies and clients disagree on any other encoding), trimmed.
 */
export function headerSafe(s: string): string {
  if (!UNSAFE.test(s)) return s.trim();
  return s
    .replace(CONTROL, '')
    .replace(NON_ASCII, (m) => {
      let enc = '';
      for (const b of Buffer.from(m, 'utf8')) enc += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
      return enc;
    })
    .trim();
}
