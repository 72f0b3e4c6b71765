// Admin API churn: each iteration creates an upstream, a service, a key-auth route, a consumer and an
// API key, reads and updates them, then deletes them all, while a second scenario lists and reads at a
// steady rate. Every write is a Postgres transaction plus an outbox row that the publisher drains into
// NATS KV, so this also loads the config path to the gateways. With GATEWAY_URL set, each iteration
// also measures how long its new route and key take to be served by a gateway (config_propagation).
//
//   k6 run -e BASE_URL=http://cp:8001 -e ADMIN_TOKEN=... load-tests/admin-api.ts
//
// See load-tests/README.md for every variable.
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Trend } from 'k6/metrics';
import type { Options } from 'k6/options';

const env = (name: string, dflt: string): string => {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
};
const num = (name: string, dflt: number): number => {
  const v = Number(env(name, String(dflt)));
  if (!Number.isFinite(v) || v < 0) fail(`${name} must be a number >= 0`);
  return v;
};

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8001').replace(/\/+$/, '');
const ADMIN_TOKEN = env('ADMIN_TOKEN', '');
/** Full create → read → update → delete lifecycles started per second (each is 16 requests). */
const CHURN_RATE = num('RATE', 5);
/** List/get requests per second from the read scenario; 0 turns it off. */
const READ_RATE = num('READ_RATE', 50);
const DURATION = env('DURATION', '2m');
const WRITE_P99_MS = num('WRITE_P99_MS', 250);
const READ_P99_MS = num('READ_P99_MS', 100);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);
/** Optional: a gateway of the same cluster, to time config propagation. */
const GATEWAY_URL = env('GATEWAY_URL', '').replace(/\/+$/, '');
const PROPAGATION_TIMEOUT_S = num('PROPAGATION_TIMEOUT_S', 10);
/** Where the churned upstreams point; nothing needs to listen there (a 502 still proves the route is live). */
const UPSTREAM_HOST = env('UPSTREAM_HOST', '127.0.0.1');
const UPSTREAM_PORT = num('UPSTREAM_PORT', 9);

const scenarios: NonNullable<Options['scenarios']> = {
  churn: {
    executor: 'constant-arrival-rate',
    exec: 'churn',
    rate: CHURN_RATE,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: Math.max(5, Math.ceil(CHURN_RATE * 2)),
    maxVUs: Math.max(50, Math.ceil(CHURN_RATE * 20)),
  },
};
if (READ_RATE > 0) {
  scenarios.reads = {
    executor: 'constant-arrival-rate',
    exec: 'reads',
    rate: READ_RATE,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: Math.max(5, Math.ceil(READ_RATE / 10)),
    maxVUs: Math.max(50, READ_RATE),
  };
}

export const options: Options = {
  scenarios,
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    checks: [`rate>${1 - MAX_ERROR_RATE}`],
    'http_req_duration{op:write}': [`p(99)<${WRITE_P99_MS}`],
    'http_req_duration{op:read}': [`p(99)<${READ_P99_MS}`],
    ...(GATEWAY_URL ? { config_propagation: [`p(99)<${PROPAGATION_TIMEOUT_S * 1000}`] } : {}),
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max'],
};

/** Milliseconds from the API key's creation (201) to the gateway serving the new route with it. */
const propagation = new Trend('config_propagation', true);

const authHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

type Res = RefinedResponse<ResponseType | undefined>;

/**
 * One admin call. `name` groups the URL template in k6's metrics (ids vary per call); `op` splits
 * reads from writes for the thresholds.
 */
function call(method: string, path: string, name: string, op: 'read' | 'write', body?: unknown, expected: number | number[] = 200): Res {
  const statuses = Array.isArray(expected) ? expected : [expected];
  const res = http.request(method, `${BASE_URL}${path}`, body === undefined ? null : JSON.stringify(body), {
    headers: authHeaders,
    tags: { name: `${method} ${name}`, op },
    // An expected 404 (after a delete, or a read racing the churn) is not a failed request.
    responseCallback: http.expectedStatuses(...statuses),
  });
  check(res, { [`${method} ${name} → ${statuses.join('|')}`]: (r) => statuses.includes(r.status) });
  return res;
}

function idOf(res: Res, what: string): string {
  if (res.status !== 201) fail(`creating ${what} answered ${res.status}: ${String(res.body).slice(0, 300)}`);
  const id = res.json('id');
  if (typeof id !== 'string') fail(`creating ${what}: no id in the response`);
  return id;
}

/** Fails before any load when the API or the token is wrong. */
export function setup(): { runId: string } {
  if (!ADMIN_TOKEN) fail('ADMIN_TOKEN is required (an admin token with write access)');
  const res = http.get(`${BASE_URL}/v1/upstreams?limit=1`, { headers: authHeaders, tags: { name: 'setup' } });
  if (res.status !== 200) fail(`GET ${BASE_URL}/v1/upstreams answered ${res.status}: check BASE_URL and ADMIN_TOKEN`);
  // Names are unique per run so that a run never collides with leftovers of an interrupted one.
  return { runId: Date.now().toString(36) };
}

export function churn(data: { runId: string }): void {
  const tag = `k6-${data.runId}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const upstreamId = idOf(
    call('POST', '/v1/upstreams', '/v1/upstreams', 'write', { name: tag, targets: [{ host: UPSTREAM_HOST, port: UPSTREAM_PORT }] }, 201),
    'upstream',
  );
  const serviceId = idOf(call('POST', '/v1/services', '/v1/services', 'write', { name: tag, upstream_id: upstreamId }, 201), 'service');
  const routePath = `/k6/${tag}`;
  const routeId = idOf(
    call('POST', '/v1/routes', '/v1/routes', 'write', { name: tag, service_id: serviceId, paths: [routePath], plugins: { 'key-auth': {} } }, 201),
    'route',
  );
  const consumerId = idOf(call('POST', '/v1/consumers', '/v1/consumers', 'write', { username: tag }, 201), 'consumer');
  const keyRes = call('POST', `/v1/consumers/${consumerId}/keys`, '/v1/consumers/{id}/keys', 'write', { name: tag }, 201);
  const keyId = idOf(keyRes, 'api key');
  const key = keyRes.json('key');

  if (GATEWAY_URL && typeof key === 'string') timePropagation(`${GATEWAY_URL}${routePath}`, key);

  call('GET', `/v1/routes/${routeId}`, '/v1/routes/{id}', 'read');
  call('GET', `/v1/consumers/${consumerId}/keys`, '/v1/consumers/{id}/keys', 'read');
  call('PATCH', `/v1/routes/${routeId}`, '/v1/routes/{id}', 'write', { priority: 10, methods: ['GET', 'POST'] });
  call('PATCH', `/v1/upstreams/${upstreamId}`, '/v1/upstreams/{id}', 'write', { read_timeout_ms: 30_000 });
  call('PATCH', `/v1/consumers/${consumerId}`, '/v1/consumers/{id}', 'write', { tags: ['k6', 'churned'] });

  // Dependants first: a service still referenced by a route, or an upstream by a service, is not deletable.
  call('DELETE', `/v1/consumers/${consumerId}/keys/${keyId}`, '/v1/consumers/{id}/keys/{keyId}', 'write', undefined, 204);
  call('DELETE', `/v1/consumers/${consumerId}`, '/v1/consumers/{id}', 'write', undefined, 204);
  call('DELETE', `/v1/routes/${routeId}`, '/v1/routes/{id}', 'write', undefined, 204);
  call('DELETE', `/v1/services/${serviceId}`, '/v1/services/{id}', 'write', undefined, 204);
  call('DELETE', `/v1/upstreams/${upstreamId}`, '/v1/upstreams/{id}', 'write', undefined, 204);
  call('GET', `/v1/routes/${routeId}`, '/v1/routes/{id}', 'read', undefined, 404);
}

/** Polls the gateway with the new key until the route answers with anything but 404 (no route) or 401 (no key yet). */
function timePropagation(url: string, key: string): void {
  const start = Date.now();
  const deadline = start + PROPAGATION_TIMEOUT_S * 1000;
  // Not-yet-propagated answers are expected here and must not count as failed requests.
  const params = { headers: { apikey: key }, tags: { name: 'gateway propagation' }, responseCallback: http.expectedStatuses({ min: 100, max: 599 }) };
  for (;;) {
    const res = http.get(url, params);
    if (res.status !== 404 && res.status !== 401 && res.status !== 0) {
      propagation.add(Date.now() - start);
      return;
    }
    if (Date.now() > deadline) {
      propagation.add(Date.now() - start);
      check(res, { 'gateway served the new route in time': () => false });
      return;
    }
    sleep(0.05);
  }
}

const lists = ['/v1/upstreams', '/v1/services', '/v1/routes', '/v1/consumers'];

export function reads(): void {
  const path = lists[exec.scenario.iterationInTest % lists.length] ?? '/v1/routes';
  const page = call('GET', `${path}?limit=20`, path, 'read');
  const first = page.status === 200 ? page.json('data.0.id') : undefined;
  // The churn scenario may delete it between the list and the get.
  if (typeof first === 'string') call('GET', `${path}/${first}`, `${path}/{id}`, 'read', undefined, [200, 404]);
  call('GET', '/v1/status', '/v1/status', 'read');
}
