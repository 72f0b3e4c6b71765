// The channel rate-limit counters travel on between the nodes of a cluster: NATS core pub/sub on
// `turnpike.ratelimit.<cluster>.counts` (fire and forget: a lost message costs accuracy for one period, and a stale
// one replayed later would count twice). The connection comes from a getter because its owner (the config
// source) connects and reconnects in the background.
import type { NatsConnection } from '@nats-io/transport-node';
import { subscribeJson } from '@turnpike/common';

/** One node's admissions since its last message: n = node id, e = [limiter id, key, window index, count]. */
export interface RateLimitSyncMessage {
  n: string;
  e: [string, string, number, number][];
}

export interface SyncSubscription {
  stop(): void;
}

export interface RateLimitSyncChannel {
  /** Whether messages can be sent now. */
  connected(): boolean;
  /** false when not sent (not connected, the client refused it). */
  publish(m: RateLimitSyncMessage): boolean;
  subscribe(cb: (m: RateLimitSyncMessage) => void): SyncSubscription;
}

export function rateLimitSubject(cluster: string): string {
  return `turnpike.ratelimit.${cluster}.counts`;
}

/** What a received payload must look like; anything else is dropped. */
export function parseSyncMessage(v: unknown): RateLimitSyncMessage | null {
  if (typeof v !== 'object' || v === null) return null;
  const m = v as { n?: unknown; e?: unknown };
  if (typeof m.n !== 'string' || !Array.isArray(m.e)) return null;
  for (const e of m.e as unknown[]) {
    if (!Array.isArray(e) || e.length !== 4 || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !Number.isInteger(e[2]) || !Number.isInteger(e[3]) || (e[3] as number) < 0) return null;
  }
  return m as RateLimitSyncMessage;
}

/** How often the owner's connection is looked at (attach, or attach again after it replaced the connection). */
const RETRY_SUBSCRIBE_MS = 500;

export class NatsRateLimitSync implements RateLimitSyncChannel {
  readonly #subject: string;

  constructor(
    readonly connection: () => NatsConnection | undefined,
    cluster: string,
  ) {
    this.#subject = rateLimitSubject(cluster);
  }

  connected(): boolean {
    const nc = this.connection();
    return nc !== undefined && !nc.isClosed();
  }

  publish(m: RateLimitSyncMessage): boolean {
    const nc = this.connection();
    if (!nc || nc.isClosed()) return false;
    try {
      nc.publish(this.#subject, JSON.stringify(m));
      return true;
    } catch {
      return false;
    }
  }

  subscribe(cb: (m: RateLimitSyncMessage) => void): SyncSubscription {
    return subscribeJson(this.connection, this.#subject, parseSyncMessage, cb, RETRY_SUBSCRIBE_MS);
  }

}
