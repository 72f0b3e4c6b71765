// The mTLS listener (TP_MTLS_PORT): TLS with required, verified client certificates, in front of the proxy.
//
// uWS.js 20.30 cannot do this itself: its `ca_file_name` sets SSL_VERIFY_PEER without
// FAIL_IF_NO_PEER_CERT (a client without a certificate is served), it has no CRL option, and JS can read
// neither the peer certificate nor the verification result (see docs/configuration.md, "Client
// certificates"). So node:tls terminates these connections: the client must present a certificate that
// chains to a `client_ca_pem` CA of the certificate serving its SNI name and is not revoked by a
// `client_crl_pem` CRL (each host's context carries its own CAs and CRLs: OpenSSL verifies against the
// store of the context SNI selected); otherwise the handshake fails and no HTTP is ever read.
//
// Each accepted connection is piped, decrypted, into an internal uWS app (the same proxy routes) on a unix
// socket in a 0700 directory. The piped stream starts with a PROXY protocol v2 header (uWS parses it) whose
// IPv6 source address is a random 128-bit token naming the connection; `peerOf(res)` reads it back with
// getProxiedRemoteAddress and returns the verified certificate and the client's real address. The token is
// registered before the stream is opened and dropped when it closes, in the same thread: uWS can never see a
// request before its peer is known, and no other process can reach the socket or guess a token.
//
// Node 20's net has no SO_REUSEPORT: one thread per node hosts this listener.
import { X509Certificate, constants, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, createSecureContext, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Uws } from '../uws/loader.js';
import { errMessage, log } from '../log.js';
import type { CompiledCertificate, TlsConfig } from './certificates.js';
import type { InstallRoutes } from './https-listener.js';
import { clientCertificateOf, type ClientCertificate } from './client-certificate.js';

export interface MtlsListenerOptions {
  host: string;
  /** 0: a free port. */
  port: number;
  /**
   * The node's data dir: the internal unix socket goes to `<dataDir>/mtls-<random>/`, or, when that path is
   * too long for a unix socket, to a fresh 0700 directory under os.tmpdir().
   */
  dataDir: string;
  /** A client that has not finished its handshake by then is dropped (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Open mTLS connections at most (default 10,000); beyond, new ones are refused. */
  maxConnections?: number;
}

/** A verified client of the mTLS listener, as the request handler sees it. */
export interface MtlsPeer {
  /** The client's address (text) and port as the listener saw them. */
  readonly address: string;
  readonly port: number;
  /** The SNI name the client asked for ('' without SNI). */
  readonly serverName: string;
  readonly clientCert: ClientCertificate;
}

const SOCKET_NAME = 'proxy.sock';
/** sun_path holds 108 bytes on Linux, 104 on macOS, the terminating NUL included. */
const MAX_SOCKET_PATH = 103;

/**
 * The directory of the internal socket: under the data dir when the socket's path fits in sun_path, else a
 * new one under os.tmpdir() (mkdtemp: 0700, random name), since a deep data dir must not stop the listener.
 */
function socketDir(dataDir: string): string {
  const preferred = join(dataDir, `mtls-${randomUUID().slice(0, 8)}`);
  if (Buffer.byteLength(join(preferred, SOCKET_NAME)) <= MAX_SOCKET_PATH) return preferred;
  const dir = mkdtempSync(join(tmpdir(), 'tp-mtls-'));
  if (Buffer.byteLength(join(dir, SOCKET_NAME)) > MAX_SOCKET_PATH) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`no path short enough for the mTLS listener's unix socket (data dir ${dataDir}, tmpdir ${tmpdir()})`);
  }
  log('info', 'mtls.socket_dir', { dir, msg: 'the data dir is too deep for a unix socket path: using a private directory under the temp dir' });
  return dir;
}

/** PROXY protocol v2 signature, then version 2 / PROXY, then AF_INET6 over STREAM, then 36 address bytes. */
const PROXY_V2_PREFIX = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x21, 0x00, 36]);

/** The PROXY header naming a connection by `token` (16 bytes) as its source address. */
export function proxyHeaderFor(token: Buffer): Buffer {
  const h = Buffer.alloc(PROXY_V2_PREFIX.length + 36);
  PROXY_V2_PREFIX.copy(h, 0);
  token.copy(h, PROXY_V2_PREFIX.length);
  // Destination address and both ports stay zero: uWS reads only the source.
  return h;
}

interface HostTrust {
  /** The certificate's client CAs (an accepted chain must pass through one of them). */
  cas: readonly X509Certificate[];
  context: SecureContext;
}

/** Which compiled certificate serves `name`: exact, then `*.parent`, then the default (oldest). */
function certificateFor(tls: TlsConfig, byName: ReadonlyMap<string, CompiledCertificate>, name: string): CompiledCertificate | undefined {
  if (name !== '') {
    const lower = name.toLowerCase();
    const exact = byName.get(lower);
    if (exact) return exact;
    const dot = lower.indexOf('.');
    if (dot > 0) {
      const wild = byName.get('*' + lower.slice(dot));
      if (wild) return wild;
    }
  }
  return tls.certificates[0];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCas(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((b) => new X509Certificate(b));
}

/** Whether `leaf`'s chain (as the peer sent it, completed from the trust store) passes through one of `cas`. */
export function chainsTo(leaf: X509Certificate, cas: readonly X509Certificate[]): boolean {
  let cur: X509Certificate | undefined = leaf;
  for (let depth = 0; cur !== undefined && depth < 10; depth++) {
    for (const ca of cas) if (cur.checkIssued(ca) && cur.verify(ca.publicKey)) return true;
    const next: X509Certificate | undefined = cur.issuerCertificate;
    // A self-signed root is its own issuer: stop there.
    if (next === undefined || next.fingerprint256 === cur.fingerprint256) break;
    cur = next;
  }
  return false;
}

/** The compiled form of a TlsConfig for node:tls: contexts per certificate, the union trust store. */
class MtlsTrust {
  readonly byName = new Map<string, CompiledCertificate>();
  readonly hosts = new Map<CompiledCertificate, HostTrust | null>();
  /** Options of the server's default context: the default certificate and its client CAs. */
  readonly serverOptions: TrustOptions;

  constructor(readonly tls: TlsConfig) {
    for (const c of tls.certificates) {
      for (const n of c.serverNames) this.byName.set(n, c);
      this.hosts.set(c, c.clientCaPem === null ? null : { cas: parseCas(c.clientCaPem), context: createSecureContext(trustOptions(c)) });
    }
    const dflt = tls.certificates[0];
    this.serverOptions = dflt ? trustOptions(dflt) : { ca: [], secureOptions: NO_RESUMPTION };
  }
}

interface TrustOptions {
  key?: string;
  cert?: string;
  ca: string[];
  crl?: string;
  secureOptions?: number;
}

/**
 * A host's context: its certificate, and its own client CAs and CRL as the trust store. OpenSSL verifies the
 * client against the store of the context the SNI callback switched to, so each host trusts only its CAs
 * (and, with a CRL, OpenSSL requires one for every CA of that host's chains: CRL_CHECK_ALL). `ca` is always
 * given, empty too: without it node would trust its bundled public CAs for client certificates.
 */
function trustOptions(c: CompiledCertificate): TrustOptions {
  return { key: c.keyPem, cert: c.certPem, ca: c.clientCaPem === null ? [] : [c.clientCaPem], ...(c.clientCrlPem !== null ? { crl: c.clientCrlPem } : {}), secureOptions: NO_RESUMPTION };
}

/**
 * No session tickets (node keeps no server-side session cache either): a resumed session skips certificate
 * verification, so a ticket would let a client revoked since, or one of another host, back in.
 */
const NO_RESUMPTION = constants.SSL_OP_NO_TICKET;

export class MtlsListener {
  readonly #uws: Uws;
  readonly #app: TemplatedApp;
  readonly #dir: string;
  readonly #socketPath: string;
  #uwsListen: us_listen_socket | null = null;
  readonly #server: Server;
  #trust: MtlsTrust;
  /** Open connections by token (latin1 of the 16 bytes, the form getProxiedRemoteAddress yields cheaply). */
  readonly #peers = new Map<string, MtlsPeer>();
  readonly #open = new Set<Socket>();
  #port = 0;
  #refused = 0;
  #closed = false;

  private constructor(uws: Uws, routes: InstallRoutes, tls: TlsConfig, o: MtlsListenerOptions) {
    this.#uws = uws;
    this.#app = uws.App();
    routes(this.#app);
    this.#trust = new MtlsTrust(tls);
    this.#server = createServer({
      ...this.#trust.serverOptions,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
      SNICallback: (name, cb) => {
        const c = certificateFor(this.#trust.tls, this.#trust.byName, name);
        const host = c ? this.#trust.hosts.get(c) : undefined;
        // A certificate without client CAs serves no mTLS client: no context, the handshake fails.
        if (!host) cb(new Error('no mTLS for this server name'), undefined);
        else cb(null, host.context);
      },
    });
    this.#server.maxConnections = o.maxConnections ?? 10_000;
    this.#server.on('secureConnection', (s: TLSSocket) => this.#accept(s));
    // Handshake failures (no certificate, unknown CA, revoked, expired) are counted, not logged: any client can
    // cause them at will.
    this.#server.on('tlsClientError', () => this.#refused++);
    // Last: the fallback creates its directory, which nothing would remove if a step above threw.
    this.#dir = socketDir(o.dataDir);
    this.#socketPath = join(this.#dir, SOCKET_NAME);
    this.#warn();
  }

  /** Listens on the internal unix socket, then on the public port (rejects when either cannot be bound). */
  static async start(uws: Uws, routes: InstallRoutes, tls: TlsConfig, o: MtlsListenerOptions): Promise<MtlsListener> {
    const l = new MtlsListener(uws, routes, tls, o);
    mkdirSync(l.#dir, { recursive: true, mode: 0o700 });
    try {
      l.#uwsListen = await new Promise<us_listen_socket>((resolve, reject) => {
        l.#app.listen_unix((ls) => (ls ? resolve(ls) : reject(new Error(`cannot listen on ${l.#socketPath}`))), l.#socketPath);
      });
      await new Promise<void>((resolve, reject) => {
        l.#server.once('error', reject);
        l.#server.listen(o.port, o.host, () => {
          l.#server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      l.close();
      throw e;
    }
    l.#port = (l.#server.address() as { port: number }).port;
    return l;
  }

  get port(): number {
    return this.#port;
  }

  /** Connections refused since start: failed handshakes, and certificates the host's own CAs do not trust. */
  get refused(): number {
    return this.#refused;
  }

  /** Open mTLS connections now. */
  get connections(): number {
    return this.#peers.size;
  }

  /**
   * The verified client of the connection `res` arrived on; null for a request that did not come through this
   * listener. Call synchronously in the uWS handler (res is only valid there).
   */
  peerOf(res: HttpResponse): MtlsPeer | null {
    const a = res.getProxiedRemoteAddress();
    if (a.byteLength !== 16) return null;
    return this.#peers.get(Buffer.from(a).toString('latin1')) ?? null;
  }

  /**
   * Serves `tls` for new handshakes. Open connections keep the verdict of their own handshake (a CRL update
   * refuses the revoked certificate's next connection; mtls-auth refuses an expired one at once).
   */
  apply(tls: TlsConfig): void {
    if (this.#closed || tls === this.#trust.tls) return;
    try {
      const next = new MtlsTrust(tls);
      this.#server.setSecureContext(next.serverOptions);
      this.#trust = next;
      this.#warn();
    } catch (e) {
      log('error', 'mtls.apply_failed', { error: errMessage(e), msg: 'the mTLS listener keeps its previous certificates and CAs' });
    }
  }

  /** Stops accepting connections (open ones go on until close). */
  stopListening(): void {
    this.#server.close();
    if (this.#uwsListen) this.#uws.us_listen_socket_close(this.#uwsListen);
    this.#uwsListen = null;
  }

  /** Closes the listener and every connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stopListening();
    for (const s of this.#open) s.destroy();
    this.#open.clear();
    this.#peers.clear();
    (this.#app as unknown as { close?: () => void }).close?.();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #warn(): void {
    if (!this.#trust.serverOptions.ca.length) log('warn', 'mtls.no_client_ca', { msg: 'the default certificate has no client_ca_pem: mTLS clients without SNI are refused' });
  }

  #accept(tls: TLSSocket): void {
    const leaf = tls.getPeerX509Certificate();
    const serverName = typeof tls.servername === 'string' ? tls.servername : '';
    const c = certificateFor(this.#trust.tls, this.#trust.byName, serverName);
    const host = c ? this.#trust.hosts.get(c) : undefined;
    // Defence in depth: the handshake verified the chain against this host's store already.
    if (!leaf || !host || !chainsTo(leaf, host.cas)) {
      this.#refused++;
      tls.destroy();
      return;
    }
    const token = randomBytes(16);
    const key = token.toString('latin1');
    this.#peers.set(key, Object.freeze({ address: tls.remoteAddress ?? '', port: tls.remotePort ?? 0, serverName, clientCert: clientCertificateOf(leaf) }));
    const inner = connect({ path: this.#socketPath });
    inner.setNoDelay(true);
    inner.write(proxyHeaderFor(token));
    this.#open.add(tls);
    this.#open.add(inner);
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      this.#peers.delete(key);
      this.#open.delete(tls);
      this.#open.delete(inner);
      tls.destroy();
      inner.destroy();
    };
    tls.on('error', end).on('close', end);
    inner.on('error', end).on('close', end);
    tls.pipe(inner);
    inner.pipe(tls);
  }
}

