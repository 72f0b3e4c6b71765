// Proxy throughput under a fixed arrival rate: every request carries an API key, so each one goes
// through routing, key-auth, the upstream call and a call-log record. A constant arrival rate (not a
// fixed number of looping users) keeps offering load when the gateway slows down, so latency under
// overload shows up instead of being hidden by clients that wait (coordinated omission).
//
//   k6 run -e BASE_URL=http://gw:8000 -e API_KEY=tp_... load-tests/proxy-keyauth.ts
//
// See load-tests/README.md for every variable.
import { check, fail } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';

const env = (name: string, dflt: string): string => {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
};
const num = (name: string, dflt: number): number => {
  const v = Number(env(name, String(dflt)));
  if (!Number.isFinite(v) || v <= 0) fail(`${name} must be a positive number`);
  return v;
};

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8000').replace(/\/+$/, '');
/** Path of a route with the key-auth plugin (k6's own PATH would clash with the shell's). */
const ROUTE_PATH = env('ROUTE_PATH', '/');
const API_KEY = env('API_KEY', '');
const API_KEY_HEADER = env('API_KEY_HEADER', 'apikey');
/** Target requests per second; 20,000 is what one 8-core gateway host is sized for. */
const RATE = num('RATE', 20_000);
const DURATION = env('DURATION', '2m');
/** p99 latency budget (ms) for the whole round trip through the gateway. */
const P99_MS = num('P99_MS', 50);
/** Highest share of failed requests (non-2xx/3xx or transport errors) that passes. */
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);
// Little's law: VUs in flight = rate × latency. 2 ms at 20k/s needs 40; headroom for slow moments.
const PRE_VUS = Math.ceil(num('PRE_VUS', Math.max(50, RATE / 100)));
const MAX_VUS = Math.ceil(num('MAX_VUS', Math.max(500, RATE / 10)));

export const options: Options = {
  discardResponseBodies: true,
  scenarios: {
    keyauth: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      gracefulStop: '10s',
    },
  },
  thresholds: {
    http_req_failed: [{ threshold: `rate<${MAX_ERROR_RATE}`, abortOnFail: false }],
    [`http_req_duration{scenario:keyauth}`]: [`p(99)<${P99_MS}`],
    checks: [`rate>${1 - MAX_ERROR_RATE}`],
    // Iterations k6 could not start because every VU was busy: the generator (or the gateway) fell
    // behind the target rate, and the run did not offer the load it claims.
    dropped_iterations: [`rate<${RATE * MAX_ERROR_RATE}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

const url = `${BASE_URL}${ROUTE_PATH}`;
// Built once: the hot loop below allocates nothing of its own.
const params = { headers: { [API_KEY_HEADER]: API_KEY }, tags: { name: 'proxy' } };

/** Fails fast, before any load, when the key or the route is wrong: a run of 401s measures nothing. */
export function setup(): void {
  if (!API_KEY) fail('API_KEY is required (a key of a consumer allowed on ROUTE_PATH)');
  const ok = http.get(url, { headers: params.headers, tags: { name: 'setup' } });
  if (ok.status < 200 || ok.status >= 400) fail(`GET ${url} with the key answered ${ok.status}, not 2xx/3xx`);
  // And the route really is protected: without the key the gateway must refuse.
  const denied = http.get(url, { tags: { name: 'setup' }, responseCallback: http.expectedStatuses(401) });
  if (denied.status !== 401) fail(`GET ${url} without a key answered ${denied.status}, expected 401: is key-auth on this route?`);
}

export default function (): void {
  const res = http.get(url, params);
  check(res, { 'status is 2xx/3xx': (r) => r.status >= 200 && r.status < 400 });
}
