// Real TLS handshakes against the mTLS listener (node:tls in front of a uWS app over its unix socket), with
// openssl-made CAs, client certificates and CRLs: who gets through, and what the uWS handler learns of them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { generateSecretKey, keyringOf, seal } from '@turnpike/common';
import { TestCa, type Issued } from '@turnpike/common/testing';
import { loadUws } from '../uws/loader.js';
import { CertificateCompiler, type TlsConfig } from './certificates.js';
import { MtlsListener, proxyHeaderFor } from './mtls-listener.js';
import { splitSubjectAltName } from './client-certificate.js';

const { uws } = loadUws();
const ring = keyringOf(generateSecretKey());
const serverCa = new TestCa('Server CA');
const clientCa = new TestCa('Client CA');
const partnerCa = new TestCa('Partner CA');
const otherCa = new TestCa('Other CA');
const dataDir = mkdtempSync(join(tmpdir(), 'tp-mtls-'));
process.on('exit', () => {
  for (const c of [serverCa, clientCa, partnerCa, otherCa]) c.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A client certificate with SANs of several kinds. */
function issueClient(ca: TestCa, cn: string, san: string): Issued {
  const n = `c-${cn}`;
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${cn}/O=Example`]);
  writeFileSync(join(ca.dir, `${n}.ext`), `subjectAltName=${san}\nextendedKeyUsage=clientAuth\n`);
  run(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${n}.crt`, '-extfile', `${n}.ext`]);
  const certPem = readFileSync(join(ca.dir, `${n}.crt`), 'utf8');
  return { certPem, keyPem: readFileSync(join(ca.dir, `${n}.key`), 'utf8'), fingerprint: '' };
}

/** A CRL of `ca` revoking `revoked` (made with `openssl ca`, which keeps its own database). */
function crlOf(ca: TestCa, revoked: Issued[]): string {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  writeFileSync(join(ca.dir, 'crl-index.txt'), '');
  writeFileSync(join(ca.dir, 'crl.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=crl-index.txt\ndefault_md=sha256\ndefault_crl_days=2\n');
  revoked.forEach((r, i) => {
    writeFileSync(join(ca.dir, `revoke-${i}.crt`), r.certPem);
    run(['ca', '-batch', '-config', 'crl.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-revoke', `revoke-${i}.crt`]);
  });
  run(['ca', '-batch', '-config', 'crl.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-gencrl', '-out', 'list.crl']);
  return readFileSync(join(ca.dir, 'list.crl'), 'utf8');
}

const server = serverCa.issue('a.test', ['a.test', 'b.test']);
const partnerServer = serverCa.issue('partner.test', ['partner.test']);
const plainServer = serverCa.issue('plain.test', ['plain.test']);
const alice = issueClient(clientCa, 'alice', 'DNS:alice.example,URI:spiffe://test/alice,email:alice@example.com');
const mallory = issueClient(otherCa, 'mallory', 'DNS:mallory.example');
const partner = issueClient(partnerCa, 'partner', 'DNS:partner.example');
const revokedClient = issueClient(clientCa, 'revoked', 'DNS:revoked.example');
const expired = clientCa.issueExpired('expired');

function entry(id: string, c: Issued, names: string[], createdAt: string, extra: Record<string, unknown> = {}) {
  return {
    key: `certificates.${id}`,
    id,
    data: { id, cert_pem: c.certPem, server_names: names, created_at: createdAt, secret: { key_pem: seal(ring, c.keyPem, id) }, ...extra },
  };
}

interface Reply {
  /** The response body (the peer the handler saw, JSON), or null when the connection got no HTTP answer. */
  body: string | null;
  error: string | null;
}

/** One request over a fresh mTLS connection; never waits more than 5 s. */
async function ask(port: number, servername: string, client: Issued | null): Promise<Reply> {
  return await new Promise((resolve) => {
    let data = '';
    let error: string | null = null;
    const s = connect({ host: '127.0.0.1', port, ...(servername !== '' ? { servername } : {}), checkServerIdentity: () => undefined, ca: serverCa.certPem, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) });
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 5_000);
    s.on('secureConnect', () => s.write(`GET /who HTTP/1.1\r\nHost: ${servername || 'x'}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', (e) => (error = e.message));
    s.on('close', () => {
      clearTimeout(timer);
      const at = data.indexOf('\r\n\r\n');
      resolve({ body: data.startsWith('HTTP/1.1 200') && at >= 0 ? data.slice(at + 4) : null, error });
    });
  });
}

async function startListener(tls: TlsConfig): Promise<MtlsListener> {
  let l: MtlsListener | null = null;
  l = await MtlsListener.start(
    uws,
    (app) =>
      app.any('/*', (res) => {
        const peer = l!.peerOf(res);
        res.end(JSON.stringify(peer));
      }),
    tls,
    { host: '127.0.0.1', port: 0, dataDir },
  );
  return l;
}

describe('mTLS listener without CRLs', { timeout: 60_000 }, () => {
  let l: MtlsListener;
  before(async () => {
    const tls = new CertificateCompiler().compile(
      [
        entry('main', server, ['a.test', 'b.test'], '2026-01-01T00:00:00Z', { client_ca_pem: clientCa.certPem }),
        entry('partner', partnerServer, ['partner.test'], '2026-01-02T00:00:00Z', { client_ca_pem: partnerCa.certPem }),
        entry('plain', plainServer, ['plain.test'], '2026-01-03T00:00:00Z'),
      ],
      ring,
    );
    assert.deepEqual(tls.rejected, []);
    l = await startListener(tls);
  });
  after(() => l.close());

  test('a client certificate from the host’s CA is served, and the handler sees its identity and the real peer', async () => {
    const r = await ask(l.port, 'a.test', alice);
    assert.equal(r.error, null);
    const peer = JSON.parse(r.body!);
    assert.equal(peer.address, '127.0.0.1');
    assert.equal(peer.serverName, 'a.test');
    assert.equal(peer.clientCert.subjectCn, 'alice');
    assert.equal(peer.clientCert.subject, 'CN=alice, O=Example');
    assert.deepEqual(peer.clientCert.san, ['DNS:alice.example', 'URI:spiffe://test/alice', 'email:alice@example.com']);
    assert.match(peer.clientCert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(peer.clientCert.notAfterMs > Date.now());
    assert.equal(l.connections, 0, 'the connection’s token is dropped once it closes');
  });

  test('no client certificate: the handshake fails, no HTTP is read', async () => {
    const before = l.refused;
    const r = await ask(l.port, 'a.test', null);
    assert.equal(r.body, null);
    assert.match(r.error ?? '', /certificate|alert|socket hang up|ECONNRESET/i);
    assert.ok(l.refused > before);
  });

  test('a certificate from a CA no host trusts: the handshake fails', async () => {
    const before = l.refused;
    assert.equal((await ask(l.port, 'a.test', mallory)).body, null);
    assert.equal(l.refused, before + 1);
  });

  test('an expired certificate from the trusted CA: the handshake fails', async () => {
    const before = l.refused;
    assert.equal((await ask(l.port, 'a.test', expired)).body, null);
    assert.equal(l.refused, before + 1);
  });

  test('sessions are never resumed (resumption would skip the client certificate’s verification)', async () => {
    const first = await new Promise<{ session: Buffer | undefined }>((resolve) => {
      let session: Buffer | undefined;
      const s = connect({ host: '127.0.0.1', port: l.port, servername: 'a.test', ca: serverCa.certPem, cert: alice.certPem, key: alice.keyPem });
      s.on('session', (b: Buffer) => (session = b));
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'));
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => resolve({ session }));
    });
    const reused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: l.port, servername: 'a.test', ca: serverCa.certPem, cert: alice.certPem, key: alice.keyPem, ...(first.session ? { session: first.session } : {}) });
      s.on('secureConnect', () => {
        resolve(s.isSessionReused());
        s.destroy();
      });
      s.on('error', () => resolve(false));
    });
    assert.equal(reused, false);
  });

  test('without SNI the default certificate’s CAs apply', async () => {
    assert.equal(JSON.parse((await ask(l.port, '', alice)).body!).clientCert.subjectCn, 'alice');
    assert.equal((await ask(l.port, '', partner)).body, null);
  });

  test('per host: a partner’s certificate is served on partner.test and refused on a.test (and vice versa)', async () => {
    const ok = await ask(l.port, 'partner.test', partner);
    assert.equal(JSON.parse(ok.body!).clientCert.subjectCn, 'partner');
    const before = l.refused;
    assert.equal((await ask(l.port, 'a.test', partner)).body, null);
    assert.equal((await ask(l.port, 'partner.test', alice)).body, null);
    assert.equal(l.refused, before + 2);
  });

  test('a host whose certificate has no client CA takes no mTLS client (not even one with a publicly trusted certificate)', async () => {
    assert.equal((await ask(l.port, 'plain.test', alice)).body, null);
  });

  test('a request straight to the handler without the listener’s PROXY header has no peer; a forged token finds none', async () => {
    // What any other path into the uWS app looks like: peerOf answers null.
    const app = uws.App();
    let seen: unknown = 'unset';
    app.any('/*', (res) => {
      seen = l.peerOf(res);
      res.end('x');
    });
    const ls = await new Promise<NonNullable<Parameters<Parameters<typeof app.listen>[2]>[0]>>((r) => app.listen('127.0.0.1', 0, (s) => r(s)));
    const port = uws.us_socket_local_port(ls as never);
    const { connect: netConnect } = await import('node:net');
    for (const prefix of [Buffer.alloc(0), proxyHeaderFor(Buffer.alloc(16, 7))]) {
      seen = 'unset';
      await new Promise<void>((resolve) => {
        const s = netConnect(port, '127.0.0.1', () => s.write(Buffer.concat([prefix, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')])));
        s.on('data', () => undefined);
        s.on('close', () => resolve());
      });
      assert.equal(seen, null);
    }
    uws.us_listen_socket_close(ls as never);
  });
});

describe('mTLS listener with a CRL', { timeout: 60_000 }, () => {
  let l: MtlsListener;
  before(async () => {
    const crl = crlOf(clientCa, [revokedClient]);
    const tls = new CertificateCompiler().compile([entry('main', server, ['a.test'], '2026-01-01T00:00:00Z', { client_ca_pem: clientCa.certPem, client_crl_pem: crl })], ring);
    assert.deepEqual(tls.rejected, []);
    l = await startListener(tls);
  });
  after(() => l.close());

  test('a revoked certificate is refused at the handshake; one the CRL does not list is served', async () => {
    assert.equal((await ask(l.port, 'a.test', revokedClient)).body, null);
    assert.equal(JSON.parse((await ask(l.port, 'a.test', alice)).body!).clientCert.subjectCn, 'alice');
  });

  test('apply: a new CRL revoking alice refuses her next connection', async () => {
    const crl = crlOf(clientCa, [revokedClient, alice]);
    l.apply(new CertificateCompiler().compile([entry('main', server, ['a.test'], '2026-01-01T00:00:00Z', { client_ca_pem: clientCa.certPem, client_crl_pem: crl })], ring));
    assert.equal((await ask(l.port, 'a.test', alice)).body, null);
  });
});

test('a data dir too deep for a unix socket path: the socket goes to a fresh 0700 directory under the temp dir, removed on close', { timeout: 30_000 }, async () => {
  const deep = join(dataDir, 'd'.repeat(60), 'e'.repeat(60));
  mkdirSync(deep, { recursive: true });
  const tmpEntries = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('tp-mtls-')));
  const before = tmpEntries();
  const tls = new CertificateCompiler().compile([entry('main', server, ['a.test'], '2026-01-01T00:00:00Z', { client_ca_pem: clientCa.certPem })], ring);
  let l: MtlsListener | null = null;
  l = await MtlsListener.start(uws, (app) => app.any('/*', (res) => void res.end(JSON.stringify(l!.peerOf(res)))), tls, { host: '127.0.0.1', port: 0, dataDir: deep });
  try {
    const added = [...tmpEntries()].filter((n) => !before.has(n));
    assert.equal(added.length, 1, `one new directory under ${tmpdir()}: ${added.join(', ')}`);
    const dir = join(tmpdir(), added[0]!);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), ['proxy.sock']);
    assert.deepEqual(readdirSync(deep), [], 'nothing under the deep data dir');
    assert.equal(JSON.parse((await ask(l.port, 'a.test', alice)).body!).clientCert.subjectCn, 'alice');
    l.close();
    assert.equal(existsSync(dir), false);
  } finally {
    l.close();
  }
});

test('compile: a client CA or CRL OpenSSL refuses rejects the certificate', () => {
  const tls = new CertificateCompiler().compile([entry('bad', server, ['a.test'], '', { client_ca_pem: clientCa.certPem, client_crl_pem: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' })], ring);
  assert.equal(tls.certificates.length, 0);
  assert.match(tls.rejected[0]!.reason, /client_ca_pem or client_crl_pem/);
});

test('subjectAltName text: quoted entries cannot forge a second entry', () => {
  assert.deepEqual(splitSubjectAltName('DNS:a.example, URI:spiffe://x/y'), ['DNS:a.example', 'URI:spiffe://x/y']);
  assert.deepEqual(splitSubjectAltName('DNS:"evil, DNS:admin.example", DNS:b'), ['DNS:evil, DNS:admin.example', 'DNS:b']);
  assert.deepEqual(splitSubjectAltName(undefined), []);
});
