// Failures of the analytics stores. Unreachable stores map to 503 so the admin API can say
// "analytics unavailable" without leaking server text; failed queries are internal errors.
import { TurnpikeError } from '@turnpike/common';

export class AnalyticsStoreError extends TurnpikeError {
  /** ClickHouse's numeric exception code when the server answered with one (e.g. 60: unknown table). */
  readonly clickhouseCode: number | undefined;
  constructor(message: string, opts: { unavailable?: boolean; clickhouseCode?: number; cause?: unknown } = {}) {
    super(opts.unavailable ? 'TP_ERR_UNAVAILABLE' : 'TP_ERR_INTERNAL', message);
    this.name = 'AnalyticsStoreError';
    this.clickhouseCode = opts.clickhouseCode;
    if (opts.cause !== undefined) (this as { cause?: unknown }).cause = opts.cause;
  }
}

/** ClickHouse error text starts with `Code: <n>` on every version. */
export function clickhouseCodeOf(text: string): number | undefined {
  const m = /Code:\s*(\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}
