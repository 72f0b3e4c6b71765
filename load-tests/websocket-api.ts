// WebSocket APIs under load: virtual users hold connections to a `websocket-api` route and send JSON
// messages that the route selection expression routes to a backend; each reply's round trip is measured.
// Connections ramp to CONNECTIONS (PROFILE picks the shape), each sending MESSAGE_RATE messages per second
// for HOLD; connect failures and missing replies count against the thresholds.
//
//   k6 run -e WS_URL=ws://gw:8000/chat -e API_KEY=tp_... -e CONNECTIONS=5000 load-tests/websocket-api.ts
//
// See load-tests/README.md for every variable.
import { check, fail } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import ws from 'k6/ws';
import { env, num, profileName } from './profiles.ts';

const WS_URL = env('WS_URL', 'ws://127.0.0.1:8000/ws');
const API_KEY = env('API_KEY', '');
const API_KEY_HEADER = env('API_KEY_HEADER', 'apikey');
/** Concurrent connections at the profile's peak. */
const CONNECTIONS = num('CONNECTIONS', 1_000);
/** Messages per second each connection sends. */
const MESSAGE_RATE = num('MESSAGE_RATE', 1);
/** How long each connection stays open (seconds). */
const HOLD_S = num('HOLD_S', 60);
/** The route key messages select (`$request.body.action` in the API's selection expression). */
const ACTION = env('ACTION', 'echo');
const RTT_P99_MS = num('RTT_P99_MS', 50);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);

const rtt = new Trend('ws_message_rtt_ms', true);
const replied = new Rate('ws_message_replied');
const connected = new Rate('ws_connected');
const sent = new Counter('ws_messages_sent');

const profile = profileName();
const stages =
  profile === 'smoke'
    ? [{ target: 1, duration: '30s' }]
    : profile === 'spike'
      ? [
          { target: Math.round(CONNECTIONS / 10), duration: '1m' },
          { target: CONNECTIONS, duration: '10s' },
          { target: CONNECTIONS, duration: '2m' },
          { target: 0, duration: '30s' },
        ]
      : profile === 'stress'
        ? [
            { target: CONNECTIONS, duration: '3m' },
            { target: CONNECTIONS * 2, duration: '3m' },
            { target: CONNECTIONS * 2, duration: '3m' },
            { target: 0, duration: '1m' },
          ]
        : [
            { target: CONNECTIONS, duration: '2m' },
            { target: CONNECTIONS, duration: profile === 'soak' ? env('SOAK_DURATION', '4h') : env('DURATION', '5m') },
            { target: 0, duration: '1m' },
          ];

export const options: Options = {
  scenarios: { connections: { executor: 'ramping-vus', startVUs: 0, stages, gracefulRampDown: '30s' } },
  thresholds: {
    ws_connected: [`rate>${1 - MAX_ERROR_RATE}`],
    ws_message_replied: [`rate>${1 - MAX_ERROR_RATE}`],
    ws_message_rtt_ms: [`p(99)<${RTT_P99_MS}`],
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max'],
};

const params = { headers: API_KEY ? { [API_KEY_HEADER]: API_KEY } : {}, tags: { name: 'websocket-api' } };

export function setup(): void {
  if (!/^wss?:\/\//.test(WS_URL)) fail(`WS_URL must be a ws:// or wss:// URL (got ${WS_URL})`);
}

export default function (): void {
  const res = ws.connect(WS_URL, params, (socket) => {
    let seq = 0;
    const pending = new Map<number, number>();
    socket.on('open', () => {
      socket.setInterval(() => {
        const id = ++seq;
        pending.set(id, Date.now());
        socket.send(JSON.stringify({ action: ACTION, id, text: 'hello' }));
        sent.add(1);
      }, 1000 / MESSAGE_RATE);
      socket.setTimeout(() => socket.close(), HOLD_S * 1000);
    });
    socket.on('message', (data) => {
      // The backend echoes the message (or at least its id): match it to its send time.
      let id: unknown;
      try {
        id = (JSON.parse(data) as { id?: unknown }).id;
      } catch {
        return;
      }
      const at = typeof id === 'number' ? pending.get(id) : undefined;
      if (at === undefined) return;
      pending.delete(id as number);
      rtt.add(Date.now() - at);
      replied.add(true);
    });
    socket.on('close', () => {
      // Messages still unanswered when the connection closes count as lost, except the last second's.
      const cutoff = Date.now() - 1000;
      for (const at of pending.values()) if (at < cutoff) replied.add(false);
    });
  });
  const ok = res !== null && res.status === 101;
  connected.add(ok);
  check(res, { 'upgraded (101)': () => ok });
}
