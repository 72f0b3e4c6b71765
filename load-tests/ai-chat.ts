// The AI gateway under load: OpenAI-compatible chat completions through an `ai` route, a share of them
// streamed (SSE), at an arrival rate shaped by PROFILE (profiles.ts). Point it at a provider that answers
// fast and predictably (a local fake or a small self-hosted model): what is measured is the gateway, its
// added latency reported per call in X-Turnpike-Overhead-Ms and collected here as a trend.
//
//   k6 run -e BASE_URL=http://gw:8000 -e ROUTE_PATH=/llm -e API_KEY=tp_... -e MODEL=gpt-4o-mini load-tests/ai-chat.ts
//
// See load-tests/README.md for every variable.
import { check, fail } from 'k6';
import http from 'k6/http';
import { Trend, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { arrivalScenario, env, num, profileName } from './profiles.ts';

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8000').replace(/\/+$/, '');
const ROUTE_PATH = env('ROUTE_PATH', '/llm').replace(/\/+$/, '');
const API_KEY = env('API_KEY', '');
const API_KEY_HEADER = env('API_KEY_HEADER', 'authorization');
const MODEL = env('MODEL', 'gpt-4o-mini');
/** Calls per second at the profile's peak. */
const RATE = num('RATE', 500);
/** Share of calls that stream (0..1). */
const STREAM_SHARE = Number(env('STREAM_SHARE', '0.5'));
const MAX_TOKENS = num('MAX_TOKENS', 32);
/** Issue 9's budget for the gateway's own time per call (p99, ms). */
const OVERHEAD_P99_MS = num('OVERHEAD_P99_MS', 3);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);

const overhead = new Trend('turnpike_overhead_ms', true);
const streamComplete = new Rate('stream_complete');

export const options: Options = {
  scenarios: { chat: arrivalScenario(profileName(), RATE) },
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    checks: [`rate>${1 - MAX_ERROR_RATE}`],
    turnpike_overhead_ms: [`p(50)<1`, `p(99)<${OVERHEAD_P99_MS}`],
    stream_complete: [`rate>${1 - MAX_ERROR_RATE}`],
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max'],
};

const url = `${BASE_URL}${ROUTE_PATH}/v1/chat/completions`;
const authValue = API_KEY_HEADER.toLowerCase() === 'authorization' ? `Bearer ${API_KEY}` : API_KEY;
const headers = { 'content-type': 'application/json', ...(API_KEY ? { [API_KEY_HEADER]: authValue } : {}) };
const body = (stream: boolean): string =>
  JSON.stringify({ model: MODEL, max_tokens: MAX_TOKENS, stream, messages: [{ role: 'user', content: 'Say hello in five words.' }] });
const plainBody = body(false);
const streamBody = body(true);

/** Fails before any load when the route, the key or the model is wrong. */
export function setup(): void {
  const r = http.post(url, plainBody, { headers, tags: { name: 'setup' } });
  if (r.status !== 200) fail(`POST ${url} answered ${r.status}: ${String(r.body).slice(0, 300)}`);
  if (r.headers['X-Turnpike-Overhead-Ms'] === undefined) fail(`no X-Turnpike-Overhead-Ms header: is ${ROUTE_PATH} an ai route?`);
}

export default function (): void {
  const stream = Math.random() < STREAM_SHARE;
  const res = http.post(url, stream ? streamBody : plainBody, { headers, tags: { name: stream ? 'chat-stream' : 'chat' } });
  const h = res.headers['X-Turnpike-Overhead-Ms'];
  if (h !== undefined) overhead.add(Number(h), { stream: String(stream) });
  if (stream) {
    const text = String(res.body ?? '');
    // A stream that broke off after its first chunk still answered 200: only [DONE] says it finished.
    const done = text.includes('data: [DONE]') && !text.includes('data: {"error"');
    streamComplete.add(done);
    check(res, { 'stream 200 and complete': (r) => r.status === 200 && done });
  } else {
    check(res, { 'completion 200 with choices': (r) => r.status === 200 && String(r.body).includes('"choices"') });
  }
}
