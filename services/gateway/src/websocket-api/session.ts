// One client connection of a WebSocket API, from its $connect to its $disconnect: the gateway is the
// WebSocket's far end. Each message is routed by the API's selection expression and its route's backend is
// called with a MESSAGE event; what the backend answers goes back to the client. The uWS side of the
// connection (upgrade, idle timeout, call record) stays with proxy/websocket.ts, which calls in here.
import { randomUUID } from 'node:crypto';
import type { WebSocket as UwsSocket } from 'uWebSockets.js';
import type { ErrorCode } from '@turnpike/common';
import type { CompiledRoute } from '../config/compiler.js';
import type { WebSocketCounters } from '../status/metrics.js';
import { callBackend } from './backend.js';
import type { CompiledWsApi, CompiledWsApiRoute } from './compiled.js';
import { wsEvent, type ConnectionFacts } from './events.js';
import type { WsApiRuntime } from './runtime.js';
import { queryParams } from '../proxy/query-params.js';

/** What the session needs of proxy/websocket.ts's connection (its WsConnection implements it). */
export interface ApiHost {
  readonly requestId: string;
  readonly ts: number;
  readonly route: CompiledRoute | null;
  readonly finished: boolean;
  host: string;
  query: string;
  headers: Record<string, string | string[]>;
  userAgent: string;
  consumerId: string;
  credentialId: string;
  offeredProtocols: string;
  bytesIn: number;
  bytesOut: number;
  lastActivity: number;
  errorCode: string;
  clientIp(): string;
  /** Still waiting for the upgrade's answer (the client has not gone away). */
  handshaking(): boolean;
  fail(code: ErrorCode, message: string, status?: number): void;
  /** Completes the client's upgrade (101) with `subprotocol` ('' for none). */
  accept(subprotocol: string): void;
  closeBoth(code: number, reason: string, errorCode: string): void;
}

const CLOSE_TOO_BIG = 1009;
const CLOSE_TRY_AGAIN_LATER = 1013;

function hostWithoutPort(h: string): string {
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const i = h.indexOf(':');
  return i === -1 ? h : h.slice(0, i);
}

/** The $connect event's query parameters: the last value of each name, and all of them. */
function connectQuery(q: string): { single: Record<string, string>; multi: Record<string, string[]> } | null {
  if (q === '') return null;
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [k, values] of queryParams(q)) {
    single[k] = values[values.length - 1]!;
    multi[k] = values;
  }
  return { single, multi };
}

export class ApiSession {
  readonly id: string;
  readonly facts: ConnectionFacts;
  ws: UwsSocket<unknown> | null = null;
  lastActiveAt: number;
  /** Token bucket of message_rate_limit. */
  #tokens: number;
  #refilled: number;
  closed = false;
  readonly maxMessageBytes: number;

  constructor(
    readonly host: ApiHost,
    readonly api: CompiledWsApi,
    readonly runtime: WsApiRuntime,
    readonly counters: WebSocketCounters,
    /** The node's TP_WS_MAX_MESSAGE_BYTES: a service's own limit never goes above it. */
    nodeMaxMessageBytes: number,
  ) {
    this.maxMessageBytes = Math.min(api.maxMessageBytes, nodeMaxMessageBytes);
    this.id = runtime.newId();
    const now = Date.now();
    this.lastActiveAt = now;
    this.#tokens = api.messageRateLimit;
    this.#refilled = now;
    const headers: Record<string, string> = {};
    const multiValueHeaders: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(host.headers)) {
      const list = typeof v === 'string' ? [v] : v;
      headers[k] = list.join(',');
      multiValueHeaders[k] = [...list];
    }
    const q = connectQuery(host.query);
    const route = host.route!;
    this.facts = {
      connectionId: this.id,
      apiId: route.service.id,
      stage: '$default',
      domainName: hostWithoutPort(host.host),
      connectedAt: now,
      sourceIp: host.clientIp(),
      userAgent: host.userAgent,
      authorizer: host.consumerId !== '' ? { principalId: host.consumerId, consumerId: host.consumerId, ...(host.credentialId !== '' ? { credentialId: host.credentialId } : {}) } : null,
      headers,
      multiValueHeaders,
      queryStringParameters: q?.single ?? null,
      multiValueQueryStringParameters: q?.multi ?? null,
    };
  }

  /** Runs $connect (if the API has one): a 2xx accepts the upgrade, anything else refuses it with that status. */
  connect(): void {
    const route = this.api.connect;
    if (route === null) return this.host.accept('');
    const event = wsEvent('CONNECT', this.facts, { routeKey: '$connect', requestId: this.host.requestId }, Date.now());
    void callBackend(route, event, this.host.requestId).then((a) => {
      const host = this.host;
      if (!host.handshaking()) return;
      if (a.status >= 200 && a.status < 300) {
        // A subprotocol the client did not offer would fail its handshake (RFC 6455 §4.1): only an offered one.
        const offered = host.offeredProtocols.split(',').map((p) => p.trim());
        return host.accept(a.subprotocol !== '' && offered.includes(a.subprotocol) ? a.subprotocol : '');
      }
      if (a.errorCode !== '') return host.fail(a.errorCode as ErrorCode, 'the $connect route backend failed', a.status);
      host.fail('TP_ERR_WS_CONNECT_REFUSED', 'the $connect route refused the connection', a.status);
    }).catch((e: unknown) => this.#bug(e));
  }

  /** uWS opened the client's socket: the connection is now reachable by id. */
  opened(ws: UwsSocket<unknown>): void {
    this.ws = ws;
    this.runtime.sessions.set(this.id, this);
  }

  message(message: ArrayBuffer, isBinary: boolean): void {
    const host = this.host;
    const n = message.byteLength;
    const now = Date.now();
    host.bytesIn += n;
    host.lastActivity = now;
    this.lastActiveAt = now;
    this.counters.messagesToUpstream++;
    if (n > this.maxMessageBytes) return host.closeBoth(CLOSE_TOO_BIG, 'message too big', 'TP_ERR_WS_MESSAGE_TOO_BIG');
    const requestId = randomUUID();
    if (this.api.messageRateLimit > 0 && !this.#take(now)) {
      // As AWS throttles: the message is dropped and the client told so; the connection stays open.
      return this.sendError('Too Many Requests', requestId);
    }
    // uWS reuses the message's memory once this returns: copy (text) or encode (binary) it now.
    const data = Buffer.from(message);
    const text = isBinary ? null : data.toString('utf8');
    let routeKey = this.api.selector(text);
    let route: CompiledWsApiRoute | null = routeKey !== null ? (this.api.routes.get(routeKey) ?? null) : null;
    // $connect/$disconnect are never chosen by a message.
    if (route !== null && (routeKey === '$connect' || routeKey === '$disconnect')) route = null;
    if (route === null) {
      route = this.api.fallback;
      routeKey = '$default';
    }
    if (route === null) return this.sendError('Forbidden', requestId);
    const event = wsEvent(
      'MESSAGE',
      this.facts,
      { routeKey: routeKey!, requestId, messageId: randomUUID(), body: text ?? data.toString('base64'), isBase64Encoded: isBinary },
      now,
    );
    void callBackend(route, event, requestId).then((a) => {
      if (a.status >= 200 && a.status < 300) {
        if (a.body !== null) this.send(Buffer.from(a.body, 'utf8'), false);
        return;
      }
      if (a.errorCode !== '' && this.host.errorCode === '') this.host.errorCode = a.errorCode;
      this.sendError(a.status === 429 ? 'Too Many Requests' : a.status >= 500 ? 'Internal server error' : 'Forbidden', requestId);
    }).catch((e: unknown) => this.#bug(e));
  }

  /** AWS's error frame: `{"message": …, "connectionId": …, "requestId": …}`. */
  sendError(message: string, requestId: string): void {
    this.send(Buffer.from(JSON.stringify({ message, connectionId: this.id, requestId })), false);
  }

  /** Sends to the client; false when it is gone. A client too slow to take it is closed (1013). */
  send(data: Buffer, binary: boolean): boolean {
    const ws = this.ws;
    if (ws === null || this.closed) return false;
    let status = 0;
    ws.cork(() => {
      status = ws.send(data, binary);
    });
    this.host.bytesOut += data.length;
    this.host.lastActivity = Date.now();
    this.counters.messagesToClient++;
    if (status === 2) this.host.closeBoth(CLOSE_TRY_AGAIN_LATER, 'client backpressure limit', 'TP_ERR_WS_BACKPRESSURE');
    return true;
  }

  /** The client's socket closed (either side): unregister, then $disconnect, best effort. */
  ended(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws = null;
    this.runtime.sessions.delete(this.id);
    const route = this.api.disconnect;
    if (route === null) return;
    const requestId = randomUUID();
    const event = wsEvent('DISCONNECT', this.facts, { routeKey: '$disconnect', requestId, disconnectStatusCode: code, disconnectReason: reason }, Date.now());
    void callBackend(route, event, requestId).catch(() => undefined);
  }

  /** The management API's DELETE: the client gets a normal close. */
  disconnect(): void {
    this.host.closeBoth(1000, '', '');
  }

  /** A bug must cost this connection, never the process (an unhandled rejection would end it). */
  #bug(e: unknown): void {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'wsapi.session_failed', connection_id: this.id, error: String(e) }) + '\n');
    if (this.host.handshaking()) this.host.fail('TP_ERR_INTERNAL', 'internal error');
    else if (!this.closed) this.host.closeBoth(1011, 'internal error', 'TP_ERR_INTERNAL');
  }

  #take(now: number): boolean {
    const rate = this.api.messageRateLimit;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilled) * rate) / 1000);
    this.#refilled = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
