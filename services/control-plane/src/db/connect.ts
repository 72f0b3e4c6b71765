// The PostgreSQL pools. int8 columns come back as strings from postgres.js; callers convert with Number()
// (revisions and sequences stay far below 2^53).
import postgres, { type Sql } from 'postgres';

/** A connection attempt that gets no answer (a black-holed host) fails after this; postgres.js waits 30 s. */
export const PG_CONNECT_TIMEOUT_S = 2;
/** Longest wait before a pool connection tries again after a failed connect. */
export const PG_MAX_RECONNECT_DELAY_S = 0.5;

/**
 * Seconds before the next connect after `retries` failed ones. postgres.js counts failures per pool, not
 * per connection, and its default backoff (3^retries / 100 s, up to 20 s) makes every query of the pool
 * wait that long once a dozen connects have failed: during an outage an admin request got no answer, and
 * after it the first one waited 4–11 s for a connection still in its delay. Refused connects are cheap,
 * so the delay stays short; the jitter keeps a pool's connections from retrying in lockstep.
 */
export function pgReconnectDelay(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, PG_MAX_RECONNECT_DELAY_S);
}

export function connectPostgres(url: string, max = 10): Sql {
  return postgres(url, { max, onnotice: () => undefined, connect_timeout: PG_CONNECT_TIMEOUT_S, backoff: pgReconnectDelay });
}
