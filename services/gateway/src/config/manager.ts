// Holds the latest entity values, recompiles (debounced) off the hot path and swaps the snapshot
// atomically. A watch session's initial values replace everything the node had before.
import type { ConfigEvent, ConfigWatchHandlers } from '@turnpike/common';
import { CompileCache, compileSnapshot, type PoolFactory, type Snapshot } from './compiler.js';
import { loadLastKnownGood, saveLastKnownGood, saveLastKnownGoodInSlices } from './last-known-good.js';
import { errMessage, log } from '../log.js';

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
}

/** Above this many entries the first last-known-good write is made in slices too. */
const SYNC_LKG_MAX_ENTRIES = 20_000;

export class ConfigManager {
  #snapshot: Snapshot | null = null;
  #source: ConfigSourceKind | null = null;
  #entries = new Map<string, string>();
  #session = 0;
  /** Cancels the scheduled live compile; null when none is scheduled. */
  #timer: (() => void) | null = null;
  #loadedWaiters: (() => void)[] = [];
  #cache = new CompileCache();
  /** Time spent parsing entries of the current initial delivery before its compile (logged with it). */
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

  constructor(o: ConfigManagerOptions) {
    this.#o = o;
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
      this.#entries = new Map(Object.entries(lkg.entries));
      this.#compile('lkg');
      log('info', 'config.lkg_loaded', { revision: lkg.revision, saved_at: lkg.saved_at });
      return true;
    } catch (e) {
      log('error', 'config.lkg_unreadable', { error: errMessage(e) });
      return false;
    }
  }

  /** Handlers for one watch; events of a superseded session are ignored. */
  newWatchSession(): ConfigWatchHandlers {
    const session = ++this.#session;
    const initial = new Map<string, string>();
    let live = false;
    return {
      onEvent: (ev: ConfigEvent) => {
        if (session !== this.#session) return;
        if (!live) {
          // With nothing compiled yet, each entry is parsed as it arrives: the watch takes seconds to deliver
          // 200,000 entries, and the compile at the end is then left with only what needs all of them.
          // (The full pass at the end still reconciles the cache with exactly this session's entries.)
          const ahead = !this.#cache.primed;
          const t0 = ahead ? performance.now() : 0;
          if (ev.op === 'put') {
            initial.set(ev.key, ev.value);
            if (ahead) this.#cache.set(ev.key, ev.value);
          } else {
            initial.delete(ev.key);
            if (ahead) this.#cache.delete(ev.key);
          }
          if (ahead) this.#parsedAheadMs += performance.now() - t0;
          return;
        }
        if (ev.op === 'put') this.#entries.set(ev.key, ev.value);
        else this.#entries.delete(ev.key);
        this.#changed.add(ev.key);
        this.#schedule();
      },
      onInitialDone: () => {
        if (session !== this.#session) return;
        live = true;
        if (initial.size === 0 && this.#entries.size > 0 && this.#snapshot) {
          // A bucket with not even meta.revision in it is a NATS that lost its store, not a cluster
          // whose config was deleted: keep serving what we have until the control plane republishes.
          log('warn', 'config.empty_bucket_ignored', { revision: this.#snapshot.revision });
          return;
        }
        this.#entries = initial;
        this.#cancel();
        this.#compile('kv');
      },
    };
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
    if (!this.#snapshot || this.#source !== 'kv') return;
    try {
      saveLastKnownGood(this.#o.dataDir, this.#snapshot.revision, this.#entries);
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
          await saveLastKnownGoodInSlices(this.#o.dataDir, this.#snapshot.revision, [...this.#entries], () => !this.#closed);
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

  /** `live`: compile from the changed keys only (the entries were updated in place); else a full pass. */
  #compile(source: ConfigSourceKind, live = false): void {
    let snap: Snapshot;
    const started = performance.now();
    const changed = this.#changed;
    this.#changed = new Set();
    try {
      snap = compileSnapshot(this.#entries, this.#o.poolFor, this.#cache, live ? changed : undefined, { stages: this.#o.stages ?? null });
    } catch (e) {
      // The cache may hold part of this change: start the next compile from scratch.
      this.#cache = new CompileCache();
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
    if (source === 'kv') {
      // A large first write (61 MB at 211,000 entries, over a second of CPU) goes in slices rather than
      // blocking the proxy right after it became ready; a small one is written before whenLoaded() resolves.
      if (this.#lkgWritten || this.#entries.size > SYNC_LKG_MAX_ENTRIES) {
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
