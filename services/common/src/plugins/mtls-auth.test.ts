import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { MtlsAuthConfig, mtlsAuthPlugin } from './mtls-auth.js';

const filled = (v: unknown) => Value.Default(MtlsAuthConfig, structuredClone(v)) as MtlsAuthConfig;

test('mtls-auth config: defaults, and each mapping names exactly one certificate field', () => {
  const d = filled({ consumer_by: ['subject_cn'] });
  assert.ok(Value.Check(MtlsAuthConfig, d));
  assert.deepEqual(d, { identities: [], consumer_by: ['subject_cn'], skip_consumer_lookup: false, upstream_headers: true });
  assert.deepEqual(mtlsAuthPlugin.problems!(d), []);
  const two = filled({ identities: [{ subject_cn: 'a', san: 'DNS:a', consumer: 'a' }, { consumer: 'b' }] });
  assert.ok(Value.Check(MtlsAuthConfig, two));
  assert.deepEqual(
    mtlsAuthPlugin.problems!(two).map((p) => p.path),
    ['/identities/0', '/identities/1'],
  );
});

test('mtls-auth config: one that maps no certificate is refused; malformed fingerprints and SAN kinds fail the schema', () => {
  assert.equal(mtlsAuthPlugin.problems!(filled({}))[0]!.path, '');
  assert.deepEqual(mtlsAuthPlugin.problems!(filled({ skip_consumer_lookup: true })), []);
  assert.equal(Value.Check(MtlsAuthConfig, filled({ identities: [{ fingerprint_sha256: 'AB:CD', consumer: 'a' }] })), false);
  assert.equal(Value.Check(MtlsAuthConfig, filled({ identities: [{ san: 'dirName:x', consumer: 'a' }] })), false);
  const fp = Array.from({ length: 32 }, () => 'ab').join(':');
  assert.equal(Value.Check(MtlsAuthConfig, filled({ identities: [{ fingerprint_sha256: fp, consumer: 'a' }] })), true);
});
