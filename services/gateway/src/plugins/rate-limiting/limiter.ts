// One configured limit (a rate-limiting instance's `limits[i]`, or a plan's rate limit): keyed state, the token
// bucket and sliding-window arithmetic, and the counts this node must publish to its peers. Pure: time comes
// in as an argument (ms), so tests drive it with a fake clock; the registry (registry.ts) says how much an
// own admission weighs and how many unpublished peer admissions to assume (cluster sync, local share).
//
// Sliding window: the two-bucket approximation (Cloudflare's): the count in the last `per` is estimated as
// previous fixed window × the part of it still inside the sliding window + current fixed window. It assumes
// the previous window's requests were spread evenly; exact at window boundaries, and never more than the
// previous window's count off.

export type Algorithm = 'token-bucket' | 'sliding-window';

export interface LimitSpec {
  readonly algorithm: Algorithm;
  /** sliding-window: the most admitted in any `windowMs`; token-bucket: refilled per `windowMs`. */
  readonly requests: number;
  readonly windowMs: number;
  /** token-bucket: the bucket's size. */
  readonly burst: number;
}

/** Per key: token bucket (a = tokens, t = last refill ms) or sliding window (a = previous, b = current count, t = current window index). */
export class KeyState {
  a: number;
  b = 0;
  t: number;
  /** Own admissions not yet published to peers, counted in window `pendW` (sliding window). */
  pend = 0;
  pendW = 0;
  /** Own admissions published at the last publish (peers' ticks are not aligned with ours: see check()). */
  prevPend = 0;
  /** Last request or remote count, for idle eviction (ms). */
  seen: number;
  constructor(a: number, t: number, seen: number) {
    this.a = a;
    this.t = t;
    this.seen = seen;
  }
}

/** What a check found, written into a reused object (no allocation per request). */
export interface Verdict {
  admitted: boolean;
  limit: number;
  /** Requests left after this one (when admitted) or now (refused), ≥ 0. */
  remaining: number;
  /** Seconds until the limit is whole again (the bucket full, the current window over). */
  resetS: number;
  /** Refused: seconds until a request would be admitted (≥ 1). */
  retryS: number;
}

/** Rates are fractions per ms: a whole token or count may come out a hair short (99 × 0.01 + 0.01). */
const EPS = 1e-9;

/** Counts for a peer: [key, window index, count]. */
export type PendingEntry = [string, number, number];

export class Limiter {
  readonly id: string;
  readonly spec: LimitSpec;
  /** Whether counts are exchanged with peers (config `sync: cluster`). */
  readonly synced: boolean;
  readonly #states = new Map<string, KeyState>();
  /** Keys with own admissions not yet published. */
  #dirty: KeyState[] = [];
  #dirtyKeys: string[] = [];
  /** Keys published at the last publish (their prevPend is cleared at the next one). */
  #published: KeyState[] = [];
  /** Counts of a window left before they were published (a window boundary between two publishes). */
  #carried: PendingEntry[] = [];
  readonly #rate: number;
  readonly #maxKeys: number;
  /** Idle keys are evicted after this long: by then a bucket is full again / both windows are over. */
  readonly #idleMs: number;

  constructor(id: string, spec: LimitSpec, synced: boolean, maxKeys = 100_000) {
    this.id = id;
    this.spec = spec;
    this.synced = synced;
    this.#rate = spec.requests / spec.windowMs;
    this.#maxKeys = maxKeys;
    this.#idleMs = spec.algorithm === 'token-bucket' ? Math.ceil(spec.burst / this.#rate) : 2 * spec.windowMs;
  }

  get size(): number {
    return this.#states.size;
  }

  #state(key: string, now: number): KeyState {
    let s = this.#states.get(key);
    if (s === undefined) {
      if (this.#states.size >= this.#maxKeys) this.#evictOldest();
      s = this.spec.algorithm === 'token-bucket' ? new KeyState(this.spec.burst, now, now) : new KeyState(0, Math.floor(now / this.spec.windowMs), now);
      this.#states.set(key, s);
    }
    return s;
  }

  /** Brings a key's state to `now`: refills the bucket, or rolls the windows. */
  #advance(s: KeyState, now: number): void {
    if (this.spec.algorithm === 'token-bucket') {
      if (now > s.t) {
        s.a = Math.min(this.spec.burst, s.a + (now - s.t) * this.#rate);
        s.t = now;
      }
      return;
    }
    const idx = Math.floor(now / this.spec.windowMs);
    if (idx === s.t) return;
    if (idx === s.t + 1) s.a = s.b;
    else if (idx > s.t) s.a = 0;
    else return; // a clock step backwards: keep the newer windows
    s.b = 0;
    s.t = idx;
  }

  /**
   * Whether a request under `key` fits, without taking it: an own admission counts `weight` and `extra`
   * admissions peers may have made unseen are assumed. Fills `v`.
   */
  check(key: string, now: number, weight: number, peerFactor: number, v: Verdict): KeyState {
    const s = this.#state(key, now);
    s.seen = now;
    this.#advance(s, now);
    // Each peer is assumed to have admitted, unseen, as many as this node has since its last publish; right
    // after that publish the peers' own periods are partly over, so the last period's count is the floor.
    const extra = peerFactor * (s.pend > s.prevPend ? s.pend : s.prevPend);
    const spec = this.spec;
    if (spec.algorithm === 'token-bucket') {
      const avail = s.a - extra;
      v.limit = spec.burst;
      v.admitted = avail + EPS >= weight;
      v.remaining = Math.max(0, Math.floor(((v.admitted ? avail - weight : avail) + EPS) / weight));
      v.resetS = Math.max(0, Math.ceil((spec.burst - s.a + (v.admitted ? weight : 0)) / this.#rate / 1000));
      v.retryS = v.admitted ? 0 : Math.max(1, Math.ceil((Math.min(weight - avail, spec.burst) / this.#rate) / 1000));
      return s;
    }
    const w = spec.windowMs;
    const elapsed = (now - s.t * w) / w;
    const est = s.a * (1 - elapsed) + s.b + extra;
    v.limit = spec.requests;
    v.admitted = est + weight <= spec.requests + EPS;
    v.remaining = Math.max(0, Math.floor((spec.requests - est - (v.admitted ? weight : 0) + EPS) / weight));
    v.resetS = Math.max(1, Math.ceil(((s.t + 1) * w - now) / 1000));
    v.retryS = v.admitted ? 0 : this.#retryS(s, now, weight + extra);
    return s;
  }

  /** Sliding window: seconds until `cost` more fits (the previous window's weight decays, then the current's). */
  #retryS(s: KeyState, now: number, cost: number): number {
    const { requests, windowMs: w } = this.spec;
    const start = s.t * w;
    const room = requests - s.b - cost;
    let at: number;
    if (room >= 0 && s.a > 0) at = start + w * (1 - room / s.a);
    else if (requests - cost >= 0 && s.b > 0) at = start + w + w * (1 - (requests - cost) / s.b);
    else at = start + 2 * w;
    return Math.max(1, Math.ceil((at - now) / 1000));
  }

  /** Takes an admission checked with check() (same request, same time). */
  take(s: KeyState, key: string, now: number, weight: number): void {
    if (this.spec.algorithm === 'token-bucket') s.a -= weight;
    else s.b += weight;
    if (!this.synced) return;
    const w = this.spec.algorithm === 'token-bucket' ? 0 : Math.floor(now / this.spec.windowMs);
    if (s.pend > 0 && s.pendW !== w) {
      this.#carried.push([key, s.pendW, s.pend]);
      s.pend = 0;
    }
    if (s.pend === 0) {
      this.#dirty.push(s);
      this.#dirtyKeys.push(key);
    }
    s.pend++;
    s.pendW = w;
  }

  /** A peer's admissions: they consume the same budget. */
  applyRemote(key: string, window: number, count: number, now: number): void {
    const s = this.#state(key, now);
    s.seen = now;
    this.#advance(s, now);
    if (this.spec.algorithm === 'token-bucket') {
      // Floored at one bucket of debt: a burst elsewhere delays this node's next admissions, not forever.
      s.a = Math.max(-this.spec.burst, s.a - count);
      return;
    }
    if (window >= s.t) s.b += count;
    else if (window === s.t - 1) s.a += count;
  }

  /** Own admissions since the last call, for peers; resets them. */
  drainPending(out: PendingEntry[]): void {
    for (const e of this.#carried) out.push(e);
    this.#carried = [];
    for (const s of this.#published) s.prevPend = 0;
    const dirty = this.#dirty;
    const keys = this.#dirtyKeys;
    for (let i = 0; i < dirty.length; i++) {
      const s = dirty[i]!;
      if (s.pend > 0) out.push([keys[i]!, s.pendW, s.pend]);
      s.prevPend += s.pend;
      s.pend = 0;
    }
    this.#published = dirty;
    this.#dirty = [];
    this.#dirtyKeys = [];
  }

  /** Drops keys idle long enough that their state says nothing (bucket full again, both windows over). */
  sweep(now: number): number {
    let n = 0;
    for (const [key, s] of this.#states) {
      if (now - s.seen >= this.#idleMs && s.pend === 0) {
        this.#states.delete(key);
        n++;
      }
    }
    return n;
  }

  /** At the key bound: the least recently added key goes (Map order), its limit starting afresh. */
  #evictOldest(): void {
    const first = this.#states.keys().next();
    if (!first.done) this.#states.delete(first.value);
  }
}
