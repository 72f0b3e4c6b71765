// The event a function receives, field for field as API Gateway sends it: payload format 1.0 (REST API
// "proxy" event) and 2.0 (HTTP API). Turnpike has no AWS account or stage: accountId is `000000000000`, the
// API id is the service id, the stage `$default` and the resource id the route id. Pure: built from a
// LambdaRequest (what the proxy read of the request), so unit tests pin it against AWS's examples.
import { isUtf8 } from 'node:buffer';
import { queryParams } from '../../proxy/query-params.js';

export const ACCOUNT_ID = '000000000000';
export const STAGE = '$default';
const ACCOUNT_ID_JSON = JSON.stringify(ACCOUNT_ID);
const STAGE_JSON = JSON.stringify(STAGE);

/** Who the gateway's authentication found (jwt-auth, key-auth, custom authorizer…); null: no authentication. */
export interface LambdaAuthorizer {
  /** The consumer's username, else its id, else '' (an authorizer that named no consumer). */
  readonly principalId: string;
  readonly consumerId: string;
  readonly credentialId: string;
  /** Headers authentication adds for the upstream (an authorizer's context, claims_to_headers), by name. */
  readonly context: Readonly<Record<string, string>>;
  /** A verified JWT's claims (jwt-auth); null when the request was not authenticated by a JWT. */
  readonly claims: Readonly<Record<string, unknown>> | null;
}

export interface LambdaRequest {
  readonly method: string;
  /** The path the function is sent (strip_path and base_path applied), as received: not decoded. */
  readonly path: string;
  /** The raw query string without '?'; '' for none. */
  readonly query: string;
  /** Flat [name, value, …], lower-case names in arrival order (Host and X-Forwarded-* included). */
  readonly headers: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  /** '' when the client sent none. */
  readonly userAgent: string;
  /** The Host header without its port. */
  readonly domainName: string;
  readonly requestId: string;
  readonly timeEpochMs: number;
  /** The route's path parameters (`{name}` segments); empty when it has none. */
  readonly pathParameters: Readonly<Record<string, string>>;
  /** The matched route path in API Gateway's syntax (awsRouteTemplate); null for a regex route. */
  readonly routeTemplate: string | null;
  /** The route takes any method: routeKey `ANY /path` rather than `GET /path`. */
  readonly anyMethod: boolean;
  readonly routeId: string;
  readonly serviceId: string;
  readonly authorizer: LambdaAuthorizer | null;
}

/**
 * A Turnpike route path in API Gateway's resource syntax: `{name}` stays, a catch-all `{name*}` becomes the
 * greedy `{name+}`; a regex path (`~…`) has no such form (null: the event says `$default`).
 */
export function awsRouteTemplate(path: string): string | null {
  if (path === '' || path.charCodeAt(0) === 126 /* ~ */) return null;
  return path.includes('*}') ? path.replace(/\{([^{}/]+)\*\}/g, '{$1+}') : path;
}

/** API Gateway's routeKey of the request: `GET /pets/{id}`, `ANY /pets/{id}`, or `$default` without a template. */
function routeKey(r: LambdaRequest): string {
  return r.routeTemplate === null ? '$default' : `${r.anyMethod ? 'ANY' : r.method} ${r.routeTemplate}`;
}

/** A binary_media_types list compiled: exact types and `type/*` prefixes (lower case). */
export interface BinaryMediaTypes {
  readonly exact: ReadonlySet<string>;
  /** `image/` for `image/*`; '' for a `*` type (any content type). */
  readonly prefixes: readonly string[];
}

export function compileBinaryMediaTypes(list: readonly string[] | undefined): BinaryMediaTypes | null {
  if (list === undefined || list.length === 0) return null;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const t of list) {
    const lower = t.toLowerCase();
    if (lower.startsWith('*/')) prefixes.push('');
    else if (lower.endsWith('/*')) prefixes.push(lower.slice(0, -1));
    else exact.add(lower);
  }
  return { exact, prefixes };
}

/** The media type of a Content-Type value, lower case, parameters dropped. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** Format 1.0: whether the body goes base64-encoded (its content type is one of binary_media_types). */
export function isBinaryV1(contentType: string, types: BinaryMediaTypes | null): boolean {
  if (types === null || contentType === '') return false;
  const t = mediaType(contentType);
  if (types.exact.has(t)) return true;
  for (const p of types.prefixes) if (p === '' || t.startsWith(p)) return true;
  return false;
}

/**
 * Format 2.0: API Gateway sends text content types as text and everything else base64-encoded. Text: text/*,
 * JSON, XML, JavaScript, form data, and (without a content type) a body that is valid UTF-8.
 */
export function isBinaryV2(contentType: string, body: Buffer): boolean {
  if (contentType === '') return !isUtf8(body);
  const t = mediaType(contentType);
  if (t.startsWith('text/')) return false;
  if (t.endsWith('/json') || t.endsWith('+json') || t.endsWith('/xml') || t.endsWith('+xml')) return false;
  return !(t === 'application/javascript' || t === 'application/x-www-form-urlencoded' || t === 'application/graphql' || t === 'application/x-ndjson');
}

function headerOf(flat: readonly string[], name: string): string {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1]!;
  return '';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

let clfSecond = -1;
let clfText = '';

/** API Gateway's requestContext.requestTime / time: `12/Mar/2020:19:03:58 +0000` (formatted once per second). */
export function clfTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== clfSecond) {
    clfSecond = second;
    clfText = formatClf(ms);
  }
  return clfText;
}

function formatClf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => (n < 10 ? `0${n}` : String(n));
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function bodyField(r: LambdaRequest, binary: boolean): string {
  return binary ? r.body.toString('base64') : r.body.toString('utf8');
}

function hasParams(p: Readonly<Record<string, string>>): boolean {
  for (const _ in p) return true;
  return false;
}

/** Payload format 1.0 (REST API proxy integration). Single-value maps hold the last value of a name. */
export function eventV1(r: LambdaRequest, binaryTypes: BinaryMediaTypes | null): object {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    headers[name] = h[i + 1]!;
    (multiValueHeaders[name] ??= []).push(h[i + 1]!);
  }
  let qs: Record<string, string> | null = null;
  let mqs: Record<string, string[]> | null = null;
  const query = queryParams(r.query);
  if (query.size > 0) {
    qs = {};
    mqs = {};
    for (const [k, v] of query) {
      qs[k] = v[v.length - 1]!;
      mqs[k] = v;
    }
  }
  const binary = r.body.length > 0 && isBinaryV1(headerOf(h, 'content-type'), binaryTypes);
  const a = r.authorizer;
  return {
    version: '1.0',
    // The resource is the route's template (`/pets/{id}`), the path what was requested (`/pets/7`).
    resource: r.routeTemplate ?? r.path,
    path: r.path,
    httpMethod: r.method,
    headers,
    multiValueHeaders,
    queryStringParameters: qs,
    multiValueQueryStringParameters: mqs,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: r.serviceId,
      authorizer: a === null ? null : authorizerV1(a),
      domainName: r.domainName,
      domainPrefix: domainPrefix(r.domainName),
      extendedRequestId: r.requestId,
      httpMethod: r.method,
      identity: {
        accessKey: null,
        accountId: null,
        caller: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: r.sourceIp,
        user: null,
        userAgent: r.userAgent === '' ? null : r.userAgent,
        userArn: null,
      },
      path: r.path,
      protocol: 'HTTP/1.1',
      requestId: r.requestId,
      requestTime: clfTime(r.timeEpochMs),
      requestTimeEpoch: r.timeEpochMs,
      resourceId: r.routeId,
      resourcePath: r.routeTemplate ?? r.path,
      stage: STAGE,
    },
    pathParameters: hasParams(r.pathParameters) ? r.pathParameters : null,
    stageVariables: null,
    body: r.body.length === 0 ? null : bodyField(r, binary),
    isBase64Encoded: binary,
  };
}

/**
 * A JSON string literal, exactly as JSON.stringify writes it: most strings of an event (ids, paths, header
 * values) need no escape and are quoted as they are; anything else goes through JSON.stringify.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Escaped by JSON.stringify: control characters, `"`, backslash, and lone surrogates (a pair is left to it too).
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** The 2.0 `headers` object's members: repeated names joined with commas (first-seen order); Cookie headers into `cookies`. */
function headersV2(h: readonly string[], cookies: string[]): string {
  let out = '';
  let repeated = false;
  for (let i = 0; i < h.length && !repeated; i += 2) {
    const name = h[i]!;
    if (name === 'cookie') continue;
    for (let j = 0; j < i; j += 2) {
      if (h[j] === name) {
        repeated = true;
        break;
      }
    }
  }
  if (!repeated) {
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (name === 'cookie') cookiesOf(h[i + 1]!, cookies);
      else out += `${out === '' ? '' : ','}${jsonString(name)}:${jsonString(h[i + 1]!)}`;
    }
    return out;
  }
  const joined = new Map<string, string>();
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    if (name === 'cookie') cookiesOf(value, cookies);
    else {
      const prior = joined.get(name);
      joined.set(name, prior === undefined ? value : `${prior},${value}`);
    }
  }
  for (const [name, value] of joined) out += `${out === '' ? '' : ','}${jsonString(name)}:${jsonString(value)}`;
  return out;
}

function cookiesOf(value: string, into: string[]): void {
  for (const c of value.split(';')) {
    const t = c.trim();
    if (t !== '') into.push(t);
  }
}

/**
 * Payload format 2.0 (HTTP API), as the JSON text sent to the function: written directly rather than built as
 * an object and serialized (JSON.stringify of the object, its dynamic header keys included, was the largest
 * part of a call's own CPU). Repeated headers and query parameters are joined with commas; Cookie headers
 * become `cookies` (and leave `headers`); pathParameters, cookies and body are absent when there are none.
 */
export function eventV2Json(r: LambdaRequest): string {
  const cookies: string[] = [];
  const headers = headersV2(r.headers, cookies);
  const key = jsonString(routeKey(r));
  let out = `{"version":"2.0","routeKey":${key},"rawPath":${jsonString(r.path)},"rawQueryString":${jsonString(r.query)}`;
  if (cookies.length > 0) out += `,"cookies":${JSON.stringify(cookies)}`;
  out += `,"headers":{${headers}}`;
  if (r.query !== '') {
    const query = queryParams(r.query);
    if (query.size > 0) {
      let qs = '';
      for (const [k, v] of query) qs += `${qs === '' ? '' : ','}${jsonString(k)}:${jsonString(v.join(','))}`;
      out += `,"queryStringParameters":{${qs}}`;
    }
  }
  out += `,"requestContext":{"accountId":${ACCOUNT_ID_JSON},"apiId":${jsonString(r.serviceId)}`;
  if (r.authorizer !== null) out += `,"authorizer":${JSON.stringify(authorizerV2(r.authorizer))}`;
  const domain = jsonString(r.domainName);
  const prefix = domainPrefix(r.domainName);
  out += `,"domainName":${domain},"domainPrefix":${prefix === r.domainName ? domain : jsonString(prefix)}`;
  out += `,"http":{"method":${jsonString(r.method)},"path":${jsonString(r.path)},"protocol":"HTTP/1.1","sourceIp":${jsonString(r.sourceIp)},"userAgent":${jsonString(r.userAgent)}}`;
  out += `,"requestId":${jsonString(r.requestId)},"routeKey":${key},"stage":${STAGE_JSON},"time":${jsonString(clfTime(r.timeEpochMs))},"timeEpoch":${Number.isFinite(r.timeEpochMs) ? String(r.timeEpochMs) : 'null'}}`;
  const body = r.body;
  let binary = false;
  if (body.length > 0) {
    binary = isBinaryV2(headerOf(r.headers, 'content-type'), body);
    out += `,"body":${JSON.stringify(bodyField(r, binary))}`;
  }
  if (hasParams(r.pathParameters)) out += `,"pathParameters":${JSON.stringify(r.pathParameters)}`;
  return `${out},"isBase64Encoded":${binary}}`;
}

/** 1.0: a Lambda authorizer's `{principalId, …context}`, with `claims` as a Cognito/JWT authorizer adds them. */
function authorizerV1(a: LambdaAuthorizer): Record<string, unknown> {
  const out: Record<string, unknown> = { principalId: a.principalId, consumerId: a.consumerId, credentialId: a.credentialId, ...a.context };
  if (a.claims !== null) out.claims = a.claims;
  return out;
}

/** 2.0: `{jwt: {claims, scopes}}` for a JWT, else `{lambda: {principalId, …context}}` as a Lambda authorizer's. */
function authorizerV2(a: LambdaAuthorizer): Record<string, unknown> {
  if (a.claims !== null) return { jwt: { claims: a.claims, scopes: scopesOf(a.claims) } };
  return { lambda: { principalId: a.principalId, consumerId: a.consumerId, credentialId: a.credentialId, ...a.context } };
}

/** OAuth scopes of a token: `scope` (space-separated, RFC 8693) or `scp` (a list or a string); null for none. */
function scopesOf(claims: Readonly<Record<string, unknown>>): string[] | null {
  const s = claims.scope ?? claims.scp;
  if (typeof s === 'string') return s.split(' ').filter((x) => x !== '');
  if (Array.isArray(s)) return s.filter((x): x is string => typeof x === 'string');
  return null;
}

/** `id` of `id.execute-api.us-east-1.amazonaws.com`: the host's first label. */
function domainPrefix(host: string): string {
  const dot = host.indexOf('.');
  return dot < 0 ? host : host.slice(0, dot);
}
