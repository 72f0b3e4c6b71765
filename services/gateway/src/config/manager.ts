// Holds the latest entity values, recompiles (debounced) off the hot path and swaps the snapshot
// atomically. A watch session's initial values replace everything the node had before.
import type { ConfigEvent, ConfigWatchHandlers } from '@turnpike/common';
import { compileSnapshot, type PoolFactory, type Snapshot } from './compiler.js';
import { loadLastKnownGood, saveLastKnownGood } from './last-known-good.js';
import { errMessage, log } from '../log.js';

export type ConfigSourceKind = 'kv' | 'lkg';

export interface ConfigManagerOptions {
  dataDir: string;
  poolFor: PoolFactory;
  /** Called after every swap (pool clean-up, metrics). */
  onSwap?: (snap: Snapshot) => void;
  debounceMs?: number;
}

export class ConfigManager {
  #snapshot: Snapshot | null = null;
  #source: ConfigSourceKind | null = null;
  #entries = new Map<string, string>();
  #session = 0;
  #timer: NodeJS.Timeout | null = null;
  #loadedWaiters: (() => void)[] = [];
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
          if (ev.op === 'put') initial.set(ev.key, ev.value);
          else initial.delete(ev.key);
          return;
        }
        if (ev.op === 'put') this.#entries.set(ev.key, ev.value);
        else this.#entries.delete(ev.key);
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
  }

  #schedule(): void {
    // Batches a burst of changes (one admin transaction touches several keys) into one compile.
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#compile('kv');
    }, this.#o.debounceMs ?? 10);
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #compile(source: ConfigSourceKind): void {
    let snap: Snapshot;
    try {
      snap = compileSnapshot(this.#entries, this.#o.poolFor);
    } catch (e) {
      // A compiler bug must not take the node down: keep serving the previous snapshot.
      log('error', 'config.compile_failed', { error: errMessage(e) });
      return;
    }
    this.#snapshot = snap;
    this.#source = source;
    for (const r of snap.rejected) log('warn', 'config.entity_rejected', { revision: snap.revision, key: r.key, reason: r.reason, fields: r.fields });
    log('info', 'config.applied', { revision: snap.revision, source, ...snap.counts, rejected: snap.rejected.length });
    this.#o.onSwap?.(snap);
    if (source === 'kv') {
      try {
        saveLastKnownGood(this.#o.dataDir, snap.revision, this.#entries);
      } catch (e) {
        log('error', 'config.lkg_write_failed', { error: errMessage(e) });
      }
    }
    const waiters = this.#loadedWaiters;
    this.#loadedWaiters = [];
    for (const w of waiters) w();
  }
}
