// Calls a WebSocket API route's backend with one event: POST to an HTTP upstream, or a Lambda Invoke. The
// answer is reduced to what the connection needs: a status (for $connect: accept or refuse), a body to send
// back to the client (messages), and the subprotocol $connect chose, if any.
import type { Dispatcher } from 'undici';
import { LambdaInvokeError } from '../integrations/lambda/invoke.js';
import type { CompiledWsApiRoute } from './compiled.js';

export interface BackendAnswer {
  status: number;
  /** What to send back to the client; null: nothing. */
  body: string | null;
  /** Sec-WebSocket-Protocol the backend picked ($connect); '' for none. */
  subprotocol: string;
  /** The call record's error code when the backend failed ('' otherwise). */
  errorCode: string;
}

const MAX_HTTP_ANSWER = 1024 * 1024;

function failed(status: number, errorCode: string): BackendAnswer {
  return { status, body: null, subprotocol: '', errorCode };
}

export async function callBackend(route: CompiledWsApiRoute, event: Record<string, unknown>, requestId: string): Promise<BackendAnswer> {
  // Only a lambda route can be unusable (credentials this node lacks or cannot open): the same code as an HTTP lambda integration's.
  if (route.unavailable !== null) return failed(502, route.kind === 'lambda' ? 'TP_ERR_LAMBDA_CREDENTIALS_MISSING' : 'TP_ERR_INTEGRATION_UNAVAILABLE');
  const payload = JSON.stringify(event);
  return route.kind === 'http' ? await callHttp(route, payload, requestId) : await callLambda(route, payload);
}

async function callHttp(route: CompiledWsApiRoute, payload: string, requestId: string): Promise<BackendAnswer> {
  const upstream = route.upstream!;
  const target = upstream.balancer.pick(undefined);
  if (!target) return failed(503, 'TP_ERR_NO_HEALTHY_TARGET');
  target.inFlight++;
  try {
    const res = await post(target.dispatcher, target.origin, route.path, Buffer.from(payload), requestId, route.timeoutMs);
    if (res.status >= 500) return failed(502, 'TP_ERR_UPSTREAM_BAD_RESPONSE');
    return { status: res.status, body: res.body === '' ? null : res.body, subprotocol: res.subprotocol, errorCode: '' };
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return failed(504, 'TP_ERR_UPSTREAM_TIMEOUT');
    return failed(502, 'TP_ERR_UPSTREAM_UNAVAILABLE');
  } finally {
    target.inFlight--;
  }
}

/**
 * One POST through the upstream's own dispatcher (undici's or the proxy's h1-client: both take `dispatch` with
 * the legacy handler callbacks and flat header lists), so events share its pool, TLS and connection limits.
 */
function post(dispatcher: Dispatcher, origin: string, path: string, body: Buffer, requestId: string, timeoutMs: number): Promise<{ status: number; body: string; subprotocol: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let subprotocol = '';
    const chunks: Buffer[] = [];
    let size = 0;
    let abort: ((err?: Error) => void) | null = null;
    const handler = {
      onConnect(a: (err?: Error) => void): void {
        abort = a;
      },
      onHeaders(s: number, raw: (Buffer | string)[]): boolean {
        if (s < 200) return true;
        status = s;
        for (let i = 0; i < raw.length; i += 2) {
          if (String(raw[i]).toLowerCase() === 'sec-websocket-protocol') subprotocol = String(raw[i + 1]).split(',')[0]!.trim();
        }
        return true;
      },
      onData(chunk: Buffer): boolean {
        size += chunk.length;
        if (size > MAX_HTTP_ANSWER) abort?.(Object.assign(new Error('backend answer too large'), { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' }));
        else chunks.push(Buffer.from(chunk));
        return true;
      },
      onComplete(): void {
        resolve({ status, body: Buffer.concat(chunks).toString('utf8'), subprotocol });
      },
      onError(err: Error): void {
        reject(err);
      },
    };
    const headers = ['content-type', 'application/json', 'content-length', String(body.length), 'x-request-id', requestId];
    (dispatcher as unknown as { dispatch(o: unknown, h: unknown): boolean }).dispatch(
      { origin, path, method: 'POST', headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      handler,
    );
  });
}

/**
 * A function's result as AWS reads it for WebSocket routes: `{statusCode, body, headers}` (the body, a string
 * or any JSON, goes back to the client), or any other JSON value, sent as it is (`null` and no payload: nothing).
 */
async function callLambda(route: CompiledWsApiRoute, payload: string): Promise<BackendAnswer> {
  let result;
  try {
    result = await route.invoker!.invoke(payload);
  } catch (e) {
    if (e instanceof LambdaInvokeError) {
      if (e.kind === 'timeout') return failed(504, 'TP_ERR_UPSTREAM_TIMEOUT');
      if (e.kind === 'throttled') return failed(429, 'TP_ERR_UPSTREAM_BAD_RESPONSE');
    }
    return failed(502, 'TP_ERR_UPSTREAM_UNAVAILABLE');
  }
  if (result.functionError !== null) return failed(502, 'TP_ERR_UPSTREAM_BAD_RESPONSE');
  const text = result.payload.toString('utf8').trim();
  if (text === '' || text === 'null') return { status: 200, body: null, subprotocol: '', errorCode: '' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return failed(502, 'TP_ERR_UPSTREAM_BAD_RESPONSE');
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'statusCode' in v) {
    const o = v as { statusCode?: unknown; body?: unknown; headers?: unknown };
    const status = typeof o.statusCode === 'number' && o.statusCode >= 100 && o.statusCode <= 599 ? o.statusCode : 502;
    const body = o.body === undefined || o.body === null ? null : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    let subprotocol = '';
    if (o.headers !== null && typeof o.headers === 'object') {
      for (const [k, val] of Object.entries(o.headers as Record<string, unknown>)) if (k.toLowerCase() === 'sec-websocket-protocol' && typeof val === 'string') subprotocol = val.split(',')[0]!.trim();
    }
    return { status, body: body === '' ? null : body, subprotocol, errorCode: status >= 500 ? 'TP_ERR_UPSTREAM_BAD_RESPONSE' : '' };
  }
  return { status: 200, body: typeof v === 'string' ? v : text, subprotocol: '', errorCode: '' };
}
