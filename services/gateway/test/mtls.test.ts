// Client certificates end to end: the mTLS listener (TP_MTLS_PORT) of a real embedded gateway, certificates
// with `client_ca_pem` and an `mtls-auth` route arriving on the config bus as the control plane publishes
// them, openssl-made CAs and client certificates, node's own TLS stack as the client, a node:http upstream
// (with a WebSocket server on it) that records what it is sent. Checks who gets through the handshake, what
// the upstream learns of them (consumer, X-Client-Cert-*, forwarding headers), the 401s and their codes, and
// that the plain HTTP port of the same gateway never lets an mtls-auth route through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { InProcessConfigBus, entityKey, generateSecretKey, keyringOf, seal, type CallRecord, type EntityKind, type Keyring, type LogSink } from '@turnpike/common';
import { TestCa, type Issued } from '@turnpike/common/testing';
import { startGateway, type Gateway } from '../src/index.js';

const T = { timeout: 20_000 };
const HOST = 'api.test';
const keyring: Keyring = keyringOf(generateSecretKey());
const serverCa = new TestCa('Server CA');
const clientCa = new TestCa('Client CA');
const otherCa = new TestCa('Other CA');
process.on('exit', () => {
  for (const c of [serverCa, clientCa, otherCa]) c.close();
});

/** A client certificate (clientAuth) for `cn` with these subjectAltName entries. */
function issueClient(ca: TestCa, cn: string, san: string): Issued {
  const n = `client-${cn}`;
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${cn}/O=Example`]);
  writeFileSync(join(ca.dir, `${n}.ext`), `subjectAltName=${san}\nextendedKeyUsage=clientAuth\n`);
  run(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${n}.crt`, '-extfile', `${n}.ext`]);
  const certPem = readFileSync(join(ca.dir, `${n}.crt`), 'utf8');
  return { certPem, keyPem: readFileSync(join(ca.dir, `${n}.key`), 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256 };
}

const server = serverCa.issue(HOST, [HOST]);
const alice = issueClient(clientCa, 'alice', 'DNS:alice.example,URI:spiffe://test/alice');
const stranger = issueClient(clientCa, 'stranger', 'DNS:stranger.example');
const mallory = issueClient(otherCa, 'alice', 'DNS:alice.example');

interface Reply {
  /** null: no HTTP answer (the handshake was refused or the connection dropped). */
  status: number | null;
  headers: IncomingHttpHeaders;
  body: string;
  error: string | null;
}

/** One request over a fresh mTLS connection (SNI `api.test`), presenting `client` (null: none); at most 5 s. */
function overMtls(port: number, path: string, client: Issued | null, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve) => {
    // The first outcome counts: a response that errors after its head still resolves once.
    let done = false;
    const finish = (r: Reply) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, servername: HOST, ca: serverCa.certPem, headers: { host: HOST, ...headers }, agent: false, timeout: 5_000, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => finish({ status: res.statusCode!, headers: res.headers, body, error: null }));
        res.on('error', (e) => finish({ status: res.statusCode!, headers: res.headers, body, error: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => finish({ status: null, headers: {}, body: '', error: e.message }));
    req.end();
  });
}

/** `ws` client options for a wss:// connection presenting `client` (ws hands the TLS ones to tls.connect). */
const wsTls = (client: Issued): WebSocket.ClientOptions =>
  ({ servername: HOST, ca: serverCa.certPem, cert: client.certPem, key: client.keyPem, perMessageDeflate: false }) as WebSocket.ClientOptions;

const errorCode = (r: Reply): string | undefined => {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
};

const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

/** A config bus with the upstream, the certificate (client CA: clientCa), a consumer and the two routes. */
async function publishConfig(bus: InProcessConfigBus, upstreamPort: number, ids: { alice: string }): Promise<void> {
  let rev = 0;
  const now = new Date().toISOString();
  const put = (kind: EntityKind, data: Record<string, unknown>) =>
    bus.put(entityKey(kind, data.id as string), JSON.stringify({ kind, revision: ++rev, data: { created_at: now, updated_at: now, tags: [], ...data } }));
  const certId = randomUUID();
  await put('certificates', {
    id: certId,
    name: 'api',
    cert_pem: server.certPem,
    snis: null,
    server_names: [HOST],
    subject: `CN=${HOST}`,
    not_after: new Date(Date.now() + 86_400_000).toISOString(),
    fingerprint_sha256: server.fingerprint,
    client_ca_pem: clientCa.certPem,
    client_crl_pem: null,
    secret: { key_pem: seal(keyring, server.keyPem, certId) },
  });
  const up = randomUUID();
  const svc = randomUUID();
  const secure = randomUUID();
  await put('upstreams', { id: up, name: 'up', targets: [{ host: '127.0.0.1', port: upstreamPort }] });
  await put('services', { id: svc, name: 'svc', upstream_id: up });
  await put('consumers', { id: ids.alice, username: 'alice' });
  await put('routes', { id: secure, name: 'secure', service_id: svc, paths: ['/secure'] });
  await put('routes', { id: randomUUID(), name: 'open', service_id: svc, paths: ['/open'] });
  await put('plugins', { id: randomUUID(), type: 'mtls-auth', enabled: true, scope: { route_id: secure }, config: { consumer_by: ['subject_cn'] } });
}

describe('mTLS listener and mtls-auth through the gateway', { timeout: 120_000 }, () => {
  const bus = new InProcessConfigBus();
  const calls: CallRecord[] = [];
  const sink: LogSink = { write: async (batch) => void calls.push(...batch), close: async () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-mtls-'));
  const ids = { alice: randomUUID() };
  let gw: Gateway;
  let upstream: Server;
  let wss: WebSocketServer;
  let seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const upgrades: IncomingHttpHeaders[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    wss = new WebSocketServer({ server: upstream, perMessageDeflate: false });
    wss.on('connection', (sock, req) => {
      upgrades.push(req.headers);
      sock.on('message', (data: Buffer, isBinary) => sock.send(data, { binary: isBinary }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    await publishConfig(bus, (upstream.address() as AddressInfo).port, ids);
    gw = await startGateway({ nodeId: 'mtls-1', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, mtlsPort: 0, keyring });
    await waitFor('the mtls-auth route and the certificate applied', async () => (await overMtls(gw.mtlsPort!, '/secure', alice)).status === 200);
  });

  after(async () => {
    await gw?.close();
    wss?.close();
    await new Promise((r) => upstream?.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the gateway reports its mTLS port apart from the proxy port; no HTTPS listener was asked for', T, () => {
    assert.ok(gw.mtlsPort! > 0);
    assert.notEqual(gw.mtlsPort, gw.proxyPort);
    assert.equal(gw.httpsPort, null);
  });

  test('a client certificate of the client CA: 200; the upstream gets the consumer, the certificate headers (not the client’s forged ones) and https forwarding headers', T, async () => {
    seen = [];
    const r = await overMtls(gw.mtlsPort!, '/secure/x', alice, {
      'x-client-cert-fingerprint': 'forged',
      'x-client-cert-subject': 'CN=admin',
      'x-consumer-id': 'forged',
      'x-request-id': 'mtls-ok-1',
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'ok');
    assert.equal(seen.length, 1);
    const h = seen[0]!.headers;
    assert.equal(seen[0]!.url, '/secure/x');
    assert.equal(h['x-consumer-id'], ids.alice);
    assert.equal(h['x-consumer-username'], 'alice');
    assert.equal(h['x-client-cert-fingerprint'], alice.fingerprint);
    assert.match(String(h['x-client-cert-subject']), /^CN=alice, O=Example$/);
    assert.equal(h['x-client-cert-san'], 'DNS:alice.example, URI:spiffe://test/alice');
    // The client is the TLS peer, not the listener's internal unix socket.
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-port'], String(gw.mtlsPort));
    assert.match(String(h.forwarded), /for=127\.0\.0\.1;proto=https/);
    await waitFor('the call logged with its consumer', async () => calls.some((c) => c.request_id === 'mtls-ok-1' && c.consumer_id === ids.alice && c.status === 200));
  });

  test('no client certificate, or one of another CA (same subject): the handshake is refused, nothing reaches the upstream', T, async () => {
    seen = [];
    const none = await overMtls(gw.mtlsPort!, '/secure', null);
    assert.equal(none.status, null, `no certificate got an HTTP answer: ${none.status} ${none.body}`);
    assert.ok(none.error);
    const wrongCa = await overMtls(gw.mtlsPort!, '/secure', mallory);
    assert.equal(wrongCa.status, null, `a certificate of another CA got an HTTP answer: ${wrongCa.status} ${wrongCa.body}`);
    // Routes without mtls-auth are not reachable without a certificate either: the listener refuses first.
    assert.equal((await overMtls(gw.mtlsPort!, '/open', null)).status, null);
    assert.equal(seen.length, 0);
  });

  test('a valid certificate that maps to no consumer: 401 TP_ERR_AUTH_CERT_UNKNOWN with the Mutual challenge', T, async () => {
    seen = [];
    const r = await overMtls(gw.mtlsPort!, '/secure', stranger);
    assert.equal(r.status, 401);
    assert.equal(errorCode(r), 'TP_ERR_AUTH_CERT_UNKNOWN');
    assert.equal(r.headers['www-authenticate'], 'Mutual realm="turnpike"');
    assert.equal(seen.length, 0);
  });

  test('routes without mtls-auth are served over mTLS too (no consumer, no certificate headers)', T, async () => {
    seen = [];
    const r = await overMtls(gw.mtlsPort!, '/open', stranger, { 'x-client-cert-fingerprint': 'forged' });
    assert.equal(r.status, 200, r.body);
    assert.equal(seen[0]!.headers['x-consumer-id'], undefined);
    // Only mtls-auth sets these: a client's own copy never reaches an upstream, on any route.
    assert.equal(seen[0]!.headers['x-client-cert-fingerprint'], undefined);
    assert.equal(seen[0]!.headers['x-forwarded-proto'], 'https');
  });

  test('the plain HTTP port of the same gateway serves other routes and refuses the mtls-auth route: 401 TP_ERR_AUTH_CERT_MISSING', T, async () => {
    seen = [];
    const open = await request(`http://127.0.0.1:${gw.proxyPort}/open`);
    assert.equal(open.statusCode, 200);
    await open.body.text();
    const r = await request(`http://127.0.0.1:${gw.proxyPort}/secure`, { headers: { 'x-client-cert-fingerprint': alice.fingerprint, 'x-client-cert-subject': 'CN=alice' } });
    const body = (await r.body.json()) as { error: { code: string } };
    assert.equal(r.statusCode, 401);
    assert.equal(body.error.code, 'TP_ERR_AUTH_CERT_MISSING');
    assert.equal(r.headers['www-authenticate'], 'Mutual realm="turnpike"');
    assert.equal(seen.length, 1, 'only /open reached the upstream');
    assert.equal(seen[0]!.headers['x-forwarded-proto'], 'http');
  });

  test('a WebSocket upgrade over mTLS: the upstream’s upgrade request carries the consumer and the certificate; without a mapped certificate, 401', T, async () => {
    const before = upgrades.length;
    // SNI names the certificate's host; the route matches any Host.
    const ws = new WebSocket(`wss://127.0.0.1:${gw.mtlsPort}/secure/ws`, wsTls(alice));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    const echoed = await new Promise<string>((resolve) => {
      ws.once('message', (d) => resolve((d as Buffer).toString()));
      ws.send('over mtls');
    });
    assert.equal(echoed, 'over mtls');
    await new Promise<void>((r) => (ws.once('close', () => r()), ws.close()));
    assert.equal(upgrades.length, before + 1);
    const h = upgrades[before]!;
    assert.equal(h['x-consumer-username'], 'alice');
    assert.equal(h['x-client-cert-fingerprint'], alice.fingerprint);
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');

    const status = await new Promise<number>((resolve, reject) => {
      const refused = new WebSocket(`wss://127.0.0.1:${gw.mtlsPort}/secure/ws`, wsTls(stranger));
      refused.once('open', () => (refused.terminate(), reject(new Error('the upgrade was accepted'))));
      refused.once('unexpected-response', (_q, res) => (resolve(res.statusCode!), res.resume()));
      refused.once('error', reject);
    });
    assert.equal(status, 401);
    assert.equal(upgrades.length, before + 1);
  });
});

describe('mTLS listener with worker threads', { timeout: 90_000 }, () => {
  test('startGateway({ workers: 2, mtlsPort: 0 }): one thread listens, a request with a client certificate gets through, close() stops it', { timeout: 60_000 }, async () => {
    const bus = new InProcessConfigBus();
    const sink: LogSink = { write: async () => undefined, close: async () => undefined };
    const dataDir = mkdtempSync(join(tmpdir(), 'tp-gw-mtls-workers-'));
    const ids = { alice: randomUUID() };
    const seen: IncomingHttpHeaders[] = [];
    const upstream = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    await publishConfig(bus, (upstream.address() as AddressInfo).port, ids);
    const gw = await startGateway({ nodeId: 'mtls-workers', bus, logSink: sink, dataDir, host: '127.0.0.1', proxyPort: 0, statusPort: 0, mtlsPort: 0, workers: 2, keyring });
    try {
      assert.equal(gw.workers, 2);
      assert.ok(gw.mtlsPort! > 0);
      await waitFor('the mtls-auth route applied in the listening worker', async () => (await overMtls(gw.mtlsPort!, '/secure', alice)).status === 200);
      assert.equal(seen.at(-1)!['x-consumer-username'], 'alice');
      assert.equal(seen.at(-1)!['x-client-cert-fingerprint'], alice.fingerprint);
      assert.equal((await overMtls(gw.mtlsPort!, '/secure', stranger)).status, 401);
    } finally {
      await gw.close();
      await new Promise((r) => upstream.close(r));
      rmSync(dataDir, { recursive: true, force: true });
    }
    const after = await overMtls(gw.mtlsPort!, '/secure', alice);
    assert.equal(after.status, null, 'the mTLS port is closed once the gateway is');
  });
});
