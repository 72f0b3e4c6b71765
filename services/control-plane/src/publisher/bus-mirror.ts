// What the reconciler knows of the bucket, kept current by one long-lived watch instead of reading all of
// it on every pass: at 200,000 keys a full read took seconds and flooded the NATS connection the
// publisher's own writes share. Per key only what a comparison needs: the envelope's kind and revision,
// and the key's KV revision (what a compare-and-set write must name).
import { parseEntityKey, type ConfigBus, type ConfigWatch } from '@turnpike/common';

export interface MirrorEntry {
  /** KV revision of the key's last message (a delete marker's included). */
  rev: number;
  /** Null for a deleted key. */
  kind: string | null;
  /** The envelope's revision; null when deleted or not an envelope. */
  revision: number | null;
  /** The raw value, kept for keys that are not entities (meta.revision): small and few. */
  value: string | null;
}

/** How long the first read of the bucket may take. */
const INITIAL_TIMEOUT_MS = 120_000;

export class BusMirror {
  readonly #entries = new Map<string, MirrorEntry>();
  #seq = 0;
  #watch: ConfigWatch | null = null;
  #waiters: Array<{ seq: number; resolve: () => void }> = [];

  private constructor() {}

  /** Resolves once the bucket's current values are in. */
  static async start(bus: ConfigBus): Promise<BusMirror> {
    const m = new BusMirror();
    let done!: () => void;
    const initial = new Promise<void>((resolve) => (done = resolve));
    m.#watch = await bus.watch({ onEvent: (ev) => m.#apply(ev.key, ev.op === 'put' ? ev.value : null, ev.revision), onInitialDone: () => done() });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        initial,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`reading the config bus took over ${INITIAL_TIMEOUT_MS} ms`)), INITIAL_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      await m.stop();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return m;
  }

  /** The highest KV revision applied so far. */
  get seq(): number {
    return this.#seq;
  }

  get(key: string): MirrorEntry | undefined {
    return this.#entries.get(key);
  }

  entries(): IterableIterator<[string, MirrorEntry]> {
    return this.#entries.entries();
  }

  /** Resolves true once every message up to `seq` is applied; false after `timeoutMs`. */
  async caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.#seq >= seq) return true;
    let timer: NodeJS.Timeout | undefined;
    const reached = new Promise<boolean>((resolve) => this.#waiters.push({ seq, resolve: () => resolve(true) }));
    const out = await Promise.race([reached, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
    clearTimeout(timer);
    return out;
  }

  async stop(): Promise<void> {
    const w = this.#watch;
    this.#watch = null;
    await w?.stop();
  }

  #apply(key: string, value: string | null, rev: number): void {
    if (value === null) this.#entries.set(key, { rev, kind: null, revision: null, value: null });
    else if (parseEntityKey(key)) {
      const env = parseJson(value) as { kind?: unknown; revision?: unknown } | undefined;
      this.#entries.set(key, {
        rev,
        kind: typeof env?.kind === 'string' ? env.kind : '',
        revision: typeof env?.revision === 'number' ? env.revision : null,
        value: null,
      });
    } else this.#entries.set(key, { rev, kind: '', revision: null, value });
    if (rev > this.#seq) this.#seq = rev;
    if (this.#waiters.length > 0) {
      const still: Array<{ seq: number; resolve: () => void }> = [];
      for (const w of this.#waiters) (w.seq <= this.#seq ? w.resolve() : still.push(w));
      this.#waiters = still;
    }
  }
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
