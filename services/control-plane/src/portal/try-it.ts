// "Try it": the portal sends one request through the gateway for the developer. The browser cannot (the
// portal's CSP allows connections to its own origin only, and the gateway need not answer CORS), so the
// control plane relays it: to the configured gateway base URL only, to a path one of the catalog service's
// routes matches (the relay is no way into other routes), with a time limit and a bounded response.
import { TurnpikeError } from '@turnpike/common';
import type { CatalogEntry } from './catalog.js';
import type { TryRequest } from './schemas.js';

export const TRY_TIMEOUT_MS = 10_000;
export const TRY_MAX_RESPONSE_BYTES = 64 * 1024;

// Set by the relay itself or meaningless to relay; cookies are not the portal's to pass.
const DROP_REQUEST = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'cookie', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);
const DROP_RESPONSE = new Set(['set-cookie', 'connection', 'transfer-encoding', 'keep-alive', 'content-encoding', 'content-length']);

/** Whether a route path (`/orders/{id}`, `/files/{rest*}`, `~^/v[0-9]+/`) matches `path`, by prefix on segment boundaries as the gateway does. */
export function routePathMatches(route: string, path: string): boolean {
  if (route.startsWith('~')) {
    try {
      return new RegExp(`^(?:${route.slice(1)})`).test(path);
    } catch {
      return false;
    }
  }
  const want = route.split('/').filter((s) => s !== '');
  const got = path.split('/').filter((s) => s !== '');
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (/^\{[A-Za-z_][A-Za-z0-9_]*\*\}$/.test(w)) return true;
    const g = got[i];
    if (g === undefined) return false;
    if (/^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(w)) continue;
    if (w !== g) return false;
  }
  return true;
}

export function serviceMatches(entry: Pick<CatalogEntry, 'routes'>, method: string, path: string): boolean {
  return entry.routes.some((r) => (r.methods.length === 0 || r.methods.includes(method)) && r.paths.some((p) => routePathMatches(p, path)));
}

export interface TryResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
  duration_ms: number;
  url: string;
}

export async function tryRequest(gatewayUrl: string | null, entry: CatalogEntry, req: TryRequest): Promise<TryResponse> {
  if (!gatewayUrl) throw new TurnpikeError('TP_ERR_UNAVAILABLE', 'no gateway URL is configured for "try it" (portal setting gateway_url or TP_PORTAL_GATEWAY_URL)');
  const pathOnly = req.path.split('?')[0]!;
  if (!serviceMatches(entry, req.method, pathOnly)) {
    throw new TurnpikeError('TP_ERR_UNPROCESSABLE', `${req.method} ${pathOnly} is not a route of service ${entry.name}`, [{ path: '/path', message: 'matches no route of the service' }]);
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) if (!DROP_REQUEST.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  const url = gatewayUrl + req.path;
  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, {
      method: req.method,
      headers,
      body: req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD' ? req.body : null,
      redirect: 'manual',
      signal: AbortSignal.timeout(TRY_TIMEOUT_MS),
    });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new TurnpikeError(timedOut ? 'TP_ERR_UPSTREAM_TIMEOUT' : 'TP_ERR_UPSTREAM_UNAVAILABLE', timedOut ? `the gateway did not answer within ${TRY_TIMEOUT_MS} ms` : `the gateway is unreachable: ${(err as Error).message}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = TRY_MAX_RESPONSE_BYTES - size;
      if (value.byteLength > room) {
        chunks.push(Buffer.from(value.subarray(0, room)));
        size += room;
        truncated = true;
        await reader.cancel();
        break;
      }
      chunks.push(Buffer.from(value));
      size += value.byteLength;
    }
  }
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!DROP_RESPONSE.has(k)) out[k] = v;
  });
  return { status: res.status, headers: out, body: Buffer.concat(chunks).toString('utf8'), truncated, duration_ms: Math.round(performance.now() - started), url };
}
