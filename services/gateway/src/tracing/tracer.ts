// One proxy thread's OpenTelemetry tracer: its own TracerProvider, BatchSpanProcessor and OTLP/HTTP exporter
// (worker threads do not relay spans to the primary: each exports its own batches, which collectors take as
// they come). It exists only when tracing is configured (config.ts); the handler then asks `sample` per
// request and builds a RequestTrace only for the sampled ones.
import { ROOT_CONTEXT, trace, type Context, type Tracer } from '@opentelemetry/api';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { validTraceparent } from '../proxy/headers.js';
import type { TracingConfig } from './config.js';
import { headSampled } from './head-sampler.js';
import { RequestTrace, type TracedRequest } from './request-trace.js';

export const SERVICE_NAME = 'turnpike-gateway';
const SERVICE_VERSION = '0.1.0';
/** A flush on shutdown (drain, close) waits at most this long for the collector. */
const SHUTDOWN_FLUSH_MS = 3_000;

export interface RequestTracerOptions {
  nodeId: string;
  /** Test seam: another exporter than OTLP/HTTP. */
  exporter?: SpanExporter;
  /** BatchSpanProcessor's export delay (default 1 s: spans reach the collector within about a second). */
  scheduledDelayMillis?: number;
}

export class RequestTracer {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;
  readonly #ratio: number;
  #closed: Promise<void> | null = null;

  constructor(config: TracingConfig, o: RequestTracerOptions) {
    this.#ratio = config.ratio;
    const exporter = o.exporter ?? new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers }, timeoutMillis: 5_000 });
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: SERVICE_NAME,
        [ATTR_SERVICE_VERSION]: SERVICE_VERSION,
        // service.instance.id (incubating semconv): the node, so traces tell the gateway nodes apart.
        'service.instance.id': o.nodeId,
        'turnpike.node.id': o.nodeId,
      }),
      // The head decision is ours (headSampled, before any SDK object): every span started is recorded.
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: o.scheduledDelayMillis ?? 1_000, maxQueueSize: 4_096 })],
    });
    this.#tracer = this.#provider.getTracer('@turnpike/gateway', SERVICE_VERSION);
  }

  /** The head-sampling decision for a request; `traceparent` as it came ('' when absent). */
  sample(traceparent: string): boolean {
    return this.#closed === null && headSampled(traceparent, this.#ratio);
  }

  /** Starts the server span of a sampled request (continuing a valid incoming traceparent). */
  begin(incoming: string, req: TracedRequest): RequestTrace {
    return new RequestTrace(this.#tracer, parentContext(incoming), req);
  }

  /** Exports what is queued and stops (drain, close); idempotent, bounded by SHUTDOWN_FLUSH_MS. */
  shutdown(): Promise<void> {
    this.#closed ??= Promise.race([
      this.#provider.shutdown().catch(() => undefined),
      new Promise<void>((r) => setTimeout(r, SHUTDOWN_FLUSH_MS).unref()),
    ]);
    return this.#closed;
  }
}

/** The remote parent of a valid incoming traceparent; the root context otherwise (a new trace). */
function parentContext(tp: string): Context {
  if (tp === '' || !validTraceparent(tp)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: tp.slice(3, 35),
    spanId: tp.slice(36, 52),
    traceFlags: parseInt(tp.slice(53, 55), 16),
    isRemote: true,
  });
}
