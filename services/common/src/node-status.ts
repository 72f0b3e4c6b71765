// Node heartbeats: each gateway node says, every few seconds and after every config swap, which config
// revision it serves and whether it is ready; the control plane keeps the latest per node (cluster view).
// Core NATS pub/sub carries them in a cluster (nothing is persisted: a missed beat is replaced by the
// next), an in-process channel in the embedded `turnpike up`.

export type NodeConfigSource = 'kv' | 'lkg' | 'none';

export interface NodeHeartbeat {
  node_id: string;
  cluster: string;
  hostname: string;
  pid: number;
  /** Turnpike version of the node. */
  version: string;
  /** Process start, ms since epoch. */
  started_at: number;
  /** When this heartbeat was sent, ms since epoch (the node's clock). */
  ts: number;
  /** Config revision of the snapshot the node serves (0 when none). */
  revision: number;
  /** Where that snapshot came from: the live KV bucket, last-known-good on disk, or nothing yet. */
  source: NodeConfigSource;
  ready: boolean;
  bus_connected: boolean;
  in_flight: number;
  requests_total: number;
  /** The node's heartbeat period, so that a receiver can tell a late node from a slow-beating one. */
  interval_ms: number;
}

export interface HeartbeatSubscription {
  stop(): void;
}

/** How heartbeats travel: NATS core pub/sub (cluster) or in-process (turnpike up). */
export interface HeartbeatChannel {
  /** Best effort and never throws: a beat that cannot be sent now is skipped. */
  publish(hb: NodeHeartbeat): void;
  /** Only well-formed heartbeats reach `cb`. */
  subscribe(cb: (hb: NodeHeartbeat) => void): HeartbeatSubscription;
}

export function nodeHeartbeatSubject(cluster: string): string {
  return `turnpike.nodes.${cluster}.heartbeat`;
}

const SOURCES: ReadonlySet<string> = new Set(['kv', 'lkg', 'none']);

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** A heartbeat from the wire, checked field by field; null when anything is off (it is then ignored). */
export function parseHeartbeat(v: unknown): NodeHeartbeat | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (!isStr(o.node_id) || !isStr(o.cluster) || typeof o.hostname !== 'string' || typeof o.version !== 'string') return null;
  if (!isCount(o.pid) || !isCount(o.started_at) || !isCount(o.ts) || !isCount(o.revision)) return null;
  if (typeof o.source !== 'string' || !SOURCES.has(o.source)) return null;
  if (typeof o.ready !== 'boolean' || typeof o.bus_connected !== 'boolean') return null;
  if (!isCount(o.in_flight) || !isCount(o.requests_total) || !isCount(o.interval_ms)) return null;
  return {
    node_id: o.node_id,
    cluster: o.cluster,
    hostname: o.hostname,
    pid: o.pid,
    version: o.version,
    started_at: o.started_at,
    ts: o.ts,
    revision: o.revision,
    source: o.source as NodeConfigSource,
    ready: o.ready,
    bus_connected: o.bus_connected,
    in_flight: o.in_flight,
    requests_total: o.requests_total,
    interval_ms: o.interval_ms,
  };
}

export { InProcessHeartbeatChannel } from './node-status/in-process.js';
export { NatsHeartbeatChannel } from './node-status/nats.js';
