// A proxy thread's rate limiters and their cluster sync. Limiters are kept by id (plugin instance, limit
// index and the limit's settings) across config compiles, so a recompile keeps the counts. Every `intervalMs`
// the registry publishes its own admissions since the last tick on the sync channel (NATS core pub/sub) and
// applies what peers publish: peers consume the same budget. It knows the live node count from whose
// messages it hears (every node publishes every tick, empty or not). When the channel is down (not
// connected, a publish failing) each node enforces an even local share (limit / the last known node
// count) and reports it in /metrics. Without a channel (embedded mode, a test bus) limits are local.
import { Limiter, type LimitSpec, type PendingEntry } from './limiter.js';
import type { RateLimitSyncChannel, RateLimitSyncMessage, SyncSubscription } from './sync.js';

export interface RateLimitRegistryOptions {
  /** This node's id (peers tell their messages apart by it). */
  nodeId: string;
  /** The cluster's sync channel; null: local limits only (embedded mode). */
  channel?: RateLimitSyncChannel | null;
  /** Publish period (default 100 ms); 0: no timer, tick() is called by hand (tests). */
  intervalMs?: number;
  /** A peer unheard for this long is gone (default 1.5 s: three idle keep-alives). */
  peerTtlMs?: number;
  /**
   * Proxy threads of this node (TP_WORKERS), each with its own registry: a `sync: local` limit is the node's,
   * so each thread enforces limit / threads. (Cluster-synced limits need no such share: each thread is a node
   * of the exchange, relay.ts.) Default 1.
   */
  threads?: number;
  /** Keys per limiter before the oldest is dropped (default 100,000). */
  maxKeys?: number;
  now?: () => number;
}

export interface RateLimitStats {
  /** Nodes the limits are shared by (this one included). */
  nodes: number;
  /** 1 while the sync channel is down and each node enforces a local share. */
  degraded: boolean;
  synced: boolean;
  refused: number;
  admitted: number;
  keys: number;
  publishFailures: number;
  messagesIn: number;
}

/** How an own admission counts now (see Limiter.check). */
export interface Weighting {
  /** What one own admission consumes: 1, or the node count while each node keeps a local share. */
  weight: number;
  /** Unpublished admissions of peers assumed per own unpublished one (nodes − 1 while synced). */
  peerFactor: number;
}

const MAX_ENTRIES_PER_MESSAGE = 2_000;
/** How often idle keys are dropped. */
const SWEEP_MS = 5_000;
/** How often a node with nothing to report publishes an empty message (peers count it as alive). */
const KEEPALIVE_MS = 500;

export class RateLimitRegistry {
  readonly nodeId: string;
  readonly #limiters = new Map<string, Limiter>();
  readonly #channel: RateLimitSyncChannel | null;
  readonly #intervalMs: number;
  readonly #peerTtlMs: number;
  readonly #threads: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #peers = new Map<string, number>();
  #sub: SyncSubscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastSweep = 0;
  #lastPublish = -Infinity;
  #degraded = false;
  /** Node count while the channel last worked (the local share's divisor when it does not). */
  #lastKnownNodes = 1;
  /** Read by the hot path; recomputed each tick. */
  readonly cluster: Weighting = { weight: 1, peerFactor: 0 };
  readonly local: Weighting;
  refused = 0;
  admitted = 0;
  #publishFailures = 0;
  #messagesIn = 0;

  constructor(o: RateLimitRegistryOptions) {
    this.nodeId = o.nodeId;
    this.#channel = o.channel ?? null;
    this.#intervalMs = o.intervalMs ?? 100;
    this.#peerTtlMs = o.peerTtlMs ?? 3 * KEEPALIVE_MS;
    this.#threads = Math.max(1, Math.floor(o.threads ?? 1));
    this.#maxKeys = o.maxKeys ?? 100_000;
    this.#now = o.now ?? Date.now;
    this.local = { weight: this.#threads, peerFactor: 0 };
  }

  /** The limiter with this id, made on first use (same id = same settings: the id includes them). */
  limiter(id: string, spec: LimitSpec, synced: boolean): Limiter {
    let l = this.#limiters.get(id);
    if (l === undefined) this.#limiters.set(id, (l = new Limiter(id, spec, synced && this.#channel !== null, this.#maxKeys)));
    return l;
  }

  /** Starts the sync timer (without a channel: only the sweep of idle keys, every SWEEP_MS). */
  start(): void {
    if (this.#timer !== null || this.#sub !== null) return;
    if (this.#channel !== null) this.#sub = this.#channel.subscribe((m) => this.receive(m));
    if (this.#intervalMs <= 0) return;
    this.#timer = setInterval(() => this.tick(), this.#channel !== null ? this.#intervalMs : SWEEP_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#sub?.stop();
    this.#sub = null;
  }

  /** One sync period: publish own counts, recompute the node count and mode, sweep idle keys now and then. */
  tick(): void {
    const now = this.#now();
    if (this.#channel !== null) this.#publish(now);
    if (now - this.#lastSweep >= SWEEP_MS) {
      this.#lastSweep = now;
      for (const l of this.#limiters.values()) l.sweep(now);
    }
  }

  #publish(now: number): void {
    const entries: [string, string, number, number][] = [];
    const pending: PendingEntry[] = [];
    let synced = false;
    for (const l of this.#limiters.values()) {
      if (!l.synced) continue;
      synced = true;
      l.drainPending(pending);
      for (const [key, w, c] of pending) entries.push([l.id, key, w, c]);
      pending.length = 0;
    }
    // A node without cluster limits stays silent; an idle one says it is alive every KEEPALIVE_MS only.
    if (!synced) return;
    let ok = this.#channel!.connected();
    if (ok && (entries.length > 0 || now - this.#lastPublish >= KEEPALIVE_MS)) {
      this.#lastPublish = now;
      for (let i = 0; ok && (i === 0 || i < entries.length); i += MAX_ENTRIES_PER_MESSAGE) {
        const msg: RateLimitSyncMessage = { n: this.nodeId, e: entries.slice(i, i + MAX_ENTRIES_PER_MESSAGE) };
        ok = this.#channel!.publish(msg);
      }
    }
    if (!ok) this.#publishFailures++;
    for (const [peer, at] of this.#peers) if (now - at > this.#peerTtlMs) this.#peers.delete(peer);
    if (ok) {
      this.#degraded = false;
      this.#lastKnownNodes = 1 + this.#peers.size;
    } else this.#degraded = true;
    const nodes = this.#lastKnownNodes;
    // Synced: own admissions count once, and as many unseen ones are assumed for each peer. Down: each node
    // takes an even share, its own admissions counting `nodes` times.
    this.cluster.weight = this.#degraded ? nodes : 1;
    this.cluster.peerFactor = this.#degraded ? 0 : nodes - 1;
  }

  /** A peer's message (own messages, echoed by NATS, are ignored). */
  receive(m: RateLimitSyncMessage): void {
    if (m.n === this.nodeId) return;
    const now = this.#now();
    this.#messagesIn++;
    if (!this.#peers.has(m.n) && !this.#degraded) {
      // A new peer shares the limits from now on, not from the next tick.
      this.#lastKnownNodes = 2 + this.#peers.size;
      this.cluster.peerFactor = this.#lastKnownNodes - 1;
    }
    this.#peers.set(m.n, now);
    for (const [id, key, w, c] of m.e) this.#limiters.get(id)?.applyRemote(key, w, c, now);
  }

  stats(): RateLimitStats {
    let keys = 0;
    for (const l of this.#limiters.values()) keys += l.size;
    return {
      nodes: this.#channel === null ? 1 : this.#lastKnownNodes,
      degraded: this.#degraded,
      synced: this.#channel !== null,
      refused: this.refused,
      admitted: this.admitted,
      keys,
      publishFailures: this.#publishFailures,
      messagesIn: this.#messagesIn,
    };
  }

  /** Prometheus text for /metrics (appended to the node's own). */
  renderMetrics(): string {
    return renderRateLimitMetrics([this.stats()]);
  }
}

/** Prometheus text for the registries of a node's proxy threads: counters summed, the worst sync state. */
export function renderRateLimitMetrics(all: readonly RateLimitStats[]): string {
  const s: RateLimitStats = { nodes: 1, degraded: false, synced: false, refused: 0, admitted: 0, keys: 0, publishFailures: 0, messagesIn: 0 };
  for (const x of all) {
    s.nodes = Math.max(s.nodes, x.nodes);
    s.degraded ||= x.degraded;
    s.synced ||= x.synced;
    s.refused += x.refused;
    s.admitted += x.admitted;
    s.keys += x.keys;
    s.publishFailures += x.publishFailures;
    s.messagesIn += x.messagesIn;
  }
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric('turnpike_gateway_rate_limit_admitted_total', 'counter', 'Requests admitted by rate-limiting instances.', s.admitted);
  metric('turnpike_gateway_rate_limit_refused_total', 'counter', 'Requests refused with 429 by rate-limiting instances.', s.refused);
  metric('turnpike_gateway_rate_limit_keys', 'gauge', 'Rate limit keys (consumer, IP, ...) with state on this node.', s.keys);
  metric(
    'turnpike_gateway_rate_limit_sync_nodes',
    'gauge',
    'Nodes sharing cluster rate limits, as this node knows them (itself included; with TP_WORKERS > 1 each proxy thread counts as one).',
    s.nodes,
  );
  metric(
    'turnpike_gateway_rate_limit_local_share',
    'gauge',
    '1 while the rate limit sync channel (NATS) is down and this node enforces limit / nodes by itself.',
    s.degraded ? 1 : 0,
  );
  metric('turnpike_gateway_rate_limit_sync_publish_failures_total', 'counter', 'Sync periods whose counts could not be published.', s.publishFailures);
  metric('turnpike_gateway_rate_limit_sync_messages_total', 'counter', 'Counter messages received from peers.', s.messagesIn);
  return lines.join('\n') + '\n';
}
