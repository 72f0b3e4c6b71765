// One keep-alive undici Pool per upstream target, shared across config snapshots so that a recompile
// does not drop warm connections. Pools no longer referenced after a swap are closed gracefully.
// A target reached over TLS (scheme https) has its TLS settings in the pool key: a change of SNI, CA,
// verification or client certificate (a rotation included) gets a new pool, never a reused connection.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Pool, type buildConnector } from 'undici';
import type { UpstreamTls } from '@turnpike/common';
import { H1Pool } from './h1-client.js';

/**
 * Plain-http targets use the node:net HTTP/1.1 client (h1-client.ts: the same DispatchHandler callbacks,
 * ~7 µs less CPU per proxied request than undici's Pool, docs/benchmarks.md "Issue 5"); https targets keep
 * undici (TLS, client certificates). TP_UPSTREAM_CLIENT=undici puts every target back on undici.
 */
const USE_H1 = process.env.TP_UPSTREAM_CLIENT !== 'undici';

/** TLS towards a target, as the pool connects with it (from the upstream's `tls`, compiled off the hot path). */
export interface UpstreamTlsOptions {
  /** SNI and the name the target's certificate is checked against; unset: the target's host unless it is an IP. */
  servername?: string;
  /** PEM CA bundle that replaces the system roots; unset: the system roots. */
  ca?: string;
  rejectUnauthorized: boolean;
  /** The certificate the upstream names (`tls.client_certificate_id`), presented to the targets. */
  clientCertificateId?: string;
  /**
   * Filled in by the compiler: the named certificate's chain and opened key, or null when this node does
   * not hold it (missing or rejected): the pool then fails every connection rather than connect without it.
   */
  clientCertificate?: { certPem: string; keyPem: string; fingerprint: string } | null;
}

export interface PoolOptions {
  connectTimeoutMs: number;
  /** Set for https targets. */
  tls?: UpstreamTlsOptions | undefined;
}

/** The pool options of an https upstream's `tls` (defaults: verify on, no SNI override, system roots). */
export function upstreamTlsOptions(tls: UpstreamTls | undefined): UpstreamTlsOptions {
  const o: UpstreamTlsOptions = { rejectUnauthorized: tls?.verify ?? true };
  if (tls?.sni !== undefined) o.servername = tls.sni;
  if (tls?.ca_pem !== undefined) o.ca = tls.ca_pem;
  if (tls?.client_certificate_id !== undefined) o.clientCertificateId = tls.client_certificate_id;
  return o;
}

const caDigests = new Map<string, string>();
function caDigest(ca: string): string {
  let d = caDigests.get(ca);
  if (d === undefined) {
    d = createHash('sha256').update(ca).digest('hex').slice(0, 16);
    if (caDigests.size > 1_000) caDigests.clear();
    caDigests.set(ca, d);
  }
  return d;
}

/** What identifies these TLS settings (a client certificate by its fingerprint); part of pool and health-check keys. */
export function tlsKey(t: UpstreamTlsOptions): string {
  const cert = t.clientCertificateId === undefined ? '' : t.clientCertificate ? t.clientCertificate.fingerprint : `missing:${t.clientCertificateId}`;
  return `|tls:${t.servername ?? ''}:${t.rejectUnauthorized ? 1 : 0}:${t.ca === undefined ? '' : caDigest(t.ca)}:${cert}`;
}

class ClientCertificateUnavailableError extends Error {
  readonly code = 'TP_CLIENT_CERTIFICATE_UNAVAILABLE';
}

function connectOptions(origin: string, t: UpstreamTlsOptions): buildConnector.BuildOptions | buildConnector.connector {
  if (t.clientCertificateId !== undefined && !t.clientCertificate) {
    const id = t.clientCertificateId;
    return (_opts, cb) => cb(new ClientCertificateUnavailableError(`client certificate ${id} is not available on this node (see /readyz rejected)`), null);
  }
  return tlsConnectOptions(origin, t);
}

/** node:tls connect options for `origin` under these settings (also used by the active health checks). */
export function tlsConnectOptions(origin: string, t: UpstreamTlsOptions): Pick<ConnectionOptions, 'rejectUnauthorized' | 'servername' | 'ca' | 'cert' | 'key'> {
  const host = new URL(origin).hostname.replace(/^\[|\]$/g, '');
  const o: Pick<ConnectionOptions, 'rejectUnauthorized' | 'servername' | 'ca' | 'cert' | 'key'> = { rejectUnauthorized: t.rejectUnauthorized };
  // Without an explicit name, SNI is the target's host, except for an IP (RFC 6066 forbids IPs in SNI).
  const servername = t.servername ?? (isIP(host) === 0 ? host : undefined);
  if (servername !== undefined) o.servername = servername;
  if (t.ca !== undefined) o.ca = t.ca;
  if (t.clientCertificate) {
    o.cert = t.clientCertificate.certPem;
    o.key = t.clientCertificate.keyPem;
  }
  return o;
}

export class PoolRegistry {
  readonly #pools = new Map<string, Pool>();

  static key(origin: string, o: PoolOptions): string {
    const base = `${origin}|${o.connectTimeoutMs}`;
    return o.tls ? base + tlsKey(o.tls) : base;
  }

  get(origin: string, o: PoolOptions): Pool {
    const key = PoolRegistry.key(origin, o);
    let pool = this.#pools.get(key);
    if (!pool && USE_H1 && !o.tls && origin.startsWith('http:')) {
      // Pool's shape as far as the gateway uses it: dispatch(opts, handler), close(), destroy().
      pool = new H1Pool(origin, {
        connections: 256,
        connectTimeout: o.connectTimeoutMs,
        keepAliveTimeout: 30_000,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
        maxHeaderSize: 64 * 1024,
      }) as unknown as Pool;
      this.#pools.set(key, pool);
    }
    if (!pool) {
      pool = new Pool(origin, {
        connections: 256,
        pipelining: 1,
        connectTimeout: o.connectTimeoutMs,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        // Per-request headersTimeout/bodyTimeout come from the upstream's read_timeout_ms.
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
        maxHeaderSize: 64 * 1024,
        ...(o.tls ? { connect: connectOptions(origin, o.tls) } : {}),
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** A PoolFactory for the config compiler: the pool of `origin` with these options, and its key. */
  factory(): (origin: string, connectTimeoutMs: number, tls?: UpstreamTlsOptions) => { key: string; dispatcher: Pool } {
    return (origin, connectTimeoutMs, tls) => {
      const o: PoolOptions = { connectTimeoutMs, tls };
      return { key: PoolRegistry.key(origin, o), dispatcher: this.get(origin, o) };
    };
  }

  /** Closes pools whose keys are not in `live` (after a snapshot swap). */
  retain(live: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (live.has(key)) continue;
      this.#pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}
