// What a pipeline step (plugins/pipeline.ts) sees of a request and of the node's compiled tables. The proxy's
// exchange (proxy/handler.ts) and the WebSocket upgrade (proxy/websocket.ts) implement it; steps never touch
// uWS objects, so a step may run after the request handler returned (a resumed wait) without reading freed
// memory. Steps read through it and change only what it lets them change (credentials hidden, headers
// added for the upstream or the client).
import type { KeyOwner, KeyTable } from './key-auth/index.js';
import type { JwtIssuerTable } from './jwt-auth/index.js';
import type { HmacCredentialTable } from './hmac-auth/index.js';
import type { BasicCredentialTable } from './basic-auth/index.js';
import type { SubscriptionTable } from './acl/subscriptions.js';
import type { QuotaPlanTable } from '../quota/plans.js';
import type { PlanRateLimitTable } from './rate-limiting/plans.js';
import type { Answer } from './pipeline.js';
import type { TrustedProxies } from './ip-restriction/index.js';
import type { ClientCertificate } from '../tls/client-certificate.js';

/** The node's identity and access tables, compiled with the config snapshot (config/compiler.ts). */
export interface AccessTables {
  /** API keys: SHA-256 hex → owner. */
  readonly keys: KeyTable;
  /** A consumer's owner record (username, group ids) by id; undefined for an unknown consumer. */
  ownerOf(consumerId: string): KeyOwner | undefined;
  /** A consumer's owner record by username (exact); undefined for none. */
  ownerByUsername(username: string): KeyOwner | undefined;
  readonly jwt: JwtIssuerTable;
  readonly hmac: HmacCredentialTable;
  readonly basic: BasicCredentialTable;
  readonly subscriptions: SubscriptionTable;
  /** Request quotas of each consumer/service pair, from its approved subscription's plan (quota/). */
  readonly quotas: QuotaPlanTable;
  /** Rate limits of each consumer/service pair, from its approved subscription's plan (rate-limiting/plans.ts); absent: none. */
  readonly planRateLimits?: PlanRateLimitTable;
  /** TP_TRUSTED_PROXIES: whose X-Forwarded-For / Forwarded the client address is read from. */
  readonly trustedProxies: TrustedProxies;
}

/** The upstream's response head as the client will get it; a hook may change both fields. */
export interface ResponseHead {
  status: number;
  /** Flat [name, value, …], names lower-case, hop-by-hop headers already removed. Mutable. */
  headers: string[];
}

/**
 * What a step may register to see or change the upstream's response (RequestContext.onResponse). Hooks run
 * in registration order. Not run for answers the gateway makes itself (denials, Answer outcomes, 5xx it
 * generates).
 */
export interface ResponseHook {
  /** Before anything is written to the client: may change the status and the headers. */
  head?(head: ResponseHead): void;
  /**
   * Set: the whole upstream body is buffered (up to the node's limit; a larger one is answered 502
   * TP_ERR_UPSTREAM_BAD_RESPONSE) and passed through here before the client gets it (after `head`);
   * content-length is set from what it returns. For body mapping (transformations).
   */
  body?(body: Buffer, head: ResponseHead): Buffer;
  /**
   * Sees the body as it streams to the client, unchanged (a cache storing a copy), then `end(complete)`:
   * complete is false when the exchange failed or the client left before the end.
   */
  tap?: { chunk(chunk: Buffer): void; end(complete: boolean): void };
}

export interface RequestContext {
  /** The request id (the client's valid X-Request-Id, or one the gateway made): error bodies carry it. */
  readonly requestId: string;
  /** Upper-case, as received. */
  readonly method: string;
  /** The request path as received (percent-encoded), without the query. */
  readonly path: string;
  /** The raw query without `?` ('' for none); credentials hidden by `hideQuery` are gone from it. */
  readonly query: string;
  /** The Host header as received ('' when absent). */
  readonly host: string;
  /** A request header by lower-case name as the client sent it (first value; '' when absent). */
  header(lowerName: string): string;
  /** Every request header as received, flat [name, value, …], names lower-case (read only). */
  readonly received: readonly string[];
  /** The TCP peer's address (text form). */
  readonly peerIp: string;
  /** The client's address: the peer's, or what a trusted proxy says it forwarded for (TP_TRUSTED_PROXIES). */
  clientIp(): string;
  /**
   * The client certificate the mTLS listener (tls/mtls-listener.ts) verified during the handshake; null for a
   * request that came over any other listener (plain HTTP, the uWS HTTPS port).
   */
  readonly clientCert: ClientCertificate | null;
  /** Content-Length as declared; -1 when unknown (chunked), 0 for no body. */
  readonly declaredLength: number;
  /** The whole request body once buffered (a step with needsBody runs only then); null before or without one. */
  readonly body: Buffer | null;
  readonly routeId: string;
  readonly serviceId: string;
  /** Set once an auth step identified the caller ('' before, or when the route has no authentication). */
  readonly consumerId: string;
  readonly credentialId: string;
  readonly tables: AccessTables;
  /** Request time (epoch ms), read once per request. */
  readonly nowMs: number;
  /** hide_credentials: these request headers are not forwarded (names lower-case). */
  hideHeaders(names: readonly string[]): void;
  /** hide_credentials: these query parameters are not forwarded. */
  hideQuery(names: readonly string[]): void;
  /**
   * Headers every answer to this request carries, the gateway's own errors included (CORS, rate limits);
   * flat pairs. They replace the upstream's headers of the same names (Vary aside: both are kept).
   */
  addResponseHeaders(pairs: readonly string[]): void;
  /** Upstream response headers starting with `prefix` are dropped: the gateway answers them (CORS). */
  ownResponseHeaders(prefix: string): void;
  /** A finding recorded in the call log without refusing the request (a log-only WAF match). */
  note(code: string, detail: string): void;
  // ---- request changes (transformations) ----
  /** Sends `name: value` upstream instead of any client copy of `name` (lower-case); '' value: drop it. */
  setRequestHeader(name: string, value: string): void;
  /** The path the upstream gets, replacing the routed one (strip_path and base_path are not applied to it). */
  rewritePath(path: string): void;
  /** The query the upstream gets (raw, without `?`; '' for none). */
  setQuery(query: string): void;
  /** The body the upstream gets (only from a step with needsBody: the original was read whole). */
  setRequestBody(body: Buffer): void;
  /** The method the upstream gets (upper-case). */
  setMethod(method: string): void;
  // ---- the response ----
  /** Registers a hook on the upstream's response (see ResponseHook). */
  onResponse(hook: ResponseHook): void;
  /**
   * Answers the client now with `answer`, and lets the request go on through the rest of the pipeline (the
   * step then returns null) and to the upstream as if admitted: the upstream's response reaches only the
   * response hooks (head, body mappers, taps), never the client (a cache refreshing a stale entry in the
   * background). False, nothing sent: this request cannot be detached (it has a body, or was answered).
   * Absent where the context does not proxy HTTP (WebSocket).
   */
  detachToUpstream?(answer: Answer): boolean;
  // ---- the call record ----
  /** AI gateway: the completion's provider, model, tokens and cost, for the call record. Absent on WebSocket. */
  recordAiUsage?(usage: AiUsage): void;
  /** call-capture: the captured headers/bodies (JSON, already redacted and capped) for the call record. */
  recordCapture?(json: string): void;
}

/** What an AI completion used (CallRecord ai_* fields). */
export interface AiUsage {
  provider: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the provider's prompt cache (part of promptTokens). */
  cachedTokens: number;
  /** US dollars. */
  costUsd: number;
}
