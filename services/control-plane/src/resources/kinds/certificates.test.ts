// mTLS trust of a certificate (client_ca_pem / client_crl_pem): what the control plane refuses before a node
// would have to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCa } from '@turnpike/common/testing';
import { clientTrustProblems } from './certificates.js';

const ca = new TestCa('Client CA');
process.on('exit', () => ca.close());
const leaf = ca.issue('client.test');

function emptyCrl(): string {
  writeFileSync(join(ca.dir, 'crl-index.txt'), '');
  writeFileSync(join(ca.dir, 'crl.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=crl-index.txt\ndefault_md=sha256\ndefault_crl_days=2\n');
  execFileSync('openssl', ['ca', '-batch', '-config', 'crl.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-gencrl', '-out', 'list.crl'], { cwd: ca.dir, stdio: 'ignore', timeout: 20_000 });
  return readFileSync(join(ca.dir, 'list.crl'), 'utf8');
}

test('client CAs: a CA bundle with its CRL passes; none at all passes', () => {
  assert.deepEqual(clientTrustProblems(ca.certPem, emptyCrl()), []);
  assert.deepEqual(clientTrustProblems(ca.certPem, null), []);
  assert.deepEqual(clientTrustProblems(null, null), []);
});

test('client CAs: a leaf in the bundle, a CRL without CAs, and a CRL OpenSSL refuses are field errors', () => {
  assert.deepEqual(clientTrustProblems(`${ca.certPem}${leaf.certPem}`, null), [{ path: '/client_ca_pem', message: 'certificate 2 is not a CA certificate (basicConstraints CA:TRUE)' }]);
  assert.equal(clientTrustProblems(null, emptyCrl())[0]!.path, '/client_crl_pem');
  assert.deepEqual(clientTrustProblems(ca.certPem, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'), [{ path: '/client_crl_pem', message: 'is not accepted by OpenSSL' }]);
  assert.equal(clientTrustProblems('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n', null)[0]!.path, '/client_ca_pem');
});
