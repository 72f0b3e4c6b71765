import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyNothing, verifyPassword } from './passwords.js';

describe('developer passwords (scrypt)', () => {
  it('verifies the right password only; salts differ per hash; parameters are stored', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    assert.match(a.params, /^scrypt:32768:8:1$/);
    assert.equal(a.salt.length, 16);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a.hash, b.hash);
    assert.equal(await verifyPassword('correct horse battery', a), true);
    assert.equal(await verifyPassword('correct horse batterY', a), false);
    assert.equal(await verifyNothing('anything'), false);
  });

  it('normalizes Unicode (NFKC) so the same password typed two ways verifies', async () => {
    const h = await hashPassword('caf\u00e9 au lait!!');
    assert.equal(await verifyPassword('cafe\u0301 au lait!!', h), true);
  });

  it('refuses a hash with unknown parameters rather than guessing', async () => {
    const h = await hashPassword('correct horse battery');
    await assert.rejects(verifyPassword('correct horse battery', { ...h, params: 'bcrypt:10' }), /unknown password hash parameters/);
  });
});
