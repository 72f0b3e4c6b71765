// The event an authorizer receives, in API Gateway's shapes: TOKEN `{type, authorizationToken, methodArn}`, and
// REQUEST in payload format 1.0 (REST APIs) or 2.0 (HTTP APIs). Turnpike has no AWS account or stage: ARNs use
// region `turnpike`, account `000000000000`, the service id as API id and the stage `$default`, so policies
// written against `event.methodArn` (or with wildcards) work unchanged.
import type { IdentitySource } from '@turnpike/common';
import type { RequestContext } from '../request-context.js';

export const ARN_REGION = 'turnpike';
export const ARN_ACCOUNT = '000000000000';
export const ARN_STAGE = '$default';

/** `arn:aws:execute-api:turnpike:000000000000:<service id>/$default/<METHOD>/<path without its leading slash>`. */
export function methodArnOf(ctx: RequestContext): string {
  return `arn:aws:execute-api:${ARN_REGION}:${ARN_ACCOUNT}:${ctx.serviceId}/${ARN_STAGE}/${ctx.method}${ctx.path.startsWith('/') ? ctx.path : `/${ctx.path}`}`;
}

/** One identity source's value for this request; '' when absent (or empty: API Gateway treats both alike). */
export function identityValue(src: IdentitySource, ctx: RequestContext, query: () => Map<string, string[]>): string {
  switch (src.in) {
    case 'header':
      return ctx.header(src.name);
    case 'query':
      return query().get(src.name)?.[0] ?? '';
    case 'context':
      switch (src.name) {
        case 'identity.sourceIp':
        case 'clientIp':
          return ctx.clientIp();
        case 'httpMethod':
          return ctx.method;
        case 'path':
          return ctx.path;
        case 'routeId':
          return ctx.routeId;
        case 'serviceId':
          return ctx.serviceId;
        case 'domainName':
          return ctx.host;
      }
  }
}

export function tokenEvent(token: string, methodArn: string): object {
  return { type: 'TOKEN', authorizationToken: token, methodArn };
}

function headerMaps(ctx: RequestContext): { single: Record<string, string>; joined: Record<string, string>; multi: Record<string, string[]> } {
  const single: Record<string, string> = {};
  const joined: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  const r = ctx.received;
  for (let i = 0; i + 1 < r.length; i += 2) {
    const name = r[i]!;
    const value = r[i + 1]!;
    single[name] = value; // 1.0: the last value, as API Gateway does
    joined[name] = name in joined ? `${joined[name]},${value}` : value;
    (multi[name] ??= []).push(value);
  }
  return { single, joined, multi };
}

/** Payload format 1.0 (REST API REQUEST authorizer). */
export function requestEventV1(ctx: RequestContext, methodArn: string, query: Map<string, string[]>): object {
  const { single, multi } = headerMaps(ctx);
  let qs: Record<string, string> | null = null;
  let mqs: Record<string, string[]> | null = null;
  if (query.size > 0) {
    qs = {};
    mqs = {};
    for (const [k, v] of query) {
      qs[k] = v[v.length - 1]!;
      mqs[k] = v;
    }
  }
  return {
    type: 'REQUEST',
    methodArn,
    resource: ctx.path,
    path: ctx.path,
    httpMethod: ctx.method,
    headers: single,
    multiValueHeaders: multi,
    queryStringParameters: qs,
    multiValueQueryStringParameters: mqs,
    pathParameters: {},
    stageVariables: {},
    requestContext: {
      accountId: ARN_ACCOUNT,
      apiId: ctx.serviceId,
      resourceId: ctx.routeId,
      stage: ARN_STAGE,
      path: ctx.path,
      resourcePath: ctx.path,
      httpMethod: ctx.method,
      domainName: ctx.host,
      requestTimeEpoch: ctx.nowMs,
      identity: { sourceIp: ctx.clientIp(), userAgent: ctx.header('user-agent') || null },
    },
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's requestContext.time: `12/Mar/2020:19:03:58 +0000`. */
function clfTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Payload format 2.0 (HTTP API REQUEST authorizer). */
export function requestEventV2(ctx: RequestContext, methodArn: string, query: Map<string, string[]>, identitySource: readonly string[]): object {
  const { joined } = headerMaps(ctx);
  const qs: Record<string, string> = {};
  for (const [k, v] of query) qs[k] = v.join(',');
  const cookieHeader = ctx.header('cookie');
  const cookies = cookieHeader === '' ? undefined : cookieHeader.split(';').map((c) => c.trim()).filter((c) => c !== '');
  const routeKey = '$default';
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: methodArn,
    identitySource,
    routeKey,
    rawPath: ctx.path,
    rawQueryString: ctx.query,
    ...(cookies ? { cookies } : {}),
    headers: joined,
    ...(query.size > 0 ? { queryStringParameters: qs } : {}),
    requestContext: {
      accountId: ARN_ACCOUNT,
      apiId: ctx.serviceId,
      domainName: ctx.host,
      domainPrefix: ctx.host.split('.')[0] ?? '',
      http: { method: ctx.method, path: ctx.path, protocol: 'HTTP/1.1', sourceIp: ctx.clientIp(), userAgent: ctx.header('user-agent') },
      routeKey,
      stage: ARN_STAGE,
      time: clfTime(ctx.nowMs),
      timeEpoch: ctx.nowMs,
    },
    pathParameters: {},
    stageVariables: {},
  };
}
