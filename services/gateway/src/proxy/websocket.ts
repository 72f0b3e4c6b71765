// WebSocket proxying. uWS hands the client's upgrade to `app.ws`; it is routed and put through the route's
// plugin steps (plugins/pipeline.ts) as the HTTP handler does, then the upstream's upgrade is opened with the
// `ws` client, and only once the upstream accepts is the client's upgrade completed (with the subprotocol the
// upstream chose). A step may answer later (a JWKS fetch, scrypt): the upgrade then goes on when it does, from
// what the connection captured of the request (the uWS request is gone by then). Frames then flow both
// ways as they came (text/binary, one message for one message), close codes cross in both directions, and
// the upstream is paused while the client reads slowly. Pings are answered on each hop by the libraries.
//
// Client → upstream backpressure: uWS 20.30's WebSocket has no pause()/resume(), so the proxy cannot stop
// reading a client whose upstream reads slowly. What it forwards waits in the upstream socket's buffer; past
// `upstreamBufferBytes` the connection is closed with 1013 (try again later) both ways.
import { randomUUID } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket as UwsSocket, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import WebSocket from 'ws';
import { errorBody, httpStatusFor, USER_AGENT_MAX, type ErrorCode, type FieldError } from '@turnpike/common';
import type { CompiledRoute, CompiledUpstream, Snapshot, UpstreamTarget } from '../config/compiler.js';
import type { RequestView } from '../router/index.js';
import type { WebSocketCounters } from '../status/metrics.js';
import { authenticate, KEY_AUTH_MESSAGES, withoutQueryParams } from '../plugins/key-auth/index.js';
import { runSteps, type Answer, type Denial, type Identified, type PipelineSink } from '../plugins/pipeline.js';
import type { AccessTables, RequestContext } from '../plugins/request-context.js';
import { upstreamAddrOf } from './upstream-addr.js';
import { API_KEY_CHALLENGE } from '../plugins/steps.js';
import { unavailableCode } from '../upstream/resilience.js';
import { tlsConnectOptions } from '../upstream/pools.js';
import { CLIENT_CLOSED_CODE, CLIENT_CLOSED_STATUS } from '../errors.js';
import type { ClientCertificate } from '../tls/client-certificate.js';
import { parseQuery, type ProxyDeps } from './handler.js';
import { connectionTokens, dropRequestHeader, forwardedWith, hostWithoutPort, joinList, newTraceparent, validRequestId, validTraceparent, viaWith } from './headers.js';
import { requestHashKey, type HashKeySource } from './hash-key.js';
import {
  CLOSE_ABNORMAL,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NO_STATUS,
  CLOSE_TOO_BIG,
  CLOSE_TRY_AGAIN_LATER,
  closeForOtherSide,
  invalidSubprotocol,
  offeredSubprotocols,
  upstreamWsUrl,
  type CloseFrame,
} from './websocket-protocol.js';
import { appendPairs, clientAddress, collectedHeader, noted, peerAddress } from './request-reading.js';
import { ApiSession } from '../websocket-api/session.js';

export interface WebSocketProxyOptions {
  /** Largest message either way, in bytes (default 16 MiB); a bigger one closes the connection with 1009. */
  maxMessageBytes?: number;
  /** Idle timeout of upgrades on http services (a websocket integration has its own); default 120 s. */
  idleTimeoutMs?: number;
  /** Above this many bytes waiting for the client, the upstream is paused until uWS drains (default 1 MiB). */
  clientBufferBytes?: number;
  /** Above this many bytes waiting for the upstream, the connection is closed with 1013 (default 2 × max message). */
  upstreamBufferBytes?: number;
  counters: WebSocketCounters;
}

export interface WebSocketProxy {
  /**
   * Adds the `app.ws('/*')` route to `app`, before its `app.any('/*')` (uWS gives requests with a
   * Sec-WebSocket-Key to the ws route, every other one to the HTTP handler). Several apps may share one
   * proxy (an HTTPS listener's certificate generations: `app.domain(name)` too), sharing its connections.
   */
  register(app: TemplatedApp): void;
  /** Connections being upgraded or open now. */
  readonly size: number;
  /**
   * Graceful drain: pending upgrades are answered 503, open connections closed with 1001 on both sides.
   * Resolves when every connection has ended or at `deadline` (epoch ms), when the rest are cut.
   */
  closeAll(deadline: number): Promise<void>;
}

const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const DEFAULT_IDLE_MS = 120_000;
const DEFAULT_CLIENT_BUFFER = 1024 * 1024;

interface Limits {
  maxMessageBytes: number;
  idleTimeoutMs: number;
  clientBufferBytes: number;
  upstreamBufferBytes: number;
  counters: WebSocketCounters;
}

/** What uWS keeps for each upgraded socket (its properties are copied onto the uWS WebSocket object). */
interface UserData {
  conn: WsConnection;
}

/** The upstream side: the ws client, carrying its connection so the hoisted listeners below need no closures. */
class UpstreamSocket extends WebSocket {
  declare conn: WsConnection;
}

const enum Phase {
  /** The upstream's upgrade is under way; the client's waits. */
  Handshake,
  Open,
  /** Answered with an HTTP error, or the client went away before the upgrade completed. */
  Failed,
}

type HeaderRecord = Record<string, string | string[]>;
/** What a connection holds of its request once the upstream's upgrade is under way (nothing: it is not read again). */
const RELEASED_HEADERS: HeaderRecord = Object.freeze(Object.create(null) as HeaderRecord);
const NO_RECEIVED: readonly string[] = Object.freeze([]);
const KEY_CHALLENGE_HEADERS: readonly string[] = Object.freeze(['www-authenticate', API_KEY_CHALLENGE]);

/**
 * One upgrade, from the client's request to the end of the connection. Until the upstream's upgrade starts it
 * is also the RequestContext the route's plugin steps read: everything the rest of the upgrade needs is copied
 * onto it while the upgrade handler runs, since a step may answer after that (when `req` is gone).
 */
class WsConnection implements RequestContext {
  phase = Phase.Handshake;
  /** Until the client's upgrade completes or is answered. */
  res: HttpResponse | null;
  ws: UwsSocket<UserData> | null = null;
  up: UpstreamSocket | null = null;
  /** A WebSocket API's connection (websocket-api/session.ts): the gateway is the far end, there is no upstream. */
  api: ApiSession | null = null;
  route: CompiledRoute | null = null;
  consumerId = '';
  target: UpstreamTarget | null = null;
  status = 0;
  errorCode = '';
  bytesIn = 0;
  bytesOut = 0;
  upstreamLatency = 0;
  idleMs = 0;
  lastActivity = 0;
  idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Reading from the upstream is paused until the client drains. */
  paused = false;
  clientDone = false;
  upstreamDone = false;
  /** The close the proxy decided itself (idle, limits, drain): the client's close handler must not relay its own. */
  closingByProxy = false;
  /** Set by an upstream error that ends an open connection (e.g. an oversized message: 1009). */
  upstreamCloseCode = 0;
  finished = false;
  // The client's handshake, replayed to uWS when the upstream accepts.
  secKey = '';
  secExtensions = '';
  context: us_socket_context_t | null = null;
  // ---- the request as routed: what proceedUpgrade forwards (released once the upstream's upgrade starts) ----
  /** The uWS request: valid only while the upgrade handler runs (null after: `header()` reads `received`). */
  req: HttpRequest | null = null;
  snap: Snapshot | null = null;
  query = '';
  host = '';
  /** Headers to forward (hop-by-hop and gateway-owned ones already out); hideHeaders deletes from it. */
  headers: HeaderRecord = RELEASED_HEADERS;
  /** Every request header as received, flat; collected only for a route with plugin steps. */
  received: readonly string[] = NO_RECEIVED;
  peerIp = '';
  /** The mTLS listener's verified client certificate; null on every other listener. */
  clientCert: ClientCertificate | null = null;
  priorXff = '';
  priorForwarded = '';
  priorVia = '';
  traceparent = '';
  tracestate = '';
  /** Sec-WebSocket-Protocol as offered (repeated lines joined). */
  offeredProtocols = '';
  prefixLength = 0;
  /** A step's rewritePath: the upstream path, replacing the routed one. */
  pathOverride: string | null = null;
  credentialId = '';
  /** The User-Agent of the upgrade request, for the call record. */
  userAgent = '';
  /** Headers every answer carries (CORS), flat; null for none. */
  responseExtra: string[] | null = null;

  constructor(
    readonly proxy: Registration,
    res: HttpResponse,
    readonly requestId: string,
    readonly path: string,
    readonly ts: number,
    readonly t0: number,
  ) {
    this.res = res;
  }

  /**
   * Answers the upgrade with a JSON error (the connection is not upgraded); `status` overrides the code's,
   * `headers` (flat: WWW-Authenticate) and the CORS headers a step added go with it, `fields` into the body.
   */
  fail(code: ErrorCode, message: string, status = httpStatusFor(code), headers: readonly string[] | null = null, fields: readonly FieldError[] | null = null): void {
    this.errorCode = code;
    const payload = JSON.stringify(errorBody(code, message, this.requestId, fields === null ? undefined : (fields as FieldError[])));
    this.refuse(status, headers, payload);
  }

  /** Answers the upgrade with a plain response instead (a step's `answer`): no body. */
  answer(status: number, headers: readonly string[]): void {
    this.refuse(status, headers, null);
  }

  refuse(status: number, headers: readonly string[] | null, json: string | null): void {
    this.status = status;
    this.phase = Phase.Failed;
    const res = this.res;
    this.res = null;
    if (res !== null) {
      res.cork(() => {
        res.writeStatus(`${status} ${STATUS_CODES[status] ?? 'Error'}`);
        if (json !== null) res.writeHeader('content-type', 'application/json');
        res.writeHeader('x-request-id', this.requestId);
        if (headers !== null) for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
        const extra = this.responseExtra;
        if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
        if (json !== null) res.end(json);
        else res.endWithoutBody(0);
      });
    }
    this.proxy.deps.observe(this.route, status, performance.now() - this.t0, this.upstreamLatency > 0 ? this.upstreamLatency : -1, 0, 0);
    const up = this.up;
    if (up !== null && up.readyState !== WebSocket.CLOSED) up.terminate();
    this.finish();
  }

  // ---- RequestContext (plugins/request-context.ts): what pipeline steps read ----

  get method(): string {
    return 'GET';
  }
  /** An upgrade has no body: steps that read one see none, and never wait for it. */
  get declaredLength(): number {
    return 0;
  }
  get body(): Buffer | null {
    return null;
  }
  get routeId(): string {
    return this.route!.id;
  }
  get serviceId(): string {
    return this.route!.service.id;
  }
  get tables(): AccessTables {
    return this.snap!.access;
  }
  get nowMs(): number {
    return this.ts;
  }

  /** A request header as received ('' when absent); repeated X-Forwarded-For / Forwarded / Via lines joined. */
  header(name: string): string {
    switch (name) {
      case 'host':
        return this.host;
      case 'x-forwarded-for':
        return this.priorXff;
      case 'forwarded':
        return this.priorForwarded;
      case 'via':
        return this.priorVia;
    }
    return collectedHeader(this.received, this.req, name);
  }

  /** Splits and hash keys read headers through this when the uWS request is gone. */
  getHeader(name: string): string {
    return this.header(name);
  }

  clientIp(): string {
    return clientAddress(this.snap!.access, this.peerIp, this.priorXff, this.priorForwarded);
  }

  hideHeaders(names: readonly string[]): void {
    for (const n of names) delete this.headers[n];
  }

  hideQuery(names: readonly string[]): void {
    if (this.query !== '') this.query = withoutQueryParams(this.query, names);
  }

  addResponseHeaders(pairs: readonly string[]): void {
    this.responseExtra = appendPairs(this.responseExtra, pairs);
  }

  // An upgrade's answer is the gateway's own 101 (or its refusal): no upstream response header reaches the
  // client, so there is nothing to drop, and response hooks, bodies and methods do not apply to it.
  ownResponseHeaders(): void {}

  setRequestHeader(name: string, value: string): void {
    delete this.headers[name];
    if (value !== '') this.headers[name] = value;
  }

  rewritePath(path: string): void {
    this.pathOverride = path.charCodeAt(0) === 47 ? path : '/' + path;
  }

  setQuery(query: string): void {
    this.query = query;
  }

  /** An upgrade has no body. */
  setRequestBody(): void {}

  /** An upgrade is a GET. */
  setMethod(): void {}

  /** There is no HTTP response to hook: the client gets the gateway's 101. */
  onResponse(): void {}

  note(code: string, detail: string): void {
    this.errorCode = noted(this.errorCode, code, detail);
  }

  /** The client's upgrade request went away while the upstream's was under way. */
  onAborted(): void {
    this.res = null;
    if (this.phase !== Phase.Handshake) return;
    this.phase = Phase.Failed;
    this.status = CLIENT_CLOSED_STATUS;
    this.errorCode = CLIENT_CLOSED_CODE;
    this.proxy.deps.observe(this.route, CLIENT_CLOSED_STATUS, performance.now() - this.t0, -1, 0, 0);
    this.up?.terminate();
    this.finish();
  }

  /** The upstream accepted: complete the client's upgrade with the subprotocol it chose. */
  onUpstreamOpen(): void {
    const res = this.res;
    if (this.phase !== Phase.Handshake || res === null) return;
    this.upstreamLatency = performance.now() - this.t0;
    this.status = 101;
    this.phase = Phase.Open;
    this.res = null;
    const up = this.up!;
    res.cork(() => {
      res.writeStatus('101 Switching Protocols').writeHeader('x-request-id', this.requestId);
      const extra = this.responseExtra;
      if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
      // Calls the open handler (below) synchronously: this.ws is set when upgrade returns.
      res.upgrade<UserData>({ conn: this }, this.secKey, up.protocol, this.secExtensions, this.context!);
    });
    // Message bytes are added at the connection's end (finish).
    this.proxy.deps.observe(this.route, 101, this.upstreamLatency, this.upstreamLatency, 0, 0);
    this.lastActivity = Date.now();
    this.idleTimer = setTimeout(onIdleTimer, this.idleMs, this);
  }

  /** Whether the upgrade still waits for its answer (a WebSocket API's $connect backend). */
  handshaking(): boolean {
    return this.phase === Phase.Handshake && this.res !== null && !this.finished;
  }

  /** A WebSocket API admitted the connection: complete the client's upgrade (no upstream). */
  accept(subprotocol: string): void {
    const res = this.res;
    if (this.phase !== Phase.Handshake || res === null) return;
    this.upstreamLatency = performance.now() - this.t0;
    this.status = 101;
    this.phase = Phase.Open;
    this.res = null;
    res.cork(() => {
      res.writeStatus('101 Switching Protocols').writeHeader('x-request-id', this.requestId);
      const extra = this.responseExtra;
      if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
      res.upgrade<UserData>({ conn: this }, this.secKey, subprotocol, this.secExtensions, this.context!);
    });
    this.proxy.deps.observe(this.route, 101, this.upstreamLatency, this.upstreamLatency, 0, 0);
    this.lastActivity = Date.now();
    this.idleTimer = setTimeout(onIdleTimer, this.idleMs, this);
  }

  /** Ends both sides from the proxy's own decision (idle, limits, drain). */
  closeBoth(code: number, reason: string, errorCode: string): void {
    if (this.errorCode === '') this.errorCode = errorCode;
    this.closingByProxy = true;
    const ws = this.ws;
    if (ws !== null) ws.end(code, reason); // runs the close handler now
    const up = this.up;
    if (up !== null && up.readyState === WebSocket.OPEN) up.close(code, reason);
    else if (up !== null && up.readyState === WebSocket.CONNECTING) up.terminate();
  }

  maybeFinish(): void {
    if (this.clientDone && this.upstreamDone) this.finish();
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const reg = this.proxy;
    reg.conns.delete(this);
    if (this.target !== null) this.target.inFlight--;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const total = performance.now() - this.t0;
    const route = this.route;
    if (this.bytesIn !== 0 || this.bytesOut !== 0) reg.deps.transferred(route, this.bytesIn, this.bytesOut);
    const totalMs = Math.round(total * 1000) / 1000;
    const upstreamMs = Math.round(this.upstreamLatency * 1000) / 1000;
    const ua = this.userAgent;
    reg.deps.record({
      request_id: this.requestId,
      ts: this.ts,
      node_id: reg.deps.nodeId,
      service_id: route ? route.service.id : '',
      route_id: route ? route.id : '',
      consumer_id: this.consumerId,
      method: 'GET',
      path: this.path,
      status: this.status,
      upstream_latency_ms: upstreamMs,
      total_latency_ms: totalMs,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      error_code: this.errorCode,
      credential_id: this.credentialId,
      plan_id: route !== null && this.consumerId !== '' && this.snap !== null ? this.snap.access.subscriptions.planOf(this.consumerId, route.service.id) : '',
      client_ip: this.snap !== null && this.peerIp !== '' ? this.clientIp() : this.peerIp,
      user_agent: ua.length > USER_AGENT_MAX ? ua.slice(0, USER_AGENT_MAX) : ua,
      host: this.host,
      // A WebSocket's total is the connection's life and its upstream latency runs from arrival to the
      // upstream's open: total − upstream would be neither's share, so it is not recorded (0).
      gateway_latency_ms: 0,
      upstream_connect_ms: 0,
      upstream_ttfb_ms: upstreamMs,
      upstream_addr: this.target !== null ? upstreamAddrOf(this.target.origin) : '',
      // No AI usage or capture on a WebSocket: those fields are left out (read as ''/0 downstream).
    });
  }
}

/** One `app.ws` registration: its deps, limits and live connections. */
interface Registration {
  deps: ProxyDeps;
  limits: Limits;
  conns: Set<WsConnection>;
  /** Draining: new upgrades are refused. */
  closing: boolean;
}

// ---- upstream listeners, hoisted (`this` is the upstream socket) ----

function onUpstreamOpen(this: WebSocket): void {
  (this as UpstreamSocket).conn.onUpstreamOpen();
}

function onUpstreamUnexpectedResponse(this: WebSocket, _req: ClientRequest, response: IncomingMessage): void {
  const conn = (this as UpstreamSocket).conn;
  const s = response.statusCode ?? 0;
  response.resume();
  conn.upstreamLatency = performance.now() - conn.t0;
  if (conn.phase !== Phase.Handshake) return void this.terminate();
  // An upstream's 4xx (its own auth, a wrong path) means the same to the client; anything else is ours to own.
  const status = s >= 400 && s < 500 ? s : 502;
  conn.proxy.deps.upstreamError('TP_ERR_UPSTREAM_UPGRADE_REFUSED');
  conn.fail('TP_ERR_UPSTREAM_UPGRADE_REFUSED', `the upstream refused the WebSocket upgrade with status ${s}`, status);
}

function onUpstreamError(this: WebSocket, err: Error & { code?: string }): void {
  const conn = (this as UpstreamSocket).conn;
  if (conn.phase === Phase.Failed) return;
  if (conn.phase === Phase.Handshake) {
    const code: ErrorCode = /handshake has timed out/.test(err.message) ? 'TP_ERR_UPSTREAM_TIMEOUT' : 'TP_ERR_UPSTREAM_UNAVAILABLE';
    conn.upstreamLatency = performance.now() - conn.t0;
    conn.proxy.deps.upstreamError(code);
    conn.fail(code, code === 'TP_ERR_UPSTREAM_TIMEOUT' ? 'the upstream did not answer the WebSocket upgrade in time' : 'upstream unavailable');
    return;
  }
  // An open connection: ws closes the upstream itself (1009 for a too-big message, 1002/1007 for protocol
  // errors) and then emits 'close' with 1006; remember what the client should hear.
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    conn.upstreamCloseCode = CLOSE_TOO_BIG;
    if (conn.errorCode === '') conn.errorCode = 'TP_ERR_WS_MESSAGE_TOO_BIG';
  } else if (conn.upstreamCloseCode === 0) conn.upstreamCloseCode = CLOSE_INTERNAL_ERROR;
}

const UPSTREAM_LOST: CloseFrame = { code: CLOSE_INTERNAL_ERROR, reason: 'upstream connection lost' };

function onUpstreamClose(this: WebSocket, code: number, reason: Buffer): void {
  const conn = (this as UpstreamSocket).conn;
  conn.upstreamDone = true;
  if (conn.phase === Phase.Handshake) {
    // Closed before open without an 'error' (not expected from ws): answer as unavailable.
    conn.fail('TP_ERR_UPSTREAM_UNAVAILABLE', 'upstream unavailable');
    return;
  }
  if (conn.phase === Phase.Failed) return;
  const ws = conn.ws;
  if (ws !== null && !conn.closingByProxy) {
    let frame: CloseFrame;
    if (conn.upstreamCloseCode === CLOSE_TOO_BIG) frame = { code: CLOSE_TOO_BIG, reason: 'message too big' };
    else {
      if (code === CLOSE_ABNORMAL && conn.errorCode === '') {
        conn.errorCode = 'TP_ERR_UPSTREAM_UNAVAILABLE';
        conn.proxy.deps.upstreamError('TP_ERR_UPSTREAM_UNAVAILABLE');
      }
      frame = closeForOtherSide(code, reason.length === 0 ? '' : reason.toString(), UPSTREAM_LOST);
    }
    // The close handler runs inside end(): it sees upstreamDone and relays nothing back.
    ws.end(frame.code === 0 ? CLOSE_NO_STATUS : frame.code, frame.reason);
  }
  conn.maybeFinish();
}

// uWS sends from outside its own callbacks are corked; the cork callback is hoisted (no closure per message).
let sendWs: UwsSocket<UserData> | null = null;
let sendData: Buffer | null = null;
let sendBinary = false;
let sendStatus = 0;
function sendCorked(): void {
  sendStatus = sendWs!.send(sendData!, sendBinary);
}

function onUpstreamMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const conn = (this as UpstreamSocket).conn;
  const ws = conn.ws;
  if (ws === null) return; // the client has gone; its close is on its way to the upstream
  const limits = conn.proxy.limits;
  conn.bytesOut += data.length;
  conn.lastActivity = Date.now();
  limits.counters.messagesToClient++;
  sendWs = ws;
  sendData = data;
  sendBinary = isBinary;
  ws.cork(sendCorked);
  sendWs = null;
  sendData = null;
  if (sendStatus === 2) {
    // uWS dropped it: over maxBackpressure, which pausing below keeps us from reaching.
    conn.closeBoth(CLOSE_TRY_AGAIN_LATER, 'client backpressure limit', 'TP_ERR_WS_BACKPRESSURE');
    return;
  }
  if (!conn.paused && ws.getBufferedAmount() > limits.clientBufferBytes) {
    conn.paused = true;
    limits.counters.upstreamPauses++;
    this.pause();
  }
}

function onUpstreamPing(this: WebSocket): void {
  (this as UpstreamSocket).conn.lastActivity = Date.now();
}

function onIdleTimer(conn: WsConnection): void {
  conn.idleTimer = null;
  if (conn.finished || conn.closingByProxy) return;
  const idle = Date.now() - conn.lastActivity;
  if (idle < conn.idleMs) {
    conn.idleTimer = setTimeout(onIdleTimer, conn.idleMs - idle, conn);
    return;
  }
  conn.closeBoth(CLOSE_GOING_AWAY, 'idle timeout', 'TP_ERR_WS_IDLE_TIMEOUT');
}

// ---- the client side (uWS behavior) ----

// Scratch state for reading the upgrade request synchronously without a per-request closure.
let hdrs: HeaderRecord = {};
let hdrBytes = 0;
let hHost = '';
let hRequestId = '';
let hForwardedFor = '';
let hForwarded = '';
let hVia = '';
let hTraceparent = '';
let hTracestate = '';
let hConnection = '';
let hKey = '';
let hProtocol = '';
let hExtensions = '';
function collectHeader(name: string, value: string): void {
  hdrBytes += name.length + value.length + 4;
  switch (name) {
    case 'host':
      hHost = value;
      return;
    case 'x-request-id':
      hRequestId = value;
      return;
    // Repeated list headers are one list (RFC 9110 §5.3); a repeated traceparent is invalid (a new one is made).
    case 'x-forwarded-for':
      hForwardedFor = joinList(hForwardedFor, value);
      return;
    case 'forwarded':
      hForwarded = joinList(hForwarded, value);
      return;
    case 'via':
      hVia = joinList(hVia, value);
      return;
    case 'traceparent':
      hTraceparent = hTraceparent === '' ? value : '-';
      return;
    case 'tracestate':
      hTracestate = value;
      return;
    case 'connection':
      hConnection = joinList(hConnection, value);
      return;
    case 'sec-websocket-key':
      hKey = value;
      return;
    case 'sec-websocket-protocol':
      hProtocol = joinList(hProtocol, value);
      return;
    case 'sec-websocket-extensions':
      hExtensions = value;
      return;
    case 'sec-websocket-version':
      return;
  }
  // Hop-by-hop (upgrade, connection, …) and the headers the proxy sets itself; ws writes the handshake's own.
  if (dropRequestHeader(name)) return;
  const prior = hdrs[name];
  if (prior === undefined) hdrs[name] = value;
  else if (typeof prior === 'string') hdrs[name] = [prior, value];
  else prior.push(value);
}

/** Every header as received, flat (a pipeline's steps may read them after the handler returned). */
let received: string[] = [];
function collectReceived(name: string, value: string): void {
  received.push(name, value);
}

/**
 * What route matchers and hash keys read: the uWS request while the upgrade handler runs, the connection's
 * copy of the headers after a step's wait. One instance, reset per use (no closures).
 */
class UpgradeView implements HashKeySource {
  src: { getHeader(name: string): string } | null = null;
  query = '';
  path = '';
  ip = '';
  #params: Map<string, string> | null = null;
  reset(src: { getHeader(name: string): string }, path: string, query: string, ip: string): this {
    this.src = src;
    this.path = path;
    this.query = query;
    this.ip = ip;
    this.#params = null;
    return this;
  }
  header(name: string): string {
    return this.src!.getHeader(name);
  }
  queryParam(name: string): string | undefined {
    return (this.#params ??= parseQuery(this.query)).get(name);
  }
  clientIp(): string {
    return this.ip;
  }
}
const view = new UpgradeView();
/** The router's matchers treat an empty header as absent; uWS answers '' for a missing one. */
const routerView: RequestView = {
  header: (name) => {
    const v = view.header(name);
    return v === '' ? undefined : v;
  },
  queryParam: (name) => view.queryParam(name),
};
const getHeader = (name: string): string => view.header(name);

/** The connection the running upgrade handler created (what a throw inside it must answer). */
let lastConn: WsConnection | null = null;

function handleUpgrade(reg: Registration, res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
  const { deps } = reg;
  const ts = Date.now();
  const t0 = performance.now();
  const url = req.getUrl();
  let query = req.getQuery() ?? '';
  // No prototype: a header named __proto__ is just a header.
  hdrs = Object.create(null) as HeaderRecord;
  hdrBytes = 0;
  hHost = hRequestId = hForwardedFor = hForwarded = hVia = hTraceparent = hTracestate = hConnection = hKey = hProtocol = hExtensions = '';
  req.forEach(collectHeader);
  const headers = hdrs;
  const host = hHost;
  const requestId = hRequestId !== '' && validRequestId(hRequestId) ? hRequestId : randomUUID();
  const conn = new WsConnection(reg, res, requestId, url, ts, t0);
  lastConn = conn;
  conn.secKey = hKey;
  conn.secExtensions = hExtensions;
  conn.context = context;
  reg.conns.add(conn);
  res.onAborted(() => conn.onAborted());

  if (url.length + query.length >= deps.maxUrlBytes) return conn.fail('TP_ERR_URL_TOO_LONG', `request target exceeds ${deps.maxUrlBytes} bytes`);
  if (hdrBytes + url.length + query.length + 16 > deps.maxHeaderBytes) {
    return conn.fail('TP_ERR_HEADERS_TOO_LARGE', `request headers exceed ${deps.maxHeaderBytes} bytes`);
  }
  if (reg.closing) return conn.fail('TP_ERR_UNAVAILABLE', 'the gateway is shutting down');
  const snap = deps.snapshot();
  if (!snap) return conn.fail('TP_ERR_UNAVAILABLE', 'no configuration loaded yet');
  let peerIp: string;
  if (deps.mtls === undefined) peerIp = peerAddress(res);
  else {
    // The mTLS listener's app: uWS's peer is the listener's unix socket; the client is the listener's.
    const peer = deps.mtls.peerOf(res);
    if (peer === null) return conn.fail('TP_ERR_UNAVAILABLE', 'the client connection is closing');
    peerIp = peer.address;
    conn.clientCert = peer.clientCert;
  }
  view.reset(req, url, query, peerIp);
  const match = snap.router.match('GET', hostWithoutPort(host), url, routerView);
  if (!match) return conn.fail('TP_ERR_ROUTE_NOT_FOUND', 'no route matches the request');
  const route = match.value;
  conn.route = route;
  // Names the client listed in Connection are hop-by-hop too; before any step adds a header for the upstream.
  if (hConnection !== '') for (const name of connectionTokens(hConnection)) delete headers[name];

  if (route.keyAuth) {
    const auth = authenticate(route.keyAuth, snap.keys, getHeader, query);
    if (!auth.ok) return conn.fail(auth.code, KEY_AUTH_MESSAGES[auth.code], 401, KEY_CHALLENGE_HEADERS);
    conn.consumerId = auth.owner.consumerId;
    // An upgrade is rare next to requests: the key's id is looked up at once (the call record's credential_id).
    conn.credentialId = snap.access.keys.keyIds?.get(auth.hex) ?? '';
    if (route.keyAuth.hideCredentials) {
      for (const name of route.keyAuth.headerNames) delete headers[name];
      if (route.keyAuth.queryNames.length > 0 && query !== '') query = withoutQueryParams(query, route.keyAuth.queryNames);
    }
    headers['x-consumer-id'] = auth.owner.consumerId;
    headers['x-consumer-username'] = auth.owner.username;
  }

  // What the rest of the upgrade needs, kept on the connection: a plugin step may answer after this returns.
  conn.snap = snap;
  conn.query = query;
  conn.host = host;
  conn.headers = headers;
  conn.peerIp = peerIp;
  const ua = headers['user-agent'];
  if (typeof ua === 'string') conn.userAgent = ua;
  conn.priorXff = hForwardedFor;
  conn.priorForwarded = hForwarded;
  conn.priorVia = hVia;
  conn.traceparent = hTraceparent;
  conn.tracestate = hTracestate;
  conn.offeredProtocols = hProtocol;
  conn.prefixLength = match.prefixLength;
  conn.req = req;
  if (route.pipeline === null) proceedUpgrade(conn);
  else {
    received = [];
    req.forEach(collectReceived);
    conn.received = received;
    runSteps(route.pipeline.steps, 0, conn, UPGRADE_SINK);
  }
  conn.req = null;
}

/** Reports the pipeline's outcome onto the upgrade (the HTTP handler's PIPELINE_SINK, for an upgrade). */
const UPGRADE_SINK: PipelineSink<WsConnection> = {
  // Answered (a denial, the drain) or the client went away while a step waited: nothing more happens.
  gone: (conn) => conn.phase !== Phase.Handshake || conn.finished,
  identify(conn: WsConnection, who: Identified): void {
    conn.consumerId = who.consumerId;
    conn.credentialId = who.credentialId;
    const headers = conn.headers;
    const up = who.upstreamHeaders;
    if (up !== null) {
      // A header the gateway sets for the upstream is never the client's own copy of it.
      for (let i = 0; i < up.length; i += 2) delete headers[up[i]!];
      for (let i = 0; i < up.length; i += 2) appendHeader(headers, up[i]!, up[i + 1]!);
    }
    if (who.consumerId !== '') {
      const owner = conn.snap!.access.ownerOf(who.consumerId);
      headers['x-consumer-id'] = who.consumerId;
      headers['x-consumer-username'] = owner === undefined ? '' : owner.username;
    }
  },
  deny(conn: WsConnection, d: Denial): void {
    conn.fail(d.code, d.message, d.status, d.headers, d.fields);
  },
  // A CORS preflight is an OPTIONS request, never an upgrade; any other answer is sent as it is.
  answer(conn: WsConnection, a: Answer): void {
    conn.answer(a.status, a.headers);
  },
  bodyReady: () => true,
  awaitBody: (_conn, resume) => resume(),
  done(conn: WsConnection): void {
    // After a step's wait this runs from a Promise callback: a throw must cost the connection, not go unhandled.
    try {
      proceedUpgrade(conn);
    } catch (e) {
      upgradeFailed(conn, e);
    }
  },
  failed(conn: WsConnection, error: unknown, step: string): void {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'proxy.ws_step_failed', step, error: String(error) }) + '\n');
    conn.fail('TP_ERR_INTERNAL', 'internal error');
  },
};

function appendHeader(headers: HeaderRecord, name: string, value: string): void {
  const prior = headers[name];
  if (prior === undefined) headers[name] = value;
  else if (typeof prior === 'string') headers[name] = [prior, value];
  else prior.push(value);
}

function upgradeFailed(conn: WsConnection | null, e: unknown): void {
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'proxy.ws_upgrade_failed', error: String(e) }) + '\n');
  if (conn !== null && !conn.finished) conn.fail('TP_ERR_INTERNAL', 'internal error');
}

/**
 * Admitted by every plugin: pick the upstream and target, set the forwarding headers, open the upstream's
 * upgrade. Runs inside the upgrade handler (`conn.req` set) or after a step's wait (read from the copies).
 */
function proceedUpgrade(conn: WsConnection): void {
  const reg = conn.proxy;
  const { deps, limits } = reg;
  const route = conn.route!;
  const service = route.service;
  const headers = conn.headers;
  const url = conn.path;
  const host = conn.host;
  const peerIp = conn.peerIp;
  const src = conn.req ?? conn;

  // A WebSocket API terminates the connection here: its $connect route decides the upgrade.
  const wsApi = service.wsApi;
  if (wsApi) {
    conn.idleMs = wsApi.idleTimeoutMs;
    if (!deps.wsApi) return conn.fail('TP_ERR_INTEGRATION_UNAVAILABLE', 'WebSocket APIs are not served by this listener');
    const session = (conn.api = new ApiSession(conn, wsApi, deps.wsApi, limits.counters, limits.maxMessageBytes));
    conn.headers = RELEASED_HEADERS;
    conn.received = NO_RECEIVED;
    // Nothing upstream to wait for at the close.
    conn.upstreamDone = true;
    session.connect();
    return;
  }

  // A websocket integration brings its own upstream and settings; an http service's upstream takes upgrades too.
  const ws = service.websocket;
  let upstream: CompiledUpstream | null;
  if (ws !== null) {
    upstream = ws.upstream;
    conn.idleMs = ws.idleTimeoutMs;
  } else {
    upstream = service.upstream;
    conn.idleMs = limits.idleTimeoutMs;
    if (upstream === null) return conn.fail('TP_ERR_INTEGRATION_UNAVAILABLE', `the ${service.integration ?? 'configured'} integration does not take WebSocket upgrades`);
    if (service.splits !== null) upstream = service.splits.pick(upstream, src);
  }
  const offered = conn.offeredProtocols;
  const protocols = offeredSubprotocols(offered, ws !== null ? ws.subprotocols : null);
  const bad = invalidSubprotocol(protocols);
  if (bad !== null) return conn.fail('TP_ERR_BAD_REQUEST', `invalid Sec-WebSocket-Protocol entry ${JSON.stringify(bad.slice(0, 64))}`);
  // A client that offered subprotocols fails a handshake that picks none (RFC 6455 §4.1): say why up front.
  if (protocols.length === 0 && offered.trim() !== '') return conn.fail('TP_ERR_BAD_REQUEST', 'none of the offered subprotocols is allowed by this service');

  const hashKey = upstream.hashOn === null ? undefined : requestHashKey(upstream.hashOn, view.reset(src, url, conn.query, peerIp));
  const target = upstream.balancer.pick(hashKey);
  if (!target) {
    if (upstream.balancer.size === 0) return conn.fail('TP_ERR_NO_HEALTHY_TARGET', 'the upstream has no target with a positive weight');
    return conn.fail(unavailableCode(upstream.targets), 'no healthy upstream target');
  }
  target.inFlight++;
  conn.target = target;

  const proto = deps.https === true ? 'https' : 'http';
  headers['x-forwarded-for'] = joinList(conn.priorXff, peerIp);
  headers['x-forwarded-proto'] = proto;
  headers['x-forwarded-host'] = host;
  headers['x-forwarded-port'] = String(deps.port());
  headers['x-request-id'] = conn.requestId;
  headers['forwarded'] = forwardedWith(conn.priorForwarded, peerIp, proto, host);
  headers['via'] = viaWith(conn.priorVia);
  const traceparent = conn.traceparent;
  if (traceparent !== '' && validTraceparent(traceparent)) {
    headers['traceparent'] = traceparent;
    if (conn.tracestate !== '') headers['tracestate'] = conn.tracestate;
  } else headers['traceparent'] = newTraceparent();

  let upstreamPath: string;
  if (conn.pathOverride !== null) upstreamPath = conn.pathOverride;
  else {
    const rest = route.stripPath ? url.slice(conn.prefixLength) : url;
    upstreamPath = service.basePath + rest;
    if (upstreamPath === '') upstreamPath = '/';
    else if (upstreamPath.charCodeAt(0) !== 47) upstreamPath = '/' + upstreamPath;
  }
  if (conn.query !== '') upstreamPath += '?' + conn.query;

  const tls = target.tls;
  if (tls !== null && tls.clientCertificateId !== undefined && !tls.clientCertificate) {
    return conn.fail('TP_ERR_UPSTREAM_UNAVAILABLE', `client certificate ${tls.clientCertificateId} is not available on this node`);
  }
  let up: UpstreamSocket;
  try {
    up = new UpstreamSocket(upstreamWsUrl(target.origin, upstreamPath), protocols, {
      // wss: the same SNI, CA bundle, verification and client certificate as the upstream's HTTP pool.
      ...(tls !== null ? tlsConnectOptions(target.origin, tls) : {}),
      headers,
      // Frames pass through as they are: compressing hop by hop would cost CPU for nothing here.
      perMessageDeflate: false,
      maxPayload: limits.maxMessageBytes,
      // The client validates UTF-8 of the text it receives; checking it here too would be paid twice.
      skipUTF8Validation: true,
      handshakeTimeout: upstream.readTimeoutMs,
      followRedirects: false,
    });
  } catch (e) {
    return conn.fail('TP_ERR_BAD_REQUEST', `request could not be forwarded: ${(e as Error).message}`);
  }
  // ws copied the headers into its request: an open connection keeps none of the request's.
  conn.headers = RELEASED_HEADERS;
  conn.received = NO_RECEIVED;
  up.conn = conn;
  conn.up = up;
  up.on('open', onUpstreamOpen);
  up.on('unexpected-response', onUpstreamUnexpectedResponse);
  up.on('error', onUpstreamError);
  up.on('close', onUpstreamClose);
  up.on('message', onUpstreamMessage);
  up.on('ping', onUpstreamPing);
  up.on('pong', onUpstreamPing);
}

function onOpen(ws: UwsSocket<UserData>): void {
  const conn = ws.getUserData().conn;
  conn.ws = ws;
  const counters = conn.proxy.limits.counters;
  counters.open++;
  counters.opened++;
  conn.api?.opened(ws);
}

function onMessage(ws: UwsSocket<UserData>, message: ArrayBuffer, isBinary: boolean): void {
  const conn = ws.getUserData().conn;
  if (conn.api !== null) return conn.api.message(message, isBinary);
  const up = conn.up!;
  if (up.readyState !== WebSocket.OPEN) return; // the upstream is closing; its close reaches the client next
  const limits = conn.proxy.limits;
  const n = message.byteLength;
  conn.bytesIn += n;
  conn.lastActivity = Date.now();
  limits.counters.messagesToUpstream++;
  // uWS lets messages up to twice the limit through so that an oversized one gets a proper 1009.
  if (n > limits.maxMessageBytes) return conn.closeBoth(CLOSE_TOO_BIG, 'message too big', 'TP_ERR_WS_MESSAGE_TOO_BIG');
  // uWS reuses the message's memory once this callback returns, and ws may hold what it is given: a copy.
  up.send(Buffer.copyBytesFrom(new Uint8Array(message)), { binary: isBinary });
  if (up.bufferedAmount > limits.upstreamBufferBytes) {
    conn.closeBoth(CLOSE_TRY_AGAIN_LATER, 'upstream backpressure limit', 'TP_ERR_WS_BACKPRESSURE');
  }
}

function onDrain(ws: UwsSocket<UserData>): void {
  const conn = ws.getUserData().conn;
  if (conn.paused && ws.getBufferedAmount() <= conn.proxy.limits.clientBufferBytes >>> 1) {
    conn.paused = false;
    conn.up!.resume();
  }
}

function onPingPong(ws: UwsSocket<UserData>): void {
  ws.getUserData().conn.lastActivity = Date.now();
}

const CLIENT_GONE: CloseFrame = { code: CLOSE_GOING_AWAY, reason: 'client went away' };

function onClose(ws: UwsSocket<UserData>, code: number, message: ArrayBuffer): void {
  const conn = ws.getUserData().conn;
  conn.ws = null;
  conn.clientDone = true;
  conn.proxy.limits.counters.open--;
  if (conn.api !== null) {
    if (code === CLOSE_ABNORMAL && conn.errorCode === '') {
      const reason = message.byteLength === 0 ? '' : Buffer.from(message).toString();
      conn.errorCode = reason === 'Received too big message' ? 'TP_ERR_WS_MESSAGE_TOO_BIG' : CLIENT_CLOSED_CODE;
    }
    conn.api.ended(code, message.byteLength === 0 ? '' : Buffer.from(message).toString());
    return conn.maybeFinish();
  }
  const up = conn.up!;
  if (conn.paused) {
    conn.paused = false;
    up.resume();
  }
  if (!conn.closingByProxy && up.readyState === WebSocket.OPEN) {
    const reason = message.byteLength === 0 ? '' : Buffer.from(message).toString();
    let frame: CloseFrame;
    if (code === CLOSE_ABNORMAL && reason === 'Received too big message') {
      // Over uWS's hard cap (twice the limit): it dropped the client without a close frame.
      frame = { code: CLOSE_TOO_BIG, reason: 'message too big' };
      if (conn.errorCode === '') conn.errorCode = 'TP_ERR_WS_MESSAGE_TOO_BIG';
    } else {
      if (code === CLOSE_ABNORMAL && conn.errorCode === '') conn.errorCode = CLIENT_CLOSED_CODE;
      frame = closeForOtherSide(code, reason, CLIENT_GONE);
    }
    if (frame.code === 0) up.close();
    else up.close(frame.code, frame.reason);
  }
  conn.maybeFinish();
}

/**
 * WebSocket proxying for one listener: `deps` are the HTTP handler's (its `https` flag gives the scheme
 * forwarded). Register it on the listener's app(s) with `register`.
 */
export function createWebSocketProxy(deps: ProxyDeps, opts: WebSocketProxyOptions): WebSocketProxy {
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  const limits: Limits = {
    maxMessageBytes,
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_MS,
    clientBufferBytes: opts.clientBufferBytes ?? DEFAULT_CLIENT_BUFFER,
    upstreamBufferBytes: opts.upstreamBufferBytes ?? 2 * maxMessageBytes,
    counters: opts.counters,
  };
  const reg: Registration = { deps, limits, conns: new Set(), closing: false };
  const behavior: WebSocketBehavior<UserData> = {
    // Messages up to twice the limit are read whole so that the client hears 1009; beyond, uWS drops it.
    maxPayloadLength: 2 * maxMessageBytes,
    // Idle timeouts are per service (onIdleTimer); uWS's own is per app and in coarse seconds.
    idleTimeout: 0,
    sendPingsAutomatically: false,
    // Never reached while the upstream pauses at clientBufferBytes; a message that still would be is not
    // dropped silently (send returns 2 and the connection closes with 1013).
    maxBackpressure: limits.clientBufferBytes + 2 * maxMessageBytes,
    closeOnBackpressureLimit: 0,
    upgrade: (res, req, context) => {
      lastConn = null;
      try {
        handleUpgrade(reg, res, req, context);
      } catch (e) {
        // A bug must cost one connection, not the process (uWS treats a throwing handler as fatal).
        process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'proxy.ws_upgrade_failed', error: String(e) }) + '\n');
        const c = lastConn as WsConnection | null;
        if (c === null) res.cork(() => res.writeStatus('500 Internal Server Error').end('', true));
        else if (!c.finished) c.fail('TP_ERR_INTERNAL', 'internal error');
      }
    },
    open: onOpen,
    message: onMessage,
    drain: onDrain,
    ping: onPingPong,
    pong: onPingPong,
    close: onClose,
  };
  return {
    register(app: TemplatedApp): void {
      app.ws<UserData>('/*', behavior);
    },
    get size() {
      return reg.conns.size;
    },
    async closeAll(deadline: number): Promise<void> {
      reg.closing = true;
      for (const c of [...reg.conns]) {
        if (c.phase === Phase.Handshake) c.fail('TP_ERR_UNAVAILABLE', 'the gateway is shutting down');
        else if (c.phase === Phase.Open) c.closeBoth(CLOSE_GOING_AWAY, 'gateway shutting down', '');
      }
      while (reg.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const c of [...reg.conns]) {
        c.up?.terminate();
        c.clientDone = true;
        c.upstreamDone = true;
        c.finish();
      }
    },
  };
}

/** createWebSocketProxy + register on one app: what a plain HTTP listener needs. */
export function registerWebSocketProxy(app: TemplatedApp, deps: ProxyDeps, opts: WebSocketProxyOptions): WebSocketProxy {
  const proxy = createWebSocketProxy(deps, opts);
  proxy.register(app);
  return proxy;
}
