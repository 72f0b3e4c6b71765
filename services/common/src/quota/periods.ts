// Quota periods in UTC: a day from 00:00, an ISO week from Monday 00:00, a calendar month from the 1st.
// The control plane buckets usage by period start and the gateway compares the start it holds with the
// current one, so both ends must compute the same boundaries from a timestamp alone.
export type QuotaPeriodName = 'day' | 'week' | 'month';

const DAY_MS = 86_400_000;

/** The start (epoch ms, UTC) of the period of `period` that contains `ms`. */
export function periodStart(period: QuotaPeriodName, ms: number): number {
  const dayStart = Math.floor(ms / DAY_MS) * DAY_MS;
  if (period === 'day') return dayStart;
  if (period === 'week') {
    // getUTCDay: 0 = Sunday … 6 = Saturday; days since Monday is (day + 6) % 7.
    const sinceMonday = (new Date(dayStart).getUTCDay() + 6) % 7;
    return dayStart - sinceMonday * DAY_MS;
  }
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The end (exclusive, epoch ms) of the period that starts at `start`: when its usage resets. */
export function periodEnd(period: QuotaPeriodName, start: number): number {
  if (period === 'day') return start + DAY_MS;
  if (period === 'week') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
