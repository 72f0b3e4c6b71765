// Compiles the raw KV entries (`<kind>.<id>` → envelope JSON) into an immutable snapshot the hot path
// reads with table lookups only. Invalid entities, and entities whose references are missing or
// rejected, are left out and reported; everything else still compiles.
import type { CompiledWsApi } from '../websocket-api/compiled.js';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import {
  Consumer,
  META_REVISION_KEY,
  Route,
  Service,
  Upstream,
  parseEntityKey,
  routeProblems,
  type CoreEntityKind,
  type EntityKind,
  RESOURCE_KINDS,
  type FieldError,
  type Keyring,
} from '@turnpike/common';
import type { Dispatcher } from 'undici';
import type { Router } from '../router/index.js';
import type { Balancer } from '../upstream/balancer.js';
import type { CompiledResilience, ResilienceRegistry } from '../upstream/resilience.js';
import type { CompiledSplits } from '../upstream/splits.js';
import type { TargetHealth } from '../upstream/target-health.js';
import type { KeyAuthPolicy, KeyOwner } from '../plugins/key-auth/index.js';
import type { SizeLimitPolicy } from '../plugins/request-size-limiting/index.js';
import { DEFAULT_PLUGIN_CONTEXT, type Pipeline, type PluginContext } from '../plugins/chain.js';
import type { AccessTables } from '../plugins/request-context.js';
import type { RouteSeries } from '../status/metrics.js';
import type { CompiledAiIntegration } from '../ai/candidates.js';
import type { CompiledLambda } from '../integrations/lambda/integration.js';
import { compileAiTables, type AiTables } from '../ai/tables.js';
import { SubscriptionTable } from '../plugins/acl/subscriptions.js';
import { QuotaPlanTable } from '../quota/plans.js';
import { PlanRateLimitTable } from '../plugins/rate-limiting/plans.js';
import { compileJwtIssuers, JwksRegistry } from '../plugins/jwt-auth/index.js';
import { compileHmacCredentials, type HmacCredentialTable } from '../plugins/hmac-auth/index.js';
import { compileBasicCredentials, type BasicCredentialTable } from '../plugins/basic-auth/index.js';
import { NO_TRUSTED_PROXIES, type TrustedProxies } from '../plugins/ip-restriction/index.js';
import { KeyIndex } from './key-index.js';
import { CertificateCompiler, type TlsConfig } from '../tls/certificates.js';
import type { UpstreamTlsOptions } from '../upstream/pools.js';
import { RoutingCompiler, type RoutingResult } from './routing.js';

if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

export interface UpstreamTarget {
  origin: string;
  poolKey: string;
  dispatcher: Dispatcher;
  /** Requests on this target now (kept by the proxy; read by least-connections). */
  inFlight: number;
  /** Health checks, ejection and breaker state; the shared always-available one without such policies. */
  health: TargetHealth;
  /** An https target's TLS settings as its pool connects (client certificate resolved); null for http. WebSocket upstreams use them too. */
  tls: UpstreamTlsOptions | null;
}

/** The request attribute a consistent-hash upstream keys on; `name` lowercased (header or cookie name). */
export interface CompiledHashOn {
  source: 'header' | 'cookie' | 'client-ip' | 'path';
  name: string;
}

export interface CompiledUpstream {
  id: string;
  balancer: Balancer<UpstreamTarget>;
  /** Set for consistent-hash upstreams only. */
  hashOn: CompiledHashOn | null;
  readTimeoutMs: number;
  /** Budget for the whole exchange; 0 for none. */
  totalTimeoutMs: number;
  /** Retries, health checks, breaker (upstream/resilience.ts); null when none is configured. */
  resilience: CompiledResilience | null;
  targets: readonly UpstreamTarget[];
}

/** A `websocket` integration (proxy/websocket.ts); http services' WebSocket upgrades use the node's defaults. */
export interface CompiledWebSocket {
  upstream: CompiledUpstream;
  idleTimeoutMs: number;
  /** The subprotocols a client may offer the upstream; null: every one it offers is forwarded. */
  subprotocols: ReadonlySet<string> | null;
}

export interface CompiledService {
  id: string;
  /** Without a trailing slash; '' for none. */
  basePath: string;
  /** The http upstream; null for other integrations (see `integration`, `websocket`). */
  upstream: CompiledUpstream | null;
  /**
   * Null for http. `websocket` services take upgrades only (plain HTTP gets 426); `ai` services are answered
   * by the AI runtime; `lambda` ones by the function integration (`lambda`).
   */
  integration: string | null;
  /** Set for `websocket` integrations only. */
  websocket: CompiledWebSocket | null;
  /** Set for `ai` integrations only (answered by ai/runtime.ts). */
  ai: CompiledAiIntegration | null;
  /** Set for `lambda` integrations only (answered by integrations/lambda/integration.ts); absent or null otherwise. */
  lambda?: CompiledLambda | null;
  /** Set for `websocket-api` integrations only (websocket-api/): the gateway terminates their WebSockets. */
  wsApi?: CompiledWsApi | null;
  /** The tenant the service belongs to, when the control plane publishes it (`tenant_id`); null otherwise. */
  tenantId: string | null;
  /**
   * Header name/value pairs every proxied response of this service carries (a deprecated service's
   * `Deprecation`/`Sunset`), formatted here so the hot path only writes them; null for none.
   */
  responseHeaders: readonly string[] | null;
  /** Canary/weighted splits over other upstreams (http services); null for none. */
  splits: CompiledSplits<CompiledUpstream> | null;
}

export interface CompiledRoute {
  id: string;
  service: CompiledService;
  stripPath: boolean;
  /** The route takes any method (no `methods` list): a Lambda event's routeKey says ANY. */
  anyMethod: boolean;
  keyAuth: KeyAuthPolicy | null;
  /** request-size-limiting (plugins/chain.ts); null: the node's limit only. */
  sizeLimit: SizeLimitPolicy | null;
  /** The route's plugin steps (plugins/chain.ts); null: none beyond the inline key-auth. */
  pipeline: Pipeline | null;
  /**
   * This route's request counters in the proxy thread's GatewayMetrics (status/metrics.ts), bound on the
   * route's first request: the hot path bumps numbers in it, no lookup by label.
   */
  series?: RouteSeries | null;
}

export interface Rejection {
  key: string;
  reason: string;
  fields?: FieldError[];
}

export interface Snapshot {
  revision: number;
  router: Router<CompiledRoute>;
  keys: ReadonlyMap<string, KeyOwner>;
  rejected: readonly Rejection[];
  counts: Record<CoreEntityKind, number>;
  poolKeys: ReadonlySet<string>;
  /** ResilienceRegistry keys the snapshot uses (retained on swap, like poolKeys). */
  resilienceKeys: ReadonlySet<string>;
  /** Certificates with their keys opened: the HTTPS listener's SNI contexts, upstream client certificates (tls/). */
  tls: TlsConfig;
  /** Identity and access tables the plugin steps read (credentials, subscriptions, consumers' groups). */
  access: AccessTables;
  /** AI providers (credentials opened) and prompt templates, for services with an `ai` integration. */
  ai: AiTables;
}

/** `tls`: set for https targets; the compiler fills in the client certificate the upstream names. */
/** `tls` in the answer: the options the pool connects with (client certificate resolved), for health probes. */
export type PoolFactory = (origin: string, connectTimeoutMs: number, tls?: UpstreamTlsOptions) => { key: string; dispatcher: Dispatcher; tls?: UpstreamTlsOptions };

interface Parsed<T> {
  key: string;
  id: string;
  data: T;
}

const SCHEMAS: Record<Exclude<CoreEntityKind, 'keys'>, TSchema> = { upstreams: Upstream, services: Service, routes: Route, consumers: Consumer };
// Compiled validators: at 100,000+ entities the interpreting Value.Check dominated a full compile.
const CHECKS: Record<Exclude<CoreEntityKind, 'keys'>, TypeCheck<TSchema>> = {
  upstreams: TypeCompiler.Compile(Upstream),
  services: TypeCompiler.Compile(Service),
  routes: TypeCompiler.Compile(Route),
  consumers: TypeCompiler.Compile(Consumer),
};

/** What one KV entry contributes, computed from its raw value alone (so it can be reused while that is unchanged). */
type EntryResult =
  | { t: 'skip'; revision: number | null }
  | { t: 'rejected'; revision: number | null; rejection: Rejection }
  | { t: 'ok'; revision: number | null; kind: EntityKind; parsed: Parsed<unknown> }
  /** A valid consumer or API key: held by the cache's KeyIndex, not as a parsed object. */
  | { t: 'indexed'; revision: number | null };

const RESOURCE_KIND_SET: ReadonlySet<EntityKind> = new Set(RESOURCE_KINDS);
function isResourceKind(kind: EntityKind): kind is Exclude<EntityKind, CoreEntityKind> {
  return RESOURCE_KIND_SET.has(kind);
}

/**
 * `reduced`: a consumer envelope written by this node's last-known-good, holding only what the node keeps
 * ({id, username}); it was validated in full when it came from the bus.
 */
function parseEntry(key: string, raw: string, reduced = false): EntryResult {
  if (key === META_REVISION_KEY) {
    const r = safeJson(raw) as { revision?: unknown } | undefined;
    return { t: 'skip', revision: typeof r?.revision === 'number' ? r.revision : null };
  }
  const parsedKey = parseEntityKey(key);
  if (!parsedKey) return { t: 'skip', revision: null }; // Not an entity this node version knows; newer control planes may add kinds.
  const env = safeJson(raw) as { kind?: unknown; revision?: unknown; data?: unknown } | undefined;
  if (!env || typeof env !== 'object' || env.kind !== parsedKey.kind || typeof env.data !== 'object' || env.data === null) {
    return { t: 'rejected', revision: null, rejection: { key, reason: 'not a config envelope {kind, revision, data} of the key’s kind' } };
  }
  const revision = typeof env.revision === 'number' ? env.revision : null;
  // Freshly parsed, so owned here: defaults may be filled in place.
  const data = env.data as Record<string, unknown>;
  if (parsedKey.kind === 'keys') {
    const problem = checkApiKey(data);
    if (problem) return { t: 'rejected', revision, rejection: { key, reason: problem } };
  } else if (!isResourceKind(parsedKey.kind)) {
    const schema = SCHEMAS[parsedKey.kind];
    const check = CHECKS[parsedKey.kind];
    // Consumers (100,000+ at scale) arrive complete from the control plane: filling defaults (an interpreted
    // walk of the schema) only when the compiled check fails halved their cost.
    if (reduced && parsedKey.kind === 'consumers') {
      if (typeof data.username !== 'string') return { t: 'rejected', revision, rejection: { key, reason: 'consumer without username' } };
    } else if (parsedKey.kind !== 'consumers' || !check.Check(data)) Value.Default(schema, data);
    if (!(reduced && parsedKey.kind === 'consumers') && !check.Check(data)) {
      const fields = [...check.Errors(data)].slice(0, 10).map((e) => ({ path: e.path || '/', message: e.message }));
      return { t: 'rejected', revision, rejection: { key, reason: 'failed schema validation', fields } };
    }
    // Regular expressions and matcher values: what the schema cannot say (config from an older control plane).
    const routeFields = parsedKey.kind === 'routes' ? routeProblems(data as Route) : [];
    if (routeFields.length > 0) return { t: 'rejected', revision, rejection: { key, reason: 'invalid route', fields: routeFields } };
  }
  if (data.id !== parsedKey.id) {
    return { t: 'rejected', revision, rejection: { key, reason: `data.id ${String(data.id)} does not match the key` } };
  }
  // The cache keeps every consumer for the life of the node: keep only what the key table reads.
  const kept = parsedKey.kind === 'consumers' ? { id: data.id, username: data.username, group_ids: groupIdsOf(data.group_ids) } : data;
  return { t: 'ok', revision, kind: parsedKey.kind, parsed: { key, id: parsedKey.id, data: kept } };
}

/**
 * One cached entry. The raw envelope is not kept (at 211,000 entries the strings were ~61 MB, a fifth of the
 * node): an entry is unchanged when its envelope carries the same config revision and has the same length
 * (the control plane writes an entity under a new revision every time; see `envelopeRevision`). Only
 * entries that cannot be told apart that way, or that must be replayed as they came, keep `raw`: envelopes
 * without a numeric revision, rejected ones (still reported after a restart from last-known-good) and
 * meta.revision.
 */
interface Stored {
  /** `INDEXED` (shared) for consumers and API keys: 200,000 of them at scale, held by the KeyIndex. */
  result: EntryResult;
  /** The envelope's revision (not `result.revision`, which INDEXED does not carry). */
  revision: number | null;
  len: number;
  raw: string | undefined;
  /** Which full pass (watch session or last-known-good load) last saw the entry; see `staleKeys`. */
  gen: number;
}

const INDEXED: EntryResult = Object.freeze({ t: 'indexed', revision: null });

// JSON.stringify({kind, revision, data}) as the publisher writes it: the revision is read without parsing.
const ENVELOPE_HEAD = /^\{"kind":"[a-z_]+","revision":(\d+),"data":/;
function envelopeRevision(raw: string): number | null {
  const m = ENVELOPE_HEAD.exec(raw);
  return m ? Number(m[1]) : null;
}

/**
 * What earlier compiles hand to the next one. A change to one entity must not cost a parse and validation
 * of every entity (100,000+ at scale): the cache keeps each entry's result, indexed by kind, and a compile
 * told which keys changed updates only those. The API-key table (the largest structure: one entry per key)
 * is reused as long as no consumer or key changed.
 */
export class CompileCache {
  readonly #results = new Map<string, Stored>();
  readonly parsed: { [K in EntityKind]: Map<string, Parsed<unknown>> } = {
    upstreams: new Map(),
    services: new Map(),
    routes: new Map(),
    consumers: new Map(),
    keys: new Map(),
    // Kept for the policy compilers that read them; validated by the control plane's resource store.
    consumer_groups: new Map(),
    credentials: new Map(),
    plans: new Map(),
    subscriptions: new Map(),
    plugins: new Map(),
    ai_providers: new Map(),
    prompt_templates: new Map(),
    ai_budgets: new Map(),
    certificates: new Map(),
    openapi_docs: new Map(),
  };
  readonly rejected = new Map<string, Rejection>();
  /** The highest revision of any entry (meta.revision included). */
  revision = 0;
  /** Consumers and API keys, updated in place entry by entry (the table snapshots share). */
  readonly keyIndex = new KeyIndex();
  /**
   * The last snapshot compiled with routing inputs (everything but consumers, keys and meta.revision) and
   * the rejections that compile added: a change to consumers or keys alone reuses its router and maps.
   * `compiler` holds what a live change to upstreams, services or routes is compiled from (config/routing.ts).
   */
  routing: { snapshot: Snapshot; rejected: readonly Rejection[]; compiler: RoutingCompiler } | null = null;
  /** True once a full pass filled it: only then may a compile update just the changed keys. */
  primed = false;
  /** The AI tables of the last compile and what they could not use; null until the first. */
  ai: { tables: AiTables; rejected: Rejection[] } | null = null;
  aiKeyring: Keyring | null | undefined = undefined;

  /** AI providers and prompt templates again (a change to one of them, or another keyring). */
  compileAi(keyring: Keyring | null): void {
    const { tables, problems } = compileAiTables(this.parsed.ai_providers.values(), this.parsed.prompt_templates.values(), keyring, this.parsed.ai_budgets.values());
    this.ai = { tables, rejected: problems };
    this.aiKeyring = keyring;
  }
  /** Opens and checks each certificate once per change (tls/certificates.ts). */
  readonly certificates = new CertificateCompiler();
  /** JWKS caches by URI, kept across compiles (an issuer change does not refetch the others' keys). */
  readonly jwks = new JwksRegistry();
  /** Approved subscriptions, updated entry by entry like the key table. */
  readonly subscriptions = new SubscriptionTable();
  readonly #subscriptionRejections = new Map<string, Rejection>();
  /** Request quotas per consumer/service (subscriptions × plans), rebuilt when either changed. */
  readonly quotaPlans = new QuotaPlanTable();
  /** Rate limits per consumer/service (subscriptions × plans' rate_limit), rebuilt with quotaPlans. */
  readonly planRateLimits = new PlanRateLimitTable();
  #quotaPlansDirty = true;
  /** A credential changed since the credential tables were compiled. */
  #credentialsDirty = true;
  #credentialTables: { jwt: AccessTables['jwt']; hmac: HmacCredentialTable; basic: BasicCredentialTable; rejected: Rejection[] } | null = null;
  #access: AccessTables | null = null;
  #accessKeyring: Keyring | null | undefined = undefined;
  #accessTrusted: TrustedProxies | undefined = undefined;

  /**
   * The access tables for a snapshot: credentials compiled again only when one changed (or the keyring did);
   * consumers (owners, groups), keys and subscriptions are the live indexes, updated in place.
   */
  accessTables(options: CompileOptions): AccessTables {
    if (this.#quotaPlansDirty) {
      this.#quotaPlansDirty = false;
      this.quotaPlans.rebuild(this.parsed.subscriptions.values(), this.parsed.plans.values());
      this.planRateLimits.rebuild(this.parsed.subscriptions.values(), this.parsed.plans.values(), options.pluginContext?.rateLimits ?? undefined);
    }
    const keyring = options.keyring ?? null;
    const trusted = options.trustedProxies ?? NO_TRUSTED_PROXIES;
    if (this.#access !== null && !this.#credentialsDirty && keyring === this.#accessKeyring && trusted === this.#accessTrusted) return this.#access;
    const entries = [...this.parsed.credentials.values()].map((p) => ({ id: p.id, data: p.data }));
    const prev = this.#credentialTables;
    const jwt = compileJwtIssuers(entries, { keyring, jwks: this.jwks });
    const hmac = compileHmacCredentials(entries, { keyring, ...(prev ? { replay: prev.hmac.replay } : {}) });
    const basic = compileBasicCredentials(entries, prev ? { cache: prev.basic.cache } : {});
    const rejected: Rejection[] = [...jwt.rejected, ...hmac.rejected, ...basic.rejected].map((r) => ({ key: r.key, reason: r.reason }));
    this.#credentialTables = { jwt, hmac, basic, rejected };
    this.#credentialsDirty = false;
    this.#accessKeyring = keyring;
    this.#accessTrusted = trusted;
    const index = this.keyIndex;
    this.#access = {
      keys: index.table,
      ownerOf: (id) => index.ownerOf(id),
      ownerByUsername: (name) => index.ownerByUsername(name),
      jwt,
      hmac,
      basic,
      subscriptions: this.subscriptions,
      quotas: this.quotaPlans,
      planRateLimits: this.planRateLimits,
      trustedProxies: trusted,
    };
    return this.#access;
  }

  /** Credentials and subscriptions the access tables left out, with why. */
  get accessRejections(): Rejection[] {
    return [...(this.#credentialTables?.rejected ?? []), ...this.#subscriptionRejections.values()];
  }

  get size(): number {
    return this.#results.size;
  }

  keyList(): string[] {
    return [...this.#results.keys()];
  }

  /**
   * Records the entry's raw value; returns false when it is unchanged. `gen` stamps the entry for
   * `staleKeys`; `reduced`: see parseEntry (last-known-good written by `envelopes()`).
   */
  set(key: string, raw: string, gen = 0, reduced = false): boolean {
    const old = this.#results.get(key);
    if (old && old.len === raw.length && (old.raw !== undefined ? old.raw === raw : old.revision !== null && old.revision === envelopeRevision(raw))) {
      old.gen = gen;
      return false;
    }
    let result = parseEntry(key, raw, reduced);
    const revision = result.revision;
    if (result.t === 'ok' && (result.kind === 'consumers' || result.kind === 'keys')) {
      const data = result.parsed.data as { username: string; group_ids: readonly string[]; consumer_id: string; key_sha256: string; expires_at?: string | null };
      if (result.kind === 'consumers') this.keyIndex.setConsumer(result.parsed.id, data.username, data.group_ids);
      else this.keyIndex.setKey(key, data.consumer_id, data.key_sha256.toLowerCase(), typeof data.expires_at === 'string' ? Date.parse(data.expires_at) : null);
      result = INDEXED;
    }
    const keepRaw = key === META_REVISION_KEY || result.t === 'rejected' || (revision === null && result.t !== 'skip');
    this.#results.set(key, { result, revision, len: raw.length, raw: keepRaw ? raw : undefined, gen });
    if (old) this.#unindex(key, old.result, result);
    if (result.t === 'ok' && result.kind === 'subscriptions') {
      const reason = this.subscriptions.put(key, result.parsed.data);
      if (reason === null) this.#subscriptionRejections.delete(key);
      else this.#subscriptionRejections.set(key, { key, reason });
    }
    if (key.startsWith(CREDENTIALS_PREFIX)) this.#credentialsDirty = true;
    if (key.startsWith(SUBSCRIPTIONS_PREFIX) || key.startsWith(PLANS_PREFIX)) this.#quotaPlansDirty = true;
    // Map.set keeps an existing key's position, so a changed entity keeps its place (routes' tie-break order).
    if (result.t === 'rejected') this.rejected.set(key, result.rejection);
    else if (result.t === 'ok') this.parsed[result.kind].set(key, result.parsed);
    if (revision !== null && revision > this.revision) this.revision = revision;
    else if (old && old.revision === this.revision && (revision ?? -1) < this.revision) this.#recomputeRevision();
    return true;
  }

  delete(key: string): boolean {
    const old = this.#results.get(key);
    if (!old) return false;
    this.#results.delete(key);
    this.#unindex(key, old.result, null);
    if (key.startsWith(CREDENTIALS_PREFIX)) this.#credentialsDirty = true;
    if (key.startsWith(SUBSCRIPTIONS_PREFIX) || key.startsWith(PLANS_PREFIX)) this.#quotaPlansDirty = true;
    if (old.revision === this.revision) this.#recomputeRevision();
    return true;
  }

  /** The pass that last saw `key`; undefined when the cache has no such entry. */
  genOf(key: string): number | undefined {
    return this.#results.get(key)?.gen;
  }

  /** Entries no pass in `gens` saw: what a full delivery (or last-known-good load) did not contain. */
  staleKeys(gens: ReadonlySet<number>): string[] {
    const out: string[] = [];
    for (const [key, s] of this.#results) if (!gens.has(s.gen)) out.push(key);
    return out;
  }

  /**
   * Every entry as a config envelope, for last-known-good: kept raw envelopes as they came, the others
   * re-serialized from what the node keeps (consumers reduced to {id, username}: load them with `reduced`).
   * Entities of kinds this node does not know are left out. Lazy: a write in slices sees changes made
   * meanwhile (each change schedules another write).
   */
  *envelopes(): Generator<[string, string]> {
    for (const [key, s] of this.#results) {
      if (s.raw !== undefined) {
        yield [key, s.raw];
        continue;
      }
      const r = s.result;
      if (r.t === 'ok') yield [key, JSON.stringify({ kind: r.kind, revision: s.revision, data: r.parsed.data })];
      else if (r.t === 'indexed') {
        if (isConsumerKey(key)) {
          const id = key.slice(CONSUMERS_PREFIX.length);
          const owner = this.keyIndex.ownerOf(id);
          if (owner !== undefined) {
            const data = owner.groupIds.length > 0 ? { id, username: owner.username, group_ids: owner.groupIds } : { id, username: owner.username };
            yield [key, JSON.stringify({ kind: 'consumers', revision: s.revision, data })];
          }
        } else {
          const rec = this.keyIndex.keyRecord(key);
          if (rec) {
            const exp = this.keyIndex.expiresAtOf(rec.hex);
            const data = { id: key.slice(KEYS_PREFIX.length), consumer_id: rec.consumerId, key_sha256: rec.hex, ...(exp !== undefined ? { expires_at: new Date(exp).toISOString() } : {}) };
            yield [key, JSON.stringify({ kind: 'keys', revision: s.revision, data })];
          }
        }
      }
    }
  }

  #unindex(key: string, old: EntryResult, next: EntryResult | null): void {
    if (old.t === 'rejected' && next?.t !== 'rejected') this.rejected.delete(key);
    if (old.t === 'ok' && !(next?.t === 'ok' && next.kind === old.kind)) this.parsed[old.kind].delete(key);
    if (old.t === 'ok' && old.kind === 'subscriptions' && !(next?.t === 'ok' && next.kind === 'subscriptions')) {
      this.subscriptions.delete(key);
      this.#subscriptionRejections.delete(key);
    }
    if (old.t === 'indexed' && next?.t !== 'indexed') {
      if (isConsumerKey(key)) this.keyIndex.deleteConsumer(key.slice(CONSUMERS_PREFIX.length));
      else this.keyIndex.deleteKey(key);
    }
  }

  #recomputeRevision(): void {
    let r = 0;
    for (const { revision } of this.#results.values()) if (revision !== null && revision > r) r = revision;
    this.revision = r;
  }
}

export interface CompileOptions {
  /** Serve only routes of these stages plus stage-less ones (TP_STAGES); undefined/null: every route. */
  stages?: ReadonlySet<string> | null;
  /** Where upstream health, breaker and retry-budget state lives across compiles; without it those policies are not enforced. */
  resilience?: ResilienceRegistry | null;
  /** Opens certificate keys (TP_SECRET_KEY); without it certificates are rejected. */
  keyring?: Keyring | null;
  /** TP_TRUSTED_PROXIES: whose forwarding headers name the client (ip-restriction, client IP). */
  trustedProxies?: TrustedProxies;
  /** The same object across compiles (a new one compiles every plugin again). */
  pluginContext?: PluginContext;
}

const CONSUMERS_PREFIX = 'consumers.';
const KEYS_PREFIX = 'keys.';
const isConsumerKey = (key: string): boolean => key.startsWith(CONSUMERS_PREFIX);
const CREDENTIALS_PREFIX = 'credentials.';
const SUBSCRIPTIONS_PREFIX = 'subscriptions.';
const PLANS_PREFIX = 'plans.';
/** Entries that never change routing: consumers, credentials, subscriptions and the revision marker (plugin steps read their tables per request). */
const isKeyInput = (key: string): boolean =>
  key.startsWith(CONSUMERS_PREFIX) || key.startsWith('keys.') || key.startsWith(CREDENTIALS_PREFIX) || key.startsWith(SUBSCRIPTIONS_PREFIX) || key === META_REVISION_KEY;
/** Entries of the AI tables (ai/tables.ts): compiled apart from routing, which only names their ids. */
const isAiInput = (key: string): boolean => key.startsWith('ai_providers.') || key.startsWith('prompt_templates.') || key.startsWith('ai_budgets.');

/**
 * `changed`: the keys set or deleted since the compile that last used `cache` (a live change); without it
 * (or with a fresh cache) every entry is looked at.
 */
export function compileSnapshot(
  entries: ReadonlyMap<string, string>,
  poolFor: PoolFactory,
  cache: CompileCache = new CompileCache(),
  changed?: ReadonlySet<string>,
  options: CompileOptions = {},
): Snapshot {
  let routingChanged = cache.routing === null;
  /** Routing entries that changed; only meaningful for a live change (`incremental`). */
  const routingKeys: string[] = [];
  let aiChanged = cache.ai === null;
  const touch = (key: string, didChange: boolean): void => {
    if (didChange && isAiInput(key)) aiChanged = true;
    else if (didChange && !isKeyInput(key)) {
      routingChanged = true;
      routingKeys.push(key);
    }
  };
  const incremental = changed !== undefined && cache.primed;
  if (incremental) {
    for (const key of changed) {
      const raw = entries.get(key);
      touch(key, raw === undefined ? cache.delete(key) : cache.set(key, raw));
    }
  } else {
    for (const [key, raw] of entries) touch(key, cache.set(key, raw));
    if (cache.size > entries.size) for (const key of cache.keyList()) if (!entries.has(key)) touch(key, cache.delete(key));
    cache.primed = true;
  }
  const rejected: Rejection[] = [...cache.rejected.values()];
  const revision = cache.revision;
  const byKind = cache.parsed;
  const keyIndex = cache.keyIndex;
  const keyCounts = { consumers: keyIndex.consumerCount, keys: keyIndex.table.size };
  if (aiChanged || options.keyring !== cache.aiKeyring) cache.compileAi(options.keyring ?? null);
  const ai = cache.ai!;
  if (!routingChanged && cache.routing) {
    // Only consumers, keys or the revision changed: the router, services and upstreams stand as they are.
    const prev = cache.routing.snapshot;
    const access = cache.accessTables(options);
    return {
      ...prev,
      revision,
      keys: keyIndex.table,
      rejected: [...rejected, ...cache.routing.rejected, ...keyIndex.rejections(), ...cache.accessRejections, ...ai.rejected],
      counts: { ...prev.counts, ...keyCounts },
      access,
      ai: ai.tables,
    };
  }
  // Routing: a live change to upstreams, services or routes recompiles just those and what depends on them
  // (config/routing.ts); anything else, or a first or full pass, compiles the routing from scratch.
  const compiler = cache.routing?.compiler ?? new RoutingCompiler();
  const stages = options.stages ?? null;
  const resilience = options.resilience ?? null;
  const tls = cache.certificates.compile(byKind.certificates.values(), options.keyring ?? null);
  const pools = withClientCertificates(poolFor, tls);
  let routing: RoutingResult;
  try {
    const plugins = options.pluginContext ?? DEFAULT_PLUGIN_CONTEXT;
    routing =
      (incremental && cache.routing && compiler.update(routingKeys, byKind, pools, stages, resilience, plugins)) || compiler.full(byKind, pools, stages, resilience, plugins);
  } catch (err) {
    cache.routing = null; // the compiler's state may be half updated: the next compile starts over
    throw err;
  }
  const access = cache.accessTables(options);
  const snapshot: Snapshot = {
    revision,
    router: routing.router,
    keys: keyIndex.table,
    access,
    rejected: [...rejected, ...routing.rejected, ...tls.rejected, ...keyIndex.rejections(), ...cache.accessRejections, ...ai.rejected],
    counts: { ...routing.counts, ...keyCounts },
    poolKeys: routing.poolKeys,
    resilienceKeys: routing.resilienceKeys,
    tls,
    ai: ai.tables,
  };
  cache.routing = { snapshot, rejected: [...routing.rejected, ...tls.rejected], compiler };
  return snapshot;
}

/** The pool factory with each https upstream's client certificate resolved from the compiled certificates. */
function withClientCertificates(poolFor: PoolFactory, tls: TlsConfig): PoolFactory {
  return (origin, connectTimeoutMs, t) => {
    if (t?.clientCertificateId === undefined) return poolFor(origin, connectTimeoutMs, t);
    const c = tls.byId.get(t.clientCertificateId);
    const resolved: UpstreamTlsOptions = { ...t, clientCertificate: c ? { certPem: c.certPem, keyPem: c.keyPem, fingerprint: c.fingerprint } : null };
    return { ...poolFor(origin, connectTimeoutMs, resolved), tls: resolved };
  };
}

/** `Deprecation: true` (RFC 9745) and, with a sunset date, `Sunset: <HTTP-date>` (RFC 8594) for a deprecated service. */
export function lifecycleHeaders(s: Pick<Service, 'lifecycle' | 'sunset_at'>): string[] | null {
  if (s.lifecycle !== 'deprecated') return null;
  const pairs = ['deprecation', 'true'];
  if (s.sunset_at) pairs.push('sunset', new Date(s.sunset_at).toUTCString());
  return pairs;
}

function checkApiKey(d: Record<string, unknown>): string | null {
  if (typeof d.id !== 'string' || d.id === '') return 'api key without id';
  if (typeof d.consumer_id !== 'string' || d.consumer_id === '') return 'api key without consumer_id';
  if (typeof d.key_sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(d.key_sha256)) return 'key_sha256 must be 64 hex characters';
  if (d.expires_at !== undefined && d.expires_at !== null && (typeof d.expires_at !== 'string' || Number.isNaN(Date.parse(d.expires_at)))) {
    return 'expires_at must be a date-time or null';
  }
  return null;
}

const NO_GROUPS: readonly string[] = Object.freeze([]);
/** A consumer's group ids, lower-case (as ACLs compare them); [] when absent or not a list of strings. */
function groupIdsOf(v: unknown): readonly string[] {
  if (!Array.isArray(v) || v.length === 0) return NO_GROUPS;
  return Object.freeze(v.filter((g): g is string => typeof g === 'string').map((g) => g.toLowerCase()));
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
