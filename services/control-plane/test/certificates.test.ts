// TLS certificates over real HTTP, Postgres and NATS KV, with certificates issued by openssl: create with
// names from the certificate; the key sealed (never in a response, a list, the audit log or the KV payload
// in clear, while the KV's sealed value opens to it with the keyring); the checks (chain parses, key
// matches, not expired, names) with their field paths; unique server names (409); rotation by PATCH; and
// upstreams referring to a certificate as their client certificate (422 when missing, 409 on delete).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { entityKey, generateSecretKey, isSealed, keyringOf, open, type Keyring } from '@turnpike/common';
import { TestCa, waitFor, type Issued } from '@turnpike/common/testing';
import { status } from '@grpc/grpc-js';
import { failure, serviceClient } from './grpc-client.js';
import { startHarness, type Harness } from './support.js';

/** The PEM body lines of a key: what must never appear in any output. */
const keyBody = (pem: string): string => pem.split('\n').filter((l) => l && !l.startsWith('-----'))[0]!;

describe('certificates', { timeout: 120_000 }, () => {
  let h: Harness;
  let keyring: Keyring;
  const ca = new TestCa();
  let api: Issued;
  let certId = '';

  before(async () => {
    keyring = keyringOf(generateSecretKey());
    h = await startHarness({ keyring });
    api = ca.issue('api.example.test', ['api.example.test', '*.api.example.test']);
  });
  after(async () => {
    await h?.close();
    ca.close();
  });

  it('creates a certificate: names, subject, expiry and fingerprint come from it; the key is never returned', async () => {
    const res = await h.rest('POST', '/v1/certificates', { name: 'api', cert_pem: api.certPem + ca.certPem, key_pem: api.keyPem, tags: ['edge'] });
    assert.equal(res.status, 201, res.text);
    certId = res.json.id;
    assert.deepEqual(res.json.server_names, ['api.example.test', '*.api.example.test']);
    assert.equal(res.json.snis, null);
    assert.equal(res.json.subject, 'CN=api.example.test');
    assert.equal(res.json.fingerprint_sha256, api.fingerprint);
    assert.ok(Date.parse(res.json.not_after) > Date.now());
    assert.equal('key_pem' in res.json, false);
    assert.ok(!res.text.includes(keyBody(api.keyPem)));

    const got = await h.rest('GET', `/v1/certificates/${certId}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.name, 'api');
    assert.ok(!got.text.includes(keyBody(api.keyPem)));
    const list = await h.rest('GET', '/v1/certificates?name=api');
    assert.equal(list.json.data.length, 1);
    assert.ok(!list.text.includes(keyBody(api.keyPem)));
    const audit = await h.rest('GET', `/v1/audit?resource_type=certificates&resource_id=${certId}`);
    assert.equal(audit.status, 200, audit.text);
    assert.ok(audit.json.data.length >= 1);
    assert.ok(!audit.text.includes(keyBody(api.keyPem)));
  });

  it('publishes the key sealed: the KV payload holds no clear key and opens to it with the keyring', async () => {
    const raw = await waitFor('certificates in KV', async () => await h.bus.get(entityKey('certificates', certId)));
    assert.ok(!raw.includes(keyBody(api.keyPem)));
    const data = (JSON.parse(raw) as { data: { secret: { key_pem: unknown }; server_names: string[] } }).data;
    assert.ok(isSealed(data.secret.key_pem));
    assert.equal(open(keyring, data.secret.key_pem, certId), api.keyPem);
    assert.deepEqual(data.server_names, ['api.example.test', '*.api.example.test']);
  });

  it('refuses what does not check out, with field paths (422)', async () => {
    const other = ca.issue('other.example.test');
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['garbage certificate', { cert_pem: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', key_pem: other.keyPem }, '/cert_pem'],
      ['key of another certificate', { cert_pem: other.certPem, key_pem: api.keyPem }, '/key_pem'],
      ['no key', { cert_pem: other.certPem }, '/key_pem'],
      ['not a key', { cert_pem: other.certPem, key_pem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, '/key_pem'],
      ['expired', (() => { const e = ca.issueExpired('old.example.test'); return { cert_pem: e.certPem, key_pem: e.keyPem }; })(), '/cert_pem'],
      ['no DNS name', (() => { const c = ca.issue('Gateway Client', []); return { cert_pem: c.certPem, key_pem: c.keyPem }; })(), '/snis'],
      ['bad sni', { cert_pem: other.certPem, key_pem: other.keyPem, snis: ['bad name'] }, '/snis/0'],
    ];
    for (const [what, body, path] of cases) {
      const res = await h.rest('POST', '/v1/certificates', { name: `bad-${randomUUID().slice(0, 8)}`, ...body });
      assert.ok(res.status === 422 || res.status === 400, `${what}: ${res.status} ${res.text}`);
      assert.ok(
        (res.json.error.fields as Array<{ path: string }>).some((f) => f.path === path),
        `${what}: expected a problem at ${path}, got ${res.text}`,
      );
      assert.ok(!res.text.includes(keyBody(api.keyPem)) && !res.text.includes(keyBody(other.keyPem)), `${what}: no key in the error`);
    }
  });

  it('a server name is served by one certificate only (409), explicit snis override the certificate’s', async () => {
    const dup = await h.rest('POST', '/v1/certificates', { name: 'dup', cert_pem: api.certPem, key_pem: api.keyPem });
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.json.error.fields[0].path, '/snis');
    const wildcardTaken = await h.rest('POST', '/v1/certificates', { name: 'dup2', cert_pem: api.certPem, key_pem: api.keyPem, snis: ['*.API.example.test'] });
    assert.equal(wildcardTaken.status, 409, wildcardTaken.text);
    const own = await h.rest('POST', '/v1/certificates', { name: 'internal', cert_pem: api.certPem, key_pem: api.keyPem, snis: ['Internal.example.test'] });
    assert.equal(own.status, 201, own.text);
    assert.deepEqual(own.json.server_names, ['internal.example.test']);
    assert.deepEqual(own.json.snis, ['Internal.example.test']);
    assert.equal((await h.rest('DELETE', `/v1/certificates/${own.json.id}`)).status, 204);
    // Its name is free again.
    const again = await h.rest('POST', '/v1/certificates', { name: 'internal2', cert_pem: api.certPem, key_pem: api.keyPem, snis: ['internal.example.test'] });
    assert.equal(again.status, 201, again.text);
  });

  it('rotates by PATCH: a new certificate needs its key; a write without a key keeps the stored one', async () => {
    const next = ca.issue('api.example.test', ['api.example.test']);
    const noKey = await h.rest('PATCH', `/v1/certificates/${certId}`, { cert_pem: next.certPem });
    assert.equal(noKey.status, 422, noKey.text);
    assert.equal(noKey.json.error.fields[0].path, '/cert_pem');
    const rotated = await h.rest('PATCH', `/v1/certificates/${certId}`, { cert_pem: next.certPem, key_pem: next.keyPem });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.json.fingerprint_sha256, next.fingerprint);
    assert.deepEqual(rotated.json.server_names, ['api.example.test'], 'names follow the new certificate');
    const tagged = await h.rest('PATCH', `/v1/certificates/${certId}`, { tags: ['edge', 'rotated'] });
    assert.equal(tagged.status, 200, tagged.text);
    const raw = await waitFor('the rotated key in KV', async () => {
      const v = await h.bus.get(entityKey('certificates', certId));
      return v && v.includes('rotated') ? v : null;
    });
    const data = (JSON.parse(raw) as { data: { secret: { key_pem: Parameters<typeof open>[1] } } }).data;
    assert.equal(open(keyring, data.secret.key_pem, certId), next.keyPem);
  });

  it('an upstream’s tls.client_certificate_id must name a certificate (422), which cannot be deleted while named (409)', async () => {
    const target = [{ host: '127.0.0.1', port: 9443 }];
    const missing = randomUUID();
    const bad = await h.rest('POST', '/v1/upstreams', { name: 'mtls-bad', scheme: 'https', targets: target, tls: { client_certificate_id: missing } });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json.error.fields[0].path, '/tls/client_certificate_id');
    const plain = await h.rest('POST', '/v1/upstreams', { name: 'mtls-http', scheme: 'http', targets: target, tls: { client_certificate_id: certId } });
    assert.equal(plain.status, 422, plain.text);

    const up = await h.rest('POST', '/v1/upstreams', { name: 'mtls', scheme: 'https', targets: target, tls: { client_certificate_id: certId, sni: 'upstream.test' } });
    assert.equal(up.status, 201, up.text);
    assert.equal(up.json.tls.client_certificate_id, certId);
    const del = await h.rest('DELETE', `/v1/certificates/${certId}`);
    assert.equal(del.status, 409, del.text);
    assert.equal(del.json.error.code, 'TP_ERR_IN_USE');
    const patchBad = await h.rest('PATCH', `/v1/upstreams/${up.json.id}`, { tls: { client_certificate_id: missing } });
    assert.equal(patchBad.status, 422, patchBad.text);

    assert.equal((await h.rest('PATCH', `/v1/upstreams/${up.json.id}`, { tls: { sni: 'upstream.test' } })).status, 200);
    assert.equal((await h.rest('DELETE', `/v1/certificates/${certId}`)).status, 204);
    await waitFor('the delete in KV', async () => ((await h.bus.get(entityKey('certificates', certId))) === null ? true : null));
  });

  it('gRPC CertificateService: create and get without the key; a key that does not match is FAILED_PRECONDITION (422)', async () => {
    const { call, close } = serviceClient(h.cp.grpcPort, 'CertificateService', h.token);
    try {
      const c = ca.issue('grpc.example.test');
      const created = await call('CreateCertificate', { name: 'grpc', cert_pem: c.certPem, key_pem: c.keyPem });
      assert.deepEqual(created.server_names, ['grpc.example.test']);
      assert.equal(created.key_pem, undefined);
      assert.ok(!JSON.stringify(created).includes(keyBody(c.keyPem)));
      const got = await call('GetCertificate', { id: created.id });
      assert.equal(got.fingerprint_sha256, c.fingerprint);
      const mismatch = await failure(call('CreateCertificate', { name: 'grpc2', cert_pem: c.certPem, key_pem: api.keyPem }));
      assert.equal(mismatch.code, status.FAILED_PRECONDITION, mismatch.details);
      assert.match(mismatch.details, /key_pem/);
    } finally {
      close();
    }
  });

  it('503 without a keyring: certificates cannot be stored', async () => {
    const bare = await startHarness({ keyring: null });
    try {
      const c = ca.issue('nokeyring.example.test');
      const res = await bare.rest('POST', '/v1/certificates', { name: 'nk', cert_pem: c.certPem, key_pem: c.keyPem });
      assert.equal(res.status, 503, res.text);
      assert.ok(!res.text.includes(keyBody(c.keyPem)));
    } finally {
      await bare.close();
    }
  });
});
