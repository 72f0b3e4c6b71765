import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { RequestTracer } from './tracer.js';

/** Keeps what it is given (the SDK's InMemorySpanExporter forgets everything on shutdown). */
class KeepingExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: (r: { code: number }) => void): void {
    this.spans.push(...spans);
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  getFinishedSpans(): ReadableSpan[] {
    return this.spans;
  }
}

const req = { method: 'POST', path: '/p', host: 'h', scheme: 'http', requestId: 'r1', routeId: 'rt', serviceId: 'sv', t0: performance.now() };
const outcome = { status: 201, errorCode: '', consumerId: '', clientIp: '127.0.0.1', retries: 0, upstreamStatus: 201 };

test('shutdown flushes spans still queued in the batch processor, once', async () => {
  const exporter = new KeepingExporter();
  // A batch delay far beyond the test: only the shutdown flush can export them.
  const tracer = new RequestTracer({ endpoint: 'http://unused.invalid/v1/traces', ratio: 1, headers: {} }, { nodeId: 'n1', exporter, scheduledDelayMillis: 600_000 });
  const t = tracer.begin('', req);
  t.pipelineStart(2);
  t.stepWaiting('jwt-auth');
  t.stepSettled(false);
  const tp = t.upstream('POST', 'http://10.0.0.1:8080', '/up?x=1');
  t.end(outcome);
  assert.equal(exporter.getFinishedSpans().length, 0, 'still queued');
  await tracer.shutdown();
  await tracer.shutdown();
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['HTTP POST', 'HTTP POST', 'jwt-auth', 'pipeline', 'route']);
  const client = spans.find((s) => s.kind === 2 /* CLIENT in the API's enum */)!;
  assert.equal(tp, `00-${client.spanContext().traceId}-${client.spanContext().spanId}-01`);
  assert.equal(client.attributes['server.address'], '10.0.0.1');
  assert.equal(client.attributes['server.port'], 8080);
  assert.equal(spans[0]!.resource.attributes['service.instance.id'], 'n1');
  assert.equal(tracer.sample(''), false, 'a closed tracer samples nothing');
});

test('an incoming traceparent becomes the remote parent of the server span', async () => {
  const exporter = new KeepingExporter();
  const tracer = new RequestTracer({ endpoint: 'http://unused.invalid/v1/traces', ratio: 1, headers: {} }, { nodeId: 'n1', exporter, scheduledDelayMillis: 600_000 });
  const t = tracer.begin('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', req);
  t.end({ ...outcome, status: 502, errorCode: 'TP_ERR_UPSTREAM_UNAVAILABLE', upstreamStatus: 0 });
  await tracer.shutdown();
  const server = exporter.getFinishedSpans().find((s) => s.name === 'HTTP POST')!;
  assert.equal(server.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(server.parentSpanContext?.spanId, '00f067aa0ba902b7');
  assert.equal(server.attributes['error.type'], 'TP_ERR_UPSTREAM_UNAVAILABLE');
  assert.equal(server.status.code, 2 /* ERROR */);
});
