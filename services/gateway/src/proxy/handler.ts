// The uWS request handler: route, authenticate, and stream the exchange through undici's dispatch API
// with backpressure both ways. One Exchange object per request is both the uWS-side state and the
// undici DispatchHandler, so the hot path allocates little beyond it.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Dispatcher } from 'undici';
import { errorBody, httpStatusFor, type CallRecord, type ErrorCode } from '@turnpike/common';
import type { CompiledRoute, CompiledUpstream, Snapshot, UpstreamTarget } from '../config/compiler.js';
import type { RequestView } from '../router/index.js';
import { authenticate, KEY_AUTH_MESSAGES, withoutQueryParams } from '../plugins/key-auth/index.js';
import { bodyLimitFor } from '../plugins/request-size-limiting/index.js';
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
import { RETRY_5XX, RETRY_CONNECT_FAILURE, countsAsFailure, failureCondition, isIdempotent, unavailableCode, type CompiledResilience } from '../upstream/resilience.js';

export interface ProxyDeps {
  snapshot(): Snapshot | null;
  record(rec: CallRecord): void;
  observe(status: number, totalMs: number): void;
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
  /** Set for the HTTPS listener's handler (tls/https-listener.ts): the client's scheme is https. */
  https?: boolean;
  /** WebSocket proxying (proxy/websocket.ts): largest message either way (default 16 MiB). */
  wsMaxMessageBytes?: number;
  /** WebSocket proxying: idle timeout of upgrades on http services (default 120 s). */
  wsIdleTimeoutMs?: number;
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
    this.bodyIdleAt = bodyClock;
    if (isLast && this.bodyTimeoutMs > 0) unwatchUpload(this);
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
    this.bodyIdleAt = bodyClock;
    if (isLast && this.bodyTimeoutMs > 0) unwatchUpload(this);
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
      // Time spent paused by our own backpressure is not the client's idleness.
      this.bodyIdleAt = bodyClock;
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

  /** The client stopped sending its body for bodyTimeoutMs: 408 (or a cut, once answered), upstream aborted. */
  clientBodyTimeout(): void {
    const err = Object.assign(new Error('client body timeout'), { code: 'TP_ERR_CLIENT_TIMEOUT' });
    if (!this.responded) this.fail('TP_ERR_CLIENT_TIMEOUT', `no request body data for ${this.bodyTimeoutMs} ms`, true);
    else if (!this.ended) {
      this.ended = true;
      this.res.close();
    }
    this.errorCode = 'TP_ERR_CLIENT_TIMEOUT';
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
      res.writeStatus(statusLine(this.status)).writeHeader('content-type', 'application/json').writeHeader('x-request-id', this.requestId);
      // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to (a websocket service; proxy/websocket.ts).
      if (this.status === 426) res.writeHeader('upgrade', 'websocket');
      res.end(payload, close || this.closeOnError || draining);
    });
  }

  // ---- upstream side (undici legacy DispatchHandler: raw headers, boolean backpressure) ----

  dispatch(): void {
    if (this.aborted || this.responded) return this.finish();
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
    // Ours after the upstream's own Via lines: repeated fields read as one list (RFC 9110 §5.3).
    res.writeHeader('via', VIA);
    // Draining (src/node/drain.ts): the client must not reuse this connection, it is about to close.
    if (draining) res.writeHeader('connection', 'close');
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
    if (this.discarding) return this.retryLater();
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
    if (this.discarding) return this.retryLater();
    if (this.resilience !== null && this.upstreamFailed(err)) return;
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
    if (this.aborted || this.responded || this.expired || this.body !== null) return false;
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

  bodyIncomplete(): boolean {
    return this.body !== null && !this.body.readableEnded;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.target !== null) {
      this.target.inFlight--;
      if (this.resilience !== null && !this.outcomeReported) this.target.health.release();
    }
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
  req: HttpRequest | null = null;
  ip = '';
  path = '';
  reset(req: HttpRequest, ip: string, path: string): this {
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
  hForwarded = hVia = hTraceparent = hTracestate = hExpect = '';
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
  res.onAborted(() => ex.onClientAborted());

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

  if (route.keyAuth) {
    const auth = authenticate(route.keyAuth, snap.keys, (name) => req.getHeader(name), query);
    if (!auth.ok) {
      ex.fail(auth.code, KEY_AUTH_MESSAGES[auth.code]);
      return ex.finish();
    }
    ex.consumerId = auth.owner.consumerId;
    if (route.keyAuth.hideCredentials) {
      headers = withoutHeaders(headers, route.keyAuth.headerNames);
      // A key sent in the query string is not forwarded either.
      if (route.keyAuth.queryNames.length > 0 && query !== '') query = withoutQueryParams(query, route.keyAuth.queryNames);
    }
    headers.push('x-consumer-id', auth.owner.consumerId, 'x-consumer-username', auth.owner.username);
  }

  const maxBody = route.sizeLimit === null ? deps.maxBodyBytes : bodyLimitFor(route.sizeLimit, ex.consumerId, deps.maxBodyBytes);
  ex.maxBodyBytes = maxBody;
  if (declared > maxBody) {
    ex.fail('TP_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBody} bytes`, true);
    return ex.finish();
  }

  let upstream = route.service.upstream;
  if (upstream === null) {
    // A websocket service takes upgrades only (proxy/websocket.ts); uWS hands them to app.ws, never here.
    if (route.service.websocket !== null) ex.fail('TP_ERR_UPGRADE_REQUIRED', 'this service accepts WebSocket upgrades only');
    else ex.fail('TP_ERR_INTEGRATION_UNAVAILABLE', `the ${route.service.integration ?? 'configured'} integration is not served by this gateway version`);
    return ex.finish();
  }
  const clientIp = Buffer.from(res.getRemoteAddressAsText()).toString();
  // Target selection: a canary/weighted split may send the request to another upstream; balancers skip
  // targets that health checks, ejection or a breaker keep out.
  const splits = route.service.splits;
  if (splits !== null) upstream = splits.pick(upstream, req);
  const hashKey = upstream.hashOn === null ? undefined : requestHashKey(upstream.hashOn, hashKeySource.reset(req, clientIp, url));
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

  const priorXff = hForwardedFor;
  // The scheme the client used: x-forwarded-proto and Forwarded's proto= both read it.
  const proto = deps.https === true ? 'https' : 'http';
  headers.push(
    'x-forwarded-for',
    joinList(priorXff, clientIp),
    'x-forwarded-proto',
    proto,
    'x-forwarded-host',
    host,
    'x-forwarded-port',
    portString(deps.port()),
    'x-request-id',
    requestId,
    'forwarded',
    forwardedWith(hForwarded, clientIp, proto, host),
    'via',
    viaWith(hVia),
  );
  // W3C trace context: a valid incoming one passes unchanged (with its tracestate); otherwise a fresh,
  // unsampled traceparent lets upstream logs correlate with this request (tracestate without it is void).
  if (hTraceparent !== '' && validTraceparent(hTraceparent)) {
    headers.push('traceparent', hTraceparent);
    if (hTracestate !== '') headers.push('tracestate', hTracestate);
  } else headers.push('traceparent', newTraceparent());

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
