// Gateway metrics, kept as plain counters (the hot path only adds numbers) and rendered as Prometheus
// text exposition on scrape.

const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export interface GaugeSources {
  revision(): number;
  rejected(): number;
  configLoaded(): boolean;
  natsConnected(): boolean;
  uwsNative(): boolean;
  callLog(): { buffered: number; dropped: number; sent: number };
  inFlight(): number;
}

export class GatewayMetrics {
  /** Index = status / 100 (1xx..5xx). */
  readonly #byClass = new Float64Array(6);
  readonly #buckets = new Float64Array(LATENCY_BUCKETS_MS.length);
  #latencySum = 0;
  #latencyCount = 0;
  readonly #upstreamErrors = new Map<string, number>();

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
    return out.join('\n') + '\n';
  }
}
