// Holds the latest entity values, recompiles (debounced) off the hot path and swaps the snapshot
// atomically. A watch session's initial values replace everything the node had before.
// The raw envelopes are not kept (at 211,000 entries they were a fifth of the node's memory): each is
// parsed into the CompileCache as it arrives, and last-known-good is written from the cache.
import type { ConfigEvent, ConfigWatchHandlers, Keyring } from '@turnpike/common';
import { CompileCache, compileSnapshot, type PoolFactory, type Snapshot } from './compiler.js';
import type { ResilienceRegistry } from '../upstream/resilience.js';
import { loadLastKnownGood, saveLastKnownGood, saveLastKnownGoodInSlices } from './last-known-good.js';
import { errMessage, log } from '../log.js';
import type { PluginContext } from '../plugins/chain.js';
import type { RateLimitRegistry } from '../plugins/rate-limiting/index.js';
import { compileTrustedProxies } from '../plugins/ip-restriction/index.js';

export type ConfigSourceKind = 'kv' | 'lkg';

export interface ConfigManagerOptions {
  dataDir: string;
  poolFor: PoolFactory;
  /** Called after every swap (pool clean-up, metrics). */
  onSwap?: (snap: Snapshot) => void;
  /**
   * How long a live change waits for more before compiling (default 0: the next turn of the event loop,
   * which still batches the keys of one KV delivery; a timer here was most of a change's latency).
   */
  debounceMs?: number;
  /** Live changes are written to last-known-good once no change came for this long (default 1000 ms). */
  lkgDelayMs?: number;
  /** Serve only routes of these stages plus stage-less ones (TP_STAGES); unset: every route. */
  stages?: ReadonlySet<string> | null;
  /** Opens certificate keys (TP_SECRET_KEY); without it certificates are rejected and reported. */
  keyring?: Keyring | null;
  /** TP_TRUSTED_PROXIES (addresses and CIDRs; validated by the caller: an invalid entry throws here). */
  trustedProxies?: readonly string[];
  /** Upstream health/breaker/retry-budget state kept across compiles (retain it in onSwap with snap.resilienceKeys); unset: not enforced. */
  resilience?: ResilienceRegistry | null;
  /**
   * Write last-known-good (default true). A proxy worker thread passes false: only the node's primary
   * writes the file, the workers compile the same entries it forwards them (src/node/).
   */
  persist?: boolean;
  /** The proxy thread's rate limiters (kept across compiles, synced with the cluster); unset: local-only ones. */
  rateLimits?: RateLimitRegistry | null;
}

/** Above this many entries the first last-known-good write is made in slices too. */
const SYNC_LKG_MAX_ENTRIES = 20_000;

export class ConfigManager {
  #snapshot: Snapshot | null = null;
  #source: ConfigSourceKind | null = null;
  /** Raw values of the keys changed live since the last compile; released by it. */
  #pending = new Map<string, string>();
  #session = 0;
  /** Stamps full passes (watch sessions and last-known-good loads) in the cache; see CompileCache.staleKeys. */
  #gen = 0;
  /** The gen of the watch session whose initial values are being delivered; 0 for none. */
  #delivering = 0;
  /** Cancels the scheduled live compile; null when none is scheduled. */
  #timer: (() => void) | null = null;
  #loadedWaiters: (() => void)[] = [];
  #cache = new CompileCache();
  /** Time spent parsing entries of the current initial delivery (or LKG load) before its compile (logged with it). */
  #parsedAheadMs = 0;
  /** Keys set or deleted by live events since the last compile (the cache then updates only these). */
  #changed = new Set<string>();
  /** Last-known-good writes: the first synchronous when small (start-up), the rest in slices, one at a time. */
  #lkgWritten = false;
  #lkgSaving = false;
  #lkgDirty = false;
  #lkgTimer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #o: ConfigManagerOptions;
  /** Node settings plugin compiles read; one object for the life of the manager (compiles memoize on it). */
  readonly #plugins: PluginContext;

  constructor(o: ConfigManagerOptions) {
    this.#o = o;
    this.#plugins = { trustedProxies: compileTrustedProxies(o.trustedProxies ?? []), keyring: o.keyring ?? null, rateLimits: o.rateLimits ?? null };
  }

  /** The current snapshot; the hot path calls this once per request. */
  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  get source(): ConfigSourceKind | null {
    return this.#source;
  }

  whenLoaded(): Promise<void> {
    if (this.#snapshot) return Promise.resolve();
    return new Promise((r) => this.#loadedWaiters.push(r));
  }

  /** Starts from disk; a no-op once the bus has delivered (the bus is newer by definition). */
  loadLastKnownGood(): boolean {
    if (this.#source === 'kv') return false;
    try {
      const lkg = loadLastKnownGood(this.#o.dataDir);
      if (!lkg) return false;
      const gen = ++this.#gen;
      // A watch session may be delivering right now (a large bucket takes seconds): what it delivered is newer.
      const delivering = this.#delivering;
      const reduced = (lkg.format ?? 1) >= 2;
      const t0 = performance.now();
      for (const key in lkg.entries) {
        const raw = lkg.entries[key];
        if (typeof raw !== 'string' || (delivering !== 0 && this.#cache.genOf(key) === delivering)) continue;
        this.#feed(key, raw, gen, reduced);
      }
      this.#parsedAheadMs += performance.now() - t0;
      this.#compileFull('lkg', new Set(delivering !== 0 ? [gen, delivering] : [gen]));
      log('info', 'config.lkg_loaded', { revision: lkg.revision, saved_at: lkg.saved_at });
      return true;
    } catch (e) {
      log('error', 'config.lkg_unreadable', { error: errMessage(e) });
      return false;
    }
  }

  /**
   * Handlers for one watch; events of a superseded session are ignored. `reduced`: the initial values are
   * envelopes as entries() gives them (a worker restarted by the primary is replayed the primary's config).
   */
  newWatchSession(opts: { reduced?: boolean } = {}): ConfigWatchHandlers {
    const reduced = opts.reduced === true;
    // A live change still waiting for its compile goes in first: the new delivery's values are newer.
    if (this.#timer) {
      this.#cancel();
      this.#compile('kv', true);
    }
    const session = ++this.#session;
    const gen = ++this.#gen;
    this.#delivering = gen;
    let delivered = 0;
    let live = false;
    return {
      onEvent: (ev: ConfigEvent) => {
        if (session !== this.#session) return;
        if (!live) {
          // Each entry is parsed into the cache as it arrives (unchanged ones cost a revision check): the
          // watch takes seconds to deliver 200,000 entries, the compile at the end is then left with only
          // what needs all of them, and no raw value outlives its parse. Entries this session does not
          // deliver are removed at the end (their gen is not this session's).
          const t0 = performance.now();
          if (ev.op === 'put') {
            delivered++;
            this.#feed(ev.key, ev.value, gen, reduced);
          } else if (this.#cache.genOf(ev.key) === gen) {
            // Put earlier in this delivery; an entry from before it is left to the end (an empty bucket keeps it).
            this.#cache.delete(ev.key);
          }
          this.#parsedAheadMs += performance.now() - t0;
          return;
        }
        if (ev.op === 'put') this.#pending.set(ev.key, ev.value);
        else this.#pending.delete(ev.key);
        this.#changed.add(ev.key);
        this.#schedule();
      },
      onInitialDone: () => {
        if (session !== this.#session) return;
        live = true;
        this.#delivering = 0;
        if (delivered === 0 && this.#cache.size > 0 && this.#snapshot) {
          // A bucket with not even meta.revision in it is a NATS that lost its store, not a cluster
          // whose config was deleted: keep serving what we have until the control plane republishes.
          log('warn', 'config.empty_bucket_ignored', { revision: this.#snapshot.revision });
          return;
        }
        this.#cancel();
        this.#compileFull('kv', new Set([gen]));
      },
    };
  }

  /** Parses one entry into the cache; an entry that throws is logged and left as it was. */
  #feed(key: string, raw: string, gen: number, reduced: boolean): void {
    try {
      this.#cache.set(key, raw, gen, reduced);
    } catch (e) {
      log('error', 'config.entry_failed', { key, error: errMessage(e) });
    }
  }

  /**
   * After a full pass fed the cache: removes what no pass in `gens` delivered and compiles everything
   * (routing included: the pass may have changed any of it).
   */
  #compileFull(source: ConfigSourceKind, gens: ReadonlySet<number>): void {
    this.#pending = new Map();
    this.#changed = new Set(this.#cache.staleKeys(gens));
    this.#cache.routing = null;
    this.#cache.primed = true;
    this.#compile(source);
  }

  /** Every entry of the active config as last-known-good holds it (consumers reduced: replay with `reduced`). */
  entries(): Iterable<[string, string]> {
    return this.#cache.envelopes();
  }

  /** No live change is waiting for its compile and no initial delivery is under way. */
  get settled(): boolean {
    return this.#timer === null && this.#delivering === 0;
  }

  close(): void {
    this.#cancel();
    this.#session++;
    this.#closed = true;
    if (this.#lkgTimer) clearTimeout(this.#lkgTimer);
    // A sliced write still under way is abandoned (see #saveInSlices); the final state is written here.
    if (this.#lkgDirty || this.#lkgSaving) this.#saveNow();
  }

  #saveNow(): void {
    if (!this.#snapshot || this.#source !== 'kv' || this.#o.persist === false) return;
    try {
      saveLastKnownGood(this.#o.dataDir, this.#snapshot.revision, this.#cache.envelopes());
      this.#lkgWritten = true;
      this.#lkgDirty = false;
    } catch (e) {
      log('error', 'config.lkg_write_failed', { error: errMessage(e) });
    }
  }

  /**
   * Writes the current config without blocking the proxy, once changes pause (a write of 100,000+ entries
   * costs seconds of CPU in slices: one per change would slow every change of a burst).
   */
  #saveInSlices(): void {
    this.#lkgDirty = true;
    if (this.#lkgTimer) clearTimeout(this.#lkgTimer);
    this.#lkgTimer = setTimeout(() => {
      this.#lkgTimer = null;
      this.#startSave();
    }, this.#o.lkgDelayMs ?? 1_000);
    this.#lkgTimer.unref();
  }

  /** Changes during a write are coalesced into one more write. */
  #startSave(): void {
    if (this.#lkgSaving) return;
    this.#lkgSaving = true;
    void (async () => {
      while (this.#lkgDirty && !this.#closed && this.#snapshot) {
        this.#lkgDirty = false;
        try {
          await saveLastKnownGoodInSlices(this.#o.dataDir, this.#snapshot.revision, this.#cache.envelopes(), () => !this.#closed);
        } catch (e) {
          log('error', 'config.lkg_write_failed', { error: errMessage(e) });
        }
      }
      this.#lkgSaving = false;
    })();
  }

  #schedule(): void {
    // Batches a burst of changes (one admin transaction touches several keys) into one compile.
    if (this.#timer) return;
    const run = (): void => {
      this.#timer = null;
      this.#compile('kv', true);
    };
    const ms = this.#o.debounceMs ?? 0;
    if (ms > 0) {
      const t = setTimeout(run, ms);
      this.#timer = () => clearTimeout(t);
    } else {
      const i = setImmediate(run);
      this.#timer = () => clearImmediate(i);
    }
  }

  #cancel(): void {
    this.#timer?.();
    this.#timer = null;
  }

  /**
   * Compiles the keys changed since the last compile (`#changed`, with their values in `#pending`) into the
   * cache. `live`: a live change (last-known-good is then written once changes pause).
   */
  #compile(source: ConfigSourceKind, live = false): void {
    let snap: Snapshot;
    const started = performance.now();
    const changed = this.#changed;
    const pending = this.#pending;
    this.#changed = new Set();
    this.#pending = new Map();
    try {
      snap = compileSnapshot(pending, this.#o.poolFor, this.#cache, changed, {
        stages: this.#o.stages ?? null,
        resilience: this.#o.resilience ?? null,
        keyring: this.#o.keyring ?? null,
        trustedProxies: this.#plugins.trustedProxies,
        pluginContext: this.#plugins,
      });
    } catch (e) {
      // The cache holds every entry parsed (each set is complete on its own); the routing built from it
      // may not be: the next compile rebuilds it.
      this.#cache.routing = null;
      // A compiler bug must not take the node down: keep serving the previous snapshot.
      log('error', 'config.compile_failed', { error: errMessage(e) });
      return;
    }
    this.#snapshot = snap;
    this.#source = source;
    for (const r of snap.rejected) log('warn', 'config.entity_rejected', { revision: snap.revision, key: r.key, reason: r.reason, fields: r.fields });
    const compileMs = Math.round((performance.now() - started) * 10) / 10;
    const parsedAheadMs = Math.round(this.#parsedAheadMs * 10) / 10;
    this.#parsedAheadMs = 0;
    log('info', 'config.applied', {
      revision: snap.revision,
      source,
      ...snap.counts,
      rejected: snap.rejected.length,
      compile_ms: compileMs,
      ...(parsedAheadMs > 0 ? { parsed_ahead_ms: parsedAheadMs } : {}),
    });
    this.#o.onSwap?.(snap);
    if (source === 'kv' && this.#o.persist !== false) {
      // A large first write (~53 MB at 211,000 entries, over a second of CPU) goes in slices rather than
      // blocking the proxy right after it became ready; a small one is written before whenLoaded() resolves.
      if (this.#lkgWritten || this.#cache.size > SYNC_LKG_MAX_ENTRIES) {
        this.#lkgWritten = true;
        this.#lkgDirty = true;
        if (live) this.#saveInSlices();
        else this.#startSave();
      } else this.#saveNow();
    }
    const waiters = this.#loadedWaiters;
    this.#loadedWaiters = [];
    for (const w of waiters) w();
  }
}
