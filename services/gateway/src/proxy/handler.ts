// The uWS request handler: route, authenticate, and stream the exchange through undici's dispatch API
// with backpressure both ways. One Exchange object per request is both the uWS-side state and the
// undici DispatchHandler, so the hot path allocates little beyond it.
import { WsApiRuntime } from '../websocket-api/runtime.js';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Dispatcher } from 'undici';
import { errorBody, httpStatusFor, USER_AGENT_MAX, type CallRecord, type ErrorCode, type FieldError } from '@turnpike/common';
import type { CompiledRoute, CompiledUpstream, Snapshot, UpstreamTarget } from '../config/compiler.js';
import type { RequestView } from '../router/index.js';
import { authenticate, KEY_AUTH_MESSAGES, withoutQueryParams } from '../plugins/key-auth/index.js';
import { bodyLimitFor } from '../plugins/request-size-limiting/index.js';
import { runSteps, type Answer, type Denial, type Identified, type PipelineSink } from '../plugins/pipeline.js';
import type { Pipeline } from '../plugins/chain.js';
import type { AccessTables, AiUsage, RequestContext, ResponseHead, ResponseHook } from '../plugins/request-context.js';
import { API_KEY_CHALLENGE } from '../plugins/steps.js';
import type { ClientCertificate } from '../tls/client-certificate.js';
import type { MtlsPeer } from '../tls/mtls-listener.js';
import { CLIENT_CLOSED_CODE, CLIENT_CLOSED_STATUS, upstreamErrorCode } from '../errors.js';
import {
  VIA,
  connectionTokens,
  dropRequestHeader,
  filterResponseHeaders,
  forwardedWith,
  hostWithoutPort,
  joinList,
  newTraceparent,
  removeConnectionListed,
  validRequestId,
  validTraceparent,
  viaWith,
} from './headers.js';
import { requestHashKey, type HashKeySource } from './hash-key.js';
import { upstreamAddrOf } from './upstream-addr.js';
import type { TracingConfig } from '../tracing/config.js';
import type { RequestTrace, TracedRequest } from '../tracing/request-trace.js';
import type { AiRuntime } from '../ai/runtime.js';
import { awsRouteTemplate, type LambdaAuthorizer } from '../integrations/lambda/event.js';
import type { RequestTracer } from '../tracing/tracer.js';
import { RETRY_5XX, RETRY_CONNECT_FAILURE, countsAsFailure, failureCondition, isIdempotent, unavailableCode, type CompiledResilience } from '../upstream/resilience.js';
import { appendPairs, clientAddress, collectedHeader, noted, peerAddress } from './request-reading.js';

export interface ProxyDeps {
  snapshot(): Snapshot | null;
  record(rec: CallRecord): void;
  /** One response (status/metrics.ts GatewayMetrics.observe): route null when none matched; upstreamMs -1: no upstream. */
  observe(route: CompiledRoute | null, status: number, totalMs: number, upstreamMs: number, bytesIn: number, bytesOut: number): void;
  /** Body bytes counted after `observe` (a WebSocket's messages, at its end). */
  transferred(route: CompiledRoute | null, bytesIn: number, bytesOut: number): void;
  upstreamError(code: string): void;
  nodeId: string;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  /** Longest request-target (path + query) accepted; longer ones get 414. */
  maxUrlBytes: number;
  /** A request body that sends nothing for this long gets 408 and the connection closed; 0 disables. */
  clientBodyTimeoutMs: number;
  /** The proxy's own port, for x-forwarded-port (known after listen). */
  port(): number;
  /** Set for the HTTPS and mTLS listeners' handlers (tls/https-listener.ts): the client's scheme is https. */
  https?: boolean;
  /**
   * Set only for the mTLS listener's handler (tls/mtls-listener.ts): uWS's peer there is the listener's unix
   * socket, so each request's client address and verified certificate are read from the listener instead.
   */
  mtls?: MtlsPeers;
  /** WebSocket proxying (proxy/websocket.ts): largest message either way (default 16 MiB). */
  wsMaxMessageBytes?: number;
  /** WebSocket proxying: idle timeout of upgrades on http services (default 120 s). */
  wsIdleTimeoutMs?: number;
  /** OpenTelemetry settings (tracing/config.ts), plain data for every proxy thread; null or unset: tracing off. */
  tracing?: TracingConfig | null;
  /** This thread's tracer, built from `tracing` (node/proxy-app.ts); null or unset: no request is traced. */
  tracer?: RequestTracer | null;
  /** This thread's AI runtime (services with an `ai` integration); null or unset: they get 502. */
  ai?: AiRuntime | null;
  /** TP_AI_CACHE_MAX_BYTES: the AI exact-match response cache per proxy thread. */
  aiCacheMaxBytes?: number;
  /** This thread's WebSocket API connections and management API (websocket-api/runtime.ts); null or unset: none. */
  wsApi?: WsApiRuntime | null;
}

/** Who a request on the mTLS listener's app came from (MtlsListener.peerOf): null for no registered connection. */
export interface MtlsPeers {
  peerOf(res: HttpResponse): MtlsPeer | null;
}

/** Bodies up to this size are buffered and sent in one write; larger or chunked ones are streamed. */
const BUFFER_BODY_MAX = 64 * 1024;

const METHODS: Record<string, string> = {
  get: 'GET',
  head: 'HEAD',
  post: 'POST',
  put: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  options: 'OPTIONS',
};

const statusLines: string[] = [];
function statusLine(status: number, text?: string): string {
  if (text) return `${status} ${text}`;
  return (statusLines[status] ??= `${status} ${STATUS_CODES[status] ?? 'Unknown'}`);
}

// Scratch state for copying request headers out of uWS synchronously without a per-request closure.
let scratch: string[] = [];
let scratchBytes = 0;
let scratchConnection = '';
// The request headers the gateway itself reads, picked up in the same pass (no extra native getHeader calls).
let hHost = '';
let hRequestId = '';
let hContentLength = '';
let hTransferEncoding = '';
let hForwardedFor = '';
let hForwarded = '';
let hVia = '';
let hTraceparent = '';
let hTracestate = '';
let hExpect = '';
let hUserAgent = '';
/** Two Content-Length headers that disagree: the framing is ambiguous (request smuggling), answer 400. */
let hBadFraming = false;
function collectHeader(name: string, value: string): void {
  scratchBytes += name.length + value.length + 4;
  switch (name) {
    case 'host':
      hHost = value;
      return;
    case 'x-request-id':
      hRequestId = value;
      return;
    case 'x-forwarded-for':
      hForwardedFor = joinList(hForwardedFor, value);
      return;
    case 'content-length':
      if (hContentLength !== '' && hContentLength !== value) hBadFraming = true;
      else if (hContentLength !== '') return; // an identical repeat: forward one
      hContentLength = value;
      break;
    case 'transfer-encoding':
      hTransferEncoding = joinList(hTransferEncoding, value);
      return;
    case 'connection':
      scratchConnection = value;
      return;
    case 'forwarded':
      hForwarded = joinList(hForwarded, value);
      return;
    case 'via':
      hVia = joinList(hVia, value);
      return;
    case 'traceparent':
      // More than one traceparent is invalid: a space never passes validTraceparent.
      hTraceparent = hTraceparent === '' ? value : ' ';
      return;
    case 'tracestate':
      hTracestate = joinList(hTracestate, value);
      return;
    case 'expect':
      hExpect = value;
      return;
    case 'user-agent':
      // Forwarded as well (break, not return): read here for the call record.
      hUserAgent = value;
      break;
  }
  if (dropRequestHeader(name)) return;
  scratch.push(name, value);
}

/**
 * What route matchers read, straight from the uWS request (valid only while the handler runs synchronously).
 * One instance, reset per request: routes without matchers never call it, so they pay nothing.
 */
class UwsRequestView implements RequestView {
  req: HttpRequest | null = null;
  query = '';
  #params: Map<string, string> | null = null;

  reset(req: HttpRequest, query: string): this {
    this.req = req;
    this.query = query;
    this.#params = null;
    return this;
  }

  /** uWS answers '' for a missing header: an empty header counts as absent. */
  header(name: string): string | undefined {
    const v = this.req!.getHeader(name);
    return v === '' ? undefined : v;
  }

  queryParam(name: string): string | undefined {
    return (this.#params ??= parseQuery(this.query)).get(name);
  }
}
const requestView = new UwsRequestView();

/** Decoded query parameters, first occurrence of each name; `+` is a space; undecodable text is kept as sent. */
export function parseQuery(q: string): Map<string, string> {
  const out = new Map<string, string>();
  if (q === '') return out;
  for (const part of q.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeComponent(eq === -1 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq === -1 ? '' : decodeComponent(part.slice(eq + 1)));
  }
  return out;
}

function decodeComponent(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

class BodyStream extends Readable {
  constructor(private readonly ex: Exchange) {
    super({ highWaterMark: 256 * 1024 });
  }
  override _read(): void {
    this.ex.resumeClientBody();
  }
}

// onData's cork callback, hoisted: a per-chunk closure would be garbage on every response.
let corkEx: Exchange | null = null;
let corkChunk: Buffer | null = null;
let corkOk = true;
function writeChunkCorked(): void {
  corkOk = corkEx!.writeChunk(corkChunk!);
}

/** An empty cork: its uncork flushes what uWS buffered for the socket. */
function noop(): void {}

class Exchange implements Dispatcher.DispatchHandler, RequestContext {
  route: CompiledRoute | null = null;
  consumerId = '';
  credentialId = '';
  // ---- call-record fields set along the way (see CallRecord) ----
  userAgent = '';
  /** The inline key-auth's key digest: the record names the key (KeyTable.keyIds) only at finish. */
  keyHex = '';
  /** AI usage (RequestContext.recordAiUsage); null when the request was not an AI completion. */
  aiUsage: AiUsage | null = null;
  /** call-capture: the captured exchange as JSON (RequestContext.recordCapture); '' for none. */
  captured = '';
  // ---- the request as routed: what `proceed` forwards (set by handleRequest; kept for a resumed pipeline) ----
  /** The uWS request: valid only while handleRequest runs (null after: read `header()` instead). */
  req: HttpRequest | null = null;
  snap: Snapshot | null = null;
  query = '';
  host = '';
  /** The request headers to forward, flat; hideHeaders replaces the array (`received` stays as it came). */
  headers: string[] = NO_HEADERS;
  received: string[] = NO_HEADERS;
  /** Content-Length as declared, -1 for chunked. */
  declaredLength = 0;
  chunked = false;
  prefixLength = 0;
  /** The route's path parameters as matched (a lambda integration's event reads them). */
  pathParams: Record<string, string> = NO_PARAMS;
  /** The route path that matched, as configured (RouteMatch.path). */
  routePath = '';
  /** A verified JWT's claims (jwt-auth), for a lambda integration's authorizer context; null for none. */
  claims: Readonly<Record<string, unknown>> | null = null;
  priorXff = '';
  priorForwarded = '';
  priorVia = '';
  traceparent = '';
  tracestate = '';
  /** A sampled request's spans (tracing/request-trace.ts); null for every unsampled one. */
  trace: RequestTrace | null = null;
  /** The TCP peer's address ('' until read; on the mTLS listener the client's, set at once). */
  peerIp = '';
  /** The mTLS listener's verified client certificate; null on every other listener. */
  clientCert: ClientCertificate | null = null;
  nowMs = 0;
  /** Headers every answer carries (CORS), flat; null for none. */
  responseExtra: string[] | null = null;
  /** Client headers not to forward (hide_credentials, names the gateway sets): filtered once, in `proceed`. */
  hidden: readonly string[] | null = null;
  /** Headers the pipeline adds for the upstream (identity, claims, authorizer context), after `hidden`. */
  added: string[] | null = null;
  /** Upstream response headers with this prefix are dropped: the gateway answers them (CORS). */
  ownedPrefix = '';
  // ---- request changes by steps (transformations); null / '': unchanged ----
  pathOverride: string | null = null;
  methodOverride = '';
  bodyOverride: Buffer | null = null;
  /** Response hooks (RequestContext.onResponse); null for none: the response streams as it comes. */
  hooks: ResponseHook[] | null = null;
  /** Some hook maps the body: the upstream body is collected here and written at completion. */
  collected: Buffer[] | null = null;
  collectedBytes = 0;
  // ---- a body held while the pipeline runs (bodyMode HOLD) ----
  bodyMode = BODY_NONE;
  held: Buffer[] | null = null;
  heldBytes = 0;
  bodyComplete = false;
  bodyWaiter: (() => void) | null = null;
  /** The body limit for this request: the node's, or the route's request-size-limiting one (set after auth). */
  maxBodyBytes = 0;
  status = 0;
  errorCode = '';
  bytesIn = 0;
  bytesOut = 0;
  upstreamStart = 0;
  upstreamLatency = 0;
  /** The client connection is gone; `res` must not be touched. */
  aborted = false;
  /** Status line written (or an error response sent). */
  responded = false;
  /** The response is complete on the uWS side. */
  ended = false;
  finished = false;
  upstreamDone = false;
  abortUpstream: ((err: Error) => void) | null = null;
  resumeUpstream: (() => void) | null = null;
  /** The streamed request body (undici reads it); null when buffered or absent. */
  upload: BodyStream | null = null;
  bodyChunks: Buffer[] | null = null;
  clientPaused = false;
  /** The response is ending with the client's body still coming: what arrives is read and dropped. */
  dropBody = false;
  /** Expect: 100-continue with a body: an error answer closes (the client may be holding the body back). */
  closeOnError = false;
  /** Client body idle timeout (watchUpload); bodyIdleAt is the coarse bodyClock at the last chunk. */
  bodyTimeoutMs = 0;
  bodyIdleAt = 0;
  contentLength = -1;
  statusText = '';
  headPairs: (Buffer | string)[] | null = null;
  /** Response body bytes uWS has fully accepted (its write offset), for backpressure retries. */
  written = 0;
  isHead: boolean;
  pending: Buffer | null = null;
  pendingOffset = 0;
  writableHooked = false;
  dispatcher: Dispatcher | null = null;
  dispatched = false;
  dispatchOpts: Dispatcher.DispatchOptions | null = null;
  /** The target picked (its in-flight count is ours until finish). */
  target: UpstreamTarget | null = null;
  /** The upstream's total_timeout_ms; 0 for none. */
  totalTimeoutMs = 0;
  totalTimer: ReturnType<typeof setTimeout> | null = null;
  /** The total budget ran out before undici connected: abort as soon as it does. */
  expired = false;
  // ---- upstream resilience (upstream/resilience.ts); `resilience` null: none configured, nothing below is used ----
  upstream: CompiledUpstream | null = null;
  resilience: CompiledResilience | null = null;
  /** The consistent-hash key, kept to pick a retry's target. */
  hashKey: string | undefined = undefined;
  /** Retries made so far. */
  attempt = 0;
  /** A 5xx answer being drained before a retry (nothing of it goes to the client). */
  discarding = false;
  /** This attempt's outcome went to the target's health (else finish gives back a half-open trial slot). */
  outcomeReported = false;

  constructor(
    readonly res: HttpResponse,
    readonly deps: ProxyDeps,
    readonly requestId: string,
    readonly method: string,
    readonly url: string,
    readonly ts: number,
    readonly t0: number,
  ) {
    this.isHead = method === 'HEAD';
  }

  // ---- client side ----

  onClientAborted(): void {
    this.aborted = true;
    this.ended = true;
    const err = new Error('client closed the connection');
    if (this.upload) this.upload.destroy(err);
    if (this.abortUpstream) this.abortUpstream(err);
    if (!this.dispatched || this.upstreamDone) this.finish();
  }

  /** Streaming mode: uWS body chunks into the Readable undici consumes. */
  onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    const n = chunk.byteLength;
    this.bytesIn += n;
    this.bodyIdleAt = bodyClock;
    if (isLast) this.clientBodyIn();
    if (this.bytesIn > this.maxBodyBytes) {
      this.tooLarge();
      return;
    }
    const body = this.upload;
    if (!body || body.destroyed || this.ended || this.dropBody) return;
    // uWS neuters the ArrayBuffer on return: copy it.
    if (n > 0 && !body.push(Buffer.from(new Uint8Array(chunk))) && !isLast && !this.clientPaused) {
      this.clientPaused = true;
      this.res.pause();
    }
    if (isLast) body.push(null);
  }

  /** Buffered mode: collect, then dispatch once complete. */
  onClientDataBuffered(chunk: ArrayBuffer, isLast: boolean): void {
    const n = chunk.byteLength;
    this.bytesIn += n;
    this.bodyIdleAt = bodyClock;
    if (isLast) this.clientBodyIn();
    if (this.bytesIn > this.maxBodyBytes) {
      this.tooLarge();
      return;
    }
    if (this.responded) return;
    if (n > 0) this.bodyChunks!.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) {
      const chunks = this.bodyChunks!;
      this.bodyChunks = null;
      this.dispatchOpts!.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.dispatch();
    }
  }

  /**
   * The client's body is all in (isLast). One socket read can hold several chunked-encoding pieces: a pause
   * taken for an earlier piece of this read must not outlive the body, since a paused socket never reads
   * the connection's next request (it sat there until the idle timeout reset the connection).
   */
  clientBodyIn(): void {
    if (this.bodyTimeoutMs > 0) unwatchUpload(this);
    if (this.clientPaused) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  /**
   * Call just before the response's last write: a client paused mid-body (the upstream answered before
   * reading it all) is resumed and the rest of its body dropped, so that its next request is read. After a
   * successful end uWS.js forbids touching `res`, so this cannot wait until then.
   */
  releaseClient(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    this.dropBody = true;
    this.res.resume();
  }

  resumeClientBody(): void {
    if (this.clientPaused && !this.aborted && !this.ended) {
      this.clientPaused = false;
      // Time spent paused by our own backpressure is not the client's idleness.
      this.bodyIdleAt = bodyClock;
      this.res.resume();
    }
  }

  tooLarge(): void {
    if (this.responded) return;
    this.fail('TP_ERR_BODY_TOO_LARGE', `request body exceeds ${this.maxBodyBytes} bytes`, true);
    const err = new Error('request body too large');
    if (this.upload) this.upload.destroy(err);
    if (this.abortUpstream) this.abortUpstream(err);
    if (!this.dispatched) this.finish();
  }

  /** The client stopped sending its body for bodyTimeoutMs: 408 (or a cut, once answered), upstream aborted. */
  clientBodyTimeout(): void {
    const err = Object.assign(new Error('client body timeout'), { code: 'TP_ERR_CLIENT_TIMEOUT' });
    if (!this.responded) this.fail('TP_ERR_CLIENT_TIMEOUT', `no request body data for ${this.bodyTimeoutMs} ms`, true);
    else if (!this.ended) {
      this.ended = true;
      this.res.close();
    }
    this.errorCode = 'TP_ERR_CLIENT_TIMEOUT';
    if (this.upload) this.upload.destroy(err);
    if (this.abortUpstream) this.abortUpstream(err);
    if (!this.dispatched) this.finish();
  }

  /** Sends a gateway-generated JSON error. `close` drops the connection (unread request body). */
  fail(code: ErrorCode, message: string, close = false): void {
    this.failWith(httpStatusFor(code), code, message, null, null, close);
  }

  /** A JSON error with its status, extra headers (WWW-Authenticate) and field errors (request validation). */
  failWith(status: number, code: ErrorCode, message: string, headers: readonly string[] | null, fields: readonly FieldError[] | null, close: boolean): void {
    this.errorCode = code;
    if (this.aborted || this.responded) return;
    // The call record's client_ip: an early refusal (before routing) has not read the peer yet.
    if (this.peerIp === '') this.peerIp = peerAddress(this.res);
    this.responded = true;
    this.ended = true;
    this.status = status;
    this.releaseClient();
    const res = this.res;
    const payload = JSON.stringify(errorBody(code, message, this.requestId, fields === null ? undefined : (fields as FieldError[])));
    res.cork(() => {
      res.writeStatus(statusLine(this.status)).writeHeader('content-type', 'application/json').writeHeader('x-request-id', this.requestId);
      // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to (a websocket service; proxy/websocket.ts).
      if (this.status === 426) res.writeHeader('upgrade', 'websocket');
      if (headers !== null) for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      const extra = this.responseExtra;
      if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
      res.end(payload, close || this.closeOnError || draining);
    });
  }

  // ---- RequestContext (plugins/request-context.ts): what pipeline steps read ----

  get path(): string {
    return this.url;
  }
  get body(): Buffer | null {
    const held = this.held;
    if (!this.bodyComplete || held === null || held.length === 0) return null;
    if (held.length > 1) this.held = [Buffer.concat(held)];
    return this.held![0]!;
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

  /** A request header as received ('' when absent); repeated X-Forwarded-For / Forwarded lines joined. */
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
      case 'traceparent':
        return this.traceparent;
      case 'tracestate':
        return this.tracestate;
      case 'content-length':
        return this.declaredLength > 0 ? String(this.declaredLength) : '';
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
    // The caller's list is kept as it is (shared, never mutated): a second one makes a new list.
    this.hidden = this.hidden === null ? names : this.hidden.concat(names);
  }

  hideQuery(names: readonly string[]): void {
    if (this.query !== '') this.query = withoutQueryParams(this.query, names);
  }

  addResponseHeaders(pairs: readonly string[]): void {
    this.responseExtra = appendPairs(this.responseExtra, pairs);
    // Which name lengths the upstream's headers must be checked for (bit n: a name of n characters; the
    // sign bit: some name of 31 or more).
    for (let i = 0; i < pairs.length; i += 2) {
      const n = pairs[i]!.length;
      this.ownLengths |= n < 31 ? 1 << n : 1 << 31;
    }
  }
  ownLengths = 0;

  note(code: string, detail: string): void {
    this.errorCode = noted(this.errorCode, code, detail);
  }

  ownResponseHeaders(prefix: string): void {
    this.ownedPrefix = prefix;
  }

  setRequestHeader(name: string, value: string): void {
    this.hideHeaders([name]);
    if (value !== '') (this.added ??= []).push(name, value);
  }

  rewritePath(path: string): void {
    this.pathOverride = path.charCodeAt(0) === 47 ? path : '/' + path;
  }

  setQuery(query: string): void {
    this.query = query;
  }

  setRequestBody(body: Buffer): void {
    this.bodyOverride = body;
    // The upstream client frames the new body itself.
    this.hideHeaders(BODY_FRAMING);
  }

  setMethod(method: string): void {
    this.methodOverride = method;
  }

  onResponse(hook: ResponseHook): void {
    (this.hooks ??= []).push(hook);
  }

  recordAiUsage(usage: AiUsage): void {
    this.aiUsage = usage;
  }

  /**
   * The credential that authenticated the request ('' for none): the inline key-auth knows its key by the
   * digest only (looked up here, off the hot path: at finish or for an integration), pipeline steps set the id.
   */
  credential(): string {
    return this.keyHex === '' ? this.credentialId : (this.snap!.access.keys.keyIds?.get(this.keyHex) ?? '');
  }

  /** AiSink: the code of an answer the AI runtime wrote itself. */
  setErrorCode(code: string): void {
    this.errorCode = code;
  }

  recordCapture(json: string): void {
    this.captured = json;
  }

  /** See RequestContext.detachToUpstream: only a body-less request (nothing more to read from the client). */
  detachToUpstream(answer: Answer): boolean {
    if (this.bodyMode !== BODY_NONE || this.declaredLength !== 0 || this.chunked || this.aborted || this.responded) return false;
    writeAnswer(this, answer);
    this.detached = true;
    return true;
  }
  /**
   * The client has its answer (a step's, `PIPELINE_SINK.answer`) and `res` is done; the upstream exchange
   * runs on for the response hooks alone. Its status and error code go to the call record.
   */
  detached = false;

  /** Detached: the upstream's head through the hooks, nothing written. */
  detachedHead(statusCode: number, rawHeaders: (Buffer | string)[]): boolean {
    this.status = statusCode;
    this.headPairs = filterResponseHeaders(rawHeaders).pairs;
    if (this.hooks !== null) this.applyHeadHooks(this.hooks);
    return true;
  }

  /** Detached: the body to the taps (mapped first when a hook maps it), nothing written. */
  detachedData(chunk: Buffer): boolean {
    if (this.hooks === null || this.noBody()) return true;
    if (this.collected !== null) {
      this.collectedBytes += chunk.length;
      if (this.collectedBytes > this.deps.maxBodyBytes) {
        this.collected = null;
        this.abortUpstream?.(Object.assign(new Error('response body too large to transform'), { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' }));
      } else this.collected.push(Buffer.from(chunk));
      return true;
    }
    for (const h of this.hooks) if (h.tap) h.tap.chunk(chunk);
    return true;
  }

  detachedComplete(): void {
    this.upstreamDone = true;
    if (this.collected !== null && this.hooks !== null) {
      const head = this.responseHead!;
      let body = this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected);
      this.collected = null;
      for (const h of this.hooks) if (h.body) body = h.body(body, head);
      for (const h of this.hooks) if (h.tap) h.tap.chunk(body);
      this.status = head.status;
    }
    this.finish();
  }

  /** Hooks' head callbacks over the upstream's head; starts collecting the body when a hook maps it. */
  applyHeadHooks(hooks: readonly ResponseHook[]): void {
    const pairs = this.headPairs!;
    const headers: string[] = new Array<string>(pairs.length);
    for (let i = 0; i < pairs.length; i += 2) {
      headers[i] = pairs[i]!.toString().toLowerCase();
      headers[i + 1] = pairs[i + 1]!.toString();
    }
    const head: ResponseHead = { status: this.status, headers };
    for (const h of hooks) if (h.head) h.head(head);
    if (head.status !== this.status) {
      this.status = head.status;
      this.statusText = '';
    }
    this.headPairs = head.headers;
    this.responseHead = head;
    if (hooks.some((h) => h.body !== undefined)) this.collected = [];
  }
  responseHead: ResponseHead | null = null;

  /** Body-mapping hooks: the collected body through each, then the response written whole. */
  writeMappedBody(): void {
    const hooks = this.hooks!;
    const head = this.responseHead!;
    let body = this.collected!.length === 1 ? this.collected![0]! : Buffer.concat(this.collected!);
    this.collected = null;
    for (const h of hooks) if (h.body) body = h.body(body, head);
    // Taps (a cache keeping a copy) see what the client gets: the mapped body.
    if (!this.isHead) for (const h of hooks) if (h.tap) h.tap.chunk(body);
    this.status = head.status;
    this.headPairs = head.headers;
    this.contentLength = body.length;
    this.ended = true;
    this.releaseClient();
    const res = this.res;
    res.cork(() => {
      this.writeHead();
      if (this.noBody()) res.endWithoutBody(this.isHead ? body.length : undefined);
      else res.end(body);
    });
  }

  /** Taps (a cache storing a copy) hear the end of the body; `complete` false when it did not arrive whole. */
  endTaps(complete: boolean): void {
    const hooks = this.hooks;
    if (hooks === null) return;
    this.hooks = null;
    for (const h of hooks) if (h.tap) h.tap.end(complete);
  }

  // ---- a body held while the pipeline runs ----

  /** Body chunks before the pipeline let the request through: kept (copied), bounded by the body limit. */
  onHeldData(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.bodyMode === BODY_BUFFER) return this.onClientDataBuffered(chunk, isLast);
    if (this.bodyMode === BODY_STREAM) return this.onClientData(chunk, isLast);
    const n = chunk.byteLength;
    this.bytesIn += n;
    this.bodyIdleAt = bodyClock;
    if (isLast) this.clientBodyIn();
    if (this.bytesIn > this.maxBodyBytes) return this.tooLarge();
    if (this.responded) return;
    if (n > 0) {
      this.held!.push(Buffer.from(new Uint8Array(chunk)));
      this.heldBytes += n;
      // Nobody reads it yet: stop reading from the client beyond a window (a step is waiting, not the body).
      if (this.bodyWaiter === null && this.heldBytes > BUFFER_BODY_MAX && !isLast && !this.clientPaused) {
        this.clientPaused = true;
        this.res.pause();
      }
    }
    if (isLast) {
      this.bodyComplete = true;
      const w = this.bodyWaiter;
      this.bodyWaiter = null;
      if (w !== null) w();
    }
  }

  /** A step needs the whole body: read on (resuming the client) and call `resume` once it is complete. */
  awaitBody(resume: () => void): void {
    this.bodyWaiter = resume;
    this.resumeClientBody();
  }

  // ---- upstream side (undici legacy DispatchHandler: raw headers, boolean backpressure) ----

  dispatch(): void {
    if (this.aborted || (this.responded && !this.detached)) return this.finish();
    this.upstreamStart = performance.now();
    this.dispatched = true;
    if (this.totalTimeoutMs > 0 && this.attempt === 0) {
      // The budget counts from the request's arrival (a slow upload spends it too).
      this.totalTimer = setTimeout(onTotalTimeout, Math.max(1, this.totalTimeoutMs - (this.upstreamStart - this.t0)), this);
    }
    try {
      this.dispatcher!.dispatch(this.dispatchOpts!, this);
    } catch (e) {
      this.onError(e as Error);
    }
  }

  /** h1 client only (undici does not report it): dispatch → the request written on a connection. */
  onRequestSent(): void {
    this.upstreamConnect = performance.now() - this.upstreamStart;
  }
  upstreamConnect = 0;

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.aborted) abort(new Error('client closed the connection'));
    else if (this.expired) abort(totalTimeoutError());
  }

  // rawHeaders: Buffers from undici, latin1 strings from h1-client (filterResponseHeaders and uWS take both).
  onHeaders(statusCode: number, rawHeaders: (Buffer | string)[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.upstreamLatency = performance.now() - this.upstreamStart;
    this.resumeUpstream = resume;
    if (this.resilience !== null && this.upstreamAnswered(statusCode)) return true;
    if (this.detached) return this.detachedHead(statusCode, rawHeaders);
    if (this.aborted || this.responded) return true;
    this.status = statusCode;
    this.statusText = statusText;
    const { pairs, contentLength } = filterResponseHeaders(rawHeaders);
    this.headPairs = pairs;
    this.contentLength = contentLength;
    if (this.hooks !== null) this.applyHeadHooks(this.hooks);
    // The head is written with the first body bytes (or at completion): one cork, one syscall for a
    // small response instead of two.
    return true;
  }

  /** Inside a cork. */
  writeHead(): void {
    this.responded = true;
    const res = this.res;
    res.writeStatus(statusLine(this.status, this.statusText));
    const pairs = this.headPairs!;
    const own = this.responseExtra;
    if (own === null) for (let i = 0; i < pairs.length; i += 2) res.writeHeader(pairs[i]!, pairs[i + 1]!);
    else {
      // Headers the gateway adds (CORS, rate limits) replace the upstream's of the same name; a prefix the
      // gateway owns (CORS: access-control-) is dropped whole. Vary is a list: both are kept.
      const prefix = this.ownedPrefix;
      const lengths = this.ownLengths;
      for (let i = 0; i < pairs.length; i += 2) {
        const raw = pairs[i]!;
        const len = raw.length;
        // Only a name as long as one of ours (or longer than the owned prefix) can collide: lower-case just those.
        if ((prefix !== '' && len > prefix.length) || (len < 31 && (lengths & (1 << len)) !== 0) || (len >= 31 && lengths < 0)) {
          const name = typeof raw === 'string' ? raw.toLowerCase() : raw.toString('latin1').toLowerCase();
          if ((prefix !== '' && name.startsWith(prefix)) || (name !== 'vary' && hasName(own, name))) continue;
        }
        res.writeHeader(raw, pairs[i + 1]!);
      }
      for (let i = 0; i < own.length; i += 2) res.writeHeader(own[i]!, own[i + 1]!);
    }
    const extra = this.route!.service.responseHeaders;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    res.writeHeader('x-request-id', this.requestId);
    // Ours after the upstream's own Via lines: repeated fields read as one list (RFC 9110 §5.3).
    res.writeHeader('via', VIA);
    // Draining (src/node/drain.ts): the client must not reuse this connection, it is about to close.
    if (draining) res.writeHeader('connection', 'close');
  }

  onData(chunk: Buffer): boolean {
    if (this.detached) return this.discarding || this.detachedData(chunk);
    this.bytesOut += chunk.length;
    if (this.aborted || this.ended) return true;
    if (this.noBody()) return true;
    if (this.hooks !== null) {
      const collected = this.collected;
      if (collected !== null) {
        this.collectedBytes += chunk.length;
        if (this.collectedBytes > this.deps.maxBodyBytes) {
          this.collected = null;
          this.abortUpstream?.(Object.assign(new Error('response body too large to transform'), { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' }));
          return true;
        }
        // The upstream client may reuse its buffer: keep a copy.
        collected.push(Buffer.from(chunk));
        return true;
      }
      for (const h of this.hooks) if (h.tap) h.tap.chunk(chunk);
    }
    corkEx = this;
    corkChunk = chunk;
    this.res.cork(writeChunkCorked);
    corkEx = null;
    corkChunk = null;
    if (!corkOk) this.hookWritable();
    return corkOk;
  }

  /** Inside a cork. */
  writeChunk(chunk: Buffer): boolean {
    const res = this.res;
    if (!this.responded) this.writeHead();
    if (this.contentLength < 0) {
      this.hookWritable();
      return res.write(chunk);
    }
    if (this.written + chunk.length >= this.contentLength) this.releaseClient();
    const [sent, done] = res.tryEnd(chunk, this.contentLength);
    if (done) this.ended = true;
    else if (sent) {
      this.written += chunk.length;
      // More body to come: own the writable events from now on (see hookWritable).
      this.hookWritable();
    } else {
      // uWS took part of the chunk; the rest is retried from onWritable at the offset it reports.
      this.pending = chunk;
      this.pendingOffset = this.written;
      return false;
    }
    return true;
  }

  noBody(): boolean {
    return this.isHead || this.status === 204 || this.status === 304;
  }

  /**
   * Registers onWritable for a response whose body takes more than one write. Not only after a refused
   * write: a small chunk fits uWS's cork buffer and reports success, and the send that follows the cork can
   * still leave bytes in uWS's own buffer. Without a handler of ours uWS then drains that buffer itself and
   * arms its 10 s idle timer ("expect another writable event"), which later successful writes never clear:
   * a download that keeps flowing without backpressure was cut 10 s later. With a handler registered, uWS
   * disarms the timer on every writable event and leaves the draining to us (onWritable).
   */
  hookWritable(): void {
    if (this.writableHooked) return;
    this.writableHooked = true;
    this.res.onWritable((offset) => this.onWritable(offset));
  }

  onWritable(offset: number): boolean {
    if (this.aborted || this.ended) return true;
    const pending = this.pending;
    if (pending) {
      if (this.pendingOffset + pending.length >= this.contentLength) this.releaseClient();
      const [sent, done] = this.res.tryEnd(pending.subarray(offset - this.pendingOffset), this.contentLength);
      if (done) {
        this.ended = true;
        this.pending = null;
        if (this.upstreamDone) this.finish();
        return true;
      }
      if (!sent) return false;
      this.written = this.pendingOffset + pending.length;
      this.pending = null;
    } else {
      // Bytes uWS buffered after a cork (not ours to retry) go out now, not with the next chunk: an empty
      // cork's uncork writes uWS's buffer (and re-arms the writable event if the socket is still full).
      this.res.cork(noop);
    }
    this.resumeUpstream?.();
    return true;
  }

  onComplete(): void {
    if (this.discarding) return this.retryLater();
    if (this.detached) return this.detachedComplete();
    this.upstreamDone = true;
    if (this.collected !== null && !this.aborted && !this.ended && !this.responded) this.writeMappedBody();
    if (!this.aborted && !this.ended) {
      const res = this.res;
      if (!this.responded) {
        // Nothing written yet: a body-less response, or an empty one.
        this.ended = true;
        this.releaseClient();
        res.cork(() => {
          this.writeHead();
          if (this.status === 204 || this.status === 304) res.endWithoutBody();
          else if (this.isHead) res.endWithoutBody(this.contentLength >= 0 ? this.contentLength : undefined);
          else res.end();
        });
      } else if (this.contentLength < 0) {
        this.ended = true;
        this.releaseClient();
        res.cork(() => res.end());
      } else if (!this.pending) {
        // Fewer bytes than announced cannot be completed honestly: drop the connection.
        this.ended = true;
        res.close();
      }
    }
    if (this.ended || this.aborted) this.finish();
  }

  onError(err: Error): void {
    if (this.discarding) return this.retryLater();
    if (this.resilience !== null && this.upstreamFailed(err)) return;
    this.upstreamDone = true;
    if (this.detached) {
      // The taps must not take a cut body as complete.
      this.errorCode = upstreamErrorCode(err);
      return this.finish();
    }
    if (this.upload && !this.upload.destroyed) this.upload.destroy();
    if (this.aborted) return this.finish();
    if (!this.responded) {
      const code = upstreamErrorCode(err);
      if (code !== 'TP_ERR_BAD_REQUEST') this.deps.upstreamError(code);
      if (this.upstreamLatency === 0 && this.upstreamStart > 0) this.upstreamLatency = performance.now() - this.upstreamStart;
      this.fail(code, messageFor(code), this.bodyIncomplete());
    } else if (!this.ended) {
      // Headers already went out: all we can do is cut the connection.
      this.errorCode = upstreamErrorCode(err);
      this.deps.upstreamError(this.errorCode);
      this.ended = true;
      this.res.close();
    }
    this.finish();
  }

  /**
   * Resilience: the attempt's status goes to the target's health (5xx is a failure); a 5xx that may be
   * retried is drained instead of forwarded. True when the response is being discarded.
   */
  upstreamAnswered(statusCode: number): boolean {
    const r = this.resilience!;
    if (r.guarded && !this.outcomeReported) {
      this.outcomeReported = true;
      if (statusCode >= 500) this.target!.health.failure();
      else this.target!.health.success();
    }
    if (statusCode < 500 || !this.mayRetry(RETRY_5XX)) return false;
    // Marked ended so that onData drops the body; the retry resets it.
    this.discarding = true;
    this.ended = true;
    return true;
  }

  /** Resilience: counts the failure against the target and retries when that is safe. True when retrying. */
  upstreamFailed(err: Error): boolean {
    if (this.aborted || this.responded) return false;
    if (this.resilience!.guarded && !this.outcomeReported && countsAsFailure(err)) {
      this.outcomeReported = true;
      this.target!.health.failure();
    }
    const condition = failureCondition(err);
    if (condition === 0 || !this.mayRetry(condition)) return false;
    this.retryLater();
    return true;
  }

  /**
   * A retry is safe and allowed: retries left, the condition configured, no byte sent to the client, the
   * request body replayable (absent or buffered, never streamed), an idempotent method unless the request
   * certainly never reached the upstream (a connect failure) or only_idempotent is off, time left in
   * total_timeout_ms, and a token in the retry budget.
   */
  mayRetry(condition: number): boolean {
    const r = this.resilience!.retry;
    if (r === null || this.attempt >= r.attempts || (r.on & condition) === 0) return false;
    if (this.aborted || this.responded || this.expired || this.upload !== null) return false;
    if (condition !== RETRY_CONNECT_FAILURE && r.onlyIdempotent && !isIdempotent(this.method)) return false;
    if (this.totalTimeoutMs > 0 && performance.now() - this.t0 >= this.totalTimeoutMs) return false;
    return r.budget.tryWithdraw();
  }

  /** Out of undici's callback stack: the failed attempt's request is finished with first. */
  retryLater(): void {
    process.nextTick(retryExchange, this);
  }

  /** Sends the request again, to another target when the upstream has one. */
  retry(): void {
    if (this.finished) return;
    const failed = this.target!;
    failed.inFlight--;
    if (!this.outcomeReported) failed.health.release();
    this.target = null;
    if (this.aborted || this.finished) return this.finish();
    if (this.totalTimeoutMs > 0 && performance.now() - this.t0 >= this.totalTimeoutMs) {
      this.deps.upstreamError('TP_ERR_UPSTREAM_TIMEOUT');
      this.fail('TP_ERR_UPSTREAM_TIMEOUT', 'upstream timed out');
      return this.finish();
    }
    const up = this.upstream!;
    const bal = up.balancer;
    let next = bal.pick(this.hashKey);
    // Another target when there is one (a hashed key maps to the same one: take the round-robin fallback).
    for (let i = 0; next === failed && i < bal.size; i++) next = bal.pick();
    if (next === undefined) {
      this.fail(unavailableCode(up.targets), 'no healthy upstream target');
      return this.finish();
    }
    this.attempt++;
    next.inFlight++;
    next.health.acquire();
    this.target = next;
    this.dispatcher = next.dispatcher;
    this.abortUpstream = null;
    this.resumeUpstream = null;
    this.status = 0;
    this.statusText = '';
    this.headPairs = null;
    this.contentLength = -1;
    this.bytesOut = 0;
    this.upstreamDone = false;
    this.discarding = false;
    this.ended = false;
    this.outcomeReported = false;
    this.dispatch();
  }

  /** Ends a sampled request's spans (from finish, with the status the call log records). */
  endTrace(status: number): void {
    this.trace!.end({
      status,
      errorCode: this.errorCode,
      consumerId: this.consumerId,
      clientIp: this.peerIp,
      retries: this.attempt,
      // headPairs: set when the upstream's head arrived (this.status is then its status).
      upstreamStatus: this.headPairs !== null ? this.status : 0,
    });
    this.trace = null;
  }

  bodyIncomplete(): boolean {
    return this.upload !== null && !this.upload.readableEnded;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.hooks !== null) this.endTaps(this.upstreamDone && !this.aborted && this.errorCode === '' && this.status < 500);
    if (this.target !== null) {
      this.target.inFlight--;
      if (this.resilience !== null && !this.outcomeReported) this.target.health.release();
    }
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    const total = performance.now() - this.t0;
    // uWS reports an abort only for a response it had not finished: the client never got it whole.
    const status = this.aborted ? CLIENT_CLOSED_STATUS : this.status;
    if (this.aborted && this.errorCode === '') this.errorCode = CLIENT_CLOSED_CODE;
    if (this.trace !== null) this.endTrace(status);
    const route = this.route;
    this.deps.observe(route, status, total, this.upstreamStart > 0 ? this.upstreamLatency : -1, this.bytesIn, this.bytesOut);
    const totalMs = Math.round(total * 1000) / 1000;
    const upstreamMs = Math.round(this.upstreamLatency * 1000) / 1000;
    const ua = this.userAgent;
    const ai = this.aiUsage;
    const rec: CallRecord = {
      request_id: this.requestId,
      ts: this.ts,
      node_id: this.deps.nodeId,
      service_id: route ? route.service.id : '',
      route_id: route ? route.id : '',
      consumer_id: this.consumerId,
      method: this.method,
      path: this.url,
      status,
      upstream_latency_ms: upstreamMs,
      total_latency_ms: totalMs,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      error_code: this.errorCode,
      credential_id: this.credential(),
      plan_id: route !== null && this.consumerId !== '' ? this.snap!.access.subscriptions.planOf(this.consumerId, route.service.id) : '',
      // clientIp() needs the snapshot's trusted proxies; before routing the TCP peer is all there is.
      client_ip: this.snap !== null && this.peerIp !== '' ? this.clientIp() : this.peerIp,
      user_agent: ua.length > USER_AGENT_MAX ? ua.slice(0, USER_AGENT_MAX) : ua,
      host: this.host,
      gateway_latency_ms: totalMs > upstreamMs ? Math.round((totalMs - upstreamMs) * 1000) / 1000 : 0,
      // The h1 client reports it (onRequestSent); undici does not: 0 there.
      upstream_connect_ms: Math.round(this.upstreamConnect * 1000) / 1000,
      upstream_ttfb_ms: upstreamMs,
      upstream_addr: this.target !== null ? upstreamAddrOf(this.target.origin) : '',
    };
    // AI usage and captured data only when present: absent fields read as ''/0 downstream (the ingester's
    // defaults), and most records would otherwise carry ~150 bytes of empty keys through JSON and JetStream.
    if (ai !== null) {
      rec.ai_provider = ai.provider;
      rec.ai_model = ai.model;
      rec.ai_prompt_tokens = ai.promptTokens;
      rec.ai_completion_tokens = ai.completionTokens;
      rec.ai_cached_tokens = ai.cachedTokens;
      rec.ai_cost_usd = ai.costUsd;
    }
    if (this.captured !== '') rec.captured = this.captured;
    this.deps.record(rec);
    inFlight--;
  }
}

// ---- client body timeout: one sweep timer for all uploads in flight, not a timer per request ----
const uploads = new Set<Exchange>();
let sweepTimer: ReturnType<typeof setInterval> | null = null;
let sweepEveryMs = 0;
/** Coarse clock (ms) advanced by the sweep: stamping a body chunk costs one assignment. */
let bodyClock = 0;

function watchUpload(ex: Exchange, timeoutMs: number): void {
  ex.bodyTimeoutMs = timeoutMs;
  if (uploads.size === 0) bodyClock = performance.now();
  ex.bodyIdleAt = bodyClock;
  uploads.add(ex);
  // A quarter of the timeout: an idle body is cut between 1× and 1.5× the timeout, never early.
  const every = Math.min(1_000, Math.max(10, timeoutMs >> 2));
  if (sweepTimer === null || every < sweepEveryMs) {
    if (sweepTimer !== null) clearInterval(sweepTimer);
    sweepEveryMs = every;
    sweepTimer = setInterval(sweepUploads, every);
    sweepTimer.unref();
  }
}

function unwatchUpload(ex: Exchange): void {
  ex.bodyTimeoutMs = 0;
  uploads.delete(ex);
}

function sweepUploads(): void {
  bodyClock = performance.now();
  for (const ex of uploads) {
    if (ex.finished || ex.aborted || ex.bodyTimeoutMs === 0) uploads.delete(ex);
    else if (ex.clientPaused) ex.bodyIdleAt = bodyClock;
    // bodyIdleAt may be up to one sweep stale: wait that much longer so the cut is never early.
    else if (bodyClock - ex.bodyIdleAt >= ex.bodyTimeoutMs + sweepEveryMs) {
      uploads.delete(ex);
      ex.clientBodyTimeout();
    }
  }
  if (uploads.size === 0 && sweepTimer !== null) {
    clearInterval(sweepTimer);
    sweepTimer = null;
  }
}

function retryExchange(ex: Exchange): void {
  ex.retry();
}

/** What a consistent-hash key is read from; one instance, reset per request (no closures). */
class UwsHashKeySource implements HashKeySource {
  req: { getHeader(name: string): string } | null = null;
  ip = '';
  path = '';
  reset(req: { getHeader(name: string): string }, ip: string, path: string): this {
    this.req = req;
    this.ip = ip;
    this.path = path;
    return this;
  }
  header(name: string): string {
    return this.req!.getHeader(name);
  }
  clientIp(): string {
    return this.ip;
  }
}
const hashKeySource = new UwsHashKeySource();

function totalTimeoutError(): Error {
  return Object.assign(new Error('total_timeout_ms exceeded'), { code: 'ETIMEDOUT' });
}

/** The upstream's total budget ran out: cut the exchange and answer 504 (or drop it, once the head went out). */
function onTotalTimeout(ex: Exchange): void {
  ex.totalTimer = null;
  if (ex.finished || ex.upstreamDone) return;
  if (ex.abortUpstream) {
    ex.abortUpstream(totalTimeoutError());
    return;
  }
  // Still queued or connecting: answer now; onConnect aborts the request when undici gets that far.
  ex.expired = true;
  ex.deps.upstreamError('TP_ERR_UPSTREAM_TIMEOUT');
  ex.upstreamLatency = performance.now() - ex.upstreamStart;
  ex.fail('TP_ERR_UPSTREAM_TIMEOUT', 'upstream timed out', ex.bodyIncomplete());
}

function messageFor(code: ErrorCode): string {
  switch (code) {
    case 'TP_ERR_UPSTREAM_TIMEOUT':
      return 'upstream timed out';
    case 'TP_ERR_UPSTREAM_BAD_RESPONSE':
      return 'upstream sent an invalid response';
    case 'TP_ERR_BAD_REQUEST':
      return 'request could not be forwarded';
    default:
      return 'upstream unavailable';
  }
}

let inFlight = 0;
export function inFlightRequests(): number {
  return inFlight;
}

let draining = false;
/** From now on responses say `Connection: close` (graceful drain); per thread, like inFlight. */
export function startDraining(): void {
  draining = true;
}

export function createProxyHandler(deps: ProxyDeps): (res: HttpResponse, req: HttpRequest) => void {
  const handle = handleRequest.bind(null, deps);
  return function guarded(res: HttpResponse, req: HttpRequest): void {
    try {
      handle(res, req);
    } catch (e) {
      // A bug must cost one request, not the process (uWS treats a throwing handler as fatal).
      process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'proxy.handler_failed', error: String(e) }) + '\n');
      const ex = lastExchange;
      if (ex && !ex.finished) {
        ex.fail('TP_ERR_INTERNAL', 'internal error', true);
        ex.abortUpstream?.(new Error('internal error'));
        ex.finish();
      } else if (!ex) {
        inFlight--;
        res.cork(() => res.writeStatus('500 Internal Server Error').end('', true));
      }
    }
  };
}

let lastExchange: Exchange | null = null;

function handleRequest(deps: ProxyDeps, res: HttpResponse, req: HttpRequest): void {
  lastExchange = null;
  const ts = Date.now();
  const t0 = performance.now();
  inFlight++;
  const lower = req.getMethod();
  const method = METHODS[lower] ?? lower.toUpperCase();
  const url = req.getUrl();
  // undefined (not '') when the URL has no query string.
  let query = req.getQuery() ?? '';
  scratch = [];
  scratchBytes = 0;
  scratchConnection = hHost = hRequestId = hContentLength = hTransferEncoding = hForwardedFor = '';
  hForwarded = hVia = hTraceparent = hTracestate = hExpect = hUserAgent = '';
  hBadFraming = false;
  req.forEach(collectHeader);
  const host = hHost;
  const incomingId = hRequestId;
  const requestId = incomingId !== '' && validRequestId(incomingId) ? incomingId : randomUUID();
  let headers = scratch;
  const headerBytes = scratchBytes + method.length + url.length + query.length + 12;
  if (scratchConnection !== '') {
    headers = removeConnectionListed(headers, scratchConnection);
    dropConnectionListedCollected(scratchConnection);
  }

  const ex = new Exchange(res, deps, requestId, method, url, ts, t0);
  lastExchange = ex;
  // For the call record from the start: a request refused before it is forwarded still names its client.
  ex.host = host;
  ex.userAgent = hUserAgent;
  ex.priorXff = hForwardedFor;
  ex.priorForwarded = hForwarded;
  res.onAborted(() => ex.onClientAborted());
  // Only the mTLS listener's handler has `mtls`: the plain ports pay one property test.
  if (deps.mtls !== undefined && !takeMtlsPeer(ex, deps.mtls)) return ex.finish();

  // Protocol checks before routing: limits, then framing. Each answers and closes the connection, as
  // the rest of the request (an unread body) cannot be trusted to be framed the way we think.
  if ((query === '' ? url.length : url.length + 1 + query.length) > deps.maxUrlBytes) {
    ex.fail('TP_ERR_URL_TOO_LONG', `request target exceeds ${deps.maxUrlBytes} bytes`, true);
    return ex.finish();
  }
  if (headerBytes > deps.maxHeaderBytes) {
    ex.fail('TP_ERR_HEADERS_TOO_LARGE', `request headers exceed ${deps.maxHeaderBytes} bytes`, true);
    return ex.finish();
  }
  const contentLengthHeader = hContentLength;
  const chunked = hTransferEncoding !== '';
  const declared = contentLengthHeader === '' ? 0 : digitsValue(contentLengthHeader);
  if (declared < 0 || hBadFraming) {
    ex.fail('TP_ERR_BAD_REQUEST', 'invalid content-length', true);
    return ex.finish();
  }
  // uWS refuses Content-Length together with Transfer-Encoding itself; chunked is the only coding we frame.
  if (chunked && !isChunked(hTransferEncoding)) {
    ex.fail('TP_ERR_BAD_REQUEST', 'unsupported transfer-encoding', true);
    return ex.finish();
  }
  const hasBody = chunked || declared > 0;
  if (hExpect !== '') {
    // uWS 20.30 itself writes `100 Continue` before this handler runs when the value is exactly
    // `100-continue`; a failure below then closes, since the client may be holding its body back.
    if (!isContinue(hExpect)) {
      ex.fail('TP_ERR_EXPECTATION_FAILED', 'only "Expect: 100-continue" is supported', true);
      return ex.finish();
    }
    ex.closeOnError = hasBody;
  }
  if (hasBody && deps.clientBodyTimeoutMs > 0) watchUpload(ex, deps.clientBodyTimeoutMs);
  const snap = deps.snapshot();
  if (!snap) {
    ex.fail('TP_ERR_UNAVAILABLE', 'no configuration loaded yet');
    return ex.finish();
  }
  const match = snap.router.match(method, hostWithoutPort(host), url, requestView.reset(req, query));
  if (!match) {
    ex.fail('TP_ERR_ROUTE_NOT_FOUND', 'no route matches the request');
    return ex.finish();
  }
  const route = match.value;
  ex.route = route;
  ex.snap = snap;
  ex.maxBodyBytes = deps.maxBodyBytes;
  // Tracing off (the default): this null test is all it costs. On: unsampled requests pay headSampled only.
  const tracer = deps.tracer;
  if (tracer != null && tracer.sample(hTraceparent)) ex.trace = tracer.begin(hTraceparent, traced(ex, route, url, host));

  if (route.keyAuth) {
    const auth = authenticate(route.keyAuth, snap.keys, (name) => req.getHeader(name), query);
    if (!auth.ok) {
      ex.failWith(401, auth.code, KEY_AUTH_MESSAGES[auth.code], KEY_CHALLENGE_HEADERS, null, false);
      return ex.finish();
    }
    ex.consumerId = auth.owner.consumerId;
    ex.keyHex = auth.hex;
    if (route.keyAuth.hideCredentials) {
      headers = withoutHeaders(headers, route.keyAuth.headerNames);
      // A key sent in the query string is not forwarded either.
      if (route.keyAuth.queryNames.length > 0 && query !== '') query = withoutQueryParams(query, route.keyAuth.queryNames);
    }
    headers.push('x-consumer-id', auth.owner.consumerId, 'x-consumer-username', auth.owner.username);
  }

  // What forwarding needs, kept on the exchange: a pipeline step may finish after this handler returned.
  ex.headers = headers;
  ex.query = query;
  ex.declaredLength = chunked ? -1 : declared;
  ex.chunked = chunked;
  ex.prefixLength = match.prefixLength;
  ex.pathParams = match.params;
  ex.routePath = match.path;
  ex.priorXff = hForwardedFor;
  ex.priorForwarded = hForwarded;
  ex.priorVia = hVia;
  ex.traceparent = hTraceparent;
  ex.tracestate = hTracestate;
  ex.req = req;
  if (route.pipeline !== null) startPipeline(ex, route.pipeline, chunked || declared > 0);
  else proceed(ex);
  ex.req = null;
}

/** What a sampled request's server span is labelled with (off the hot path: sampled requests only). */
function traced(ex: Exchange, route: CompiledRoute, path: string, host: string): TracedRequest {
  return {
    method: ex.method,
    path,
    host: hostWithoutPort(host),
    scheme: ex.deps.https === true ? 'https' : 'http',
    requestId: ex.requestId,
    routeId: route.id,
    serviceId: route.service.id,
    t0: ex.t0,
  };
}

/**
 * The client of a request on the mTLS listener's app: its address and certificate, read while the handler runs
 * (res is only valid then). False (answered): no connection of the listener is registered for it, which only a
 * connection closed while its request was still queued in uWS can cause; nothing is served without a peer.
 */
function takeMtlsPeer(ex: Exchange, mtls: MtlsPeers): boolean {
  const peer = mtls.peerOf(ex.res);
  if (peer === null) {
    ex.fail('TP_ERR_UNAVAILABLE', 'the client connection is closing', true);
    return false;
  }
  ex.peerIp = peer.address;
  ex.clientCert = peer.clientCert;
  return true;
}

/**
 * Runs the route's plugin steps. A request with a body has its body held (copied, bounded) from the start:
 * uWS hands body chunks only to a handler attached before the request handler returns, and a step may
 * answer later (a JWKS fetch, a password check) or need the whole body (an HMAC digest, validation).
 */
function startPipeline(ex: Exchange, pipeline: Pipeline, hasBody: boolean): void {
  ex.nowMs = ex.ts;
  if (ex.peerIp === '') ex.peerIp = peerAddress(ex.res);
  ex.received = ex.headers;
  if (hasBody) {
    ex.bodyMode = BODY_HOLD;
    ex.held = [];
    ex.res.onData((chunk, isLast) => ex.onHeldData(chunk, isLast));
  } else ex.bodyComplete = true;
  if (ex.trace !== null) ex.trace.pipelineStart(pipeline.steps.length);
  runSteps(pipeline.steps, 0, ex, PIPELINE_SINK);
}

const PIPELINE_SINK: PipelineSink<Exchange> = {
  // A detached exchange (answered, still going upstream for the hooks) runs its remaining steps.
  gone: (ex) => ex.finished || ((ex.aborted || ex.responded) && !ex.detached),
  identify(ex: Exchange, who: Identified): void {
    ex.consumerId = who.consumerId;
    ex.credentialId = who.credentialId;
    if (who.claims != null) ex.claims = who.claims;
    const up = who.upstreamHeaders;
    let added = ex.added;
    if (up !== null) {
      // A header the gateway sets for the upstream is never the client's own copy of it.
      const names: string[] = [];
      added ??= ex.added = [];
      for (let i = 0; i < up.length; i += 2) {
        names.push(up[i]!);
        added.push(up[i]!, up[i + 1]!);
      }
      ex.hideHeaders(names);
    }
    if (who.consumerId !== '') {
      const owner = ex.snap!.access.ownerOf(who.consumerId);
      (added ?? (ex.added = [])).push('x-consumer-id', who.consumerId, 'x-consumer-username', owner === undefined ? '' : owner.username);
    }
  },
  deny(ex: Exchange, d: Denial, step: string): void {
    if (ex.trace !== null) ex.trace.stepDecided(step, d.status, d.code);
    ex.failWith(d.status, d.code, d.message, d.headers, d.fields, !ex.bodyComplete);
    ex.finish();
  },
  answer(ex: Exchange, a: Answer, step: string): void {
    if (ex.trace !== null) ex.trace.stepDecided(step, a.status, '');
    if (!ex.aborted && !ex.responded) writeAnswer(ex, a);
    ex.finish();
  },
  bodyReady: (ex) => ex.bodyComplete,
  awaitBody: (ex, resume) => ex.awaitBody(resume),
  done: (ex) => proceed(ex),
  // Only steps that wait asynchronously get a span of their own.
  waiting(ex: Exchange, step: string): void {
    if (ex.trace !== null) ex.trace.stepWaiting(step);
  },
  settled(ex: Exchange, failed: boolean): void {
    if (ex.trace !== null) ex.trace.stepSettled(failed);
  },
  failed(ex: Exchange, error: unknown, step: string): void {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'proxy.step_failed', step, error: String(error) }) + '\n');
    ex.fail('TP_ERR_INTERNAL', 'internal error', !ex.bodyComplete);
    ex.finish();
  },
};

/** A step's Answer to the client (the exchange then finishes, or, detached, goes on upstream). */
function writeAnswer(ex: Exchange, a: Answer): void {
  ex.responded = ex.ended = true;
  ex.status = a.status;
  const res = ex.res;
  const body = a.body ?? null;
  const close = !ex.bodyComplete || draining;
  ex.releaseClient();
  if (body !== null && !ex.isHead) ex.bytesOut = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  res.cork(() => {
    res.writeStatus(statusLine(a.status)).writeHeader('x-request-id', ex.requestId);
    for (let i = 0; i < a.headers.length; i += 2) res.writeHeader(a.headers[i]!, a.headers[i + 1]!);
    const extra = ex.responseExtra;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    if (draining) res.writeHeader('connection', 'close');
    if (body === null || a.status === 204 || a.status === 304) res.endWithoutBody(0, close);
    else if (ex.isHead) res.endWithoutBody(typeof body === 'string' ? Buffer.byteLength(body) : body.length, close);
    else res.end(body, close);
  });
}

/** Admitted by every plugin: body limit, target selection, forwarding headers, dispatch. */
function proceed(ex: Exchange): void {
  const deps = ex.deps;
  const res = ex.res;
  const route = ex.route!;
  const declared = ex.declaredLength;
  const maxBody = route.sizeLimit === null ? deps.maxBodyBytes : bodyLimitFor(route.sizeLimit, ex.consumerId, deps.maxBodyBytes);
  ex.maxBodyBytes = maxBody;
  if (declared > maxBody || ex.bytesIn > maxBody) {
    ex.fail('TP_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`, true);
    return ex.finish();
  }

  if (route.service.ai !== null && deps.ai) return proceedAi(ex);
  let upstream = route.service.upstream;
  if (upstream === null) {
    if (route.service.lambda) return proceedLambda(ex);
    // A WebSocket API answers its connection management calls (`…/@connections/{id}`) over plain HTTP.
    if (route.service.wsApi && deps.wsApi && WsApiRuntime.isManagement(ex.url)) return proceedWsApi(ex);
    // A websocket service takes upgrades only (proxy/websocket.ts); uWS hands them to app.ws, never here.
    if (route.service.websocket !== null || route.service.wsApi) ex.fail('TP_ERR_UPGRADE_REQUIRED', 'this service accepts WebSocket upgrades only');
    else ex.fail('TP_ERR_INTEGRATION_UNAVAILABLE', `the ${route.service.integration ?? 'configured'} integration is not served by this gateway version`);
    return ex.finish();
  }
  let clientIp = ex.peerIp;
  if (clientIp === '') clientIp = ex.peerIp = peerAddress(res);
  // Headers for splits and hash keys: the uWS request while the handler runs, the exchange's copy after.
  const src = ex.req ?? ex;
  // Target selection: a canary/weighted split may send the request to another upstream; balancers skip
  // targets that health checks, ejection or a breaker keep out.
  const splits = route.service.splits;
  if (splits !== null) upstream = splits.pick(upstream, src);
  const url = ex.url;
  const hashKey = upstream.hashOn === null ? undefined : requestHashKey(upstream.hashOn, hashKeySource.reset(src, clientIp, url));
  const target = upstream.balancer.pick(hashKey);
  if (!target) {
    if (upstream.balancer.size === 0) ex.fail('TP_ERR_NO_HEALTHY_TARGET', 'the upstream has no target with a positive weight');
    else ex.fail(unavailableCode(upstream.targets), 'no healthy upstream target');
    return ex.finish();
  }
  target.inFlight++;
  ex.target = target;
  ex.totalTimeoutMs = upstream.totalTimeoutMs;
  const resilience = upstream.resilience;
  if (resilience !== null) {
    ex.upstream = upstream;
    ex.resilience = resilience;
    ex.hashKey = hashKey;
    target.health.acquire();
    if (resilience.retry !== null) resilience.retry.budget.deposit();
  }

  let headers = ex.headers;
  if (ex.hidden !== null) headers = ex.headers = withoutHeaders(headers, ex.hidden);
  const added = ex.added;
  if (added !== null) for (let i = 0; i < added.length; i++) headers.push(added[i]!);
  const host = ex.host;
  // The scheme the client used: x-forwarded-proto and Forwarded's proto= both read it.
  const proto = deps.https === true ? 'https' : 'http';
  headers.push(
    'x-forwarded-for',
    joinList(ex.priorXff, clientIp),
    'x-forwarded-proto',
    proto,
    'x-forwarded-host',
    host,
    'x-forwarded-port',
    portString(deps.port()),
    'x-request-id',
    ex.requestId,
    'forwarded',
    forwardedWith(ex.priorForwarded, clientIp, proto, host),
    'via',
    viaWith(ex.priorVia),
  );
  // W3C trace context: a valid incoming one passes unchanged (with its tracestate); otherwise a fresh,
  // unsampled traceparent lets upstream logs correlate with this request (tracestate without it is void).
  // A traced request sends its client span's instead (below, once the upstream path is known).
  const validParent = ex.traceparent !== '' && validTraceparent(ex.traceparent);
  if (ex.trace === null) {
    if (validParent) headers.push('traceparent', ex.traceparent);
    else headers.push('traceparent', newTraceparent());
  }
  if (validParent && ex.tracestate !== '') headers.push('tracestate', ex.tracestate);

  let upstreamPath: string;
  if (ex.pathOverride !== null) upstreamPath = ex.pathOverride;
  else {
    const rest = route.stripPath ? url.slice(ex.prefixLength) : url;
    upstreamPath = route.service.basePath + rest;
    if (upstreamPath === '') upstreamPath = '/';
    else if (upstreamPath.charCodeAt(0) !== 47) upstreamPath = '/' + upstreamPath;
  }
  const query = ex.query;
  if (query !== '') upstreamPath += '?' + query;
  if (ex.trace !== null) headers.push('traceparent', ex.trace.upstream(ex.methodOverride === '' ? ex.method : ex.methodOverride, target.origin, upstreamPath));

  ex.dispatcher = target.dispatcher;
  ex.dispatchOpts = {
    path: upstreamPath,
    method: (ex.methodOverride === '' ? ex.method : ex.methodOverride) as Dispatcher.HttpMethod,
    headers,
    body: null,
    headersTimeout: upstream.readTimeoutMs,
    bodyTimeout: upstream.readTimeoutMs,
  };

  const chunked = ex.chunked;
  if (ex.bodyOverride !== null) {
    // A step replaced the body (it read the original whole, so nothing more comes from the client).
    ex.held = null;
    ex.bodyMode = BODY_NONE;
    ex.dispatchOpts.body = ex.bodyOverride;
    return ex.dispatch();
  }
  if (ex.bodyMode === BODY_HOLD) return proceedHeld(ex);
  if (!chunked && declared === 0) {
    ex.dispatch();
  } else if (!chunked && declared <= BUFFER_BODY_MAX) {
    ex.bodyChunks = [];
    res.onData((chunk, isLast) => ex.onClientDataBuffered(chunk, isLast));
  } else {
    ex.upload = new BodyStream(ex);
    ex.dispatchOpts.body = ex.upload;
    res.onData((chunk, isLast) => ex.onClientData(chunk, isLast));
    ex.dispatch();
  }
}

/**
 * The request body whole, for integrations that need it at once (AI, Lambda, WebSocket API management):
 * read with the held-body machinery, bounded by the body limit. null: not complete yet (`then` runs again
 * once it is), or the client is gone / was answered (the exchange is finished).
 */
function wholeBody(ex: Exchange, then: (ex: Exchange) => void): Buffer | null {
  let body: Buffer;
  if (ex.bodyOverride !== null) body = ex.bodyOverride;
  else if (ex.bodyMode === BODY_HOLD) {
    if (!ex.bodyComplete) {
      ex.awaitBody(() => then(ex));
      return null;
    }
    const held = ex.held!;
    body = held.length === 0 ? EMPTY_BODY : held.length === 1 ? held[0]! : Buffer.concat(held);
  } else if (ex.chunked || ex.declaredLength > 0) {
    ex.bodyMode = BODY_HOLD;
    ex.held = [];
    ex.res.onData((chunk, isLast) => ex.onHeldData(chunk, isLast));
    ex.awaitBody(() => then(ex));
    return null;
  } else body = EMPTY_BODY;
  ex.held = null;
  ex.bodyMode = BODY_NONE;
  if (ex.aborted || ex.responded) {
    ex.finish();
    return null;
  }
  return body;
}

/**
 * An `ai` service: the runtime needs the request body whole (JSON), read with the held-body machinery and
 * bounded by the body limit; the runtime then answers through the exchange like an upstream would.
 */
function proceedAi(ex: Exchange): void {
  const body = wholeBody(ex, proceedAi);
  if (body === null) return;
  const route = ex.route!;
  ex.dispatched = true;
  ex.upstreamStart = performance.now();
  ex.deps.ai!.handle(
    {
      method: ex.methodOverride === '' ? ex.method : ex.methodOverride,
      path: ex.pathOverride ?? ex.url,
      body,
      serviceId: route.service.id,
      requestId: ex.requestId,
      integration: route.service.ai!,
      tables: ex.snap!.ai,
      t0: ex.t0,
      who: {
        apiKeyId: ex.credential() || null,
        consumerId: ex.consumerId !== '' ? ex.consumerId : null,
        tenantId: route.service.tenantId,
      },
    },
    ex,
  );
}
const EMPTY_BODY = Buffer.alloc(0);

/** A WebSocket API's connection management call (websocket-api/runtime.ts), answered like an AI call. */
function proceedWsApi(ex: Exchange): void {
  const body = wholeBody(ex, proceedWsApi);
  if (body === null) return;
  ex.dispatched = true;
  ex.upstreamStart = performance.now();
  ex.deps.wsApi!.manage({ method: ex.methodOverride === '' ? ex.method : ex.methodOverride, path: ex.url, body, requestId: ex.requestId }, ex);
}
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * A `lambda` service: the function's event carries the whole body, read with the held-body machinery and
 * bounded by the body limit; the integration then answers through the exchange like an upstream would.
 */
function proceedLambda(ex: Exchange): void {
  const body = wholeBody(ex, proceedLambda);
  if (body === null) return;
  const route = ex.route!;
  const deps = ex.deps;
  if (ex.peerIp === '') ex.peerIp = peerAddress(ex.res);
  const clientIp = ex.clientIp();
  // The headers the function sees: what an upstream would get (client's, less hidden, plus the pipeline's),
  // with Host and X-Forwarded-* as API Gateway sends them.
  let headers = ex.headers;
  if (ex.hidden !== null) headers = ex.headers = withoutHeaders(headers, ex.hidden);
  const added = ex.added;
  if (added !== null) for (let i = 0; i < added.length; i++) headers.push(added[i]!);
  headers.push('host', ex.host, 'x-forwarded-for', joinList(ex.priorXff, ex.peerIp), 'x-forwarded-proto', deps.https === true ? 'https' : 'http', 'x-forwarded-port', portString(deps.port()));
  let path: string;
  if (ex.pathOverride !== null) path = ex.pathOverride;
  else {
    path = route.service.basePath + (route.stripPath ? ex.url.slice(ex.prefixLength) : ex.url);
    if (path === '') path = '/';
    else if (path.charCodeAt(0) !== 47) path = '/' + path;
  }
  ex.dispatched = true;
  ex.upstreamStart = performance.now();
  route.service.lambda!.handle(
    {
      method: ex.methodOverride === '' ? ex.method : ex.methodOverride,
      path,
      query: ex.query,
      headers,
      body,
      sourceIp: clientIp,
      userAgent: ex.userAgent,
      domainName: hostWithoutPort(ex.host),
      requestId: ex.requestId,
      timeEpochMs: ex.ts,
      pathParameters: ex.pathParams,
      routeTemplate: awsRouteTemplate(ex.routePath),
      anyMethod: route.anyMethod,
      routeId: route.id,
      serviceId: route.service.id,
      authorizer: lambdaAuthorizer(ex),
    },
    ex,
  );
}

/** Who authentication found, for the event's requestContext.authorizer; null when nothing authenticated the request. */
function lambdaAuthorizer(ex: Exchange): LambdaAuthorizer | null {
  const added = ex.added;
  if (ex.consumerId === '' && ex.credentialId === '' && ex.keyHex === '' && added === null && ex.claims === null) return null;
  const context: Record<string, string> = {};
  if (added !== null) {
    for (let i = 0; i < added.length; i += 2) {
      const name = added[i]!;
      if (name !== 'x-consumer-id' && name !== 'x-consumer-username') context[name] = added[i + 1]!;
    }
  }
  const owner = ex.consumerId === '' ? undefined : ex.snap!.access.ownerOf(ex.consumerId);
  const credentialId = ex.credential();
  return { principalId: owner !== undefined && owner.username !== '' ? owner.username : ex.consumerId, consumerId: ex.consumerId, credentialId, context, claims: ex.claims };
}

/** The pipeline held the body's first chunks (or all of it): hand them on, then go on as without a pipeline. */
function proceedHeld(ex: Exchange): void {
  const held = ex.held!;
  ex.held = null;
  if (ex.bodyComplete) {
    ex.bodyMode = BODY_NONE;
    if (held.length > 0) ex.dispatchOpts!.body = held.length === 1 ? held[0]! : Buffer.concat(held);
    return ex.dispatch();
  }
  if (!ex.chunked && ex.declaredLength <= BUFFER_BODY_MAX) {
    ex.bodyChunks = held;
    ex.bodyMode = BODY_BUFFER;
    ex.resumeClientBody();
    return;
  }
  const body = (ex.upload = new BodyStream(ex));
  ex.dispatchOpts!.body = body;
  for (const c of held) body.push(c);
  ex.bodyMode = BODY_STREAM;
  ex.dispatch();
  ex.resumeClientBody();
}

const NO_HEADERS: string[] = [];
const BODY_NONE = 0;
/** Chunks kept in `held` while the pipeline runs. */
const BODY_HOLD = 1;
/** After the pipeline: onClientDataBuffered / onClientData. */
const BODY_BUFFER = 2;
const BODY_STREAM = 3;
const KEY_CHALLENGE_HEADERS: readonly string[] = Object.freeze(['www-authenticate', API_KEY_CHALLENGE]);
const BODY_FRAMING: readonly string[] = Object.freeze(['content-length', 'transfer-encoding']);

/** Whether a flat [name, value, …] list (names lower-case) has `name`. */
function hasName(flat: readonly string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}


/** Connection-listed names among the headers collected apart are hop-by-hop for this message too. */
function dropConnectionListedCollected(connection: string): void {
  for (const name of connectionTokens(connection)) {
    if (name === 'forwarded') hForwarded = '';
    else if (name === 'via') hVia = '';
    else if (name === 'x-forwarded-for') hForwardedFor = '';
    else if (name === 'traceparent' || name === 'tracestate') hTraceparent = hTracestate = '';
  }
}

/** A Content-Length value: ASCII digits only (no sign, space, hex or exponent), else -1. */
function digitsValue(v: string): number {
  if (v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function isChunked(te: string): boolean {
  return te.length === 7 && te.toLowerCase() === 'chunked';
}

function isContinue(expect: string): boolean {
  return expect.length === 12 && expect.toLowerCase() === '100-continue';
}

let lastPort = -1;
let lastPortString = '';
function portString(port: number): string {
  if (port !== lastPort) {
    lastPort = port;
    lastPortString = String(port);
  }
  return lastPortString;
}

function withoutHeaders(flat: string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!names.includes(name)) out.push(name, flat[i + 1] as string);
  }
  return out;
}
