// The control plane's view of the cluster's gateway nodes: the latest heartbeat of each, in memory only
// (a restarted control plane knows every live node again within one heartbeat interval).
import type { HeartbeatChannel, HeartbeatSubscription, NodeConfigSource, NodeHeartbeat } from '@turnpike/common';

export type NodeStatus = 'healthy' | 'unready' | 'stale';

export interface NodeRegistryOptions {
  /** The clock, ms since epoch (tests drive it). */
  now?: () => number;
  /** Not heard from for longer than this (default 10 s, at least 3 intervals): stale. */
  staleAfterMs?: number;
  /** Not heard from for longer than this (default 5 min): left out of the list and forgotten. */
  dropAfterMs?: number;
}

/** One node as the control plane sees it; times are ms since epoch, on the control plane's clock. */
export interface NodeState {
  node_id: string;
  hostname: string;
  version: string;
  revision: number;
  source: NodeConfigSource;
  ready: boolean;
  status: NodeStatus;
  last_heartbeat: number;
  started_at: number;
  bus_connected: boolean;
  in_flight: number;
  requests_total: number;
}

interface Entry {
  hb: NodeHeartbeat;
  /** When the control plane received it: staleness never depends on the node's clock. */
  seenAt: number;
}

/** A node beats every `interval_ms`; missing three beats is no longer healthy. */
const HEALTHY_BEATS = 3;

export class NodeRegistry {
  readonly #nodes = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #staleAfterMs: number;
  readonly #dropAfterMs: number;

  constructor(o: NodeRegistryOptions = {}) {
    this.#now = o.now ?? Date.now;
    this.#staleAfterMs = o.staleAfterMs ?? 10_000;
    this.#dropAfterMs = o.dropAfterMs ?? 5 * 60_000;
  }

  record(hb: NodeHeartbeat): void {
    const prev = this.#nodes.get(hb.node_id);
    // NATS keeps one publisher's order, but two processes reusing a node id (a restart) may interleave:
    // within one process run, an older beat never replaces a newer one.
    if (prev && prev.hb.started_at === hb.started_at && prev.hb.ts > hb.ts) return;
    this.#nodes.set(hb.node_id, { hb, seenAt: this.#now() });
  }

  /** Follows a channel until the returned subscription is stopped. */
  follow(channel: HeartbeatChannel): HeartbeatSubscription {
    return channel.subscribe((hb) => this.record(hb));
  }

  /** Every node heard from within the drop window, by node id. */
  list(): NodeState[] {
    const now = this.#now();
    const out: NodeState[] = [];
    for (const [id, e] of this.#nodes) {
      const age = now - e.seenAt;
      if (age > this.#dropAfterMs) {
        this.#nodes.delete(id);
        continue;
      }
      out.push(this.#view(e, age));
    }
    return out.sort((a, b) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0));
  }

  #view({ hb, seenAt }: Entry, age: number): NodeState {
    const interval = hb.interval_ms > 0 ? hb.interval_ms : 2_000;
    let status: NodeStatus;
    if (age > Math.max(this.#staleAfterMs, HEALTHY_BEATS * interval)) status = 'stale';
    else if (hb.ready && age <= HEALTHY_BEATS * interval) status = 'healthy';
    else status = 'unready';
    return {
      node_id: hb.node_id,
      hostname: hb.hostname,
      version: hb.version,
      revision: hb.revision,
      source: hb.source,
      ready: hb.ready,
      status,
      last_heartbeat: seenAt,
      started_at: hb.started_at,
      bus_connected: hb.bus_connected,
      in_flight: hb.in_flight,
      requests_total: hb.requests_total,
    };
  }
}
