// Gateway metrics, kept as plain counters (the hot path only adds numbers) and rendered as Prometheus
// text exposition on scrape.

import type { ResilienceRegistry, TargetMetrics, UpstreamCounters } from '../upstream/resilience.js';

const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export interface GaugeSources {
  revision(): number;
  rejected(): number;
  configLoaded(): boolean;
  natsConnected(): boolean;
  uwsNative(): boolean;
  callLog(): { buffered: number; dropped: number; sent: number };
  inFlight(): number;
  /** Per proxy worker thread (TP_WORKERS > 1): responses sent, applied config revision. */
  workers?(): readonly { id: number; requests: number; revision: number; restarts: number }[];
}

/** The counters of one proxy thread, as they cross a MessagePort (src/node/): summed by the primary. */
export interface MetricsState {
  byClass: number[];
  buckets: number[];
  latencySum: number;
  latencyCount: number;
  upstreamErrors: [string, number][];
  /** WebSocketCounters fields in declaration order (absent from threads without WebSocket support). */
  ws?: number[];
  /** Upstream health, breakers and retries of the thread (upstream/resilience.ts). */
  resilience?: ResilienceState;
}

export interface ResilienceState {
  targets: TargetMetrics[];
  counters: [string, UpstreamCounters][];
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * Upstream resilience as Prometheus text. With several proxy threads (each its own checkers and breakers) a
 * target counts as healthy only when every thread has it in rotation, its breaker shows the worst state,
 * and counters are summed.
 */
function renderResilience(states: readonly ResilienceState[], out: string[], metric: (name: string, type: string, help: string) => void): void {
  const targets = new Map<string, { upstream: string; target: string; available: boolean; breaker: string | null }>();
  const counters = new Map<string, UpstreamCounters>();
  for (const st of states) {
    for (const t of st.targets) {
      const key = `${t.upstream}|${t.target}`;
      const cur = targets.get(key);
      if (!cur) targets.set(key, { upstream: t.upstream, target: t.target, available: t.available, breaker: t.breaker });
      else {
        cur.available &&= t.available;
        if (t.breaker !== null && BREAKER_STATES.indexOf(t.breaker) > BREAKER_STATES.indexOf((cur.breaker ?? 'closed') as 'closed')) cur.breaker = t.breaker;
      }
    }
    for (const [u, c] of st.counters) {
      const cur = counters.get(u);
      if (!cur) counters.set(u, { ...c });
      else {
        cur.retries += c.retries;
        cur.retriesRefused += c.retriesRefused;
        cur.ejections += c.ejections;
        cur.breakerOpens += c.breakerOpens;
      }
    }
  }
  metric('turnpike_upstream_target_healthy', 'gauge', '1 while the target is in rotation (health checks, passive ejection, circuit breaker), 0 while out.');
  for (const t of targets.values()) out.push(`turnpike_upstream_target_healthy{upstream="${t.upstream}",target="${t.target}"} ${t.available ? 1 : 0}`);
  metric('turnpike_upstream_circuit_breaker_state', 'gauge', 'Circuit breaker state per target: 1 for the current state.');
  for (const t of targets.values()) {
    if (t.breaker === null) continue;
    for (const st of BREAKER_STATES) out.push(`turnpike_upstream_circuit_breaker_state{upstream="${t.upstream}",target="${t.target}",state="${st}"} ${t.breaker === st ? 1 : 0}`);
  }
  metric('turnpike_upstream_retries_total', 'counter', 'Requests retried, per upstream.');
  for (const [u, c] of counters) out.push(`turnpike_upstream_retries_total{upstream="${u}"} ${c.retries}`);
  metric('turnpike_upstream_retries_refused_total', 'counter', 'Retries the retry budget refused, per upstream.');
  for (const [u, c] of counters) out.push(`turnpike_upstream_retries_refused_total{upstream="${u}"} ${c.retriesRefused}`);
  metric('turnpike_upstream_ejections_total', 'counter', 'Passive outlier ejections, per upstream.');
  for (const [u, c] of counters) out.push(`turnpike_upstream_ejections_total{upstream="${u}"} ${c.ejections}`);
  metric('turnpike_upstream_circuit_breaker_opens_total', 'counter', 'Times a target circuit breaker opened, per upstream.');
  for (const [u, c] of counters) out.push(`turnpike_upstream_circuit_breaker_opens_total{upstream="${u}"} ${c.breakerOpens}`);
}

/** WebSocket proxying (proxy/websocket.ts): plain fields the proxy bumps directly. */
export class WebSocketCounters {
  /** Proxied connections open now. */
  open = 0;
  /** Upgrades completed (both sides connected). */
  opened = 0;
  messagesToUpstream = 0;
  messagesToClient = 0;
  /** Times a slow client made the proxy stop reading its upstream. */
  upstreamPauses = 0;

  toArray(): number[] {
    return [this.open, this.opened, this.messagesToUpstream, this.messagesToClient, this.upstreamPauses];
  }

  add(a: readonly number[]): void {
    this.open += a[0] ?? 0;
    this.opened += a[1] ?? 0;
    this.messagesToUpstream += a[2] ?? 0;
    this.messagesToClient += a[3] ?? 0;
    this.upstreamPauses += a[4] ?? 0;
  }
}

export class GatewayMetrics {
  /** Index = status / 100 (1xx..5xx). */
  readonly #byClass = new Float64Array(6);
  readonly #buckets = new Float64Array(LATENCY_BUCKETS_MS.length);
  #latencySum = 0;
  #latencyCount = 0;
  readonly #upstreamErrors = new Map<string, number>();
  readonly ws = new WebSocketCounters();
  /** This thread's upstream resilience state (set by the thread that owns the registry). */
  resilience: ResilienceRegistry | null = null;
  /** Other threads' resilience states, added by `add`. */
  readonly #resilienceAdded: ResilienceState[] = [];

  observe(status: number, totalMs: number): void {
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) this.#byClass[cls]!++;
    this.#latencySum += totalMs;
    this.#latencyCount++;
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (totalMs <= (LATENCY_BUCKETS_MS[i] as number)) {
        this.#buckets[i]!++;
        break;
      }
    }
  }

  /** Responses sent so far, all status classes (read by the heartbeat, off the hot path). */
  requestsTotal(): number {
    let n = 0;
    for (let c = 1; c <= 5; c++) n += this.#byClass[c] as number;
    return n;
  }

  state(): MetricsState {
    return {
      byClass: Array.from(this.#byClass),
      buckets: Array.from(this.#buckets),
      latencySum: this.#latencySum,
      latencyCount: this.#latencyCount,
      upstreamErrors: [...this.#upstreamErrors],
      ws: this.ws.toArray(),
      ...(this.resilience ? { resilience: resilienceState(this.resilience) } : {}),
    };
  }

  /** Adds another thread's counters to these (the primary renders the sum of its workers'). */
  add(s: MetricsState): void {
    for (let i = 0; i < this.#byClass.length; i++) this.#byClass[i]! += s.byClass[i] ?? 0;
    for (let i = 0; i < this.#buckets.length; i++) this.#buckets[i]! += s.buckets[i] ?? 0;
    this.#latencySum += s.latencySum;
    this.#latencyCount += s.latencyCount;
    for (const [code, n] of s.upstreamErrors) this.#upstreamErrors.set(code, (this.#upstreamErrors.get(code) ?? 0) + n);
    if (s.ws) this.ws.add(s.ws);
    if (s.resilience) this.#resilienceAdded.push(s.resilience);
  }

  upstreamError(code: string): void {
    this.#upstreamErrors.set(code, (this.#upstreamErrors.get(code) ?? 0) + 1);
  }

  render(g: GaugeSources): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    metric('turnpike_gateway_requests_total', 'counter', 'Proxied requests by response status class.');
    for (let c = 1; c <= 5; c++) out.push(`turnpike_gateway_requests_total{status_class="${c}xx"} ${this.#byClass[c]}`);
    metric('turnpike_gateway_request_duration_ms', 'histogram', 'Total request latency in milliseconds.');
    let cum = 0;
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      cum += this.#buckets[i] as number;
      out.push(`turnpike_gateway_request_duration_ms_bucket{le="${LATENCY_BUCKETS_MS[i]}"} ${cum}`);
    }
    out.push(`turnpike_gateway_request_duration_ms_bucket{le="+Inf"} ${this.#latencyCount}`);
    out.push(`turnpike_gateway_request_duration_ms_sum ${this.#latencySum}`, `turnpike_gateway_request_duration_ms_count ${this.#latencyCount}`);
    metric('turnpike_gateway_upstream_errors_total', 'counter', 'Upstream failures by error code.');
    for (const [code, n] of this.#upstreamErrors) out.push(`turnpike_gateway_upstream_errors_total{code="${code}"} ${n}`);
    metric('turnpike_gateway_in_flight_requests', 'gauge', 'Requests being proxied now.');
    out.push(`turnpike_gateway_in_flight_requests ${g.inFlight()}`);
    const ws = this.ws;
    metric('turnpike_gateway_websocket_connections', 'gauge', 'Proxied WebSocket connections open now.');
    out.push(`turnpike_gateway_websocket_connections ${ws.open}`);
    metric('turnpike_gateway_websocket_connections_total', 'counter', 'WebSocket upgrades proxied (upstream accepted).');
    out.push(`turnpike_gateway_websocket_connections_total ${ws.opened}`);
    metric('turnpike_gateway_websocket_messages_total', 'counter', 'WebSocket messages proxied, by direction.');
    out.push(`turnpike_gateway_websocket_messages_total{direction="to_upstream"} ${ws.messagesToUpstream}`);
    out.push(`turnpike_gateway_websocket_messages_total{direction="to_client"} ${ws.messagesToClient}`);
    metric('turnpike_gateway_websocket_upstream_pauses_total', 'counter', 'Times a slow WebSocket client paused reading from its upstream.');
    out.push(`turnpike_gateway_websocket_upstream_pauses_total ${ws.upstreamPauses}`);
    metric('turnpike_gateway_config_revision', 'gauge', 'Config revision of the active snapshot.');
    out.push(`turnpike_gateway_config_revision ${g.revision()}`);
    metric('turnpike_gateway_config_loaded', 'gauge', '1 once a config snapshot is active.');
    out.push(`turnpike_gateway_config_loaded ${g.configLoaded() ? 1 : 0}`);
    metric('turnpike_gateway_config_rejected_entities', 'gauge', 'Entities left out of the active snapshot.');
    out.push(`turnpike_gateway_config_rejected_entities ${g.rejected()}`);
    const cl = g.callLog();
    metric('turnpike_gateway_call_log_buffered', 'gauge', 'Call records waiting to be sent.');
    out.push(`turnpike_gateway_call_log_buffered ${cl.buffered}`);
    metric('turnpike_gateway_call_log_dropped_total', 'counter', 'Call records dropped (buffer full).');
    out.push(`turnpike_gateway_call_log_dropped_total ${cl.dropped}`);
    metric('turnpike_gateway_call_log_sent_total', 'counter', 'Call records handed to the log sink.');
    out.push(`turnpike_gateway_call_log_sent_total ${cl.sent}`);
    metric('turnpike_gateway_nats_connected', 'gauge', '1 while connected to NATS (or on the in-process bus).');
    out.push(`turnpike_gateway_nats_connected ${g.natsConnected() ? 1 : 0}`);
    metric('turnpike_gateway_uws_native', 'gauge', '1 when uWebSockets.js runs on its native binary.');
    out.push(`turnpike_gateway_uws_native ${g.uwsNative() ? 1 : 0}`);
    const res = this.resilience ? [resilienceState(this.resilience), ...this.#resilienceAdded] : this.#resilienceAdded;
    renderResilience(res, out, metric);
    const workers = g.workers?.();
    if (workers && workers.length > 0) {
      metric('turnpike_gateway_worker_requests_total', 'counter', 'Proxied requests by worker thread.');
      for (const w of workers) out.push(`turnpike_gateway_worker_requests_total{worker="${w.id}"} ${w.requests}`);
      metric('turnpike_gateway_worker_config_revision', 'gauge', 'Config revision applied by each worker thread.');
      for (const w of workers) out.push(`turnpike_gateway_worker_config_revision{worker="${w.id}"} ${w.revision}`);
      metric('turnpike_gateway_worker_restarts_total', 'counter', 'Worker threads restarted after a crash.');
      for (const w of workers) out.push(`turnpike_gateway_worker_restarts_total{worker="${w.id}"} ${w.restarts}`);
    }
    return out.join('\n') + '\n';
  }
}

function resilienceState(r: ResilienceRegistry): ResilienceState {
  return { targets: r.targetMetrics(), counters: [...r.counters()] };
}
