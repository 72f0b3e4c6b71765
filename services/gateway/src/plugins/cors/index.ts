// cors: origins compiled into a Set of exact origins plus label-wildcard patterns (no user regex). The
// gateway answers preflights itself (204 with the Access-Control-* headers, or 403 TP_ERR_CORS_FORBIDDEN)
// unless `preflight_continue`; actual responses to allowed origins get Access-Control-Allow-Origin and friends.
//
// Decisions (docs/configuration.md, "Access control plugins"):
//  - A disallowed preflight is answered 403 TP_ERR_CORS_FORBIDDEN (JSON body, no CORS headers), not passed to
//    the upstream: the browser fails it either way, and the 403 says why in devtools and in the call log.
//    (Kong answers 200 without CORS headers; Envoy passes it on.) An actual request from a disallowed origin
//    is still proxied, without CORS headers: CORS protects the browser's reading, not the server.
//  - With `credentials`, the answer is never `*`: the origin is echoed. `*` never matches the opaque origin
//    `null` with credentials (sandboxed iframes, file: pages would get credentialed access); list `null` itself.
//  - Whenever the answer depends on the origin, every response carries `Vary: Origin`, allowed or not.
//  - Origins are compared as browsers serialize them (lower-case scheme and host); patterns match one or
//    more labels in place of `*.`: `https://*.example.com` matches `https://a.b.example.com`, not
//    `https://example.com` nor `http://a.example.com`.
//  - A preflight must ask for a listed method (compared case-sensitively, as the Fetch standard sends them)
//    and, when `headers` is a list, only listed headers (case-insensitive); otherwise 403.
import type { CorsConfig } from '@turnpike/common';

export interface PreflightAnswer {
  /** 204 (answer it, no body) or 403 (answer `{error}` JSON with `code`). */
  status: 204 | 403;
  code: 'TP_ERR_CORS_FORBIDDEN' | null;
  message: string;
  /** Flat [name, value, …] response headers (names lower-case). */
  headers: readonly string[];
}

interface Pattern {
  /** `https://` */
  prefix: string;
  /** `.example.com` or `.example.com:8443` */
  suffix: string;
}

export interface CorsPolicy {
  anyOrigin: boolean;
  /** `null` listed explicitly. */
  allowNull: boolean;
  exact: ReadonlySet<string>;
  patterns: readonly Pattern[];
  credentials: boolean;
  /** The answer is the request's origin (not `*`): responses vary on Origin. */
  echo: boolean;
  methods: ReadonlySet<string>;
  /** Lower-case; null: any requested header is allowed and reflected. */
  headers: readonly string[] | null;
  preflightContinue: boolean;
  // Precomputed answers; the `*Out` arrays are rewritten by each call (see preflight / responseHeaders).
  readonly preflightOut: string[];
  readonly preflightOutNoHeaders: string[];
  /** Index of the origin value in the preflight arrays, of the allow-headers value in `preflightOut`. */
  readonly originSlot: number;
  readonly headersSlot: number;
  readonly responseOut: string[];
  /** The allowed preflight answers (objects fixed; their arrays' origin/headers slots rewritten per call). */
  readonly okFixed: PreflightAnswer;
  readonly okReflecting: PreflightAnswer;
  readonly varyOnly: readonly string[] | null;
}

const ORIGIN_DENIED: PreflightAnswer = Object.freeze({ status: 403, code: 'TP_ERR_CORS_FORBIDDEN', message: 'CORS preflight refused: the origin is not allowed', headers: Object.freeze([]) as readonly string[] });
const METHOD_DENIED: PreflightAnswer = Object.freeze({ status: 403, code: 'TP_ERR_CORS_FORBIDDEN', message: 'CORS preflight refused: the requested method is not allowed', headers: Object.freeze([]) as readonly string[] });
const HEADER_DENIED: PreflightAnswer = Object.freeze({ status: 403, code: 'TP_ERR_CORS_FORBIDDEN', message: 'CORS preflight refused: a requested header is not allowed', headers: Object.freeze([]) as readonly string[] });
export const CORS_DENIALS = { origin: ORIGIN_DENIED, method: METHOD_DENIED, header: HEADER_DENIED } as const;

export function compileCors(cfg: CorsConfig): CorsPolicy {
  let anyOrigin = false;
  let allowNull = false;
  const exact = new Set<string>();
  const patterns: Pattern[] = [];
  for (const raw of cfg.origins) {
    const o = raw.toLowerCase();
    if (o === '*') anyOrigin = true;
    else if (o === 'null') allowNull = true;
    else {
      const star = o.indexOf('://*.');
      if (star === -1) exact.add(defaultPortless(o));
      else patterns.push({ prefix: o.slice(0, star + 3), suffix: defaultPortless(o.slice(star + 4)) });
    }
  }
  const echo = !anyOrigin || cfg.credentials;
  const headers = cfg.headers === null || cfg.headers.includes('*') ? null : cfg.headers.map((h) => h.toLowerCase());

  const vary = echo ? (headers === null ? 'Origin, Access-Control-Request-Headers' : 'Origin') : headers === null ? 'Access-Control-Request-Headers' : '';
  const head: string[] = ['access-control-allow-origin', echo ? '' : '*'];
  if (cfg.credentials) head.push('access-control-allow-credentials', 'true');
  head.push('access-control-allow-methods', cfg.methods.join(', '));
  const tail: string[] = [];
  if (cfg.max_age !== null) tail.push('access-control-max-age', String(cfg.max_age));
  if (vary !== '') tail.push('vary', vary);
  const listed = headers === null ? [] : headers.length > 0 ? ['access-control-allow-headers', headers.join(', ')] : [];
  const preflightOut = [...head, ...(headers === null ? ['access-control-allow-headers', ''] : listed), ...tail];
  const preflightOutNoHeaders = [...head, ...listed, ...tail];

  const responseOut: string[] = ['access-control-allow-origin', echo ? '' : '*'];
  if (cfg.credentials) responseOut.push('access-control-allow-credentials', 'true');
  if (cfg.exposed_headers.length > 0) responseOut.push('access-control-expose-headers', cfg.exposed_headers.join(', '));
  if (echo) responseOut.push('vary', 'Origin');

  return {
    anyOrigin,
    allowNull,
    exact,
    patterns,
    credentials: cfg.credentials,
    echo,
    methods: new Set(cfg.methods),
    headers,
    preflightContinue: cfg.preflight_continue,
    preflightOut,
    preflightOutNoHeaders,
    originSlot: 1,
    headersSlot: head.length + 1,
    responseOut,
    okFixed: Object.freeze({ status: 204, code: null, message: '', headers: preflightOutNoHeaders }),
    okReflecting: Object.freeze({ status: 204, code: null, message: '', headers: preflightOut }),
    varyOnly: echo ? Object.freeze(['vary', 'Origin']) : null,
  };
}

/** `https://a.com:443` is serialized by browsers as `https://a.com`: store it that way. */
function defaultPortless(o: string): string {
  if (o.startsWith('https://') && o.endsWith(':443')) return o.slice(0, -4);
  if (o.startsWith('http://') && o.endsWith(':80')) return o.slice(0, -3);
  return o;
}

function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45;
}

/** Whether `origin` (the request's Origin header; '' when absent) is allowed. Allocates nothing. */
export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  if (origin === '') return false;
  if (origin === 'null') return policy.allowNull || (policy.anyOrigin && !policy.credentials);
  if (policy.anyOrigin || policy.exact.has(origin)) return true;
  const ps = policy.patterns;
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]!;
    const middleEnd = origin.length - p.suffix.length;
    if (middleEnd <= p.prefix.length || !origin.startsWith(p.prefix) || !origin.endsWith(p.suffix)) continue;
    // One or more labels: [a-z0-9-]+ separated by single dots.
    let ok = true;
    let prevDot = true;
    for (let j = p.prefix.length; j < middleEnd; j++) {
      const c = origin.charCodeAt(j);
      if (c === 46) {
        if (prevDot) {
          ok = false;
          break;
        }
        prevDot = true;
      } else if (isLabelChar(c)) prevDot = false;
      else {
        ok = false;
        break;
      }
    }
    if (ok && !prevDot) return true;
  }
  return false;
}

/** Each comma-separated name in `requested` is in `allowed` (lower-case), compared case-insensitively. */
function headersAllowed(allowed: readonly string[], requested: string): boolean {
  let i = 0;
  const n = requested.length;
  while (i < n) {
    let end = requested.indexOf(',', i);
    if (end === -1) end = n;
    let s = i;
    let e = end;
    while (s < e && (requested.charCodeAt(s) === 32 || requested.charCodeAt(s) === 9)) s++;
    while (e > s && (requested.charCodeAt(e - 1) === 32 || requested.charCodeAt(e - 1) === 9)) e--;
    if (e > s && !listed(allowed, requested, s, e)) return false;
    i = end + 1;
  }
  return true;
}

function listed(allowed: readonly string[], s: string, start: number, end: number): boolean {
  const len = end - start;
  outer: for (let k = 0; k < allowed.length; k++) {
    const h = allowed[k]!;
    if (h.length !== len) continue;
    for (let j = 0; j < len; j++) {
      let c = s.charCodeAt(start + j);
      if (c >= 65 && c <= 90) c += 32;
      if (c !== h.charCodeAt(j)) continue outer;
    }
    return true;
  }
  return false;
}

/**
 * For an OPTIONS request: its Origin, Access-Control-Request-Method and Access-Control-Request-Headers values
 * ('' when absent). null when it is not a CORS preflight (no Origin or no Access-Control-Request-Method) or
 * `preflight_continue` is set: proxy it like any request. Otherwise the answer to send instead of proxying.
 * An allowed answer's `headers` may be an array reused by the next call: write it before calling again.
 */
export function preflight(policy: CorsPolicy, origin: string, requestMethod: string, requestHeaders: string): PreflightAnswer | null {
  if (origin === '' || requestMethod === '' || policy.preflightContinue) return null;
  if (!originAllowed(policy, origin)) return ORIGIN_DENIED;
  if (!policy.methods.has(requestMethod)) return METHOD_DENIED;
  let answer: PreflightAnswer;
  if (policy.headers === null && requestHeaders !== '') {
    answer = policy.okReflecting;
    policy.preflightOut[policy.headersSlot] = requestHeaders;
  } else {
    if (policy.headers !== null && requestHeaders !== '' && !headersAllowed(policy.headers, requestHeaders)) return HEADER_DENIED;
    answer = policy.okFixed;
  }
  if (policy.echo) (answer.headers as string[])[policy.originSlot] = origin;
  return answer;
}

/**
 * Headers to add to the response of an actual (non-preflight) request from `origin` ('' when absent): the
 * Access-Control-* set for an allowed origin; only `vary: Origin` when the answer depends on the origin and
 * this one is absent or not allowed; null when there is nothing to add. The returned array may be reused by
 * the next call: call this when writing the response head. Response headers of these names from the upstream
 * should be replaced, and an upstream `Vary` merged.
 */
export function responseHeaders(policy: CorsPolicy, origin: string): readonly string[] | null {
  if (!originAllowed(policy, origin)) return policy.varyOnly;
  const out = policy.responseOut;
  if (policy.echo) out[1] = origin;
  return out;
}
