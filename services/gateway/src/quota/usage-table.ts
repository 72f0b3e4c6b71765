// What a proxy thread knows of quota usage: the control plane's last snapshot per consumer/service (quota
// bucket, forwarded by the node's primary to every worker) plus the requests this thread admitted since
// that snapshot arrived, which the snapshot cannot contain yet. A snapshot replaces the local count: from
// then on the aggregated count covers those requests, except the ones still on their way (call-log
// batcher, aggregation): about a second's worth, which is how far a burst can overshoot (docs/architecture.md).
// One table per thread (like the proxy's in-flight counter): the quota step reads it directly.
import { parseQuotaUsage, periodEnd, periodStart, type ConfigEvent, type QuotaPeriodName, type QuotaPeriodUsage } from '@turnpike/common';

const DAY_MS = 86_400_000;

interface Entry {
  usage: readonly QuotaPeriodUsage[];
  /** Requests admitted by this thread since the snapshot, all on day `localDay` (every period boundary is a day boundary). */
  local: number;
  localDay: number;
}

export class QuotaUsageTable {
  readonly #byPair = new Map<string, Entry>();
  /** Raw values as received, for replaying to a restarted worker. */
  readonly #raw = new Map<string, string>();

  /** Applies a quota-bucket event (key quotaUsageKey). */
  apply(ev: ConfigEvent): void {
    if (ev.op === 'del') {
      this.#byPair.delete(ev.key);
      this.#raw.delete(ev.key);
      return;
    }
    const snap = parseQuotaUsage(ev.value);
    if (snap === null) return;
    this.#raw.set(ev.key, ev.value);
    const e = this.#byPair.get(ev.key);
    if (e === undefined) this.#byPair.set(ev.key, { usage: snap.usage, local: 0, localDay: 0 });
    else {
      e.usage = snap.usage;
      e.local = 0;
    }
  }

  /** Requests counted against `period` (starting `start`) for the pair: the snapshot's plus this thread's since. */
  used(pair: string, period: QuotaPeriodName, start: number, nowMs: number): number {
    const e = this.#byPair.get(pair);
    if (e === undefined) return 0;
    let n = e.localDay === Math.floor(nowMs / DAY_MS) * DAY_MS ? e.local : 0;
    for (const u of e.usage) if (u.period === period && u.start === start) n += u.requests;
    return n;
  }

  /** Counts one admitted request of the pair. */
  admit(pair: string, nowMs: number): void {
    const day = Math.floor(nowMs / DAY_MS) * DAY_MS;
    let e = this.#byPair.get(pair);
    if (e === undefined) this.#byPair.set(pair, (e = { usage: [], local: 0, localDay: day }));
    if (e.localDay !== day) {
      e.localDay = day;
      e.local = 0;
    }
    e.local++;
  }

  /** The snapshots as bucket events (a restarted worker gets them from the primary). */
  events(): ConfigEvent[] {
    return [...this.#raw].map(([key, value]) => ({ op: 'put', key, value, revision: 0 }));
  }

  get size(): number {
    return this.#byPair.size;
  }
}

/** This thread's table. */
export const threadQuotaUsage = new QuotaUsageTable();

/** The current period's start and end for each period kind, recomputed once a day (no Date per request). */
let periodsValidUntil = -1;
const current: Record<QuotaPeriodName, { start: number; end: number }> = { day: { start: 0, end: 0 }, week: { start: 0, end: 0 }, month: { start: 0, end: 0 } };
export function currentPeriod(period: QuotaPeriodName, nowMs: number): { start: number; end: number } {
  if (nowMs >= periodsValidUntil || nowMs < current.day.start) {
    for (const p of ['day', 'week', 'month'] as const) {
      const start = periodStart(p, nowMs);
      current[p] = { start, end: periodEnd(p, start) };
    }
    periodsValidUntil = current.day.end;
  }
  return current[period];
}
