import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateSecretKey, keyringFromEnv, keyringOf, open, seal } from './keyring.js';
import { hashPassword, verifyPassword } from './password-hash.js';
import { TurnpikeError } from '../errors.js';

describe('keyring', () => {
  it('seals and opens, binding the context', () => {
    const ring = keyringOf(generateSecretKey());
    const s = seal(ring, 'sk-live-123', 'provider-1');
    assert.equal(JSON.stringify(s).includes('sk-live'), false);
    assert.equal(open(ring, s, 'provider-1'), 'sk-live-123');
    assert.throws(() => open(ring, s, 'provider-2'), TurnpikeError);
  });
  it('detects tampering and unknown keys', () => {
    const ring = keyringOf(generateSecretKey());
    const s = seal(ring, 'x');
    const ct = Buffer.from(s.ct, 'base64url');
    ct[0] = ct[0]! ^ 1;
    assert.throws(() => open(ring, { ...s, ct: ct.toString('base64url') }), /failed authentication/);
    assert.throws(() => open(keyringOf(generateSecretKey()), s), /does not hold/);
  });
  it('rotates: the first key seals, every key opens', () => {
    const oldKey = generateSecretKey().toString('hex');
    const newKey = generateSecretKey().toString('base64');
    const before = keyringFromEnv({ TP_SECRET_KEYS: `old:${oldKey}` })!;
    const sealedOld = seal(before, 'a');
    const after = keyringFromEnv({ TP_SECRET_KEYS: `new:${newKey},old:${oldKey}` })!;
    assert.equal(after.activeKid, 'new');
    assert.equal(open(after, sealedOld), 'a');
    assert.equal(seal(after, 'b').kid, 'new');
  });
  it('rejects malformed key material', () => {
    assert.throws(() => keyringFromEnv({ TP_SECRET_KEY: 'short' }), /32 bytes/);
    assert.throws(() => keyringFromEnv({ TP_SECRET_KEYS: 'nokid' }), /kid:key/);
    assert.equal(keyringFromEnv({}), null);
  });
});

describe('password hashes', () => {
  it('verifies the right password only, with a fresh salt each time', () => {
    const h = hashPassword('correct horse');
    assert.notEqual(h, hashPassword('correct horse'));
    assert.equal(verifyPassword('correct horse', h), true);
    assert.equal(verifyPassword('correct horsE', h), false);
    assert.equal(verifyPassword('x', 'plain'), false);
  });
});
