// Circuit breaker per upstream target: closed → open after `failure_threshold` failures within `window_ms`;
// open for `open_ms` (the target is out of rotation); then half-open, letting `half_open_requests` trial
// requests through. Those trials all succeeding closes it; any failure re-opens it for another `open_ms`.
// Time is passed in (ms), so the state machine is tested without clocks; TargetHealth drives the timer.
import { WindowCounter } from './window-counter.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerPolicy {
  failure_threshold: number;
  window_ms: number;
  open_ms: number;
  half_open_requests: number;
}

export class CircuitBreaker {
  state: BreakerState = 'closed';
  /** When an open circuit turns half-open (ms); 0 unless open. */
  openUntil = 0;
  /** Times the circuit opened (for /metrics). */
  opens = 0;
  readonly #failures: WindowCounter;
  #trialsLeft = 0;
  #trialSuccesses = 0;

  constructor(readonly policy: BreakerPolicy) {
    this.#failures = new WindowCounter(policy.window_ms);
  }

  /** Whether a request may be sent now: closed, or half-open with a trial slot left. */
  allows(): boolean {
    return this.state === 'closed' || (this.state === 'half-open' && this.#trialsLeft > 0);
  }

  /** A request was sent to the target (takes a trial slot while half-open). */
  acquire(): void {
    if (this.state === 'half-open' && this.#trialsLeft > 0) this.#trialsLeft--;
  }

  /** A request ended without an outcome (the client left): its trial slot is free again. */
  release(): void {
    if (this.state === 'half-open' && this.#trialsLeft + this.#trialSuccesses < this.policy.half_open_requests) this.#trialsLeft++;
  }

  onSuccess(): void {
    if (this.state !== 'half-open') return;
    if (++this.#trialSuccesses >= this.policy.half_open_requests) this.#close();
  }

  onFailure(now: number): void {
    if (this.state === 'open') return; // answers to requests sent before it opened
    if (this.state === 'half-open' || this.#failures.add(now) >= this.policy.failure_threshold) this.#open(now);
  }

  /** Moves an open circuit whose time is up to half-open; true when it did. */
  tick(now: number): boolean {
    if (this.state !== 'open' || now < this.openUntil) return false;
    this.state = 'half-open';
    this.openUntil = 0;
    this.#trialsLeft = this.policy.half_open_requests;
    this.#trialSuccesses = 0;
    return true;
  }

  #open(now: number): void {
    this.state = 'open';
    this.openUntil = now + this.policy.open_ms;
    this.opens++;
    this.#failures.reset();
  }

  #close(): void {
    this.state = 'closed';
    this.#failures.reset();
  }
}
