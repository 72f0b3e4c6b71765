import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCa } from '@turnpike/common/testing';
import type { KeyOwner } from '../key-auth/index.js';
import { clientCertificateOf, type ClientCertificate } from '../../tls/client-certificate.js';
import { CLIENT_CERT_HEADERS, compileMtlsPolicy, mtlsAuthStep, type MtlsAuthSettings } from './index.js';
import type { RequestContext } from '../request-context.js';

const ca = new TestCa('Client CA');
process.on('exit', () => ca.close());

/** A real client certificate (openssl), read the way the mTLS listener reads a peer's. */
function cert(cn: string, san: string): ClientCertificate {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${cn}.key`, '-out', `${cn}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(ca.dir, `${cn}.ext`), `subjectAltName=${san}\n`);
  run(['x509', '-req', '-in', `${cn}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${cn}.crt`, '-extfile', `${cn}.ext`]);
  return clientCertificateOf(new X509Certificate(readFileSync(join(ca.dir, `${cn}.crt`))));
}

const alice = cert('alice', 'DNS:alice.example,URI:spiffe://test/alice,email:alice@example.com');
const svc = cert('svc-7', 'URI:spiffe://test/billing');

const owners = new Map<string, KeyOwner>([
  ['alice', { consumerId: 'c-alice', username: 'alice', groupIds: [] }],
  ['billing', { consumerId: 'c-billing', username: 'billing', groupIds: [] }],
  ['spiffe://test/alice', { consumerId: 'c-spiffe-alice', username: 'spiffe://test/alice', groupIds: [] }],
]);

function ctx(clientCert: ClientCertificate | null, nowMs = Date.now()): RequestContext & { hidden: string[] } {
  const hidden: string[] = [];
  return {
    clientCert,
    nowMs,
    hidden,
    hideHeaders: (names: readonly string[]) => void hidden.push(...names),
    tables: { ownerByUsername: (u: string) => owners.get(u) } as RequestContext['tables'],
  } as unknown as RequestContext & { hidden: string[] };
}

function run(cfg: MtlsAuthSettings, c: RequestContext) {
  const r = mtlsAuthStep(compileMtlsPolicy(cfg)).run(c);
  assert.ok(!(r instanceof Promise), 'mtls-auth answers synchronously');
  return r;
}

test('no certificate on the connection (plain HTTP, or the uWS HTTPS port): 401 TP_ERR_AUTH_CERT_MISSING with a challenge', () => {
  const c = ctx(null);
  const r = run({ consumer_by: ['subject_cn'] }, c);
  assert.equal(r?.kind, 'deny');
  assert.equal(r.kind === 'deny' && r.code, 'TP_ERR_AUTH_CERT_MISSING');
  assert.equal(r.kind === 'deny' && r.status, 401);
  assert.deepEqual(r.kind === 'deny' && r.headers, ['www-authenticate', 'Mutual realm="turnpike"']);
  assert.equal(mtlsAuthStep(compileMtlsPolicy({})).present!(c), false);
  assert.deepEqual(c.hidden, [...CLIENT_CERT_HEADERS], 'a client’s own X-Client-Cert-* never pass, refused or not');
});

test('explicit mappings: fingerprint (any case) first, then subject CN, then a SAN entry', () => {
  const byFp = run({ identities: [{ subject_cn: 'alice', consumer: 'billing' }, { fingerprint_sha256: alice.fingerprint256.toLowerCase(), consumer: 'alice' }] }, ctx(alice));
  assert.equal(byFp?.kind === 'identity' && byFp.consumerId, 'c-alice');
  const byCn = run({ identities: [{ subject_cn: 'alice', consumer: 'billing' }] }, ctx(alice));
  assert.equal(byCn?.kind === 'identity' && byCn.consumerId, 'c-billing');
  const bySan = run({ identities: [{ san: 'URI:spiffe://test/billing', consumer: 'billing' }] }, ctx(svc));
  assert.equal(bySan?.kind === 'identity' && bySan.consumerId, 'c-billing');
  assert.equal(mtlsAuthStep(compileMtlsPolicy({})).present!(ctx(svc)), true);
});

test('consumer_by: the first listed field the certificate has is the username', () => {
  const cn = run({ consumer_by: ['subject_cn'] }, ctx(alice));
  assert.equal(cn?.kind === 'identity' && cn.consumerId, 'c-alice');
  const uri = run({ consumer_by: ['san_email', 'san_uri'] }, ctx(alice));
  // alice@example.com is no consumer; the email entry is tried first and wins the lookup, so this is unknown.
  assert.equal(uri?.kind === 'deny' && uri.code, 'TP_ERR_AUTH_CERT_UNKNOWN');
  const uriOnly = run({ consumer_by: ['san_uri'] }, ctx(alice));
  assert.equal(uriOnly?.kind === 'identity' && uriOnly.consumerId, 'c-spiffe-alice');
});

test('a certificate that maps to no consumer, or to a username no consumer has: 401 TP_ERR_AUTH_CERT_UNKNOWN', () => {
  assert.equal((run({ identities: [{ subject_cn: 'bob', consumer: 'alice' }] }, ctx(alice)) as { code: string }).code, 'TP_ERR_AUTH_CERT_UNKNOWN');
  assert.equal((run({ consumer_by: ['subject_cn'] }, ctx(svc)) as { code: string }).code, 'TP_ERR_AUTH_CERT_UNKNOWN');
});

test('a connection that outlived its certificate: 401 TP_ERR_AUTH_CERT_EXPIRED', () => {
  const r = run({ consumer_by: ['subject_cn'] }, ctx(alice, alice.notAfterMs));
  assert.equal(r?.kind === 'deny' && r.code, 'TP_ERR_AUTH_CERT_EXPIRED');
});

test('the upstream gets the certificate’s fingerprint, subject and SANs (header-safe); skip_consumer_lookup identifies no consumer', () => {
  const r = run({ skip_consumer_lookup: true }, ctx(alice));
  assert.equal(r?.kind, 'identity');
  if (r?.kind !== 'identity') return;
  assert.equal(r.consumerId, '');
  assert.deepEqual(r.upstreamHeaders, [
    'x-client-cert-fingerprint',
    alice.fingerprint256,
    'x-client-cert-subject',
    'CN=alice',
    'x-client-cert-san',
    'DNS:alice.example, URI:spiffe://test/alice, email:alice@example.com',
  ]);
  const off = run({ skip_consumer_lookup: true, upstream_headers: false }, ctx(alice));
  assert.equal(off?.kind === 'identity' && off.upstreamHeaders, null);
  // A SAN value with CR/LF (possible in a URI entry) cannot split the header.
  const crafted: ClientCertificate = { ...alice, san: ['URI:x\r\nx-consumer-id: admin'] };
  const h = run({ skip_consumer_lookup: true }, ctx(crafted));
  const san = h?.kind === 'identity' ? h.upstreamHeaders![5]! : '';
  assert.ok(!/[\r\n]/.test(san), san);
});
