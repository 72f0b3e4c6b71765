// The spans of one sampled request: the server span (`HTTP <METHOD>`), under it the route match, the plugin
// pipeline (with a span per step that waited asynchronously: a JWKS fetch, an authorizer call) and the upstream
// call (a client span whose context is the traceparent sent upstream, so the upstream continues our trace).
// Built only for sampled requests: unsampled ones never reach this module.
import { SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';

/** What the server span is named and labelled with, known when the route matched. */
export interface TracedRequest {
  method: string;
  path: string;
  host: string;
  scheme: string;
  requestId: string;
  routeId: string;
  serviceId: string;
  /** performance.now() at the request's arrival: the server span starts there. */
  t0: number;
}

/** How the request ended, for the server span (and what is still open). */
export interface TracedOutcome {
  status: number;
  /** The call log's error code ('' for none). */
  errorCode: string;
  consumerId: string;
  clientIp: string;
  /** Upstream attempts made after the first (resilience retries). */
  retries: number;
  /** The upstream's response status (0: none came). */
  upstreamStatus: number;
}

/** performance.now() milliseconds to epoch milliseconds (what the SDK takes a number start time as). */
function epochMs(perfMs: number): number {
  return performance.timeOrigin + perfMs;
}

export class RequestTrace {
  readonly #tracer: Tracer;
  readonly #server: Span;
  readonly #serverCtx: Context;
  #pipeline: Span | null = null;
  #pipelineCtx: Context | null = null;
  #step: Span | null = null;
  #client: Span | null = null;

  constructor(tracer: Tracer, parent: Context, req: TracedRequest) {
    this.#tracer = tracer;
    const start = epochMs(req.t0);
    this.#server = tracer.startSpan(
      `HTTP ${req.method}`,
      {
        kind: SpanKind.SERVER,
        startTime: start,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: req.method,
          [ATTR_URL_PATH]: req.path,
          [ATTR_URL_SCHEME]: req.scheme,
          [ATTR_SERVER_ADDRESS]: req.host,
          'turnpike.request.id': req.requestId,
          'turnpike.route.id': req.routeId,
          'turnpike.service.id': req.serviceId,
        },
      },
      parent,
    );
    this.#serverCtx = trace.setSpan(parent, this.#server);
    // Routing is synchronous and done by now: its span covers arrival (header checks) to the match.
    tracer.startSpan('route', { startTime: start, attributes: { 'turnpike.route.id': req.routeId } }, this.#serverCtx).end();
  }

  /** The route's plugin steps start (ends at upstream(), or at end() for a denial or answer). */
  pipelineStart(steps: number): void {
    this.#pipeline = this.#tracer.startSpan('pipeline', { attributes: { 'turnpike.pipeline.steps': steps } }, this.#serverCtx);
    this.#pipelineCtx = trace.setSpan(this.#serverCtx, this.#pipeline);
  }

  /** A step returned a Promise: its own span runs until it settles. */
  stepWaiting(step: string): void {
    this.#step?.end();
    this.#step = this.#tracer.startSpan(step, { attributes: { 'turnpike.step': step } }, this.#pipelineCtx ?? this.#serverCtx);
  }

  stepSettled(failed: boolean): void {
    const s = this.#step;
    if (s === null) return;
    if (failed) s.setStatus({ code: SpanStatusCode.ERROR });
    s.end();
    this.#step = null;
  }

  /** A step ended the pipeline with a denial or its own answer. */
  stepDecided(step: string, status: number, code: string): void {
    const p = this.#pipeline;
    if (p === null) return;
    p.addEvent(code === '' ? 'answered' : 'denied', { 'turnpike.step': step, [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, ...(code === '' ? {} : { [ATTR_ERROR_TYPE]: code }) });
  }

  /**
   * The upstream call starts: ends the pipeline span, starts the client span and returns the traceparent to
   * send, naming the client span as the parent (sampled).
   */
  upstream(method: string, origin: string, pathAndQuery: string): string {
    this.#endPipeline();
    const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_FULL]: origin + pathAndQuery };
    const at = origin.indexOf('://');
    if (at !== -1) {
      const hostPort = origin.slice(at + 3);
      const colon = hostPort.lastIndexOf(':');
      if (colon !== -1 && hostPort.charCodeAt(hostPort.length - 1) !== 93 /* ] */) {
        attributes[ATTR_SERVER_ADDRESS] = hostPort.slice(0, colon);
        attributes[ATTR_SERVER_PORT] = Number(hostPort.slice(colon + 1));
      } else attributes[ATTR_SERVER_ADDRESS] = hostPort;
    }
    const client = (this.#client = this.#tracer.startSpan(`HTTP ${method}`, { kind: SpanKind.CLIENT, attributes }, this.#serverCtx));
    const sc = client.spanContext();
    return `00-${sc.traceId}-${sc.spanId}-01`;
  }

  /** The exchange is over: ends every span still open. */
  end(o: TracedOutcome): void {
    this.stepSettled(false);
    this.#endPipeline();
    const failed = o.errorCode !== '' || o.status >= 500;
    const client = this.#client;
    if (client !== null) {
      if (o.upstreamStatus > 0) client.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, o.upstreamStatus);
      if (o.retries > 0) client.setAttribute('turnpike.upstream.retries', o.retries);
      if (o.errorCode.startsWith('TP_ERR_UPSTREAM')) {
        client.setAttribute(ATTR_ERROR_TYPE, o.errorCode);
        client.setStatus({ code: SpanStatusCode.ERROR });
      }
      client.end();
    }
    const s = this.#server;
    s.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, o.status);
    if (o.clientIp !== '') s.setAttribute(ATTR_CLIENT_ADDRESS, o.clientIp);
    if (o.consumerId !== '') s.setAttribute('turnpike.consumer.id', o.consumerId);
    if (failed) {
      s.setAttribute(ATTR_ERROR_TYPE, o.errorCode !== '' ? o.errorCode : String(o.status));
      // Server spans are errors for 5xx only (OTel HTTP semconv): a 4xx is the client's doing.
      if (o.status >= 500 || o.status === 0) s.setStatus({ code: SpanStatusCode.ERROR });
    }
    s.end();
  }

  #endPipeline(): void {
    if (this.#pipeline === null) return;
    this.#pipeline.end();
    this.#pipeline = null;
  }
}
