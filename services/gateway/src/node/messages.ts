// What the node's primary thread and its proxy worker threads say to each other over the worker's
// MessagePort. Structured-clone plain data only; one message per batch, never one per request.
import type { CallRecord, ConfigEvent } from '@turnpike/common';
import type { MetricsState } from '../status/metrics.js';
import type { ProxyLimits } from './proxy-app.js';

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
}

export type ToWorker =
  /** A new watch session: its initial values follow (`reduced`: a replay of the primary's config). */
  | { t: 'begin'; reduced: boolean }
  | { t: 'events'; events: ConfigEvent[] }
  | { t: 'initial-done' }
  /** The bus did not deliver in time: load last-known-good from disk, as the primary did. */
  | { t: 'lkg' }
  | { t: 'listen'; port: number; httpsPort: number | null }
  | { t: 'stats'; id: number }
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
}

export type FromWorker =
  | { t: 'applied'; revision: number; source: string | null }
  | { t: 'listening'; port: number; httpsPort: number | null }
  | { t: 'listen-failed'; error: string }
  | { t: 'calls'; records: CallRecord[] }
  | ({ t: 'stats'; id: number } & WorkerStats)
  | { t: 'drained' };
