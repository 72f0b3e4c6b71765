// Active HTTP health checks: one checker per (origin, check config), probing `path` every `interval_ms` with
// a `timeout_ms` budget. `healthy.successes` consecutive statuses in `healthy.http_statuses` mark the origin
// healthy; `unhealthy.failures` consecutive failures (a status in `unhealthy.http_statuses`, or no
// connection) or `unhealthy.timeouts` consecutive timeouts mark it unhealthy. Statuses in neither list
// count for neither (Kong's rule). Targets start healthy. Probes never overlap (the next is scheduled when
// one ends), use their own short-lived connections (never the proxy's pools) and unref'd timers.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ActiveHealthCheck } from '@turnpike/common';
import type { TargetHealth } from './target-health.js';
import { tlsConnectOptions, type UpstreamTlsOptions } from './pools.js';

export type ActiveCheckPolicy = Required<Pick<ActiveHealthCheck, 'path' | 'interval_ms' | 'timeout_ms'>> & {
  healthy: { successes: number; http_statuses: number[] };
  unhealthy: { failures: number; timeouts: number; http_statuses: number[] };
};


type Outcome = 'success' | 'failure' | 'timeout' | 'neutral';

export class HealthChecker {
  healthy = true;
  /** Probes sent, and their outcomes, for /metrics and tests. */
  probes = 0;
  #successes = 0;
  #failures = 0;
  #timeouts = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #inFlight: ClientRequest | null = null;
  #stopped = true;
  readonly #subscribers = new Set<TargetHealth>();
  readonly #url: URL;
  readonly #healthyStatuses: ReadonlySet<number>;
  readonly #unhealthyStatuses: ReadonlySet<number>;

  constructor(
    readonly origin: string,
    readonly policy: ActiveCheckPolicy,
    /** An https target's pool TLS options: probes present the same SNI, CA and client certificate. */
    private readonly tls: UpstreamTlsOptions | null = null,
  ) {
    this.#url = new URL(policy.path, origin);
    this.#healthyStatuses = new Set(policy.healthy.http_statuses);
    this.#unhealthyStatuses = new Set(policy.unhealthy.http_statuses);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  subscribe(t: TargetHealth): void {
    this.#subscribers.add(t);
    t.setActive(this.healthy);
  }

  unsubscribe(t: TargetHealth): void {
    this.#subscribers.delete(t);
  }

  /** Probes now, then every interval_ms. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inFlight?.destroy();
    this.#inFlight = null;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(runProbe, ms, this);
    this.#timer.unref();
  }

  /** @internal */
  probe(): void {
    this.#timer = null;
    if (this.#stopped) return;
    this.probes++;
    const u = this.#url;
    const https = u.protocol === 'https:';
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      this.#inFlight = null;
      this.record(o);
      this.#schedule(this.policy.interval_ms);
    };
    const req = (https ? httpsRequest : httpRequest)(
      {
        host: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: 'GET',
        agent: false,
        timeout: this.policy.timeout_ms,
        headers: { 'user-agent': 'turnpike-health-check', connection: 'close' },
        ...(https && this.tls ? tlsConnectOptions(this.origin, this.tls) : {}),
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('error', () => undefined);
        finish(this.#healthyStatuses.has(status) ? 'success' : this.#unhealthyStatuses.has(status) ? 'failure' : 'neutral');
      },
    );
    this.#inFlight = req;
    req.on('timeout', () => {
      finish('timeout');
      req.destroy();
    });
    req.on('error', () => finish('failure'));
    req.end();
  }

  /** Applies one probe's outcome to the counters (public for unit tests). */
  record(o: Outcome): void {
    switch (o) {
      case 'success':
        this.#failures = this.#timeouts = 0;
        if (++this.#successes >= this.policy.healthy.successes) this.#set(true);
        return;
      case 'failure':
        this.#successes = 0;
        if (++this.#failures >= this.policy.unhealthy.failures) this.#set(false);
        return;
      case 'timeout':
        this.#successes = 0;
        if (++this.#timeouts >= this.policy.unhealthy.timeouts) this.#set(false);
        return;
      case 'neutral':
        return;
    }
  }

  #set(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    for (const t of this.#subscribers) t.setActive(healthy);
  }
}

function runProbe(c: HealthChecker): void {
  c.probe();
}
