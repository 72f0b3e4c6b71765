// The HTTPS listener: uWS SSLApp with one SNI context per server name, serving the same proxy handler as
// the HTTP listener. Clients without SNI, or naming a host no certificate covers, get the default
// certificate (the oldest); with no certificate at all every handshake fails.
//
// Certificates change by generation: a new SSLApp with the new set listens on the same port
// (SO_REUSEPORT), then the old one stops accepting and is closed once its connections have had `drainMs`.
// uWS's removeServerName frees the name's router while open keep-alive connections still point at it
// (their SSL_CTX keeps the pointer), so a certificate is never removed or replaced in a live app; a change
// that only adds names is applied to the live app with addServerName.
//
// uWS reads keys and certificates from files: each is written under `<dataDir>/tls` (0700) with mode 0600,
// the key encrypted (PKCS#8, AES-256-CBC) under a random per-process passphrase, and both are deleted as
// soon as OpenSSL has loaded them, so no clear key ever reaches the disk and no file outlives a context.
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePortOn } from '@turnpike/common';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Uws } from '../uws/loader.js';
import { errMessage, log } from '../log.js';
import type { CompiledCertificate, TlsConfig } from './certificates.js';

export interface HttpsListenerOptions {
  host: string;
  /** 0: a free port chosen at start and kept across certificate changes. */
  port: number;
  /** The node's data dir: short-lived key and certificate files go to `<dataDir>/tls`. */
  dataDir: string;
  /** How long a replaced generation keeps serving its open connections (default 60 s). */
  drainMs?: number;
}

/**
 * Adds the proxy's routes (`ws('/*')`, then `any('/*')`) to the app's current router: the base one, or a
 * server name's after `app.domain(name)` (uWS routes each SNI context's requests with its own router).
 */
export type InstallRoutes = (app: TemplatedApp) => void;

interface Generation {
  app: TemplatedApp;
  listen: us_listen_socket | null;
  /** server name → fingerprint of the certificate serving it; '' → the default certificate's. */
  served: Map<string, string>;
}

/** Names and default certificate a config serves, as `served` maps them. */
function servedBy(tls: TlsConfig): Map<string, string> {
  const m = new Map<string, string>();
  const dflt = tls.certificates[0];
  m.set('', dflt ? `${dflt.id}:${dflt.fingerprint}` : '');
  for (const c of tls.certificates) for (const n of c.serverNames) m.set(n, `${c.id}:${c.fingerprint}`);
  return m;
}

export class HttpsListener {
  readonly #uws: Uws;
  readonly #routes: InstallRoutes;
  readonly #o: HttpsListenerOptions;
  readonly #dir: string;
  readonly #passphrase = randomBytes(32).toString('base64url');
  /** Encrypted key PEM per `id:fingerprint` (encrypting costs a PBKDF2 run: done once per certificate). */
  #encrypted = new Map<string, string>();
  #current: Generation;
  readonly #draining = new Set<{ gen: Generation; timer: NodeJS.Timeout }>();
  #port = 0;
  #applied: TlsConfig | null = null;
  /** Set by stopListening (drain): a later config change must not open a listen socket again. */
  #stopped = false;
  #closed = false;

  private constructor(uws: Uws, routes: InstallRoutes, o: HttpsListenerOptions, first: Generation) {
    this.#uws = uws;
    this.#routes = routes;
    this.#o = o;
    this.#dir = join(o.dataDir, 'tls');
    this.#current = first;
  }

  /** Builds the first generation from `tls` and listens (rejects when the port cannot be bound). */
  static async start(uws: Uws, routes: InstallRoutes, tls: TlsConfig, o: HttpsListenerOptions): Promise<HttpsListener> {
    const l = new HttpsListener(uws, routes, o, { app: null as unknown as TemplatedApp, listen: null, served: new Map() });
    mkdirSync(l.#dir, { recursive: true, mode: 0o700 });
    l.#current = l.#build(tls);
    l.#applied = tls;
    // uSockets sets SO_REUSEPORT only for a given port: an ephemeral one is chosen first so that later
    // generations can bind it too.
    for (let attempt = 0; ; attempt++) {
      const port = o.port === 0 ? await freePortOn(o.host) : o.port;
      const ls = await l.#listen(l.#current.app, port);
      if (ls) {
        l.#current.listen = ls;
        l.#port = uws.us_socket_local_port(ls);
        return l;
      }
      if (o.port !== 0 || attempt >= 4) {
        l.#closeApp(l.#current.app);
        throw new Error(`cannot listen on ${o.host}:${o.port} (https)`);
      }
    }
  }

  get port(): number {
    return this.#port;
  }

  /** Serves `tls` from now on (off the hot path: called after a config swap). Never throws. */
  apply(tls: TlsConfig): void {
    // Snapshots that changed nothing about certificates (consumers, keys) share their predecessor's TlsConfig.
    if (this.#stopped || tls === this.#applied) return;
    this.#applied = tls;
    const next = servedBy(tls);
    const cur = this.#current.served;
    let additionsOnly = true;
    let same = next.size === cur.size;
    for (const [name, fp] of cur) {
      if (next.get(name) !== fp) {
        additionsOnly = false;
        same = false;
        break;
      }
    }
    if (same) return;
    try {
      if (additionsOnly) this.#addNames(tls, next);
      else this.#swap(tls);
    } catch (e) {
      log('error', 'tls.apply_failed', { error: errMessage(e), msg: 'the HTTPS listener keeps serving its previous certificates' });
    }
    this.#pruneEncrypted(tls);
  }

  /** Stops accepting connections (open ones keep being served until close). */
  stopListening(): void {
    this.#stopped = true;
    for (const g of [this.#current, ...[...this.#draining].map((d) => d.gen)]) {
      if (g.listen) this.#uws.us_listen_socket_close(g.listen);
      g.listen = null;
    }
  }

  /** Closes every generation and its connections. */
  close(): void {
    if (this.#closed) return;
    this.stopListening();
    this.#closed = true;
    for (const d of this.#draining) {
      clearTimeout(d.timer);
      this.#closeApp(d.gen.app);
    }
    this.#draining.clear();
    this.#closeApp(this.#current.app);
    this.#encrypted.clear();
  }

  #swap(tls: TlsConfig): void {
    const gen = this.#build(tls);
    const ls = this.#listenSync(gen.app, this.#port);
    if (!ls) {
      this.#closeApp(gen.app);
      throw new Error(`cannot bind a new generation on port ${this.#port} (SO_REUSEPORT)`);
    }
    gen.listen = ls;
    const old = this.#current;
    this.#current = gen;
    // Connections queued on the old socket when it closes are reset by the kernel: close it right after the
    // next poll phase, which accepts what arrived meanwhile (the window left is microseconds).
    setImmediate(() => {
      if (old.listen) this.#uws.us_listen_socket_close(old.listen);
      old.listen = null;
    });
    const entry = {
      gen: old,
      timer: setTimeout(() => {
        this.#draining.delete(entry);
        this.#closeApp(old.app);
      }, this.#o.drainMs ?? 60_000),
    };
    entry.timer.unref();
    this.#draining.add(entry);
    log('info', 'tls.certificates_applied', { certificates: tls.certificates.length, names: gen.served.size - 1 });
  }

  #addNames(tls: TlsConfig, next: Map<string, string>): void {
    const cur = this.#current;
    for (const c of tls.certificates) {
      for (const n of c.serverNames) {
        if (cur.served.has(n)) continue;
        this.#withFiles(c, (files) => cur.app.addServerName(n, files));
        this.#routes(cur.app.domain(n));
        cur.served.set(n, next.get(n)!);
      }
    }
    log('info', 'tls.certificates_applied', { certificates: tls.certificates.length, names: cur.served.size - 1 });
  }

  /** A new SSLApp serving `tls`: the default certificate in its base context, one SNI context per name. */
  #build(tls: TlsConfig): Generation {
    const dflt = tls.certificates[0];
    const app = dflt ? this.#withFiles(dflt, (files) => this.#uws.SSLApp(files)) : this.#uws.SSLApp({});
    try {
      // The base router first: domain() below switches the app's current router for good.
      this.#routes(app);
      for (const c of tls.certificates) {
        for (const n of c.serverNames) {
          this.#withFiles(c, (files) => app.addServerName(n, files));
          this.#routes(app.domain(n));
        }
      }
    } catch (e) {
      this.#closeApp(app);
      throw e;
    }
    return { app, listen: null, served: servedBy(tls) };
  }

  /** Writes the chain and the encrypted key (0600), runs `use` (which loads them), then deletes both. */
  #withFiles<T>(c: CompiledCertificate, use: (files: { cert_file_name: string; key_file_name: string; passphrase: string }) => T): T {
    const stem = join(this.#dir, randomUUID());
    const certFile = `${stem}.crt`;
    const keyFile = `${stem}.key`;
    try {
      writeFileSync(certFile, c.certPem, { mode: 0o600, flag: 'wx' });
      writeFileSync(keyFile, this.#encryptedKey(c), { mode: 0o600, flag: 'wx' });
      return use({ cert_file_name: certFile, key_file_name: keyFile, passphrase: this.#passphrase });
    } finally {
      for (const f of [certFile, keyFile]) {
        try {
          unlinkSync(f);
        } catch {
          // not written
        }
      }
    }
  }

  #encryptedKey(c: CompiledCertificate): string {
    const k = `${c.id}:${c.fingerprint}`;
    let pem = this.#encrypted.get(k);
    if (pem === undefined) {
      pem = createPrivateKey(c.keyPem).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: this.#passphrase }) as string;
      this.#encrypted.set(k, pem);
    }
    return pem;
  }

  #pruneEncrypted(tls: TlsConfig): void {
    const live = new Set(tls.certificates.map((c) => `${c.id}:${c.fingerprint}`));
    for (const k of this.#encrypted.keys()) if (!live.has(k)) this.#encrypted.delete(k);
  }

  async #listen(app: TemplatedApp, port: number): Promise<us_listen_socket | null> {
    return await new Promise((resolve) => app.listen(this.#o.host, port, (ls) => resolve(ls || null)));
  }

  #listenSync(app: TemplatedApp, port: number): us_listen_socket | null {
    let out: us_listen_socket | null = null;
    // uWS calls back synchronously.
    app.listen(this.#o.host, port, (ls) => {
      out = ls || null;
    });
    return out;
  }

  #closeApp(app: TemplatedApp): void {
    // Present on the native App though missing from its typings: closes the app's connections.
    (app as unknown as { close?: () => void }).close?.();
  }
}
