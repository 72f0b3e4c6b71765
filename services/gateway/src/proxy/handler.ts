// The uWS request handler: route, authenticate, and stream the exchange through undici's dispatch API
// with backpressure both ways. One Exchange object per request is both the uWS-side state and the
// undici DispatchHandler, so the hot path allocates little beyond it.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Dispatcher } from 'undici';
import { errorBody, httpStatusFor, type CallRecord, type ErrorCode } from '@turnpike/common';
import type { CompiledRoute, Snapshot, UpstreamTarget } from '../config/compiler.js';
import type { RequestView } from '../router/index.js';
import { authenticate } from '../plugins/key-auth/index.js';
import { bodyLimitFor } from '../plugins/request-size-limiting/index.js';
import { CLIENT_CLOSED_CODE, CLIENT_CLOSED_STATUS, upstreamErrorCode } from '../errors.js';
import { dropRequestHeader, filterResponseHeaders, hostWithoutPort, removeConnectionListed, validRequestId } from './headers.js';
import { requestHashKey } from './hash-key.js';

export interface ProxyDeps {
  snapshot(): Snapshot | null;
  record(rec: CallRecord): void;
  observe(status: number, totalMs: number): void;
  upstreamError(code: string): void;
  nodeId: string;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  /** The proxy's own port, for x-forwarded-port (known after listen). */
  port(): number;
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
      hForwardedFor = value;
      return;
    case 'content-length':
      hContentLength = value;
      break;
    case 'transfer-encoding':
      hTransferEncoding = value;
      return;
    case 'connection':
      scratchConnection = value;
      return;
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

class Exchange implements Dispatcher.DispatchHandler {
  route: CompiledRoute | null = null;
  consumerId = '';
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
  body: BodyStream | null = null;
  bodyChunks: Buffer[] | null = null;
  clientPaused = false;
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

  constructor(
    readonly res: HttpResponse,
    readonly deps: ProxyDeps,
    readonly requestId: string,
    readonly method: string,
    readonly path: string,
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
    if (this.body) this.body.destroy(err);
    if (this.abortUpstream) this.abortUpstream(err);
    if (!this.dispatched || this.upstreamDone) this.finish();
  }

  /** Streaming mode: uWS body chunks into the Readable undici consumes. */
  onClientData(chunk: ArrayBuffer, isLast: boolean): void {
    const n = chunk.byteLength;
    this.bytesIn += n;
    if (this.bytesIn > this.maxBodyBytes) {
      this.tooLarge();
      return;
    }
    const body = this.body;
    // After the response is complete (the upstream answered early) `res` must not be paused any more.
    if (!body || body.destroyed || this.ended) return;
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

  resumeClientBody(): void {
    if (this.clientPaused && !this.aborted && !this.ended) {
      this.clientPaused = false;
      this.res.resume();
    }
  }

  tooLarge(): void {
    if (this.responded) return;
    this.fail('TP_ERR_BODY_TOO_LARGE', `request body exceeds ${this.maxBodyBytes} bytes`, true);
    const err = new Error('request body too large');
    if (this.body) this.body.destroy(err);
    if (this.abortUpstream) this.abortUpstream(err);
    if (!this.dispatched) this.finish();
  }

  /** Sends a gateway-generated JSON error. `close` drops the connection (unread request body). */
  fail(code: ErrorCode, message: string, close = false): void {
    this.errorCode = code;
    if (this.aborted || this.responded) return;
    this.responded = true;
    this.ended = true;
    this.status = httpStatusFor(code);
    const res = this.res;
    const payload = JSON.stringify(errorBody(code, message, this.requestId));
    res.cork(() => {
      res.writeStatus(statusLine(this.status)).writeHeader('content-type', 'application/json').writeHeader('x-request-id', this.requestId).end(payload, close);
    });
  }

  // ---- upstream side (undici legacy DispatchHandler: raw headers, boolean backpressure) ----

  dispatch(): void {
    if (this.aborted || this.responded) return this.finish();
    this.upstreamStart = performance.now();
    this.dispatched = true;
    if (this.totalTimeoutMs > 0) {
      // The budget counts from the request's arrival (a slow upload spends it too).
      this.totalTimer = setTimeout(onTotalTimeout, Math.max(1, this.totalTimeoutMs - (this.upstreamStart - this.t0)), this);
    }
    try {
      this.dispatcher!.dispatch(this.dispatchOpts!, this);
    } catch (e) {
      this.onError(e as Error);
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.aborted) abort(new Error('client closed the connection'));
    else if (this.expired) abort(totalTimeoutError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    this.upstreamLatency = performance.now() - this.upstreamStart;
    this.resumeUpstream = resume;
    if (this.aborted || this.responded) return true;
    this.status = statusCode;
    this.statusText = statusText;
    const { pairs, contentLength } = filterResponseHeaders(rawHeaders);
    this.headPairs = pairs;
    this.contentLength = contentLength;
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
    for (let i = 0; i < pairs.length; i += 2) res.writeHeader(pairs[i]!, pairs[i + 1]!);
    const extra = this.route!.service.responseHeaders;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    res.writeHeader('x-request-id', this.requestId);
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.aborted || this.ended) return true;
    if (this.noBody()) return true;
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
    if (this.contentLength < 0) return res.write(chunk);
    const [sent, done] = res.tryEnd(chunk, this.contentLength);
    if (done) this.ended = true;
    else if (sent) this.written += chunk.length;
    else {
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

  hookWritable(): void {
    if (this.writableHooked) return;
    this.writableHooked = true;
    this.res.onWritable((offset) => this.onWritable(offset));
  }

  onWritable(offset: number): boolean {
    if (this.aborted || this.ended) return true;
    const pending = this.pending;
    if (pending) {
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
    }
    this.resumeUpstream?.();
    return true;
  }

  onComplete(): void {
    this.upstreamDone = true;
    if (!this.aborted && !this.ended) {
      const res = this.res;
      if (!this.responded) {
        // Nothing written yet: a body-less response, or an empty one.
        this.ended = true;
        res.cork(() => {
          this.writeHead();
          if (this.status === 204 || this.status === 304) res.endWithoutBody();
          else if (this.isHead) res.endWithoutBody(this.contentLength >= 0 ? this.contentLength : undefined);
          else res.end();
        });
      } else if (this.contentLength < 0) {
        this.ended = true;
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
    this.upstreamDone = true;
    if (this.body && !this.body.destroyed) this.body.destroy();
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

  bodyIncomplete(): boolean {
    return this.body !== null && !this.body.readableEnded;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.target !== null) this.target.inFlight--;
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    const total = performance.now() - this.t0;
    // uWS reports an abort only for a response it had not finished: the client never got it whole.
    const status = this.aborted ? CLIENT_CLOSED_STATUS : this.status;
    if (this.aborted && this.errorCode === '') this.errorCode = CLIENT_CLOSED_CODE;
    this.deps.observe(status, total);
    const route = this.route;
    this.deps.record({
      request_id: this.requestId,
      ts: this.ts,
      node_id: this.deps.nodeId,
      service_id: route ? route.service.id : '',
      route_id: route ? route.id : '',
      consumer_id: this.consumerId,
      method: this.method,
      path: this.path,
      status,
      upstream_latency_ms: Math.round(this.upstreamLatency * 1000) / 1000,
      total_latency_ms: Math.round(total * 1000) / 1000,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      error_code: this.errorCode,
    });
    inFlight--;
  }
}

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
  const query = req.getQuery() ?? '';
  scratch = [];
  scratchBytes = 0;
  scratchConnection = hHost = hRequestId = hContentLength = hTransferEncoding = hForwardedFor = '';
  req.forEach(collectHeader);
  const host = hHost;
  const incomingId = hRequestId;
  const requestId = incomingId !== '' && validRequestId(incomingId) ? incomingId : randomUUID();
  let headers = scratch;
  const headerBytes = scratchBytes + method.length + url.length + query.length + 12;
  if (scratchConnection !== '') headers = removeConnectionListed(headers, scratchConnection);

  const ex = new Exchange(res, deps, requestId, method, url, ts, t0);
  lastExchange = ex;
  res.onAborted(() => ex.onClientAborted());

  if (headerBytes > deps.maxHeaderBytes) {
    ex.fail('TP_ERR_HEADERS_TOO_LARGE', `request headers exceed ${deps.maxHeaderBytes} bytes`, true);
    return ex.finish();
  }
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

  if (route.keyAuth) {
    const auth = authenticate(route.keyAuth, snap.keys, (name) => req.getHeader(name));
    if (!auth.ok) {
      ex.fail(auth.code, auth.code === 'TP_ERR_AUTH_KEY_MISSING' ? 'an API key is required' : 'the API key is not valid');
      return ex.finish();
    }
    ex.consumerId = auth.owner.consumerId;
    if (route.keyAuth.hideCredentials) headers = withoutHeaders(headers, route.keyAuth.headerNames);
    headers.push('x-consumer-id', auth.owner.consumerId, 'x-consumer-username', auth.owner.username);
  }

  const contentLengthHeader = hContentLength;
  const chunked = hTransferEncoding !== '';
  const declared = contentLengthHeader === '' ? 0 : Number(contentLengthHeader);
  if (!Number.isSafeInteger(declared) || declared < 0) {
    ex.fail('TP_ERR_BAD_REQUEST', 'invalid content-length', true);
    return ex.finish();
  }
  const maxBody = route.sizeLimit === null ? deps.maxBodyBytes : bodyLimitFor(route.sizeLimit, ex.consumerId, deps.maxBodyBytes);
  ex.maxBodyBytes = maxBody;
  if (declared > maxBody) {
    ex.fail('TP_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`, true);
    return ex.finish();
  }

  const upstream = route.service.upstream;
  if (upstream === null) {
    ex.fail('TP_ERR_INTEGRATION_UNAVAILABLE', `the ${route.service.integration ?? 'configured'} integration is not served by this gateway version`);
    return ex.finish();
  }
  const clientIp = Buffer.from(res.getRemoteAddressAsText()).toString();
  const target =
    upstream.hashOn === null
      ? upstream.balancer.pick()
      : upstream.balancer.pick(requestHashKey(upstream.hashOn, { header: (n) => req.getHeader(n), clientIp: () => clientIp, path: url }));
  if (!target) {
    ex.fail('TP_ERR_NO_HEALTHY_TARGET', 'the upstream has no target with a positive weight');
    return ex.finish();
  }
  target.inFlight++;
  ex.target = target;
  ex.totalTimeoutMs = upstream.totalTimeoutMs;

  const priorXff = hForwardedFor;
  headers.push(
    'x-forwarded-for',
    priorXff === '' ? clientIp : `${priorXff}, ${clientIp}`,
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    host,
    'x-forwarded-port',
    portString(deps.port()),
    'x-request-id',
    requestId,
  );

  const rest = route.stripPath ? url.slice(match.prefixLength) : url;
  let upstreamPath = route.service.basePath + rest;
  if (upstreamPath === '') upstreamPath = '/';
  else if (upstreamPath.charCodeAt(0) !== 47) upstreamPath = '/' + upstreamPath;
  if (query !== '') upstreamPath += '?' + query;

  ex.dispatcher = target.dispatcher;
  ex.dispatchOpts = {
    path: upstreamPath,
    method: method as Dispatcher.HttpMethod,
    headers,
    body: null,
    headersTimeout: upstream.readTimeoutMs,
    bodyTimeout: upstream.readTimeoutMs,
  };

  if (!chunked && declared === 0) {
    ex.dispatch();
  } else if (!chunked && declared <= BUFFER_BODY_MAX) {
    ex.bodyChunks = [];
    res.onData((chunk, isLast) => ex.onClientDataBuffered(chunk, isLast));
  } else {
    ex.body = new BodyStream(ex);
    ex.dispatchOpts.body = ex.body;
    res.onData((chunk, isLast) => ex.onClientData(chunk, isLast));
    ex.dispatch();
  }
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
