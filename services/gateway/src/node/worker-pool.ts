// The primary's side of TP_WORKERS > 1: starts N proxy worker threads, forwards every config event the
// node's watch delivers to all of them (so they compile the same revisions), replays the config to a
// worker restarted after a crash, collects their call records and counters, and drains them.
import { Worker } from 'node:worker_threads';
import { freePortOn, type CacheInvalidation, type CallRecord, type ConfigEvent, type ConfigWatchHandlers } from '@turnpike/common';
import type { ConfigManager } from '../config/manager.js';
import { errMessage, log } from '../log.js';
import { GatewayMetrics, type MetricsState } from '../status/metrics.js';
import type { FromWorker, ToWorker, WorkerInit, WorkerStats } from './messages.js';
import type { RateLimitStats, RateLimitSyncMessage } from '../plugins/rate-limiting/index.js';
import type { BudgetReply, BudgetRequest } from '../ai/budget-gate.js';
import type { ConnectionOwner } from '../websocket-api/connection-id.js';
import type { WsApiOp, WsApiReply } from '../websocket-api/cluster.js';
import { wsApiRelay } from '../websocket-api/worker-relay.js';
import type { RelayRequests } from './relay-requests.js';
import { threadQuotaUsage } from '../quota/usage-table.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** Config events per message: one KV delivery of 200,000 entries is ~200 messages, not 200,000. */
const EVENT_BATCH = 1_000;
const STATS_TIMEOUT_MS = 500;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;

export interface WorkerPoolOptions {
  count: number;
  init: Omit<WorkerInit, 'index'>;
  /** The primary's manager: what a restarted worker is replayed. */
  manager: ConfigManager;
  record(rec: CallRecord): void;
  /** A worker swapped its config (the heartbeat reports the lowest revision any worker serves). */
  onApplied?(): void;
  /** A worker's rate-limit counters (plugins/rate-limiting/relay.ts). */
  onRateLimit?(worker: number, m: RateLimitSyncMessage): void;
  /** A worker's AI budget request (ai/budget-gate.ts); `reply` answers that worker. */
  onBudget?(worker: number, m: BudgetRequest, reply: (r: BudgetReply) => void): void;
  /** A worker's WebSocket API management call for a connection it does not hold; `reply` answers that worker. */
  onWsApi?(owner: ConnectionOwner, op: WsApiOp, reply: (r: WsApiReply) => void): void;
}

export interface WorkerState {
  id: number;
  /** Listening and serving a config. */
  ready: boolean;
  revision: number;
  source: string | null;
  restarts: number;
  requests: number;
  inFlight: number;
}

interface Slot {
  id: number;
  worker: Worker | null;
  /** Receives forwarded config events (false while a restarted worker waits for its replay). */
  fed: boolean;
  listening: boolean;
  revision: number;
  loaded: boolean;
  source: string | null;
  restarts: number;
  /** Consecutive crashes without a successful listen: restart back-off. */
  crashes: number;
  last: WorkerStats | null;
  listenWaiter: ((r: { port?: number; httpsPort?: number | null; error?: string }) => void) | null;
  /** The primary's WebSocket API operations waiting for this worker's answer. */
  wsApi: RelayRequests<WsApiOp, WsApiReply>;
}

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  #batch: ConfigEvent[] = [];
  #flushScheduled = false;
  #statsSeq = 0;
  readonly #statsWaiters = new Map<number, { left: number; done: () => void }>();
  #port = 0;
  #httpsPort: number | null = null;
  #stopping = false;
  #exits: Promise<void>[] = [];
  /** Last counters of workers that ended: node-wide totals stay monotonic across a restart. */
  readonly #retired = new GatewayMetrics();
  #anyRetired = false;

  constructor(o: WorkerPoolOptions) {
    this.#o = o;
    for (let i = 0; i < o.count; i++) {
      const slot: Slot = { id: i, worker: null, fed: true, listening: false, revision: 0, loaded: false, source: null, restarts: 0, crashes: 0, last: null, listenWaiter: null, wsApi: null! };
      // Without a live worker the post fails: its connections ended with it (410).
      slot.wsApi = wsApiRelay<WsApiOp>((id, op) => {
        if (slot.worker === null) return false;
        slot.worker.postMessage({ t: 'wsapi-op', id, op } satisfies ToWorker);
        return true;
      });
      this.#slots.push(slot);
      this.#spawn(slot);
    }
  }

  get count(): number {
    return this.#slots.length;
  }

  /** Handlers that feed the primary's own session and every fed worker, in the bus's order. */
  watchSession(primary: ConfigWatchHandlers): ConfigWatchHandlers {
    this.#broadcast({ t: 'begin', reduced: false });
    return {
      onEvent: (ev) => {
        primary.onEvent(ev);
        this.#batch.push(ev);
        if (this.#batch.length >= EVENT_BATCH) this.#flush();
        else if (!this.#flushScheduled) {
          this.#flushScheduled = true;
          setImmediate(() => this.#flush());
        }
      },
      onInitialDone: () => {
        primary.onInitialDone();
        this.#broadcast({ t: 'initial-done' });
      },
    };
  }

  /** Quota usage snapshots for every worker (quota/watch.ts). */
  postQuota(events: ConfigEvent[]): void {
    for (const s of this.#slots) if (s.worker) s.worker.postMessage({ t: 'quota', events } satisfies ToWorker);
  }

  /** The primary fell back to last-known-good: the workers load the same file. */
  loadLastKnownGood(): void {
    this.#broadcast({ t: 'lkg' });
  }

  /**
   * Starts every worker listening on `port` and, when the workers were given an HTTPS data dir, on
   * `httpsPort` (0: a free port, the same for all).
   */
  async listen(port: number, httpsPort: number | null): Promise<{ port: number; httpsPort: number | null }> {
    // A uWS socket that listened on port 0 cannot be joined by the other threads (seen here: their listen
    // on its port fails), so a free port is picked first (tests, `--proxy-port 0`).
    if (port === 0) port = await freePortOn(this.#o.init.host);
    if (httpsPort === 0) httpsPort = await freePortOn(this.#o.init.host);
    await Promise.all(this.#slots.map((s) => this.#listenOne(s, port, httpsPort)));
    this.#port = port;
    this.#httpsPort = httpsPort;
    return { port, httpsPort };
  }

  states(): WorkerState[] {
    return this.#slots.map((s) => ({
      id: s.id,
      ready: s.listening && s.loaded,
      revision: s.revision,
      source: s.source,
      restarts: s.restarts,
      requests: s.last?.requests ?? 0,
      inFlight: s.last?.inFlight ?? 0,
    }));
  }

  /** Fresh counters from every live worker (a worker that does not answer in time keeps its last ones). */
  async refreshStats(): Promise<WorkerState[]> {
    const live = this.#slots.filter((s) => s.worker !== null);
    if (live.length > 0) {
      const id = ++this.#statsSeq;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#statsWaiters.delete(id);
          resolve();
        }, STATS_TIMEOUT_MS);
        this.#statsWaiters.set(id, {
          left: live.length,
          done: () => {
            clearTimeout(t);
            resolve();
          },
        });
        for (const s of live) s.worker!.postMessage({ t: 'stats', id } satisfies ToWorker);
      });
    }
    return this.states();
  }

  /** Counters to sum for the node: every live worker's latest, plus those of workers that ended. */
  metricsStates(): MetricsState[] {
    const out = this.#anyRetired ? [this.#retired.state()] : [];
    for (const s of this.#slots) if (s.last) out.push(s.last.metrics);
    return out;
  }

  /** Graceful drain of every worker; resolves when all threads have ended (the last by `deadline` + 5 s). */
  async drain(deadline: number): Promise<void> {
    this.#stopping = true;
    this.#flush();
    this.#broadcast({ t: 'drain', deadline }, true);
    const all = Promise.all(this.#exits);
    const cap = new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 5_000).unref());
    await Promise.race([all, cap]);
  }

  /** Second signal: every worker closes its sockets and exits now. */
  async exitNow(): Promise<void> {
    this.#stopping = true;
    this.#broadcast({ t: 'exit-now' }, true);
    await Promise.race([Promise.all(this.#exits), new Promise<void>((r) => setTimeout(r, 1_000).unref())]);
  }

  /** A cache invalidation for every worker's proxy-cache store (workers still starting hold nothing to drop). */
  invalidateCache(inv: CacheInvalidation): void {
    for (const s of this.#slots) s.worker?.postMessage({ t: 'cache-invalidate', inv } satisfies ToWorker);
  }

  /** Rate-limit counters to every worker but `except` (-1: all). */
  postRateLimit(m: RateLimitSyncMessage, except: number): void {
    for (const s of this.#slots) if (s.id !== except && s.worker) s.worker.postMessage({ t: 'ratelimit', m } satisfies ToWorker);
  }

  /** Whether the rate-limit channel is up, to every worker. */
  postRateLimitLink(up: boolean): void {
    for (const s of this.#slots) s.worker?.postMessage({ t: 'ratelimit-link', up } satisfies ToWorker);
  }

  /** Runs a WebSocket API management operation on worker `worker`'s connection; 410 when there is no such worker. */
  wsApiOp(worker: number, op: WsApiOp): Promise<WsApiReply> {
    const slot = this.#slots[worker];
    return slot === undefined ? Promise.resolve({ status: 410 }) : slot.wsApi.request(op);
  }

  /** The rate limiters' counters of each worker, as of the last stats refresh. */
  rateLimitStats(): RateLimitStats[] {
    return this.#slots.flatMap((s) => (s.last?.rateLimit ? [s.last.rateLimit] : []));
  }

  /** TP_TEST_HOOKS: makes worker `id` throw an uncaught error. */
  crash(id: number): void {
    this.#slots[id]?.worker?.postMessage({ t: 'crash' } satisfies ToWorker);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#batch.length === 0) return;
    const events = this.#batch;
    this.#batch = [];
    for (const s of this.#slots) if (s.fed && s.worker) s.worker.postMessage({ t: 'events', events } satisfies ToWorker);
  }

  /** `all`: also workers still waiting for their replay (drain, exit). */
  #broadcast(m: ToWorker, all = false): void {
    // Events batched so far go first: the workers see the bus's order.
    this.#flush();
    for (const s of this.#slots) if ((all || s.fed) && s.worker) s.worker.postMessage(m);
  }

  #spawn(slot: Slot): void {
    const w = new Worker(WORKER_URL, { workerData: { ...this.#o.init, index: slot.id } satisfies WorkerInit });
    slot.worker = w;
    slot.listening = false;
    slot.loaded = false;
    w.on('message', (m: FromWorker) => this.#onMessage(slot, m));
    w.on('error', (e) => log('error', 'worker.error', { worker: slot.id, error: errMessage(e) }));
    this.#exits.push(
      new Promise<void>((resolve) =>
        w.once('exit', (code) => {
          resolve();
          this.#onExit(slot, w, code);
        }),
      ),
    );
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'applied':
        slot.revision = m.revision;
        slot.source = m.source;
        slot.loaded = true;
        this.#o.onApplied?.();
        return;
      case 'calls':
        for (const r of m.records) this.#o.record(r);
        return;
      case 'ratelimit':
        this.#o.onRateLimit?.(slot.id, m.m);
        return;
      case 'budget':
        this.#o.onBudget?.(slot.id, m.m, (r) => slot.worker?.postMessage({ t: 'budget', r } satisfies ToWorker));
        return;
      case 'wsapi-remote':
        this.#o.onWsApi?.(m.owner, m.op, (r) => slot.worker?.postMessage({ t: 'wsapi-reply', id: m.id, r } satisfies ToWorker));
        return;
      case 'wsapi-op-reply':
        slot.wsApi.deliver(m.id, m.r);
        return;
      case 'listening':
        slot.listening = true;
        slot.crashes = 0;
        slot.listenWaiter?.({ port: m.port, httpsPort: m.httpsPort });
        slot.listenWaiter = null;
        return;
      case 'listen-failed':
        slot.listenWaiter?.({ error: m.error });
        slot.listenWaiter = null;
        return;
      case 'stats': {
        slot.last = { metrics: m.metrics, inFlight: m.inFlight, requests: m.requests, ...(m.rateLimit ? { rateLimit: m.rateLimit } : {}) };
        const w = this.#statsWaiters.get(m.id);
        if (w && --w.left === 0) {
          this.#statsWaiters.delete(m.id);
          w.done();
        }
        return;
      }
      case 'drained':
        return;
    }
  }

  #listenOne(slot: Slot, port: number, httpsPort: number | null): Promise<{ port: number; httpsPort: number | null }> {
    return new Promise((resolve, reject) => {
      slot.listenWaiter = (r) => (r.error !== undefined ? reject(new Error(`worker ${slot.id}: ${r.error}`)) : resolve({ port: r.port!, httpsPort: r.httpsPort ?? null }));
      slot.worker!.postMessage({ t: 'listen', port, httpsPort } satisfies ToWorker);
    });
  }

  #onExit(slot: Slot, w: Worker, code: number): void {
    if (slot.worker !== w) return;
    slot.worker = null;
    slot.listening = false;
    // What it counted since its last report is lost with it (at most a second's worth).
    // Its gauges (upstream health, breakers) went with it: only its counters are kept.
    if (slot.last) {
      this.#retired.add({ ...slot.last.metrics, resilience: undefined });
      this.#anyRetired = true;
    }
    slot.last = null;
    slot.listenWaiter?.({ error: `exited with code ${code} before listening` });
    slot.listenWaiter = null;
    // Its WebSocket API connections ended with it.
    slot.wsApi.failAll({ status: 410 });
    if (this.#stopping) return;
    // The others keep serving; this one comes back with the primary's current config.
    slot.restarts++;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** slot.crashes++);
    log('error', 'worker.exited', { worker: slot.id, code, restart_in_ms: delay, restarts: slot.restarts });
    setTimeout(() => this.#restart(slot), delay).unref();
  }

  #restart(slot: Slot): void {
    if (this.#stopping) return;
    slot.fed = false;
    this.#spawn(slot);
    this.#replay(slot);
  }

  /** Gives a restarted worker the primary's config at a moment when it holds every event received. */
  #replay(slot: Slot): void {
    if (this.#stopping || !slot.worker) return;
    const manager = this.#o.manager;
    if (!manager.settled) {
      setTimeout(() => this.#replay(slot), 20).unref();
      return;
    }
    const w = slot.worker;
    if (manager.snapshot) {
      w.postMessage({ t: 'begin', reduced: true } satisfies ToWorker);
      let events: ConfigEvent[] = [];
      for (const [key, value] of manager.entries()) {
        events.push({ op: 'put', key, value, revision: 0 });
        if (events.length >= EVENT_BATCH) {
          w.postMessage({ t: 'events', events } satisfies ToWorker);
          events = [];
        }
      }
      if (events.length > 0) w.postMessage({ t: 'events', events } satisfies ToWorker);
      w.postMessage({ t: 'initial-done' } satisfies ToWorker);
    }
    // The quota snapshots the primary holds (its own table is fed by the same watch).
    const quota = threadQuotaUsage.events();
    if (quota.length > 0) w.postMessage({ t: 'quota', events: quota } satisfies ToWorker);
    // From here on it receives what the others receive (events still batched were compiled into the
    // replay already: puts and deletes are idempotent).
    slot.fed = true;
    this.#listenOne(slot, this.#port, this.#httpsPort).then(
      () => log('info', 'worker.restarted', { worker: slot.id, revision: slot.revision }),
      (e: unknown) => log('error', 'worker.restart_failed', { worker: slot.id, error: errMessage(e) }),
    );
  }
}
