// OpenTelemetry through the real proxy port: a gateway started as a library with tracing on exports its spans
// over OTLP/HTTP (JSON, as @opentelemetry/exporter-trace-otlp-http sends it) to a node:http server here that
// speaks the collector's /v1/traces endpoint; the upstream (node:http) records the traceparent it receives.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';
import { tracingConfigFromEnv } from '../src/tracing/config.js';

const now = new Date().toISOString();

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}
interface Exported {
  resource: Record<string, unknown>;
  span: OtlpSpan;
}
// OTLP's SpanKind enum (trace.proto): the JSON encoding sends the number.
const SERVER = 2;
const CLIENT = 3;

function attr(s: OtlpSpan, key: string): unknown {
  const a = s.attributes?.find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue);
}

/** A collector's OTLP/HTTP traces endpoint: POST /v1/traces, JSON (optionally gzip) ExportTraceServiceRequest. */
async function startCollector(): Promise<{ server: Server; url: string; spans: Exported[]; requests: IncomingHttpHeaders[] }> {
  const spans: Exported[] = [];
  const requests: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      requests.push(req.headers);
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      if (!String(req.headers['content-type']).startsWith('application/json')) return void res.writeHead(415).end();
      const body = JSON.parse(raw.toString()) as {
        resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        const resource: Record<string, unknown> = {};
        for (const a of rs.resource.attributes) resource[a.key] = a.value.stringValue;
        for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ resource, span });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, requests };
}

describe('OpenTelemetry tracing through the gateway proxy', { timeout: 60_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-tracing-'));
  let upstream: Server;
  let authz: Server;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let gw: Gateway;
  let rev = 0;
  /** The traceparent each upstream request carried, by x-request-id. */
  const seen = new Map<string, string>();
  const ids = { up: randomUUID(), svc: randomUUID(), route: randomUUID(), authRoute: randomUUID(), authz: randomUUID(), dave: randomUUID() };
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const get = async (g: Gateway, path: string, headers: Record<string, string> = {}) => {
    const r = await request(`http://127.0.0.1:${g.proxyPort}${path}`, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
    await r.body.text();
    return { status: r.statusCode, requestId: String(r.headers['x-request-id']) };
  };
  const spansOf = (traceId: string) => collector.spans.filter((e) => e.span.traceId === traceId);

  before(async () => {
    upstream = createServer((req, res) => {
      seen.set(String(req.headers['x-request-id']), String(req.headers.traceparent ?? ''));
      res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    authz = createServer((req, res) => {
      req.resume();
      // Answers a little later: the authorizer step waits asynchronously, so it gets its own span.
      req.on('end', () =>
        setTimeout(() => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ principalId: 'dave', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' }] } }));
        }, 5),
      );
    });
    await new Promise<void>((r) => authz.listen(0, '127.0.0.1', () => r()));
    collector = await startCollector();
    await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] });
    await put('services', { id: ids.svc, name: 'svc', upstream_id: ids.up });
    await put('routes', { id: ids.route, name: 'r', service_id: ids.svc, paths: ['/traced'] });
    await put('routes', { id: ids.authRoute, name: 'ra', service_id: ids.svc, paths: ['/authorized'] });
    await put('consumers', { id: ids.dave, username: 'dave' });
    const authzUrl = `http://127.0.0.1:${(authz.address() as AddressInfo).port}/authorize`;
    await put('plugins', { id: ids.authz, type: 'custom-authorizer', enabled: true, scope: { route_id: ids.authRoute }, config: { kind: 'http', type: 'token', http: { url: authzUrl, timeout_ms: 2_000 }, result_ttl_ms: 0 } });
    const tracing = tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', TP_OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
    assert.ok(tracing !== null);
    gw = await startGateway({ nodeId: 'trace-node-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, tracing });
    await waitFor('routes applied', async () => (await get(gw, '/authorized', { authorization: 'allow' })).status === 200 || null, 5_000);
  });

  after(async () => {
    await gw?.close();
    await Promise.all([upstream, authz, collector?.server].map((s) => s && new Promise((r) => s.close(r))));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a sampled request exports a server span and an upstream client span; the upstream sees the client span as parent', async () => {
    const r = await get(gw, '/traced/x?q=1');
    assert.equal(r.status, 200);
    const tp = seen.get(r.requestId)!;
    assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'the upstream gets a sampled traceparent');
    const traceId = tp.slice(3, 35);
    const parentId = tp.slice(36, 52);
    const spans = await waitFor('spans exported', () => {
      const s = spansOf(traceId);
      return s.some((e) => e.span.kind === SERVER) && s.some((e) => e.span.kind === CLIENT) ? s : null;
    }, 5_000);
    const server = spans.find((e) => e.span.kind === SERVER)!;
    const client = spans.find((e) => e.span.kind === CLIENT)!;
    assert.equal(client.span.spanId, parentId, 'the traceparent sent upstream names the client span');
    assert.equal(client.span.parentSpanId, server.span.spanId, 'the client span is a child of the server span');
    assert.ok(!server.span.parentSpanId, 'a request without traceparent starts a trace');
    assert.equal(server.span.name, 'HTTP GET');
    assert.equal(attr(server.span, 'http.request.method'), 'GET');
    assert.equal(attr(server.span, 'url.path'), '/traced/x');
    assert.equal(attr(server.span, 'http.response.status_code'), 200);
    assert.equal(attr(server.span, 'turnpike.route.id'), ids.route);
    assert.equal(attr(server.span, 'turnpike.service.id'), ids.svc);
    assert.equal(attr(server.span, 'turnpike.request.id'), r.requestId);
    assert.equal(attr(client.span, 'http.response.status_code'), 200);
    assert.match(String(attr(client.span, 'url.full')), /^http:\/\/127\.0\.0\.1:\d+\/traced\/x\?q=1$/);
    const route = spans.find((e) => e.span.name === 'route')!;
    assert.equal(route.span.parentSpanId, server.span.spanId);
    assert.equal(server.resource['service.name'], 'turnpike-gateway');
    assert.equal(server.resource['turnpike.node.id'], 'trace-node-1');
  });

  test('a sampled incoming traceparent is continued; an asynchronous pipeline step gets its own span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const r = await get(gw, '/authorized', { traceparent: `00-${traceId}-${callerSpan}-01`, authorization: 'allow' });
    assert.equal(r.status, 200);
    const tp = seen.get(r.requestId)!;
    assert.equal(tp.slice(3, 35), traceId, 'same trace id upstream');
    assert.notEqual(tp.slice(36, 52), callerSpan, 'the upstream is a child of the gateway, not of the caller');
    const spans = await waitFor('spans exported', () => {
      const s = spansOf(traceId);
      return s.some((e) => e.span.kind === CLIENT) && s.some((e) => e.span.kind === SERVER) ? s : null;
    }, 5_000);
    const server = spans.find((e) => e.span.kind === SERVER)!;
    assert.equal(server.span.parentSpanId, callerSpan, "the server span's parent is the caller's span");
    const pipeline = spans.find((e) => e.span.name === 'pipeline');
    assert.ok(pipeline, 'a pipeline span');
    assert.equal(pipeline.span.parentSpanId, server.span.spanId);
    const step = spans.find((e) => attr(e.span, 'turnpike.step') !== undefined);
    assert.ok(step, 'the authorizer step waited: its own span');
    assert.equal(step.span.parentSpanId, pipeline.span.spanId);
    assert.equal(spans.find((e) => e.span.kind === CLIENT)!.span.spanId, tp.slice(36, 52));
    assert.equal(attr(server.span, 'turnpike.consumer.id'), ids.dave);
  });

  test('an unsampled incoming traceparent is followed (parent-based): passed on unchanged, no span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const incoming = `00-${traceId}-${randomBytes(8).toString('hex')}-00`;
    const r = await get(gw, '/traced', { traceparent: incoming, tracestate: 'vendor=1' });
    assert.equal(r.status, 200);
    assert.equal(seen.get(r.requestId), incoming);
    // A sampled request after it: once its spans are out, the unsampled one's would have been too.
    const after = await get(gw, '/traced');
    const afterTrace = seen.get(after.requestId)!.slice(3, 35);
    await waitFor('later spans exported', () => spansOf(afterTrace).some((e) => e.span.kind === SERVER) || null, 5_000);
    assert.equal(spansOf(traceId).length, 0);
  });

  test('proxy worker threads (workers: 2) each export their own spans; close flushes what is queued', async () => {
    const tracing = tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '1', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url.slice(0, -'/v1/traces'.length) });
    const dir = mkdtempSync(join(tmpdir(), 'tp-gw-tracing-workers-'));
    const g = await startGateway({ nodeId: 'trace-node-w', bus, logSink: sink, dataDir: dir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, workers: 2, tracing });
    try {
      await waitFor('routes applied', async () => (await get(g, '/traced')).status === 200 || null, 10_000);
      const traces: string[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await get(g, '/traced');
        traces.push(seen.get(r.requestId)!.slice(3, 35));
      }
      // Closed at once: spans still in a worker's batch go out with the drain's flush.
      await g.close();
      for (const t of traces) {
        const server = spansOf(t).find((e) => e.span.kind === SERVER);
        assert.ok(server, `a server span for ${t}`);
        assert.equal(server.resource['turnpike.node.id'], 'trace-node-w');
      }
    } finally {
      await g.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('ratio 0 (the default): tracing off, no spans, the upstream sees the incoming traceparent or a fresh unsampled one', async () => {
    assert.equal(tracingConfigFromEnv({ TP_OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }), null, 'ratio unset: off');
    const off = tracingConfigFromEnv({ TP_TRACE_SAMPLE_RATIO: '0', TP_OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
    assert.equal(off, null);
    const dir = mkdtempSync(join(tmpdir(), 'tp-gw-tracing-off-'));
    const g = await startGateway({ nodeId: 'trace-node-off', bus, logSink: sink, dataDir: dir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, tracing: off });
    try {
      await waitFor('routes applied', async () => (await get(g, '/traced')).status === 200 || null, 5_000);
      const before = collector.requests.length;
      const sampled = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
      const r1 = await get(g, '/traced', { traceparent: sampled });
      assert.equal(seen.get(r1.requestId), sampled, 'passed on unchanged');
      const r2 = await get(g, '/traced');
      assert.match(seen.get(r2.requestId)!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'a fresh unsampled one');
      await g.close();
      // The batch delay (1 s) has passed twice over: a tracing node would have exported by now.
      await new Promise((res) => setTimeout(res, 2_000));
      assert.equal(spansOf(sampled.slice(3, 35)).length, 0);
      assert.equal(spansOf(seen.get(r2.requestId)!.slice(3, 35)).length, 0);
      assert.equal(collector.requests.length - before, 0, 'nothing reached the collector from the off node');
    } finally {
      await g.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
