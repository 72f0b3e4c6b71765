// GatewayMetrics on its own: bucket edges (le is inclusive), per-route binding across recompiles, label
// escaping, the "other" status class, and the sum of several threads' states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompiledRoute } from '../config/compiler.js';
import { GatewayMetrics, type GaugeSources } from './metrics.js';

const gauges: GaugeSources = {
  revision: () => 7,
  rejected: () => 0,
  configLoaded: () => true,
  natsConnected: () => true,
  uwsNative: () => true,
  callLog: () => ({ buffered: 0, dropped: 0, sent: 0 }),
  inFlight: () => 0,
};

/** Just what metrics read of a compiled route. */
function route(id: string, service: string): CompiledRoute {
  return { id, service: { id: service }, series: null } as unknown as CompiledRoute;
}

function line(text: string, prefix: string): number {
  const l = text.split('\n').find((x) => x.startsWith(prefix + ' '));
  assert.ok(l, `no line ${prefix}`);
  return Number(l.slice(prefix.length + 1));
}

test('a latency on a bucket bound counts in that bucket; sums are in seconds', () => {
  const m = new GatewayMetrics();
  const r = route('r1', 's1');
  m.observe(r, 200, 1, 0.5, 10, 20);
  m.observe(r, 200, 1.0001, -1, 0, 0);
  m.observe(r, 503, 60_000, 59_000, 0, 5);
  const t = m.render(gauges);
  const L = 'route="r1",service="s1"';
  assert.equal(line(t, `turnpike_request_duration_seconds_bucket{${L},le="0.001"}`), 1);
  assert.equal(line(t, `turnpike_request_duration_seconds_bucket{${L},le="0.0025"}`), 2);
  assert.equal(line(t, `turnpike_request_duration_seconds_bucket{${L},le="30"}`), 2);
  assert.equal(line(t, `turnpike_request_duration_seconds_bucket{${L},le="+Inf"}`), 3);
  assert.equal(line(t, `turnpike_request_duration_seconds_sum{${L}}`), 60.002);
  assert.equal(line(t, `turnpike_upstream_duration_seconds_count{${L}}`), 2);
  assert.equal(line(t, `turnpike_upstream_duration_seconds_bucket{${L},le="0.0005"}`), 1);
  assert.equal(line(t, `turnpike_requests_total{${L},status_class="2xx"}`), 2);
  assert.equal(line(t, `turnpike_requests_total{${L},status_class="5xx"}`), 1);
  assert.equal(line(t, `turnpike_request_bytes_total{${L}}`), 10);
  assert.equal(line(t, `turnpike_response_bytes_total{${L}}`), 25);
  assert.equal(line(t, 'turnpike_gateway_request_duration_ms_count'), 3);
  assert.equal(m.requestsTotal(), 3);
});

test('a recompiled route (new object, same ids) keeps counting in the same series; unmatched and odd statuses', () => {
  const m = new GatewayMetrics();
  const a1 = route('r"1', 's\\1');
  m.observe(a1, 200, 1, 1, 0, 0);
  assert.ok(a1.series, 'bound on first use');
  const a2 = route('r"1', 's\\1');
  m.observe(a2, 200, 1, 1, 0, 0);
  assert.equal(a2.series, a1.series);
  m.observe(null, 404, 1, -1, 0, 0);
  m.observe(null, 0, 1, -1, 0, 0);
  const t = m.render(gauges);
  assert.equal(line(t, 'turnpike_requests_total{route="r\\"1",service="s\\\\1",status_class="2xx"}'), 2);
  assert.equal(line(t, 'turnpike_requests_total{route="",service="",status_class="4xx"}'), 1);
  assert.equal(line(t, 'turnpike_requests_total{route="",service="",status_class="other"}'), 1);
  assert.ok(!t.includes('route="r\\"1",service="s\\\\1",status_class="other"'), 'other only when non-zero');
  // A route object bound to another GatewayMetrics (another gateway in the process) rebinds, never cross-counts.
  const other = new GatewayMetrics();
  other.observe(a2, 500, 1, 1, 0, 0);
  assert.equal(line(m.render(gauges), 'turnpike_requests_total{route="r\\"1",service="s\\\\1",status_class="5xx"}'), 0);
  assert.equal(line(other.render(gauges), 'turnpike_requests_total{route="r\\"1",service="s\\\\1",status_class="5xx"}'), 1);
});

test('the sum of two threads\' states equals one thread that saw all the traffic', () => {
  const one = new GatewayMetrics();
  const w1 = new GatewayMetrics();
  const w2 = new GatewayMetrics();
  const traffic: [string, number, number][] = [['a', 200, 3], ['b', 404, 12], ['a', 502, 700], ['b', 200, 0.2], ['a', 200, 40]];
  traffic.forEach(([id, status, ms], i) => {
    one.observe(route(id, 'svc'), status, ms, ms / 2, 1, 2);
    (i % 2 === 0 ? w1 : w2).observe(route(id, 'svc'), status, ms, ms / 2, 1, 2);
  });
  const view = new GatewayMetrics();
  view.add(w1.state());
  view.add(w2.state());
  assert.equal(view.render(gauges), one.render(gauges));
});
