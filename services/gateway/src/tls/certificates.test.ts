import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecretKey, keyringOf, seal, type Keyring } from '@turnpike/common';
import { TestCa, type Issued } from '@turnpike/common/testing';
import { PoolRegistry } from '../upstream/pools.js';
import { CertificateCompiler, EMPTY_TLS } from './certificates.js';

const ca = new TestCa();
const ring = keyringOf(generateSecretKey());
const a = ca.issue('a.test');
const b = ca.issue('b.test');
process.on('exit', () => ca.close());

function entry(id: string, c: Issued, names: string[], createdAt: string, opts: { ring?: Keyring; keyPem?: string } = {}) {
  return {
    key: `certificates.${id}`,
    id,
    data: { id, cert_pem: c.certPem, server_names: names, created_at: createdAt, secret: { key_pem: seal(opts.ring ?? ring, opts.keyPem ?? c.keyPem, id) } },
  };
}

test('opens each key, orders oldest first (the default), and leaves a name claimed twice to the older certificate', () => {
  const newer = entry('id-b', b, ['b.test', 'shared.test'], '2026-02-01T00:00:00Z');
  const older = entry('id-a', a, ['a.test', 'shared.test'], '2026-01-01T00:00:00Z');
  const tls = new CertificateCompiler().compile([newer, older], ring);
  assert.deepEqual(
    tls.certificates.map((c) => [c.id, c.serverNames]),
    [
      ['id-a', ['a.test', 'shared.test']],
      ['id-b', ['b.test']],
    ],
  );
  assert.equal(tls.byId.get('id-a')!.keyPem, a.keyPem);
  assert.deepEqual(tls.rejected, [{ key: 'certificates.id-b', reason: 'server name shared.test is already served by certificate id-a' }]);
});

test('rejects, without the key in the reason: no keyring, a foreign key id, a key that does not match', () => {
  const c = new CertificateCompiler();
  assert.match(c.compile([entry('x', a, ['a.test'], '')], null).rejected[0]!.reason, /no secret key/);
  assert.match(c.compile([entry('y', a, ['a.test'], '', { ring: keyringOf(generateSecretKey()) })], ring).rejected[0]!.reason, /cannot be opened/);
  const mismatch = c.compile([entry('z', a, ['a.test'], '', { keyPem: b.keyPem })], ring);
  assert.equal(mismatch.certificates.length, 0);
  assert.equal(mismatch.rejected[0]!.reason, 'the key does not match the certificate');
  assert.equal(c.compile([], ring), EMPTY_TLS);
});

test('an unchanged entry is not opened again', () => {
  const c = new CertificateCompiler();
  const e = entry('id-a', a, ['a.test'], '');
  const first = c.compile([e], ring).certificates[0]!;
  // A keyring that cannot open it: the cached result is used for the same parsed object.
  const second = c.compile([e], keyringOf(generateSecretKey())).certificates[0]!;
  assert.equal(second.keyPem, first.keyPem);
});

test('pool keys carry the TLS settings: SNI, verification, CA and the client certificate’s fingerprint', () => {
  const o = 'https://10.0.0.1:443';
  const base = { connectTimeoutMs: 1000 };
  const keys = new Set([
    PoolRegistry.key('http://10.0.0.1:443', base),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: false } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true, servername: 'x.test' } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true, ca: ca.certPem } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true, clientCertificateId: 'c', clientCertificate: { certPem: a.certPem, keyPem: a.keyPem, fingerprint: a.fingerprint } } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true, clientCertificateId: 'c', clientCertificate: { certPem: b.certPem, keyPem: b.keyPem, fingerprint: b.fingerprint } } }),
    PoolRegistry.key(o, { ...base, tls: { rejectUnauthorized: true, clientCertificateId: 'c', clientCertificate: null } }),
  ]);
  assert.equal(keys.size, 8);
  for (const k of keys) assert.ok(!k.includes('PRIVATE KEY') && !k.includes('BEGIN CERTIFICATE'), 'no PEM in a key');
});
