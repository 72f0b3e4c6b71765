// Prometheus /metrics against known traffic, through a gateway started as a library on an in-process config
// bus with real node:http upstreams: per-route request counters by status class, latency histograms (request
// and upstream), body byte counters, requests that matched no route (route=""), the node-wide totals — exact,
// in one thread and merged from two proxy worker threads. Also checks that every metric the Grafana dashboard
// under infra/ queries is one the gateway exposes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { InProcessConfigBus, entityKey, type EntityKind, type LogSink } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const now = new Date().toISOString();
const REQ_BODY = 'x'.repeat(10);
const RESP_BODY = 'hello from upstream';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  /** Metric family name -> type, from the # TYPE lines. */
  types: Map<string, string>;
}

/** A small parser of the Prometheus text format (0.0.4): enough for the gateway's own output. */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g;
      let consumed = 0;
      for (let l = re.exec(m[2]); l !== null; l = re.exec(m[2])) {
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed = re.lastIndex;
      }
      assert.equal(consumed, m[2].length, `malformed labels: ${line}`);
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `malformed value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

/** The samples of `name` whose labels include `want`. */
function find(e: Exposition, name: string, want: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with exactly these labels (le aside), or a failure. */
function value(e: Exposition, name: string, want: Record<string, string>): number {
  const hits = find(e, name, want).filter((s) => Object.keys(s.labels).length === Object.keys(want).length);
  assert.equal(hits.length, 1, `${name}${JSON.stringify(want)}: ${hits.length} samples`);
  return hits[0]!.value;
}

/** A histogram's buckets are cumulative, end with +Inf = _count, and the series has a finite _sum. */
function checkHistogram(e: Exposition, name: string, want: Record<string, string>): { count: number; sum: number } {
  const buckets = find(e, `${name}_bucket`, want);
  assert.ok(buckets.length >= 2, `${name} has buckets`);
  let prevLe = -Infinity;
  let prev = 0;
  for (const b of buckets) {
    const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
    assert.ok(le > prevLe, `${name}: le ascending`);
    assert.ok(b.value >= prev, `${name}: buckets monotonic (${b.labels.le}: ${b.value} < ${prev})`);
    prevLe = le;
    prev = b.value;
  }
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  const count = value(e, `${name}_count`, want);
  const sum = value(e, `${name}_sum`, want);
  assert.equal(prev, count, `${name}: +Inf bucket equals _count`);
  assert.ok(Number.isFinite(sum) && sum >= 0, `${name}: _sum finite`);
  return { count, sum };
}

/** Every `turnpike_*` metric family the dashboard's PromQL expressions name (histogram suffixes removed). */
function dashboardMetrics(): Set<string> {
  const dash = JSON.parse(readFileSync(join(REPO, 'infra/grafana/dashboards/turnpike-gateway.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  const names = new Set<string>();
  for (const p of dash.panels) {
    for (const t of p.targets ?? []) {
      const found = t.expr.match(/\bturnpike_[a-z0-9_]+/g) ?? [];
      assert.ok(found.length > 0, `panel "${p.title}" queries a turnpike metric`);
      for (const n of found) names.add(n.replace(/_(bucket|sum|count)$/, ''));
    }
  }
  return names;
}

for (const workers of [1, 2]) {
  describe(`/metrics match the traffic sent (workers: ${workers})`, { timeout: 60_000 }, () => {
    const bus = new InProcessConfigBus();
    const sink: LogSink = { write: async () => undefined, close: async () => undefined };
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-metrics-'));
    let upstream: Server;
    let gw: Gateway;
    let rev = 0;
    const ids = { up: randomUUID(), svcA: randomUUID(), svcB: randomUUID(), routeA: randomUUID(), routeB: randomUUID(), hcGood: randomUUID(), hcBad: randomUUID() };
    let target = '';
    const put = (kind: EntityKind, data: Record<string, unknown>) =>
      bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
    const scrape = async (): Promise<Exposition> => {
      const r = await request(`http://127.0.0.1:${gw.statusPort}/metrics`);
      assert.equal(r.statusCode, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      return parseExposition(await r.body.text());
    };
    const send = async (path: string, body?: string): Promise<number> => {
      // A connection per request (reset): with two workers the kernel spreads them over both threads.
      const r = await request(`http://127.0.0.1:${gw.proxyPort}${path}`, body === undefined ? { reset: true } : { method: 'POST', body, reset: true });
      await r.body.text();
      return r.statusCode;
    };

    before(async () => {
      upstream = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          if (req.url?.includes('missing')) res.writeHead(404).end('nope');
          else if (req.url === '/down') res.writeHead(503).end();
          else res.end(RESP_BODY);
        });
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
      const port = (upstream.address() as AddressInfo).port;
      await put('upstreams', { id: ids.up, name: 'up', targets: [{ host: '127.0.0.1', port }] });
      await put('services', { id: ids.svcA, name: 'a', upstream_id: ids.up });
      await put('services', { id: ids.svcB, name: 'b', upstream_id: ids.up });
      await put('routes', { id: ids.routeA, name: 'a', service_id: ids.svcA, paths: ['/a'] });
      await put('routes', { id: ids.routeB, name: 'b', service_id: ids.svcB, paths: ['/b'] });
      // Two upstreams with active health checks on the same target: one checks a path that answers, one that fails.
      target = `http://127.0.0.1:${port}`;
      const active = (path: string) => ({ path, interval_ms: 1_000, timeout_ms: 500, healthy: { successes: 1 }, unhealthy: { failures: 1, timeouts: 1 } });
      await put('upstreams', { id: ids.hcGood, name: 'hc-good', targets: [{ host: '127.0.0.1', port }], health_checks: { active: active('/up') } });
      await put('upstreams', { id: ids.hcBad, name: 'hc-bad', targets: [{ host: '127.0.0.1', port }], health_checks: { active: active('/down') } });
      gw = await startGateway({ nodeId: `metrics-${workers}`, bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, heartbeatIntervalMs: 0, workers });
      // Ready: every proxy thread serves the config (no request is sent before, so none goes unrouted).
      await waitFor('gateway ready', async () => (await request(`http://127.0.0.1:${gw.statusPort}/readyz`).then(async (r) => (await r.body.text(), r.statusCode))) === 200 || null, 10_000);
    });

    after(async () => {
      await gw?.close();
      await new Promise((r) => upstream.close(r));
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('counters, histograms and bytes per route are exact; totals are their sums', async () => {
      for (let i = 0; i < 7; i++) assert.equal(await send('/a/x', REQ_BODY), 200);
      assert.equal(await send('/b/ok'), 200);
      assert.equal(await send('/b/missing'), 404);
      assert.equal(await send('/b/missing/2'), 404);
      assert.equal(await send('/nowhere'), 404);
      const A = { route: ids.routeA, service: ids.svcA };
      const B = { route: ids.routeB, service: ids.svcB };
      const none = { route: '', service: '' };
      // A response is counted when the exchange finishes, which may trail the client's read by a moment.
      let e = await scrape();
      await waitFor('all 11 requests counted', async () => {
        e = await scrape();
        return value(e, 'turnpike_gateway_request_duration_ms_count', {}) === 11 || null;
      }, 5_000);

      const classes = ['1xx', '2xx', '3xx', '4xx', '5xx'];
      const expect = (labels: Record<string, string>, counts: Record<string, number>) => {
        for (const c of classes) assert.equal(value(e, 'turnpike_requests_total', { ...labels, status_class: c }), counts[c] ?? 0, `${JSON.stringify(labels)} ${c}`);
      };
      expect(A, { '2xx': 7 });
      expect(B, { '2xx': 1, '4xx': 2 });
      expect(none, { '4xx': 1 });
      assert.equal(find(e, 'turnpike_requests_total').length, 15, 'three series, five classes each, nothing else');

      const total = { A: 7, B: 3, none: 1 };
      for (const [key, labels] of [['A', A], ['B', B], ['none', none]] as const) {
        const d = checkHistogram(e, 'turnpike_request_duration_seconds', labels);
        const u = checkHistogram(e, 'turnpike_upstream_duration_seconds', labels);
        assert.equal(d.count, total[key], `${key}: request count`);
        assert.equal(u.count, key === 'none' ? 0 : total[key], `${key}: upstream count (requests that reached an upstream)`);
        assert.ok(d.sum > 0 && d.sum < d.count * 5, `${key}: request latency sum plausible (${d.sum} s)`);
        assert.ok(u.sum <= d.sum, `${key}: upstream time is part of the total`);
      }
      assert.equal(value(e, 'turnpike_request_bytes_total', A), 7 * REQ_BODY.length);
      assert.equal(value(e, 'turnpike_response_bytes_total', A), 7 * RESP_BODY.length);
      assert.equal(value(e, 'turnpike_request_bytes_total', B), 0);
      assert.equal(value(e, 'turnpike_response_bytes_total', B), RESP_BODY.length + 2 * 'nope'.length);

      // Node-wide totals are the sums of the series.
      assert.equal(value(e, 'turnpike_gateway_requests_total', { status_class: '2xx' }), 8);
      assert.equal(value(e, 'turnpike_gateway_requests_total', { status_class: '4xx' }), 3);
      assert.equal(value(e, 'turnpike_gateway_requests_total', { status_class: '5xx' }), 0);
      const legacy = checkHistogram(e, 'turnpike_gateway_request_duration_ms', {});
      const perRoute = find(e, 'turnpike_request_duration_seconds_sum').reduce((n, s) => n + s.value, 0);
      assert.ok(Math.abs(legacy.sum / 1000 - perRoute) < 1e-4, `ms total ${legacy.sum} vs per-route seconds ${perRoute}`);

      // Config revision and call-log gauges are present; with workers, each worker's count adds up.
      assert.ok(value(e, 'turnpike_gateway_config_revision', {}) > 0);
      assert.equal(value(e, 'turnpike_gateway_call_log_dropped_total', {}), 0);
      if (workers > 1) {
        const per = find(e, 'turnpike_gateway_worker_requests_total');
        assert.equal(per.length, 2);
        assert.equal(per.reduce((n, s) => n + s.value, 0), 11, `per worker: ${per.map((s) => s.value).join(', ')}`);
      }

      // A second scrape with no traffic in between changes nothing (no double counting when merging).
      const again = await scrape();
      for (const s of find(e, 'turnpike_requests_total')) assert.equal(value(again, 'turnpike_requests_total', s.labels), s.value);
    });

    test('upstream target health gauges follow the active health checks (every thread agreeing)', async () => {
      const gauges = (e: Exposition, upstream: string) => ({
        healthy: value(e, 'turnpike_upstream_target_healthy', { upstream, target }),
        active: value(e, 'turnpike_upstream_target_active_healthy', { upstream, target }),
        ejected: value(e, 'turnpike_upstream_target_ejected', { upstream, target }),
      });
      let e = await scrape();
      await waitFor('bad target checked out', async () => {
        e = await scrape();
        return (find(e, 'turnpike_upstream_target_healthy', { upstream: ids.hcBad }).some((s) => s.value === 0) && find(e, 'turnpike_upstream_target_healthy', { upstream: ids.hcGood }).length === 1) || null;
      }, 8_000);
      assert.deepEqual(gauges(e, ids.hcBad), { healthy: 0, active: 0, ejected: 0 });
      assert.deepEqual(gauges(e, ids.hcGood), { healthy: 1, active: 1, ejected: 0 });
    });

    // With worker threads: the per-worker families exist only there, everything else in both modes.
    if (workers === 2) {
      test('every metric the Grafana dashboard queries is exposed, with its declared type', async () => {
        const e = await scrape();
        const names = dashboardMetrics();
        assert.ok(names.size >= 8, `the dashboard queries ${names.size} metrics`);
        for (const n of names) assert.ok(e.types.has(n), `dashboard metric ${n} is not in /metrics`);
        // histogram_quantile needs a histogram's _bucket series.
        const dash = readFileSync(join(REPO, 'infra/grafana/dashboards/turnpike-gateway.json'), 'utf8');
        for (const m of dash.matchAll(/histogram_quantile\([^,]+,[^)]*?\b(turnpike_[a-z0-9_]+)_bucket\b/g)) assert.equal(e.types.get(m[1]!), 'histogram', m[1]);
      });
    }
  });
}
