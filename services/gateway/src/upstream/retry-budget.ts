// Retry budget (Finagle's idea, token-bucket style): every request to the upstream deposits
// `budget_percent / 100` of a token, every retry withdraws a whole one, so retries stay within that share of
// recent requests and a failing upstream never sees its load multiplied. The bucket holds at most what the
// last 100 requests deposited (at least one token), so credit from long-past traffic does not pile up;
// it starts with one token so that a quiet upstream can still retry once.
export class RetryBudget {
  /** Kept in hundredths of a token (integers: no float drift in the count). */
  readonly #cap: number;
  #balance: number;
  /** Retries made and retries the budget refused (for /metrics). */
  retries = 0;
  refused = 0;

  constructor(readonly percent: number) {
    this.#cap = Math.max(100, percent * 100);
    this.#balance = percent > 0 ? 100 : 0;
  }

  /** A request (first attempt) went to the upstream. */
  deposit(): void {
    const b = this.#balance + this.percent;
    this.#balance = b > this.#cap ? this.#cap : b;
  }

  /** Takes a token for one retry; false when the budget is spent. */
  tryWithdraw(): boolean {
    if (this.#balance >= 100) {
      this.#balance -= 100;
      this.retries++;
      return true;
    }
    this.refused++;
    return false;
  }

  /** Whole retries the budget allows now. */
  get available(): number {
    return Math.floor(this.#balance / 100);
  }
}
