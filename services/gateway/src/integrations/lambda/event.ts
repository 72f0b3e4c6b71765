// The event a function receives, field for field as API Gateway sends it: payload format 1.0 (REST API
// "proxy" event) and 2.0 (HTTP API). Turnpike has no AWS account or stage: accountId is `000000000000`, the
// API id is the service id, the stage `$default` and the resource id the route id. Pure: built from a
// LambdaRequest (what the proxy read of the request), so unit tests pin it against AWS's examples.
import { isUtf8 } from 'node:buffer';
import { queryParams } from '../../proxy/query-params.js';

export const ACCOUNT_ID = '000000000000';
export const STAGE = '$default';

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
 * Payload format 2.0 (HTTP API). Repeated headers and query parameters are joined with commas; Cookie headers
 * become `cookies` (and leave `headers`); pathParameters, cookies and body are absent when there are none.
 */
export function eventV2(r: LambdaRequest): object {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    if (name === 'cookie') {
      for (const c of value.split(';')) {
        const t = c.trim();
        if (t !== '') (cookies ??= []).push(t);
      }
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const query = queryParams(r.query);
  let qs: Record<string, string> | undefined;
  if (query.size > 0) {
    qs = {};
    for (const [k, v] of query) qs[k] = v.join(',');
  }
  const binary = r.body.length > 0 && isBinaryV2(headerOf(h, 'content-type'), r.body);
  const a = r.authorizer;
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: routeKey(r),
    rawPath: r.path,
    rawQueryString: r.query,
  };
  if (cookies !== undefined) event.cookies = cookies;
  event.headers = headers;
  if (qs !== undefined) event.queryStringParameters = qs;
  const context: Record<string, unknown> = {
    accountId: ACCOUNT_ID,
    apiId: r.serviceId,
  };
  if (a !== null) context.authorizer = authorizerV2(a);
  context.domainName = r.domainName;
  context.domainPrefix = domainPrefix(r.domainName);
  context.http = { method: r.method, path: r.path, protocol: 'HTTP/1.1', sourceIp: r.sourceIp, userAgent: r.userAgent };
  context.requestId = r.requestId;
  context.routeKey = event.routeKey;
  context.stage = STAGE;
  context.time = clfTime(r.timeEpochMs);
  context.timeEpoch = r.timeEpochMs;
  event.requestContext = context;
  if (r.body.length > 0) event.body = bodyField(r, binary);
  if (hasParams(r.pathParameters)) event.pathParameters = r.pathParameters;
  event.isBase64Encoded = binary;
  return event;
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
