// Plain proxying, no authentication: routing, the upstream call and a call-log record per request, the
// gateway's cheapest path and the baseline the other scenarios are compared with. Load shape by PROFILE
// (smoke, load, stress, spike, soak; profiles.ts); point BASE_URL at the load balancer in front of the nodes
// to load the whole cluster (infra/compose's haproxy on :8000, or your LB).
//
//   k6 run -e BASE_URL=http://lb:8000 -e ROUTE_PATH=/echo -e PROFILE=load -e RATE=20000 load-tests/proxy-plain.ts
//
// See load-tests/README.md for every variable.
import { check, fail } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { arrivalScenario, env, num, profileName } from './profiles.ts';

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8000').replace(/\/+$/, '');
/** Path of a route without authentication plugins. */
const ROUTE_PATH = env('ROUTE_PATH', '/');
/** Requests per second at the profile's peak; 20,000 is what the cluster is sized for (docs/sizing.md). */
const RATE = num('RATE', 20_000);
/** GET without a body, or POST with BODY_BYTES of JSON (bodies cost the gateway their copy to the upstream). */
const METHOD = env('METHOD', 'GET').toUpperCase();
const BODY_BYTES = Math.floor(Number(env('BODY_BYTES', '0')));
/** p99 budget for the whole round trip through the gateway (and the LB), ms. */
const P99_MS = num('P99_MS', 50);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);

if (METHOD !== 'GET' && METHOD !== 'POST') fail(`METHOD must be GET or POST (got ${METHOD})`);
if (!Number.isFinite(BODY_BYTES) || BODY_BYTES < 0) fail('BODY_BYTES must be 0 or more');

const profile = profileName();
const scenario = arrivalScenario(profile, RATE);

export const options: Options = {
  discardResponseBodies: true,
  scenarios: { proxy: scenario },
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    'http_req_duration{scenario:proxy}': [`p(99)<${P99_MS}`],
    checks: [`rate>${1 - MAX_ERROR_RATE}`],
    // k6 could not start iterations because every VU was busy: the rate claimed was not offered. Raise
    // MAX_VUS or add load-generator hosts. Not judged in stress, whose point is to go past what holds.
    ...(profile === 'stress' ? {} : { dropped_iterations: [`rate<${RATE * MAX_ERROR_RATE}`] }),
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

const url = `${BASE_URL}${ROUTE_PATH}`;
const body = BODY_BYTES > 0 ? JSON.stringify({ pad: 'x'.repeat(Math.max(0, BODY_BYTES - 10)) }) : null;
// Built once: the loop below allocates nothing of its own.
const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
const params = { headers, tags: { name: 'proxy' } };

/** Fails before any load when the route is wrong: a run of 404s or 401s measures nothing. */
export function setup(): void {
  const r = http.request(METHOD, url, body, { headers: params.headers, tags: { name: 'setup' }, responseType: 'text' });
  if (r.status === 401 || r.status === 403) fail(`${METHOD} ${url} answered ${r.status}: the route has authentication; use proxy-keyauth.ts`);
  if (r.status < 200 || r.status >= 400) fail(`${METHOD} ${url} answered ${r.status}, not 2xx/3xx: ${String(r.body).slice(0, 200)}`);
  // Every answer of the gateway carries its request id: without one, something else answered.
  if (r.headers['X-Request-Id'] === undefined) fail(`no X-Request-Id on ${url}: is BASE_URL a Turnpike gateway (or an LB in front of one)?`);
}

export default function (): void {
  const res = body ? http.post(url, body, params) : http.get(url, params);
  check(res, { 'status is 2xx/3xx': (r) => r.status >= 200 && r.status < 400 });
}
