// HTTPS termination with per-host certificates (SNI) and TLS to upstreams, through the real ports of an
// embedded gateway: certificates arrive on the config bus with their keys sealed, as the control plane
// publishes them; clients and upstreams are node's own TLS stack with certificates issued by openssl.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Agent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type EntityKind, type Keyring, type LogSink } from '@turnpike/common';
import WebSocket, { WebSocketServer } from 'ws';
import { startGateway, type Gateway } from '../src/index.js';
import { TestCa, type Issued } from '@turnpike/common/testing';

/**
 * Polls `ok`. A probe that fails to connect counts as "not yet": a connection that arrives in the
 * microseconds while the listener switches generations may be reset (docs/configuration.md).
 */
const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('HTTPS listener and upstream TLS', { timeout: 120_000 }, () => {
  const bus = new InProcessConfigBus();
  const sink: LogSink = { write: async () => undefined, close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-https-'));
  const keyring: Keyring = keyringOf(generateSecretKey());
  const ca = new TestCa();
  const otherCa = new TestCa('Other CA');
  let gw: Gateway;
  let rev = 0;
  let echo: Server;
  let wsServer: WebSocketServer;
  let wsProto = '';
  const upstreams: HttpsServer[] = [];
  const ids = { a: randomUUID(), b: randomUUID(), client: randomUUID() };
  let certA: Issued;
  let certB: Issued;

  const put = (kind: EntityKind, data: Record<string, unknown>, createdAt = new Date().toISOString()) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: createdAt, updated_at: createdAt, tags: [], ...data } }));
  /** A certificate as the control plane publishes it: public fields and the key sealed for this id. */
  const putCert = (id: string, c: Issued, names: string[], createdAt?: string, ring: Keyring = keyring) =>
    put(
      'certificates',
      {
        id,
        name: `cert-${id.slice(0, 8)}`,
        cert_pem: c.certPem,
        snis: null,
        server_names: names,
        subject: 'CN=x',
        not_after: new Date(Date.now() + 86_400_000).toISOString(),
        fingerprint_sha256: c.fingerprint,
        secret: { key_pem: seal(ring, c.keyPem, id) },
      },
      createdAt,
    );
  const expose = async (path: string, upstream: Record<string, unknown>): Promise<void> => {
    const up = randomUUID();
    const svc = randomUUID();
    await put('upstreams', { id: up, name: `up-${path}`, ...upstream });
    await put('services', { id: svc, name: `svc-${path}`, upstream_id: up });
    await put('routes', { id: randomUUID(), name: `r-${path}`, service_id: svc, paths: [`/${path}`] });
  };

  /** The certificate the listener presents for `servername` (undefined: no SNI). */
  const peerCert = (servername: string | undefined): Promise<{ cn: string; fingerprint: string }> =>
    new Promise((resolve, reject) => {
      const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port: gw.httpsPort!, ...(servername ? { servername } : {}), rejectUnauthorized: false }, () => {
        const c = s.getPeerCertificate();
        resolve({ cn: String(c.subject.CN), fingerprint: c.fingerprint256 });
        s.end();
      });
      s.setTimeout(5_000, () => s.destroy(new Error('tls connect timed out')));
      s.on('error', reject);
    });

  /** GET over HTTPS, verifying the gateway's certificate against the test CA for `servername`. */
  const get = (servername: string, path: string, agent: Agent | false = false): Promise<{ status: number; body: string; socketPort: number }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: gw.httpsPort!, path, servername, ca: ca.certPem, headers: { host: servername }, agent, timeout: 5_000 }, (res) => {
        let body = '';
        const socketPort = res.socket.localPort ?? 0;
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, socketPort }));
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end();
    });

  const readyz = async (): Promise<{ rejected: Array<{ key: string; reason: string }> }> =>
    (await (await fetch(`http://127.0.0.1:${gw.statusPort}/readyz`)).json()) as { rejected: Array<{ key: string; reason: string }> };

  const httpsUpstream = async (opts: { requireClientCert: boolean }): Promise<number> => {
    const leaf = ca.issue('upstream.test');
    const s = createHttpsServer(
      { cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem, requestCert: opts.requireClientCert, rejectUnauthorized: opts.requireClientCert },
      (req, res) => {
        req.resume();
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sni: (req.socket as TLSSocket & { servername?: string }).servername ?? null, client_cn: peer?.subject?.CN ?? null }));
      },
    );
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    upstreams.push(s);
    return (s.address() as AddressInfo).port;
  };

  before(async () => {
    echo = createServer((req: IncomingMessage, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ host: req.headers['x-forwarded-host'], proto: req.headers['x-forwarded-proto'], port: req.headers['x-forwarded-port'] }));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    await expose('echo', { targets: [{ host: '127.0.0.1', port: (echo.address() as AddressInfo).port }] });
    wsServer = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wsServer.once('listening', () => r()));
    wsServer.on('connection', (sock, req) => {
      wsProto = String(req.headers['x-forwarded-proto']);
      sock.on('message', (m, binary) => sock.send(m, { binary }));
    });
    await expose('ws', { targets: [{ host: '127.0.0.1', port: (wsServer.address() as AddressInfo).port }] });

    certA = ca.issue('a.example.test');
    certB = ca.issue('b.example.test', ['b.example.test', '*.b.example.test']);
    // a is the oldest: the default certificate.
    await putCert(ids.a, certA, ['a.example.test'], '2026-01-01T00:00:00.000Z');
    await putCert(ids.b, certB, ['b.example.test', '*.b.example.test'], '2026-02-01T00:00:00.000Z');

    const plain = await httpsUpstream({ requireClientCert: false });
    const mutual = await httpsUpstream({ requireClientCert: true });
    await putCert(ids.client, ca.issue('gateway-client', []), ['gateway-client.internal'], '2026-03-01T00:00:00.000Z');
    const t = (port: number) => [{ host: '127.0.0.1', port }];
    await expose('tls-ca', { scheme: 'https', targets: t(plain), tls: { sni: 'upstream.test', ca_pem: ca.certPem } });
    await expose('tls-no-ca', { scheme: 'https', targets: t(plain), tls: { sni: 'upstream.test' } });
    await expose('tls-wrong-ca', { scheme: 'https', targets: t(plain), tls: { sni: 'upstream.test', ca_pem: otherCa.certPem } });
    await expose('tls-noverify', { scheme: 'https', targets: t(plain), tls: { verify: false } });
    await expose('mtls', { scheme: 'https', targets: t(mutual), tls: { sni: 'upstream.test', ca_pem: ca.certPem, client_certificate_id: ids.client } });
    await expose('mtls-none', { scheme: 'https', targets: t(mutual), tls: { sni: 'upstream.test', ca_pem: ca.certPem } });
    // A wss upstream that requires a client certificate: the WebSocket proxy connects with the pool's TLS settings.
    const wssLeaf = ca.issue('upstream.test');
    const wssHttps = createHttpsServer({ cert: wssLeaf.certPem, key: wssLeaf.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
    new WebSocketServer({ server: wssHttps }).on('connection', (sock, req) => sock.send(`cn:${(req.socket as TLSSocket).getPeerCertificate().subject?.CN}`));
    await new Promise<void>((r) => wssHttps.listen(0, '127.0.0.1', () => r()));
    upstreams.push(wssHttps);
    await expose('wss-mtls', { scheme: 'https', targets: t((wssHttps.address() as AddressInfo).port), tls: { sni: 'upstream.test', ca_pem: ca.certPem, client_certificate_id: ids.client } });
    await expose('wss-nocert', { scheme: 'https', targets: t((wssHttps.address() as AddressInfo).port), tls: { sni: 'upstream.test', ca_pem: ca.certPem } });
    // Active health checks probe with the pool's TLS settings, client certificate included.
    const checks = { active: { path: '/health', interval_ms: 1_000, timeout_ms: 1_000, healthy: { successes: 1 }, unhealthy: { failures: 1 } } };
    await expose('mtls-checked', { scheme: 'https', targets: t(mutual), tls: { sni: 'upstream.test', ca_pem: ca.certPem, client_certificate_id: ids.client }, health_checks: checks });
    await expose('mtls-checked-nocert', { scheme: 'https', targets: t(mutual), tls: { sni: 'upstream.test', ca_pem: ca.certPem }, health_checks: checks });
    await expose('mtls-missing', { scheme: 'https', targets: t(mutual), tls: { sni: 'upstream.test', ca_pem: ca.certPem, client_certificate_id: randomUUID() } });

    gw = await startGateway({ nodeId: 'https-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, httpsPort: 0, statusPort: 0, keyring });
  });

  after(async () => {
    await gw?.close();
    for (const s of [echo, ...upstreams]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await new Promise((r) => wsServer.close(r));
    ca.close();
    otherCa.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('each server name gets its own certificate, and requests are proxied with x-forwarded-proto https', async () => {
    assert.ok(gw.httpsPort! > 0);
    assert.equal((await peerCert('a.example.test')).cn, 'a.example.test');
    assert.equal((await peerCert('b.example.test')).cn, 'b.example.test');
    assert.equal((await peerCert('api.b.example.test')).cn, 'b.example.test', 'a wildcard name');
    for (const host of ['a.example.test', 'b.example.test']) {
      const r = await get(host, '/echo');
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { host, proto: 'https', port: String(gw.httpsPort) });
    }
    // The HTTP listener still says http.
    const plain = (await (await fetch(`http://127.0.0.1:${gw.proxyPort}/echo`)).json()) as { proto: string };
    assert.equal(plain.proto, 'http');
  });

  test('WebSockets are proxied over the HTTPS listener (wss), with x-forwarded-proto https', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${gw.httpsPort}/ws`, {
      // Passed through to tls.connect (missing from the ws typings).
      ...({ servername: 'b.example.test' } as object),
      ca: ca.certPem,
      headers: { host: 'b.example.test' },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const echoed = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
      ws.send('over tls');
      assert.equal(await echoed, 'over tls');
      assert.equal(wsProto, 'https');
    } finally {
      ws.close();
    }
  });

  test('a client without SNI, or naming a host no certificate covers, gets the default (oldest) certificate', async () => {
    assert.equal((await peerCert(undefined)).cn, 'a.example.test');
    assert.equal((await peerCert('unknown.example.test')).cn, 'a.example.test');
  });

  test('no key file is left on disk', () => {
    assert.deepEqual(readdirSync(join(dataDir, 'tls')), []);
  });

  test('certificate changes take effect at runtime; open keep-alive connections keep working across them', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get('b.example.test', '/echo', agent);
      assert.equal(first.status, 200);
      // Rotation: a new certificate and key for b.
      const rotated = ca.issue('b.example.test', ['b.example.test']);
      await putCert(ids.b, rotated, ['b.example.test'], '2026-02-01T00:00:00.000Z');
      await waitFor('the rotated certificate', async () => (await peerCert('b.example.test')).fingerprint === rotated.fingerprint);
      // The connection opened before the rotation is still served (by the previous generation).
      const again = await get('b.example.test', '/echo', agent);
      assert.equal(again.status, 200);
      assert.equal(again.socketPort, first.socketPort, 'the same keep-alive connection');
      // The wildcard name went with the old certificate.
      assert.equal((await peerCert('api.b.example.test')).cn, 'a.example.test');

      // A new certificate for a new name (added to the live listener).
      const idC = randomUUID();
      await putCert(idC, ca.issue('c.example.test'), ['c.example.test']);
      await waitFor('the new name', async () => (await peerCert('c.example.test')).cn === 'c.example.test');
      assert.equal((await get('c.example.test', '/echo')).status, 200);

      // Removal: the name falls back to the default certificate.
      await bus.delete(entityKey('certificates', idC));
      await waitFor('the removed name', async () => (await peerCert('c.example.test')).cn === 'a.example.test');
      assert.equal((await peerCert('b.example.test')).fingerprint, rotated.fingerprint);
    } finally {
      agent.destroy();
    }
  });

  test('a certificate whose key this node cannot open is rejected in /readyz; the others keep serving', async () => {
    const id = randomUUID();
    await putCert(id, ca.issue('d.example.test'), ['d.example.test'], undefined, keyringOf(generateSecretKey()));
    await waitFor('the rejection', async () => (await readyz()).rejected.some((r) => r.key === `certificates.${id}`));
    const r = (await readyz()).rejected.find((x) => x.key === `certificates.${id}`)!;
    assert.match(r.reason, /cannot be opened/);
    assert.doesNotMatch(r.reason, /PRIVATE KEY/);
    assert.equal((await peerCert('d.example.test')).cn, 'a.example.test');
    assert.equal((await get('a.example.test', '/echo')).status, 200);
  });

  test('an https upstream is verified against its CA bundle with the configured SNI', async () => {
    const ok = await get('a.example.test', '/tls-ca');
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).sni, 'upstream.test');
    // The system roots do not know the test CA; another CA does not sign it either.
    for (const path of ['/tls-no-ca', '/tls-wrong-ca']) {
      const bad = await get('a.example.test', path);
      assert.equal(bad.status, 502, path);
      assert.equal(JSON.parse(bad.body).error.code, 'TP_ERR_UPSTREAM_UNAVAILABLE');
    }
    // verify: false accepts it (and sends no SNI for an IP target).
    const lax = await get('a.example.test', '/tls-noverify');
    assert.equal(lax.status, 200);
    assert.equal(JSON.parse(lax.body).sni || null, null);
  });

  test('an upstream that requires a client certificate gets the one client_certificate_id names', async () => {
    const ok = await get('a.example.test', '/mtls');
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).client_cn, 'gateway-client');
    assert.equal((await get('a.example.test', '/mtls-none')).status, 502);
    // A certificate this node does not hold: connections fail rather than go out without it.
    assert.equal((await get('a.example.test', '/mtls-missing')).status, 502);
  });
  test('a wss upstream is reached with the upstream TLS settings: CA, SNI and client certificate', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.proxyPort}/wss-mtls`);
    try {
      const first = await new Promise<string>((resolve, reject) => {
        ws.once('message', (m) => resolve(String(m)));
        ws.once('error', reject);
      });
      assert.equal(first, 'cn:gateway-client');
    } finally {
      ws.close();
    }
    const refused = new WebSocket(`ws://127.0.0.1:${gw.proxyPort}/wss-nocert`);
    const status = await new Promise<number>((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('error', () => resolve(-1));
    });
    assert.equal(status, 502, 'without the client certificate the upstream refuses the handshake');
  });

  test('active health checks of an mTLS upstream present the client certificate (and fail without it)', async () => {
    // Probes run every second from start: by now each has probed at least once.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal((await get('a.example.test', '/mtls-checked')).status, 200, 'probes with the certificate keep the target in');
    const out = await get('a.example.test', '/mtls-checked-nocert');
    assert.equal(out.status, 503, 'probes without a certificate are refused by the upstream: the target is out');
    assert.equal(JSON.parse(out.body).error.code, 'TP_ERR_NO_HEALTHY_TARGET');
  });
});

describe('HTTPS listener in every worker thread', { timeout: 120_000 }, () => {
  test('workers: 2 share the HTTPS port, open keys with the keyring startGateway was given, and all apply a rotation', async () => {
    const key = generateSecretKey();
    const ring = keyringOf(key);
    const prior = process.env.TP_SECRET_KEY;
    // The keyring reaches the worker threads from the primary (TP_SECRET_KEY is deliberately not set).
    delete process.env.TP_SECRET_KEY;
    const bus = new InProcessConfigBus();
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-https-w-'));
    const ca = new TestCa();
    const id = randomUUID();
    let rev = 0;
    const putCert = (c: Issued) =>
      bus.put(
        entityKey('certificates', id),
        JSON.stringify({
          kind: 'certificates',
          revision: ++rev,
          data: { id, name: 'w', cert_pem: c.certPem, snis: null, server_names: ['w.example.test'], tags: [], created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', secret: { key_pem: seal(ring, c.keyPem, id) } },
        }),
      );
    const first = ca.issue('w.example.test');
    await putCert(first);
    const gw = await startGateway({ nodeId: 'https-w', bus, logSink: { write: async () => undefined, close: async () => undefined }, dataDir, host: '127.0.0.1', proxyPort: 0, httpsPort: 0, statusPort: 0, workers: 2, keyring: ring });
    const fingerprints = async (n: number): Promise<Set<string>> => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        seen.add(
          await new Promise<string>((resolve, reject) => {
            const s = tlsConnect({ host: '127.0.0.1', port: gw.httpsPort!, servername: 'w.example.test', rejectUnauthorized: false }, () => {
              resolve(s.getPeerCertificate().fingerprint256);
              s.end();
            });
            s.setTimeout(5_000, () => s.destroy(new Error('tls connect timed out')));
            s.on('error', reject);
          }),
        );
      }
      return seen;
    };
    try {
      assert.equal(gw.workers, 2);
      assert.ok(gw.httpsPort! > 0);
      await waitFor('both workers serving the certificate', async () => {
        const seen = await fingerprints(12);
        return seen.size === 1 && seen.has(first.fingerprint);
      });
      const next = ca.issue('w.example.test');
      await putCert(next);
      // Connections spread over both workers: every one of 20 sees the new certificate once both applied it.
      await waitFor('the rotation in both workers', async () => {
        const seen = await fingerprints(20);
        return seen.size === 1 && seen.has(next.fingerprint);
      });
    } finally {
      await gw.close();
      if (prior === undefined) delete process.env.TP_SECRET_KEY;
      else process.env.TP_SECRET_KEY = prior;
      ca.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
