// What the node's primary thread and its proxy worker threads say to each other over the worker's
// MessagePort. Structured-clone plain data only; one message per batch, never one per request.
import type { CacheInvalidation, CallRecord, ConfigEvent } from '@turnpike/common';
import type { MetricsState } from '../status/metrics.js';
import type { ProxyLimits } from './proxy-app.js';
import type { RateLimitStats, RateLimitSyncMessage } from '../plugins/rate-limiting/index.js';
import type { BudgetReply, BudgetRequest } from '../ai/budget-gate.js';
import type { ConnectionOwner } from '../websocket-api/connection-id.js';
import type { WsApiOp, WsApiReply } from '../websocket-api/cluster.js';

/** workerData of a proxy worker: the serializable part of GatewayOptions it needs. */
export interface WorkerInit {
  index: number;
  nodeId: string;
  dataDir: string;
  host: string;
  limits: ProxyLimits;
  /** The HTTPS listener's data dir (key files); null: no HTTPS listener. Its port comes with `listen`. */
  httpsDataDir: string | null;
  /**
   * The mTLS listener's port (resolved: never 0, so that a restarted worker binds it again); null: none. Only
   * worker 0 listens on it (Node 20's net has no SO_REUSEPORT); its unix socket goes under `dataDir`.
   */
  mtlsPort: number | null;
  stages: string[] | null;
  /** The node's keyring (as startGateway got it, or from TP_SECRET_KEY[S]), for opening certificate keys. */
  keyring: { activeKid: string; keys: [string, Uint8Array][] } | null;
  /** TP_TRUSTED_PROXIES as given to startGateway. */
  trustedProxies: string[];
  /** Proxy threads of the node (a `sync: local` rate limit is shared among them). */
  workers: number;
  /** proxy-cache's bound for this thread's store (TP_CACHE_MAX_BYTES). */
  cacheMaxBytes: number;
}

export type ToWorker =
  /** A new watch session: its initial values follow (`reduced`: a replay of the primary's config). */
  | { t: 'begin'; reduced: boolean }
  | { t: 'events'; events: ConfigEvent[] }
  | { t: 'initial-done' }
  /** Quota usage snapshots from the quota bucket (quota/usage-table.ts), in the bucket's order. */
  | { t: 'quota'; events: ConfigEvent[] }
  /** The bus did not deliver in time: load last-known-good from disk, as the primary did. */
  | { t: 'lkg' }
  | { t: 'listen'; port: number; httpsPort: number | null }
  | { t: 'stats'; id: number }
  /** Rate-limit counters of a peer (another node, or another worker of this one), relayed by the primary. */
  | { t: 'ratelimit'; m: RateLimitSyncMessage }
  /** Whether the primary's rate-limit channel (NATS) is up. */
  | { t: 'ratelimit-link'; up: boolean }
  /** The control plane's cache invalidation: drop the matching proxy-cache entries. */
  | { t: 'cache-invalidate'; inv: CacheInvalidation }
  /** The primary's answer to a budget reservation (ai/budget-gate.ts). */
  | { t: 'budget'; r: BudgetReply }
  /** Run a WebSocket API management operation on a connection this worker holds (websocket-api/). */
  | { t: 'wsapi-op'; id: number; op: WsApiOp }
  /** The primary's answer to this worker's `wsapi-remote`. */
  | { t: 'wsapi-reply'; id: number; r: WsApiReply }
  /** Stop accepting, finish in-flight requests until `deadline` (epoch ms), close, flush, exit 0. */
  | { t: 'drain'; deadline: number }
  /** Second signal: close everything now and exit. */
  | { t: 'exit-now' }
  /** TP_TEST_HOOKS only: throw an uncaught error, as a bug would. */
  | { t: 'crash' };

export interface WorkerStats {
  metrics: MetricsState;
  inFlight: number;
  requests: number;
  /** The worker's rate limiters (plugins/rate-limiting). */
  rateLimit?: RateLimitStats;
}

export type FromWorker =
  | { t: 'applied'; revision: number; source: string | null }
  | { t: 'listening'; port: number; httpsPort: number | null }
  | { t: 'listen-failed'; error: string }
  | { t: 'calls'; records: CallRecord[] }
  /** The worker's rate-limit counters since its last message, for NATS and the node's other workers. */
  | { t: 'ratelimit'; m: RateLimitSyncMessage }
  | ({ t: 'stats'; id: number } & WorkerStats)
  /** An AI call's budget reservation, settlement or release, for the primary's ledger (one per AI call). */
  | { t: 'budget'; m: BudgetRequest }
  /** A management operation on a connection another worker or node holds: the primary runs it there. */
  | { t: 'wsapi-remote'; id: number; owner: ConnectionOwner; op: WsApiOp }
  /** The answer to a `wsapi-op`. */
  | { t: 'wsapi-op-reply'; id: number; r: WsApiReply }
  | { t: 'drained' };
