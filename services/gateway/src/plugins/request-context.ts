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
  /** TP_TRUSTED_PROXIES: whose X-Forwarded-For / Forwarded the client address is read from. */
  readonly trustedProxies: TrustedProxies;
}

export interface RequestContext {
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
  /** Headers every answer to this request carries, the gateway's own errors included (CORS); flat pairs. */
  addResponseHeaders(pairs: readonly string[]): void;
  /** A finding recorded in the call log without refusing the request (a log-only WAF match). */
  note(code: string, detail: string): void;
}
