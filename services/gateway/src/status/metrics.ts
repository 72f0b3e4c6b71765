// Gateway metrics, kept as plain counters (the hot path only adds numbers) and rendered as Prometheus
// text exposition on scrape.

import type { ResilienceRegistry, TargetMetrics, UpstreamCounters } from '../upstream/resilience.js';
import type { CompiledRoute } from '../config/compiler.js';

/**
 * Upper bounds of the latency histograms' buckets in seconds (Prometheus `le`), fixed so that every node's
 * and every thread's histograms add up; the last bucket is +Inf. Gateway overhead is sub-millisecond, hence
 * the 0.5 ms bucket; 30 s covers the default total timeout.
 */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** The same bounds in milliseconds: what the hot path compares with. */
const BUCKETS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];
/** Histogram slots: one per bound, plus the +Inf overflow. */
const SLOTS = BUCKETS_MS.length + 1;
const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The slot of a latency in ms: the first bucket it fits, else the overflow. */
function slotOf(ms: number): number {
  let i = 0;
  while (i < SLOTS - 1 && ms > (BUCKETS_MS[i] as number)) i++;
  return i;
}

/**
 * One route's counters in one GatewayMetrics (route "" / service "": requests no route matched). Created on
 * a route's first request and kept (counters stay monotonic across config revisions); the compiled route
 * holds a reference, so a request costs a few array increments.
 */
export class RouteSeries {
  /** Requests by status class: index status / 100 (1..5), 0 for anything else. */
  readonly byClass = new Float64Array(6);
  /** Total latency histogram: per-slot counts (not cumulative), the sum in ms. */
  readonly duration = new Float64Array(SLOTS);
  durationSumMs = 0;
  /** Upstream latency (dispatch to response head), for requests that reached an upstream. */
  readonly upstream = new Float64Array(SLOTS);
  upstreamSumMs = 0;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly owner: GatewayMetrics,
    readonly route: string,
    readonly service: string,
  ) {}

  count(): number {
    let n = 0;
    for (let i = 0; i < SLOTS; i++) n += this.duration[i] as number;
    return n;
  }

  state(): RouteSeriesState {
    return {
      route: this.route,
      service: this.service,
      byClass: Array.from(this.byClass),
      duration: Array.from(this.duration),
      durationSumMs: this.durationSumMs,
      upstream: Array.from(this.upstream),
      upstreamSumMs: this.upstreamSumMs,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }

  add(s: RouteSeriesState): void {
    for (let i = 0; i < 6; i++) this.byClass[i]! += s.byClass[i] ?? 0;
    for (let i = 0; i < SLOTS; i++) {
      this.duration[i]! += s.duration[i] ?? 0;
      this.upstream[i]! += s.upstream[i] ?? 0;
    }
    this.durationSumMs += s.durationSumMs;
    this.upstreamSumMs += s.upstreamSumMs;
    this.bytesIn += s.bytesIn;
    this.bytesOut += s.bytesOut;
  }
}

/** A RouteSeries as plain data (crosses a MessagePort). */
export interface RouteSeriesState {
  route: string;
  service: string;
  byClass: number[];
  duration: number[];
  durationSumMs: number;
  upstream: number[];
  upstreamSumMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function label(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** A number as Prometheus text (sums of float latencies are rounded to the microsecond). */
function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1e6) / 1e6);
}

export interface GaugeSources {
  revision(): number;
  rejected(): number;
  configLoaded(): boolean;
  natsConnected(): boolean;
  uwsNative(): boolean;
  callLog(): { buffered: number; dropped: number; sent: number };
  /** The on-disk call-log spool (call-log/spool.ts); null when it is off. */
  callSpool?(): { bytes: number; records: number; segments: number; spooled: number; replayed: number; dropped: number } | null;
  inFlight(): number;
  /** Per proxy worker thread (TP_WORKERS > 1): responses sent, applied config revision. */
  workers?(): readonly { id: number; requests: number; revision: number; restarts: number }[];
}

/** The counters of one proxy thread, as they cross a MessagePort (src/node/): summed by the primary. */
export interface MetricsState {
  /** Per-route series (RouteSeries.state()). */
  routes: RouteSeriesState[];
  upstreamErrors: [string, number][];
  /** WebSocketCounters fields in declaration order (absent from threads without WebSocket support). */
  ws?: number[];
  /** Upstream health, breakers and retries of the thread (upstream/resilience.ts). */
  resilience?: ResilienceState;
  /** AI overhead histogram slots, then its sum in ms. */
  aiOverhead?: number[];
}

export interface ResilienceState {
  targets: TargetMetrics[];
  counters: [string, UpstreamCounters][];
}

const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;

/**
 * Upstream resilience as Prometheus text. With several proxy threads (each its own checkers and breakers) a
 * target counts as healthy only when every thread has it in rotation (ejected when any thread ejected it), its
 * breaker shows the worst state,
 * and counters are summed.
 */
function renderResilience(states: readonly ResilienceState[], out: string[], metric: (name: string, type: string, help: string) => void): void {
  const targets = new Map<string, { upstream: string; target: string; available: boolean; activeUp: boolean; ejected: boolean; breaker: string | null }>();
  const counters = new Map<string, UpstreamCounters>();
  for (const st of states) {
    for (const t of st.targets) {
      const key = `${t.upstream}|${t.target}`;
      const cur = targets.get(key);
      if (!cur) targets.set(key, { upstream: t.upstream, target: t.target, available: t.available, activeUp: t.activeUp, ejected: t.ejected, breaker: t.breaker });
      else {
        cur.available &&= t.available;
        cur.activeUp &&= t.activeUp;
        cur.ejected ||= t.ejected;
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
  metric('turnpike_upstream_target_active_healthy', 'gauge', "1 while the target's active health check passes (1 without active checks).");
  for (const t of targets.values()) out.push(`turnpike_upstream_target_active_healthy{upstream="${t.upstream}",target="${t.target}"} ${t.activeUp ? 1 : 0}`);
  metric('turnpike_upstream_target_ejected', 'gauge', '1 while passive outlier detection has the target ejected.');
  for (const t of targets.values()) out.push(`turnpike_upstream_target_ejected{upstream="${t.upstream}",target="${t.target}"} ${t.ejected ? 1 : 0}`);
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
  /** Every route's series by `route \n service`: touched when a route binds its series, and on scrape. */
  readonly #series = new Map<string, RouteSeries>();
  /** Requests that matched no route. */
  #unmatched: RouteSeries | null = null;
  readonly #upstreamErrors = new Map<string, number>();
  readonly ws = new WebSocketCounters();
  /** AI calls' time in the gateway (X-Turnpike-Overhead-Ms): per-slot counts and the sum in ms. */
  readonly #aiOverhead = new Float64Array(SLOTS);
  #aiOverheadSumMs = 0;
  /** This thread's upstream resilience state (set by the thread that owns the registry). */
  resilience: ResilienceRegistry | null = null;
  /** Other threads' resilience states, added by `add`. */
  readonly #resilienceAdded: ResilienceState[] = [];

  /**
   * One response (hot path). `upstreamMs` < 0: no upstream answered (gateway-made response). Byte counts are
   * body bytes; a WebSocket adds its message bytes later with `transferred`.
   */
  observe(route: CompiledRoute | null, status: number, totalMs: number, upstreamMs: number, bytesIn: number, bytesOut: number): void {
    let s = route === null ? this.#unmatched : route.series;
    if (s === null || s === undefined || s.owner !== this) s = this.#bind(route);
    const cls = (status / 100) | 0;
    s.byClass[cls >= 1 && cls <= 5 ? cls : 0]!++;
    s.duration[slotOf(totalMs)]!++;
    s.durationSumMs += totalMs;
    if (upstreamMs >= 0) {
      s.upstream[slotOf(upstreamMs)]!++;
      s.upstreamSumMs += upstreamMs;
    }
    s.bytesIn += bytesIn;
    s.bytesOut += bytesOut;
  }

  /** Body bytes counted after the response was observed (WebSocket messages, at the connection's end). */
  transferred(route: CompiledRoute | null, bytesIn: number, bytesOut: number): void {
    let s = route === null ? this.#unmatched : route.series;
    if (s === null || s === undefined || s.owner !== this) s = this.#bind(route);
    s.bytesIn += bytesIn;
    s.bytesOut += bytesOut;
  }

  /** Once per compiled route (and per config revision that recompiles it): the route's series, kept by id. */
  #bind(route: CompiledRoute | null): RouteSeries {
    if (route === null) return (this.#unmatched ??= this.#get('', ''));
    const s = this.#get(route.id, route.service.id);
    route.series = s;
    return s;
  }

  #get(routeId: string, serviceId: string): RouteSeries {
    const key = `${routeId}\n${serviceId}`;
    let s = this.#series.get(key);
    if (s === undefined) this.#series.set(key, (s = new RouteSeries(this, routeId, serviceId)));
    return s;
  }

  /** Responses sent so far, all status classes (read by the heartbeat, off the hot path). */
  requestsTotal(): number {
    let n = 0;
    for (const s of this.#series.values()) n += s.count();
    return n;
  }

  state(): MetricsState {
    return {
      routes: Array.from(this.#series.values(), (s) => s.state()),
      upstreamErrors: [...this.#upstreamErrors],
      ws: this.ws.toArray(),
      aiOverhead: [...Array.from(this.#aiOverhead), this.#aiOverheadSumMs],
      ...(this.resilience ? { resilience: resilienceState(this.resilience) } : {}),
    };
  }

  /** Adds another thread's counters to these (the primary renders the sum of its workers'). */
  add(s: MetricsState): void {
    for (const r of s.routes) this.#get(r.route, r.service).add(r);
    for (const [code, n] of s.upstreamErrors) this.#upstreamErrors.set(code, (this.#upstreamErrors.get(code) ?? 0) + n);
    if (s.ws) this.ws.add(s.ws);
    if (s.aiOverhead && s.aiOverhead.length === SLOTS + 1) {
      for (let i = 0; i < SLOTS; i++) this.#aiOverhead[i]! += s.aiOverhead[i]!;
      this.#aiOverheadSumMs += s.aiOverhead[SLOTS]!;
    }
    if (s.resilience) this.#resilienceAdded.push(s.resilience);
  }

  /** One AI call's gateway overhead (ai/runtime.ts), in ms. */
  aiOverhead(ms: number): void {
    this.#aiOverhead[slotOf(ms)]!++;
    this.#aiOverheadSumMs += ms;
  }

  upstreamError(code: string): void {
    this.#upstreamErrors.set(code, (this.#upstreamErrors.get(code) ?? 0) + 1);
  }

  /** The per-route series as Prometheus text, sorted by route then service (stable output for diffs). */
  #renderRoutes(out: string[], metric: (name: string, type: string, help: string) => void): void {
    const series = [...this.#series.values()].sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    const labels = series.map((s) => `route="${label(s.route)}",service="${label(s.service)}"`);
    metric('turnpike_requests_total', 'counter', 'Proxied requests by route, service and response status class (route "": no route matched).');
    series.forEach((s, j) => {
      for (let c = 1; c <= 5; c++) out.push(`turnpike_requests_total{${labels[j]},status_class="${STATUS_CLASSES[c]}"} ${s.byClass[c]}`);
      if (s.byClass[0]! > 0) out.push(`turnpike_requests_total{${labels[j]},status_class="other"} ${s.byClass[0]}`);
    });
    const histogram = (name: string, help: string, pick: (s: RouteSeries) => [Float64Array, number]): void => {
      metric(name, 'histogram', help);
      series.forEach((s, j) => {
        const [slots, sumMs] = pick(s);
        let cum = 0;
        for (let i = 0; i < BUCKETS_MS.length; i++) {
          cum += slots[i] as number;
          out.push(`${name}_bucket{${labels[j]},le="${LATENCY_BUCKETS_S[i]}"} ${cum}`);
        }
        cum += slots[SLOTS - 1] as number;
        out.push(`${name}_bucket{${labels[j]},le="+Inf"} ${cum}`, `${name}_sum{${labels[j]}} ${num(sumMs / 1000)}`, `${name}_count{${labels[j]}} ${cum}`);
      });
    };
    histogram('turnpike_request_duration_seconds', 'Total request latency (first byte in to response end) in seconds, by route.', (s) => [s.duration, s.durationSumMs]);
    histogram('turnpike_upstream_duration_seconds', 'Upstream latency (dispatch to response head, last attempt) in seconds, by route.', (s) => [s.upstream, s.upstreamSumMs]);
    metric('turnpike_request_bytes_total', 'counter', 'Request body bytes received from clients (WebSocket: messages to the upstream), by route.');
    series.forEach((s, j) => out.push(`turnpike_request_bytes_total{${labels[j]}} ${s.bytesIn}`));
    metric('turnpike_response_bytes_total', 'counter', 'Response body bytes sent to clients (WebSocket: messages to the client), by route.');
    series.forEach((s, j) => out.push(`turnpike_response_bytes_total{${labels[j]}} ${s.bytesOut}`));
  }

  render(g: GaugeSources): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    // The node-wide totals: sums of the per-route series (nothing extra on the hot path).
    const byClass = new Float64Array(6);
    const duration = new Float64Array(SLOTS);
    let sumMs = 0;
    for (const s of this.#series.values()) {
      for (let c = 0; c < 6; c++) byClass[c]! += s.byClass[c] as number;
      for (let i = 0; i < SLOTS; i++) duration[i]! += s.duration[i] as number;
      sumMs += s.durationSumMs;
    }
    metric('turnpike_gateway_requests_total', 'counter', 'Proxied requests by response status class (all routes).');
    for (let c = 1; c <= 5; c++) out.push(`turnpike_gateway_requests_total{status_class="${c}xx"} ${byClass[c]}`);
    metric('turnpike_gateway_request_duration_ms', 'histogram', 'Total request latency in milliseconds (all routes).');
    let cum = 0;
    for (let i = 0; i < BUCKETS_MS.length; i++) {
      cum += duration[i] as number;
      out.push(`turnpike_gateway_request_duration_ms_bucket{le="${BUCKETS_MS[i]}"} ${cum}`);
    }
    cum += duration[SLOTS - 1] as number;
    out.push(`turnpike_gateway_request_duration_ms_bucket{le="+Inf"} ${cum}`);
    out.push(`turnpike_gateway_request_duration_ms_sum ${num(sumMs)}`, `turnpike_gateway_request_duration_ms_count ${cum}`);
    this.#renderRoutes(out, metric);
    metric('turnpike_ai_overhead_seconds', 'histogram', 'Time AI calls spent in the gateway (total minus waiting on providers), as in X-Turnpike-Overhead-Ms.');
    let aiCum = 0;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      aiCum += this.#aiOverhead[i] as number;
      out.push(`turnpike_ai_overhead_seconds_bucket{le="${LATENCY_BUCKETS_S[i]}"} ${aiCum}`);
    }
    aiCum += this.#aiOverhead[SLOTS - 1] as number;
    out.push(`turnpike_ai_overhead_seconds_bucket{le="+Inf"} ${aiCum}`);
    out.push(`turnpike_ai_overhead_seconds_sum ${num(this.#aiOverheadSumMs / 1000)}`, `turnpike_ai_overhead_seconds_count ${aiCum}`);
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
    const sp = g.callSpool?.();
    if (sp) {
      metric('turnpike_gateway_call_spool_bytes', 'gauge', 'Bytes of call-log spool segment files on disk.');
      out.push(`turnpike_gateway_call_spool_bytes ${sp.bytes}`);
      metric('turnpike_gateway_call_spool_records', 'gauge', 'Call records in the spool waiting for replay.');
      out.push(`turnpike_gateway_call_spool_records ${sp.records}`);
      metric('turnpike_gateway_call_spool_segments', 'gauge', 'Call-log spool segment files on disk.');
      out.push(`turnpike_gateway_call_spool_segments ${sp.segments}`);
      metric('turnpike_gateway_call_spool_spooled_total', 'counter', 'Call records written to the spool (sink unreachable).');
      out.push(`turnpike_gateway_call_spool_spooled_total ${sp.spooled}`);
      metric('turnpike_gateway_call_spool_replayed_total', 'counter', 'Spooled call records the sink took on replay.');
      out.push(`turnpike_gateway_call_spool_replayed_total ${sp.replayed}`);
      metric('turnpike_gateway_call_spool_dropped_total', 'counter', 'Spooled call records dropped (spool full: oldest segment deleted; or corrupt).');
      out.push(`turnpike_gateway_call_spool_dropped_total ${sp.dropped}`);
    }
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
