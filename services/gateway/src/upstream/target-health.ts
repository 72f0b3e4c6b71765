// One upstream target's standing: the active health checker's verdict, passive ejection and the circuit
// breaker, folded into one `available` flag that the balancers read on every pick (a field load, nothing
// else). Time-driven transitions (an ejection ending, an open circuit turning half-open) run from one
// unref'd timer per target, so `available` is always current without a clock read on the hot path.
import { CircuitBreaker, type BreakerPolicy, type BreakerState } from './circuit-breaker.js';
import { OutlierDetector, type OutlierPolicy } from './outlier.js';

export class TargetHealth {
  available = true;
  /** The active health checker's verdict (true without a checker). */
  activeUp = true;
  readonly breaker: CircuitBreaker | null;
  readonly outlier: OutlierDetector | null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = 0;
  #closed = false;

  constructor(outlier: OutlierPolicy | null, breaker: BreakerPolicy | null, private readonly now: () => number = Date.now) {
    this.outlier = outlier ? new OutlierDetector(outlier) : null;
    this.breaker = breaker ? new CircuitBreaker(breaker) : null;
  }

  get breakerState(): BreakerState {
    return this.breaker?.state ?? 'closed';
  }

  get ejected(): boolean {
    return this.outlier !== null && this.outlier.ejectedUntil !== 0;
  }

  /** A request is being sent to the target. */
  acquire(): void {
    const b = this.breaker;
    if (b !== null && b.state === 'half-open') {
      b.acquire();
      this.#update();
    }
  }

  /** A request ended without an outcome (the client left, the gateway refused the body). */
  release(): void {
    const b = this.breaker;
    if (b !== null && b.state === 'half-open') {
      b.release();
      this.#update();
    }
  }

  success(): void {
    const b = this.breaker;
    if (b !== null && b.state === 'half-open') {
      b.onSuccess();
      this.#update();
    }
  }

  /** A connect error, timeout, reset or 5xx. */
  failure(): void {
    if (this.outlier === null && this.breaker === null) return;
    const now = this.now();
    this.outlier?.onFailure(now);
    this.breaker?.onFailure(now);
    this.#update();
  }

  setActive(up: boolean): void {
    if (this.activeUp === up) return;
    this.activeUp = up;
    this.#update();
  }

  /** Applies the transitions whose time has come (the timer calls this). */
  tick(): void {
    const now = this.now();
    this.outlier?.tick(now);
    this.breaker?.tick(now);
    this.#update();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #update(): void {
    const o = this.outlier;
    const b = this.breaker;
    this.available = this.activeUp && (o === null || o.ejectedUntil === 0) && (b === null || b.allows());
    // The next time-driven transition: an ejection ending or an open circuit turning half-open.
    let at = o !== null && o.ejectedUntil !== 0 ? o.ejectedUntil : 0;
    if (b !== null && b.state === 'open' && (at === 0 || b.openUntil < at)) at = b.openUntil;
    if (at === 0 || this.#closed || (this.#timer !== null && this.#timerAt === at)) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(onTimer, Math.max(1, at - this.now()), this);
    this.#timer.unref();
  }

  /** @internal */
  timerFired(): void {
    this.#timer = null;
    this.#timerAt = 0;
    this.tick();
  }
}

function onTimer(h: TargetHealth): void {
  h.timerFired();
}

/** Shared by every target of an upstream without health checks or a breaker: always available, never changes. */
export const ALWAYS_AVAILABLE = new TargetHealth(null, null);
