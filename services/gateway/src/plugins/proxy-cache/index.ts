// proxy-cache: answers repeated requests from the proxy thread's response store (X-Cache: HIT), stores
// cacheable upstream responses as they stream to the client (MISS), and lets concurrent misses of one key
// wait for the first one's response. Runs last in the access phase: a hit has passed every check a request
// to the upstream would.
import type { CacheInvalidation, ProxyCacheConfig } from '@turnpike/common';
import type { Answer, Outcome, Step } from '../pipeline.js';
import type { RequestContext, ResponseHead, ResponseHook } from '../request-context.js';
import { requestMode, responseTtl, varyNames } from './cache-control.js';
import { primaryKey, variantKey, type KeyRule } from './key.js';
import { CacheStore, entrySize, type CacheEntry } from './store.js';
import type { Fill } from './coalescer.js';

export { CacheStore, type CacheEntry } from './store.js';

/** TP_CACHE_MAX_BYTES default: 64 MiB per proxy thread. */
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * This thread's store (and its fills). Module state on purpose: every proxy thread (worker) loads its own copy of
 * this module, and the store outlives config swaps (a new snapshot keeps what the old one cached).
 */
export const nodeCache = new CacheStore(DEFAULT_CACHE_MAX_BYTES);

export interface ProxyCachePolicy {
  readonly methods: ReadonlySet<string>;
  readonly statuses: ReadonlySet<number>;
  /** Media types (lower-case, no parameters); null: any. */
  readonly contentTypes: ReadonlySet<string> | null;
  readonly ttlS: number;
  readonly staleS: number;
  readonly maxObjectBytes: number;
  readonly coalesceMs: number;
  readonly cacheControl: boolean;
  readonly key: KeyRule;
  readonly purgeConsumers: ReadonlySet<string>;
  readonly purgeGroups: ReadonlySet<string>;
}

export function compileProxyCache(cfg: ProxyCacheConfig): ProxyCachePolicy {
  return {
    methods: new Set(cfg.methods),
    statuses: new Set(cfg.status_codes),
    contentTypes: cfg.content_types.length === 0 ? null : new Set(cfg.content_types.map((t) => t.toLowerCase())),
    ttlS: cfg.ttl_s,
    staleS: cfg.stale_while_revalidate_s,
    maxObjectBytes: cfg.max_object_bytes,
    coalesceMs: cfg.coalesce_timeout_ms,
    cacheControl: cfg.cache_control,
    key: {
      headers: [...new Set(cfg.vary_headers.map((h) => h.toLowerCase()))].sort(),
      query: cfg.vary_query,
      queryParams: new Set(cfg.query_params),
      perConsumer: cfg.per_consumer,
    },
    purgeConsumers: new Set(cfg.purge.consumers.map((c) => c.toLowerCase())),
    purgeGroups: new Set(cfg.purge.consumer_groups.map((g) => g.toLowerCase())),
  };
}

/** Drops the entries an invalidation names; returns how many. */
export function applyInvalidation(store: CacheStore, inv: CacheInvalidation): number {
  if (inv.service_id !== undefined) {
    const id = inv.service_id.toLowerCase();
    return store.invalidate((e) => e.serviceId === id);
  }
  if (inv.route_id !== undefined) {
    const id = inv.route_id.toLowerCase();
    return store.invalidate((e) => e.routeId === id);
  }
  if (inv.prefix !== undefined) {
    const prefix = inv.prefix;
    const services = inv.service_ids === undefined ? null : new Set(inv.service_ids.map((s) => s.toLowerCase()));
    return store.invalidate((e) => e.path.startsWith(prefix) && (services === null || services.has(e.serviceId)));
  }
  return 0;
}

const BYPASS: readonly string[] = Object.freeze(['x-cache', 'BYPASS']);
const MISS: readonly string[] = Object.freeze(['x-cache', 'MISS']);
const REFRESH: readonly string[] = Object.freeze(['x-cache', 'REFRESH']);
const NO_VARY: readonly string[] = Object.freeze([]);

/** Response headers never stored: framing (the answer sets its own), cookies, and what each answer computes. */
const UNSTORED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'set-cookie', 'x-cache', 'age', 'x-request-id']);

/** The answer to a request from an entry: its status, headers and body, X-Cache and Age added. */
export function answerFrom(e: CacheEntry, now: number, xCache: 'HIT' | 'STALE'): Answer {
  const age = now > e.storedAt ? Math.floor((now - e.storedAt) / 1000) : 0;
  const headers = e.headers.slice();
  headers.push('x-cache', xCache, 'age', String(age));
  return { kind: 'answer', status: e.status, headers, body: e.body };
}

/** Whether the identified consumer may force a refresh (`purge`). */
function mayRefresh(policy: ProxyCachePolicy, ctx: RequestContext): boolean {
  if (ctx.consumerId === '') return false;
  if (policy.purgeConsumers.has(ctx.consumerId)) return true;
  if (policy.purgeGroups.size === 0) return false;
  const owner = ctx.tables.ownerOf(ctx.consumerId);
  if (owner === undefined) return false;
  for (const g of owner.groupIds) if (policy.purgeGroups.has(g)) return true;
  return false;
}

export function proxyCacheStep(policy: ProxyCachePolicy, store: CacheStore = nodeCache): Step<RequestContext> {
  return {
    name: 'proxy-cache',
    phase: 'access',
    needsBody: false,
    run(ctx): Outcome | Promise<Outcome> {
      if (!policy.methods.has(ctx.method)) {
        ctx.addResponseHeaders(BYPASS);
        return null;
      }
      let mode = requestMode(ctx.header('cache-control'));
      if (mode === 'bypass' && !policy.cacheControl) mode = 'normal';
      else if (mode === 'refresh' && !mayRefresh(policy, ctx)) mode = 'normal';
      if (mode === 'bypass') {
        ctx.addResponseHeaders(BYPASS);
        return null;
      }
      const primary = primaryKey(policy.key, ctx);
      const key = variantKey(primary, store.varyOf(primary) ?? NO_VARY, ctx);
      const now = ctx.nowMs;
      if (mode === 'refresh') {
        // The forced refresh replaces the entry when its response is stored; until then others keep getting it.
        ctx.addResponseHeaders(REFRESH);
        capture(policy, store, ctx, primary, store.fills.begin(key, Math.max(policy.coalesceMs, 1)), null);
        return null;
      }
      const e = store.get(key, now);
      if (e !== undefined) {
        if (now < e.expiresAt) return answerFrom(e, now, 'HIT');
        // Stale, within stale_while_revalidate_s: every request gets it STALE at once, and one of them goes
        // on (through the steps after this one, request transformations) to the upstream in the background,
        // detached from its client, to replace it. Until that refresh stores its response or fails, no other
        // starts. (A HEAD's response has no body to store: it refreshes nothing in the background.)
        if (now < e.refreshUntil) return answerFrom(e, now, 'STALE');
        if (ctx.method !== 'HEAD' && ctx.detachToUpstream?.(answerFrom(e, now, 'STALE')) === true) {
          e.refreshUntil = e.staleUntil;
          capture(policy, store, ctx, primary, null, e);
          return null;
        }
        // A request with a body cannot be detached: it refreshes in the foreground, the others get STALE.
        e.refreshUntil = now + Math.max(policy.coalesceMs, 1_000);
        ctx.addResponseHeaders(MISS);
        capture(policy, store, ctx, primary, null, e);
        return null;
      }
      if (policy.coalesceMs > 0) {
        const waiting = store.fills.wait(key);
        if (waiting !== null) return waiting.then((got) => afterWait(policy, store, ctx, primary, got));
      }
      ctx.addResponseHeaders(MISS);
      // A HEAD miss stores nothing (no body): it does not make GETs wait for it.
      capture(policy, store, ctx, primary, policy.coalesceMs > 0 && ctx.method !== 'HEAD' ? store.fills.begin(key, policy.coalesceMs) : null, null);
      return null;
    },
  };
}

/** A waiter's turn: the fill's entry when it answers this request too (same Vary'd values), else the upstream. */
function afterWait(policy: ProxyCachePolicy, store: CacheStore, ctx: RequestContext, primary: string, got: CacheEntry | null): Outcome {
  if (got !== null && variantKey(primary, store.varyOf(primary) ?? NO_VARY, ctx) === got.key) return answerFrom(got, Date.now(), 'HIT');
  ctx.addResponseHeaders(MISS);
  capture(policy, store, ctx, primary, null, null);
  return null;
}

/** Registers the hook that stores this request's upstream response if it turns out cacheable. */
function capture(policy: ProxyCachePolicy, store: CacheStore, ctx: RequestContext, primary: string, fill: Fill | null, stale: CacheEntry | null): void {
  ctx.onResponse(new Capture(policy, store, ctx, primary, fill, stale));
}

/** Why a response is not stored; null: it may be. */
export function uncacheable(policy: ProxyCachePolicy, head: ResponseHead): string | null {
  if (!policy.statuses.has(head.status)) return 'status';
  let cacheControl = '';
  let contentType: string | null = null;
  const vary: string[] = [];
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name === 'set-cookie') return 'set-cookie';
    if (name === 'cache-control') cacheControl = cacheControl === '' ? h[i + 1]! : cacheControl + ',' + h[i + 1]!;
    else if (name === 'content-type') contentType = h[i + 1]!;
    else if (name === 'vary') vary.push(h[i + 1]!);
  }
  if (policy.contentTypes !== null) {
    const media = contentType === null ? '' : contentType.split(';')[0]!.trim().toLowerCase();
    if (!policy.contentTypes.has(media)) return 'content-type';
  }
  if (varyNames(vary) === null) return 'vary';
  if (policy.cacheControl && responseTtl(cacheControl, policy.ttlS) === 0) return 'cache-control';
  return null;
}

/** One miss's response hook: decides at the head, copies the body as it streams, stores it when complete. */
class Capture implements ResponseHook {
  readonly tap: { chunk(chunk: Buffer): void; end(complete: boolean): void };
  #head: ResponseHead | null = null;
  #chunks: Buffer[] | null = null;
  #bytes = 0;
  #ttlS = 0;
  #vary: readonly string[] = NO_VARY;
  readonly #method: string;
  readonly #routeId: string;
  readonly #serviceId: string;
  readonly #path: string;
  /** Until the head: the Vary'd request headers are read then, and the context is not kept past the exchange. */
  #ctx: RequestContext | null;
  #key = '';

  constructor(
    readonly policy: ProxyCachePolicy,
    readonly store: CacheStore,
    ctx: RequestContext,
    readonly primary: string,
    readonly fill: Fill | null,
    readonly stale: CacheEntry | null,
  ) {
    this.#method = ctx.method;
    this.#routeId = ctx.routeId;
    this.#serviceId = ctx.serviceId;
    this.#path = ctx.path;
    this.#ctx = ctx;
    this.tap = { chunk: (c) => this.#chunk(c), end: (complete) => this.#end(complete) };
  }

  head(head: ResponseHead): void {
    // A HEAD response has no body to store under GET's key.
    if (this.#method === 'HEAD' || uncacheable(this.policy, head) !== null) return this.#abandon();
    let cacheControl = '';
    const vary: string[] = [];
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === 'cache-control') cacheControl = cacheControl === '' ? h[i + 1]! : cacheControl + ',' + h[i + 1]!;
      else if (h[i] === 'vary') vary.push(h[i + 1]!);
    }
    // The head carries no Content-Length (the handler frames the body itself): the size is counted as it streams.
    this.#ttlS = this.policy.cacheControl ? responseTtl(cacheControl, this.policy.ttlS) : this.policy.ttlS;
    this.#vary = varyNames(vary) ?? NO_VARY;
    this.#key = variantKey(this.primary, this.#vary, this.#ctx!);
    this.#ctx = null;
    this.#head = head;
    this.#chunks = [];
  }

  #chunk(c: Buffer): void {
    if (this.#chunks === null) return;
    this.#bytes += c.length;
    if (this.#bytes > this.policy.maxObjectBytes) return this.#abandon();
    // The upstream client may reuse its buffer: keep a copy.
    this.#chunks.push(Buffer.from(c));
  }

  #end(complete: boolean): void {
    const chunks = this.#chunks;
    const head = this.#head;
    if (!complete || chunks === null || head === null) return this.#abandon();
    this.#chunks = null;
    // Read at the end: hooks registered after this one (response transformations) have changed the head.
    const headers: string[] = [];
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) if (!UNSTORED.has(h[i]!)) headers.push(h[i]!, h[i + 1]!);
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const key = this.#key;
    const now = Date.now();
    const expiresAt = now + this.#ttlS * 1000;
    const entry: CacheEntry = {
      key,
      primary: this.primary,
      routeId: this.#routeId,
      serviceId: this.#serviceId,
      path: this.#path,
      status: head.status,
      headers,
      body,
      storedAt: now,
      expiresAt,
      staleUntil: expiresAt + this.policy.staleS * 1000,
      size: entrySize(key, headers, body),
      refreshUntil: 0,
    };
    const stored = this.store.set(entry, this.#vary);
    // A refresh whose response could not replace the stale entry: the next request may try again.
    if (!stored && this.stale !== null) this.stale.refreshUntil = 0;
    if (this.fill !== null) this.store.fills.finish(this.fill, stored ? entry : null);
  }

  #abandon(): void {
    this.#ctx = null;
    this.#chunks = null;
    this.#head = null;
    if (this.fill !== null) this.store.fills.finish(this.fill, null);
    // A failed refresh of a stale entry: the next request may try again.
    if (this.stale !== null) this.stale.refreshUntil = 0;
  }
}
