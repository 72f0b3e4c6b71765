// basic-auth: real scrypt. alice's hash is made by the control plane's hashPassword (N=2^15, the production
// cost); the others use N=2^10 in the same format to keep the suite light.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { hashPassword } from '@turnpike/common';
import { BasicCheckCache, ScryptLimiter, compileBasicCredentials, compileBasicPolicy, verifyBasic, type BasicResult } from './index.js';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const ALICE_PW = 'alice-password-1';
const aliceHash = hashPassword(ALICE_PW);

function cheapHash(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$10$8$1$${salt.toString('base64url')}$${scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 }).toString('base64url')}`;
}

const entry = (id: string, username: string, passwordHash: unknown) => ({ id, data: { id, type: 'basic', consumer_id: `consumer-${id}`, username, password_hash: passwordHash } });
const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`, 'utf8').toString('base64');
const isPromise = (r: unknown): r is Promise<BasicResult> => r instanceof Promise;
const code = (r: BasicResult) => (r.ok ? 'ok' : r.code);

test('valid credentials: the first check is asynchronous (scrypt), the next ones synchronous from the cache', async () => {
  const policy = compileBasicPolicy({ realm: 'shop' });
  const t = compileBasicCredentials([entry('c1', 'alice', aliceHash)], { limiter: new ScryptLimiter() });
  const first = verifyBasic(policy, t, basic('alice', ALICE_PW), NOW);
  assert.ok(isPromise(first), 'a miss returns a Promise');
  assert.deepEqual(await first, { ok: true, consumerId: 'consumer-c1', credentialId: 'c1', username: 'alice' });
  const t0 = process.hrtime.bigint();
  const hit = verifyBasic(policy, t, basic('alice', ALICE_PW), NOW + 59_000);
  const micros = Number(process.hrtime.bigint() - t0) / 1000;
  assert.ok(!isPromise(hit), 'a hit is synchronous');
  assert.equal(code(hit), 'ok');
  assert.ok(micros < 5_000, `a hit costs no scrypt (${micros} µs)`);
  // The scheme is case-insensitive.
  assert.equal(code(verifyBasic(policy, t, 'basic ' + basic('alice', ALICE_PW).slice(6), NOW) as BasicResult), 'ok');
  // After cache_ttl_s the password is checked again.
  assert.ok(isPromise(verifyBasic(policy, t, basic('alice', ALICE_PW), NOW + 60_000)));
});

test('a wrong password and an unknown user get 401 with the Basic challenge; the wrong password is then refused from the cache', async () => {
  const policy = compileBasicPolicy({ realm: 'shop' });
  const t = compileBasicCredentials([entry('c2', 'bob', cheapHash('bob-password-1'))], { limiter: new ScryptLimiter() });
  const wrong = verifyBasic(policy, t, basic('bob', 'not-his-password'), NOW);
  assert.ok(isPromise(wrong));
  assert.deepEqual(await wrong, {
    ok: false,
    code: 'TP_ERR_AUTH_BASIC_INVALID',
    status: 401,
    message: 'the username or password is not valid',
    wwwAuthenticate: 'Basic realm="shop", charset="UTF-8"',
  });
  const again = verifyBasic(policy, t, basic('bob', 'not-his-password'), NOW + 4_000);
  assert.ok(!isPromise(again), 'the same wrong password is refused without scrypt');
  assert.equal(code(again), 'TP_ERR_AUTH_BASIC_INVALID');
  // The right password is a different cache key: not blocked by the failure.
  assert.equal(code(await verifyBasic(policy, t, basic('bob', 'bob-password-1'), NOW + 4_000)), 'ok');
  const unknown = verifyBasic(policy, t, basic('mallory', 'whatever-password'), NOW);
  assert.ok(!isPromise(unknown), 'an unknown user costs no scrypt');
  assert.equal(code(unknown), 'TP_ERR_AUTH_BASIC_INVALID');
  // Passwords may contain ':' (only the first one separates) and non-ASCII text.
  const t2 = compileBasicCredentials([entry('c3', 'carol', cheapHash('pa:ss:wörd-1'))], { limiter: new ScryptLimiter() });
  assert.equal(code(await verifyBasic(policy, t2, basic('carol', 'pa:ss:wörd-1'), NOW)), 'ok');
});

test('missing and malformed headers', () => {
  const policy = compileBasicPolicy({});
  const t = compileBasicCredentials([entry('c2', 'bob', cheapHash('bob-password-1'))], { limiter: new ScryptLimiter() });
  const missing = verifyBasic(policy, t, '', NOW) as BasicResult;
  assert.deepEqual(missing, { ok: false, code: 'TP_ERR_AUTH_BASIC_MISSING', status: 401, message: 'basic credentials are required', wwwAuthenticate: 'Basic realm="turnpike", charset="UTF-8"' });
  assert.equal(code(verifyBasic(policy, t, 'Bearer abc.def.ghi', NOW) as BasicResult), 'TP_ERR_AUTH_BASIC_MISSING');
  for (const bad of ['Basic', 'Basic ', 'Basic !!!!', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic ' + Buffer.from(':pw').toString('base64'), 'Basic ' + 'A'.repeat(2000)]) {
    const r = verifyBasic(policy, t, bad, NOW);
    assert.ok(!isPromise(r), bad.slice(0, 40));
    assert.equal(code(r), 'TP_ERR_AUTH_BASIC_INVALID', bad.slice(0, 40));
  }
});

test('concurrency cap: beyond the running and queued checks the node answers 503 at once; the same credentials share one scrypt', async () => {
  const policy = compileBasicPolicy({});
  const limiter = new ScryptLimiter(1, 1);
  const t = compileBasicCredentials([entry('c2', 'bob', cheapHash('bob-password-1'))], { limiter });
  const a = verifyBasic(policy, t, basic('bob', 'guess-1'), NOW);
  const b = verifyBasic(policy, t, basic('bob', 'guess-2'), NOW);
  assert.equal(limiter.active, 1);
  assert.equal(limiter.queued, 1);
  const c = verifyBasic(policy, t, basic('bob', 'guess-3'), NOW);
  assert.ok(!isPromise(c));
  assert.deepEqual(c.ok ? null : [c.code, c.status, c.wwwAuthenticate], ['TP_ERR_AUTH_UNAVAILABLE', 503, null]);
  assert.equal(limiter.refused, 1);
  // A request with credentials already being checked waits for that check instead of starting another.
  const a2 = verifyBasic(policy, t, basic('bob', 'guess-1'), NOW);
  assert.ok(isPromise(a2));
  assert.equal(limiter.refused, 1);
  assert.deepEqual((await Promise.all([a, b, a2])).map(code), ['TP_ERR_AUTH_BASIC_INVALID', 'TP_ERR_AUTH_BASIC_INVALID', 'TP_ERR_AUTH_BASIC_INVALID']);
  assert.equal(limiter.active, 0);
  assert.equal(limiter.queued, 0);
  assert.equal(code(await verifyBasic(policy, t, basic('bob', 'bob-password-1'), NOW)), 'ok', 'free again');
});

test('a password change invalidates cached outcomes even when the cache is carried across compiles', async () => {
  const policy = compileBasicPolicy({});
  const limiter = new ScryptLimiter();
  const cache = new BasicCheckCache();
  const t1 = compileBasicCredentials([entry('c2', 'bob', cheapHash('bob-password-1'))], { limiter, cache });
  assert.equal(code(await verifyBasic(policy, t1, basic('bob', 'bob-password-1'), NOW)), 'ok');
  assert.equal(code(await verifyBasic(policy, t1, basic('bob', 'bob-password-2'), NOW)), 'TP_ERR_AUTH_BASIC_INVALID');
  const same = compileBasicCredentials([entry('c2', 'bob', t1.users.get('bob')!.passwordHash)], { limiter, cache });
  assert.ok(!isPromise(verifyBasic(policy, same, basic('bob', 'bob-password-1'), NOW)), 'unchanged hash: still cached');
  const changed = compileBasicCredentials([entry('c2', 'bob', cheapHash('bob-password-2'))], { limiter, cache });
  const old = verifyBasic(policy, changed, basic('bob', 'bob-password-1'), NOW);
  assert.ok(isPromise(old), 'the old success is not trusted against the new hash');
  assert.equal(code(await old), 'TP_ERR_AUTH_BASIC_INVALID');
  assert.equal(code(await verifyBasic(policy, changed, basic('bob', 'bob-password-2'), NOW)), 'ok', 'nor the old failure');
  // cache_ttl_s 0: successes are never reused.
  const noCache = compileBasicPolicy({ cache_ttl_s: 0 });
  assert.ok(isPromise(verifyBasic(noCache, changed, basic('bob', 'bob-password-2'), NOW)));
});

test('the caches are bounded; an unusable hash answers 503; bad entries are rejected', async () => {
  const cache = new BasicCheckCache(2);
  for (const k of ['a', 'b', 'c']) cache.record(k, 'h', true, NOW);
  assert.deepEqual([...cache.good.keys()], ['b', 'c']);
  cache.lookup('b', 'h', NOW, 1000, 1000);
  cache.record('d', 'h', true, NOW);
  assert.deepEqual([...cache.good.keys()], ['b', 'd'], 'least recently used first out');
  cache.record('x', 'h', false, NOW);
  assert.equal(cache.good.size, 2, 'failures do not evict successes');

  const t = compileBasicCredentials(
    [entry('c1', 'dave', 'md5$abc'), entry('c2', 'dave', cheapHash('x'.repeat(10))), entry('c3', 'e:ve', cheapHash('x'.repeat(10))), { id: 'h1', data: { id: 'h1', type: 'hmac' } }],
    { limiter: new ScryptLimiter() },
  );
  assert.deepEqual(t.rejected.map((r) => r.key), ['credentials.c1', 'credentials.c2', 'credentials.c3']);
  const r = verifyBasic(compileBasicPolicy({}), t, basic('dave', 'whatever-pw'), NOW);
  assert.ok(!isPromise(r));
  assert.equal(code(r), 'TP_ERR_AUTH_UNAVAILABLE');
});
