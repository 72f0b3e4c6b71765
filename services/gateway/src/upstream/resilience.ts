// Upstream resilience state that outlives config snapshots: each target's TargetHealth (passive ejection,
// circuit breaker, active-check verdict), the active health checkers and the retry budgets. Keyed by what
// they depend on (upstream, origin and the policy), so a recompile that leaves them unchanged keeps their
// state and checkers running, like pools.ts keeps connections; `retain` after a snapshot swap drops the rest.
import type { UpstreamPolicies } from '@turnpike/common';
import { HealthChecker, type ActiveCheckPolicy } from './health-checker.js';
import { tlsKey, type UpstreamTlsOptions } from './pools.js';
import { RetryBudget } from './retry-budget.js';
import { ALWAYS_AVAILABLE, TargetHealth } from './target-health.js';
import type { BreakerState } from './circuit-breaker.js';

// Retry conditions as bits (RetryPolicy.on), tested with one AND on the failure path.
export const RETRY_CONNECT_FAILURE = 1;
export const RETRY_TIMEOUT = 2;
export const RETRY_5XX = 4;
export const RETRY_RESET = 8;
const CONDITION_BITS: Record<string, number> = { 'connect-failure': RETRY_CONNECT_FAILURE, timeout: RETRY_TIMEOUT, '5xx': RETRY_5XX, reset: RETRY_RESET };

export interface CompiledRetry {
  /** Retries after the first try (above 0). */
  attempts: number;
  /** RETRY_* bits. */
  on: number;
  onlyIdempotent: boolean;
  budget: RetryBudget;
}

/** What the proxy reads for an upstream with any resilience policy; null on the upstream when it has none. */
export interface CompiledResilience {
  retry: CompiledRetry | null;
  /** Health checks or a breaker: targets carry their own TargetHealth and report outcomes to it. */
  guarded: boolean;
  hasBreaker: boolean;
}

/** The policy fields this module reads, defaults filled in (upstreamPolicies in @turnpike/common). */
export type ResiliencePolicies = Pick<UpstreamPolicies, 'retries' | 'health_checks' | 'circuit_breaker' | 'tls'>;

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * The retry condition an upstream error falls under (RETRY_* bit), or 0 for one that is not the upstream's
 * doing (the client left, the request body was refused, the total budget ran out) or not retryable.
 * Connect failures are the only ones where the request certainly never reached the upstream.
 */
export function failureCondition(err: unknown): number {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return RETRY_CONNECT_FAILURE;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return RETRY_TIMEOUT;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return RETRY_RESET;
    default:
      return 0;
  }
}

/** Whether an upstream error counts against the target (passive ejection, breaker): anything but the request's own fault or the client leaving. */
export function countsAsFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' && code !== 'UND_ERR_INVALID_ARG' && code !== 'UND_ERR_ABORTED';
}

/** The error for an upstream whose balancer found no target: circuit open when a breaker keeps one out. */
export function unavailableCode(targets: readonly { health: TargetHealth }[]): 'TP_ERR_UPSTREAM_CIRCUIT_OPEN' | 'TP_ERR_NO_HEALTHY_TARGET' {
  for (const t of targets) {
    const b = t.health.breaker;
    if (b !== null && b.state !== 'closed') return 'TP_ERR_UPSTREAM_CIRCUIT_OPEN';
  }
  return 'TP_ERR_NO_HEALTHY_TARGET';
}

export interface TargetMetrics {
  upstream: string;
  target: string;
  available: boolean;
  activeUp: boolean;
  ejected: boolean;
  breaker: BreakerState | null;
}

export interface UpstreamCounters {
  retries: number;
  retriesRefused: number;
  ejections: number;
  breakerOpens: number;
}

interface TargetEntry {
  upstream: string;
  origin: string;
  health: TargetHealth;
  checkerKey: string | null;
}

export class ResilienceRegistry {
  readonly #targets = new Map<string, TargetEntry>();
  readonly #checkers = new Map<string, HealthChecker>();
  readonly #budgets = new Map<string, { upstream: string; budget: RetryBudget }>();
  /** Counts of dropped state, so that counters never go backwards on /metrics. */
  readonly #retired = new Map<string, UpstreamCounters>();
  #closed = false;

  /**
   * The compiled resilience of an upstream, or null when it has none of retries, health checks or a breaker.
   * `keys` receives the registry keys the upstream uses (for `retain`).
   */
  compile(upstreamId: string, p: ResiliencePolicies, keys: string[]): CompiledResilience | null {
    const r = p.retries;
    const attempts = r.attempts ?? 0;
    const on = (r.on ?? ['connect-failure']).reduce((bits, c) => bits | (CONDITION_BITS[c] ?? 0), 0);
    const retry: CompiledRetry | null =
      attempts > 0 && on !== 0 ? { attempts, on, onlyIdempotent: r.only_idempotent ?? true, budget: this.#budget(upstreamId, r.budget_percent ?? 20, keys) } : null;
    const guarded = p.health_checks.active !== undefined || p.health_checks.passive !== undefined || p.circuit_breaker !== null;
    if (retry === null && !guarded) return null;
    return { retry, guarded, hasBreaker: p.circuit_breaker !== null };
  }

  /** The TargetHealth of one target of a guarded upstream (ALWAYS_AVAILABLE otherwise). */
  /** `tls`: the options the target's pool connects with (probes of an https target use the same). */
  target(upstreamId: string, origin: string, p: ResiliencePolicies, keys: string[], tls?: UpstreamTlsOptions): TargetHealth {
    const hc = p.health_checks;
    if (hc.active === undefined && hc.passive === undefined && p.circuit_breaker === null) return ALWAYS_AVAILABLE;
    const key = `t|${upstreamId}|${origin}|${JSON.stringify([hc.active ?? null, hc.passive ?? null, p.circuit_breaker])}`;
    keys.push(key);
    const found = this.#targets.get(key);
    if (found) {
      if (found.checkerKey !== null) keys.push(found.checkerKey);
      return found.health;
    }
    const health = new TargetHealth(
      hc.passive
        ? { unhealthy: { failures: hc.passive.unhealthy?.failures ?? 5, window_ms: hc.passive.unhealthy?.window_ms ?? 10_000 }, ejection_ms: hc.passive.ejection_ms ?? 30_000 }
        : null,
      p.circuit_breaker,
    );
    let checkerKey: string | null = null;
    if (hc.active) {
      const probeTls = origin.startsWith('https:') && tls ? tls : null;
      checkerKey = `c|${origin}|${JSON.stringify(hc.active)}${probeTls ? tlsKey(probeTls) : ''}`;
      keys.push(checkerKey);
      let checker = this.#checkers.get(checkerKey);
      if (!checker) {
        checker = new HealthChecker(origin, hc.active as ActiveCheckPolicy, probeTls);
        this.#checkers.set(checkerKey, checker);
        if (!this.#closed) checker.start();
      }
      checker.subscribe(health);
    }
    this.#targets.set(key, { upstream: upstreamId, origin, health, checkerKey });
    return health;
  }

  #budget(upstreamId: string, percent: number, keys: string[]): RetryBudget {
    const key = `b|${upstreamId}|${percent}`;
    keys.push(key);
    let e = this.#budgets.get(key);
    if (!e) this.#budgets.set(key, (e = { upstream: upstreamId, budget: new RetryBudget(percent) }));
    return e.budget;
  }

  /** Drops (stops) the state whose keys are not in `live`: call after a snapshot swap with its keys. */
  retain(live: ReadonlySet<string>): void {
    for (const [key, e] of this.#targets) {
      if (live.has(key)) continue;
      this.#targets.delete(key);
      e.health.close();
      const c = this.#retiredOf(e.upstream);
      c.ejections += e.health.outlier?.ejections ?? 0;
      c.breakerOpens += e.health.breaker?.opens ?? 0;
      if (e.checkerKey !== null) this.#checkers.get(e.checkerKey)?.unsubscribe(e.health);
    }
    for (const [key, c] of this.#checkers) {
      if (live.has(key) && c.subscribers > 0) continue;
      this.#checkers.delete(key);
      c.stop();
    }
    for (const [key, e] of this.#budgets) {
      if (live.has(key)) continue;
      this.#budgets.delete(key);
      const c = this.#retiredOf(e.upstream);
      c.retries += e.budget.retries;
      c.retriesRefused += e.budget.refused;
    }
  }

  #retiredOf(upstream: string): UpstreamCounters {
    let c = this.#retired.get(upstream);
    if (!c) this.#retired.set(upstream, (c = { retries: 0, retriesRefused: 0, ejections: 0, breakerOpens: 0 }));
    return c;
  }

  /** Stops every checker and timer (gateway close). */
  close(): void {
    this.#closed = true;
    for (const c of this.#checkers.values()) c.stop();
    for (const e of this.#targets.values()) e.health.close();
  }

  /** Live checkers (for tests and /metrics). */
  get checkers(): number {
    return this.#checkers.size;
  }

  targetMetrics(): TargetMetrics[] {
    const out: TargetMetrics[] = [];
    for (const e of this.#targets.values()) {
      const h = e.health;
      out.push({ upstream: e.upstream, target: e.origin, available: h.available, activeUp: h.activeUp, ejected: h.ejected, breaker: h.breaker ? h.breaker.state : null });
    }
    return out;
  }

  counters(): Map<string, UpstreamCounters> {
    const out = new Map<string, UpstreamCounters>();
    for (const [u, c] of this.#retired) out.set(u, { ...c });
    const of = (u: string): UpstreamCounters => {
      let c = out.get(u);
      if (!c) out.set(u, (c = { retries: 0, retriesRefused: 0, ejections: 0, breakerOpens: 0 }));
      return c;
    };
    for (const e of this.#targets.values()) {
      const c = of(e.upstream);
      c.ejections += e.health.outlier?.ejections ?? 0;
      c.breakerOpens += e.health.breaker?.opens ?? 0;
    }
    for (const e of this.#budgets.values()) {
      const c = of(e.upstream);
      c.retries += e.budget.retries;
      c.retriesRefused += e.budget.refused;
    }
    return out;
  }
}
