// Passive outlier ejection: `unhealthy.failures` failed requests (connect errors, timeouts, resets, 5xx)
// within `unhealthy.window_ms` take a target out of rotation for `ejection_ms`. It comes back on its own
// (there is no probe here: that is the active health checker's job) and starts with a clean window.
import { WindowCounter } from './window-counter.js';

export interface OutlierPolicy {
  unhealthy: { failures: number; window_ms: number };
  ejection_ms: number;
}

export class OutlierDetector {
  /** When the ejection ends (ms); 0 while the target is in rotation. */
  ejectedUntil = 0;
  /** Times the target was ejected (for /metrics). */
  ejections = 0;
  readonly #failures: WindowCounter;

  constructor(readonly policy: OutlierPolicy) {
    this.#failures = new WindowCounter(policy.unhealthy.window_ms);
  }

  /** Records a failure; true when it ejects the target. */
  onFailure(now: number): boolean {
    if (this.ejectedUntil !== 0) return false;
    if (this.#failures.add(now) < this.policy.unhealthy.failures) return false;
    this.ejectedUntil = now + this.policy.ejection_ms;
    this.ejections++;
    this.#failures.reset();
    return true;
  }

  /** Ends an ejection whose time is up; true when it did. */
  tick(now: number): boolean {
    if (this.ejectedUntil === 0 || now < this.ejectedUntil) return false;
    this.ejectedUntil = 0;
    return true;
  }
}
