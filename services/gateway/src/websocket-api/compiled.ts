// A `websocket-api` service compiled for the hot path: the selector, each route's backend (an upstream or a
// Lambda invoker, built once per config), and the connection limits.
import type { Keyring, WebSocketApiIntegration } from '@turnpike/common';
import type { CompiledUpstream } from '../config/compiler.js';
import { LambdaInvoker } from '../integrations/lambda/invoke.js';
import { lambdaCredentials } from '../integrations/lambda/credentials.js';
import { compileRouteSelector, type RouteSelector } from './selection.js';

/** A route's backend. Exactly one of `upstream` and `invoker` is set unless `unavailable` says why neither is. */
export interface CompiledWsApiRoute {
  key: string;
  kind: 'http' | 'lambda';
  upstream: CompiledUpstream | null;
  /** The upstream path events are POSTed to. */
  path: string;
  timeoutMs: number;
  invoker: LambdaInvoker | null;
  /** Why this node cannot call the backend (no AWS credentials, stored ones it cannot open); null when it can. */
  unavailable: string | null;
}

export interface CompiledWsApi {
  selector: RouteSelector;
  routes: ReadonlyMap<string, CompiledWsApiRoute>;
  connect: CompiledWsApiRoute | null;
  disconnect: CompiledWsApiRoute | null;
  fallback: CompiledWsApiRoute | null;
  idleTimeoutMs: number;
  maxMessageBytes: number;
  /** Messages per second per connection; 0: unlimited. */
  messageRateLimit: number;
}

/** AWS API Gateway's WebSocket message limit. */
export const DEFAULT_WS_API_MAX_MESSAGE = 128 * 1024;

/**
 * Compiles the integration against the node's upstreams; a string says why the service cannot be served
 * (an upstream missing or rejected, an expression this node does not read).
 */
export function compileWsApi(
  i: WebSocketApiIntegration,
  upstreamOf: (id: string) => CompiledUpstream | undefined,
  /** For routes with stored credentials (sealed bound to `serviceId`); the others use the environment's. */
  secrets: { serviceId: string; keyring: Keyring | null } = { serviceId: '', keyring: null },
): CompiledWsApi | string {
  const selector = compileRouteSelector(i.route_selection_expression);
  if (selector === null) return `route_selection_expression ${JSON.stringify(i.route_selection_expression)} is not supported`;
  const routes = new Map<string, CompiledWsApiRoute>();
  for (const [key, r] of Object.entries(i.routes)) {
    if (r.type === 'http') {
      const upstream = upstreamOf(r.upstream_id.toLowerCase());
      if (!upstream) return `upstream ${r.upstream_id} of route ${key} is missing or rejected`;
      routes.set(key, { key, kind: 'http', upstream, path: r.path ?? '/', timeoutMs: r.timeout_ms ?? upstream.readTimeoutMs, invoker: null, unavailable: null });
    } else {
      const resolved = lambdaCredentials(r.credentials, secrets.serviceId, secrets.keyring);
      const invoker = resolved.credentials
        ? new LambdaInvoker(
            { functionName: r.function_name, region: r.region, qualifier: r.qualifier ?? null, endpoint: r.endpoint_url ?? null },
            resolved.credentials,
            { timeoutMs: r.timeout_ms },
          )
        : null;
      routes.set(key, { key, kind: 'lambda', upstream: null, path: '', timeoutMs: r.timeout_ms, invoker, unavailable: resolved.missing });
    }
  }
  return {
    selector,
    routes,
    connect: routes.get('$connect') ?? null,
    disconnect: routes.get('$disconnect') ?? null,
    fallback: routes.get('$default') ?? null,
    idleTimeoutMs: i.idle_timeout_ms ?? 600_000,
    maxMessageBytes: i.max_message_bytes ?? DEFAULT_WS_API_MAX_MESSAGE,
    messageRateLimit: i.message_rate_limit ?? 0,
  };
}

/** The upstream ids a websocket-api names (its service is recompiled when one of them changes). */
export function wsApiUpstreamIds(i: WebSocketApiIntegration): string[] {
  const out: string[] = [];
  for (const r of Object.values(i.routes)) if (r.type === 'http') out.push(r.upstream_id.toLowerCase());
  return out;
}
