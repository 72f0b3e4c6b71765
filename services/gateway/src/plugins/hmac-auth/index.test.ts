// hmac-auth: real crypto. The worked examples' signatures were computed with the openssl CLI (an independent
// implementation) from the signing strings written out below; the other cases sign with node:crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { generateSecretKey, keyringOf, seal } from '@turnpike/common';
import { ReplayCache, compileHmacCredentials, compileHmacPolicy, verifyHmac, type HmacCredentialTable, type HmacRequest, type HmacResult } from './index.js';

const ring = keyringOf(generateSecretKey());
const SECRET = 'alice-secret-0123456789abcdef';
const DATE = 'Sun, 06 Dec 2026 12:00:00 GMT';
const NOW = Date.parse(DATE);

const entry = (id: string, keyId: string, secret: string, fields: Record<string, unknown> = {}) => ({
  id,
  data: { id, type: 'hmac', consumer_id: `consumer-${id}`, key_id: keyId, algorithms: ['hmac-sha256', 'hmac-sha512'], secret: seal(ring, secret, id), ...fields },
});

function table(): HmacCredentialTable {
  return compileHmacCredentials([entry('c1', 'alice', SECRET), entry('c2', 'bob', 'bob-secret-0123456789abcdef', { algorithms: ['hmac-sha384'] })], { keyring: ring });
}

function request(method: string, pathWithQuery: string, headers: Record<string, string>, body: Buffer | null = null): HmacRequest {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, pathWithQuery, header: (n) => h.get(n) ?? '', body };
}

/** Signs like a client: one `name: value` line per listed header. */
function sign(secret: string, alg: string, names: string[], method: string, path: string, headers: Record<string, string>): string {
  const lines = names.map((n) => (n === '@request-target' ? `${n}: ${method.toLowerCase()} ${path}` : `${n}: ${headers[n]!}`));
  return createHmac(alg.replace('hmac-', ''), secret).update(lines.join('\n')).digest('base64');
}

function authz(keyId: string, alg: string, names: string[], sig: string): string {
  return `hmac username="${keyId}", algorithm="${alg}", headers="${names.join(' ')}", signature="${sig}"`;
}

/** A fully signed request (fresh signature each call: the date shifts by `offsetMs`). */
function signed(opts: { keyId?: string; alg?: string; names?: string[]; offsetMs?: number; secret?: string; path?: string; extra?: Record<string, string> } = {}) {
  const { keyId = 'alice', alg = 'hmac-sha256', names = ['@request-target', 'date'], offsetMs = 0, secret = SECRET, path = '/orders?id=7', extra = {} } = opts;
  const headers: Record<string, string> = { date: new Date(NOW + offsetMs).toUTCString(), host: 'api.example.com', ...extra };
  const sig = sign(secret, alg, names, 'GET', path, headers);
  return request('GET', path, { ...headers, authorization: authz(keyId, alg, names, sig) });
}

const code = (r: HmacResult) => (r.ok ? 'ok' : r.code);

test('the documented worked example verifies (signature computed with openssl)', () => {
  const policy = compileHmacPolicy({});
  const t = table();
  const req = request('GET', '/orders?id=7', {
    date: DATE,
    authorization: 'hmac username="alice", algorithm="hmac-sha256", headers="@request-target date", signature="NdlHOBc5yx10uM/xaBsG11/QkeQQlDiOuFFauXiLREM="',
  });
  const r = verifyHmac(policy, t, req, NOW + 1000);
  assert.deepEqual(r, { ok: true, consumerId: 'consumer-c1', credentialId: 'c1', keyId: 'alice' });
  // The draft's spelling `(request-target)` names the same pseudo-header; its line is rendered as listed.
  const draft = createHmac('sha256', SECRET).update(`(request-target): get /orders?id=7\ndate: ${DATE}`).digest('base64');
  const listed = request('GET', '/orders?id=7', { date: DATE, authorization: authz('alice', 'hmac-sha256', ['(request-target)', 'date'], draft) });
  assert.equal(code(verifyHmac(policy, t, listed, NOW)), 'ok');
  // The scheme is case-insensitive and the parameters may come without spaces.
  const tight = request('GET', '/orders?id=7', { date: DATE, authorization: `HMAC username="alice",algorithm="hmac-sha256",headers="date",signature="${sign(SECRET, 'hmac-sha256', ['date'], 'GET', '/', { date: DATE })}"` });
  assert.equal(code(verifyHmac(compileHmacPolicy({ enforce_headers: [] }), t, tight, NOW)), 'ok');
});

test('a body digest: the documented example (openssl) passes; a changed body, a missing or unsigned Digest do not', () => {
  const policy = compileHmacPolicy({ validate_request_body: true });
  assert.deepEqual(policy.enforceHeaders, ['@request-target', 'digest']);
  const body = Buffer.from('{"n":1}');
  const digest = 'SHA-256=K/0U9D0X/HzqJOCReoh5tLL4gLi67sG52Q+6rWVecb0=';
  assert.equal(digest, 'SHA-256=' + createHash('sha256').update(body).digest('base64'));
  const headers = {
    date: DATE,
    digest,
    authorization: 'hmac username="alice", algorithm="hmac-sha256", headers="@request-target date digest", signature="JuZumBKXXZfl1LptXgcid6NijT8M1mF7GYB0VZfpVCc="',
  };
  assert.equal(code(verifyHmac(policy, table(), request('POST', '/orders', headers, body), NOW)), 'ok');
  assert.equal(code(verifyHmac(policy, table(), request('POST', '/orders', headers, Buffer.from('{"n":2}')), NOW)), 'TP_ERR_AUTH_DIGEST_MISMATCH');
  assert.equal(code(verifyHmac(policy, table(), request('POST', '/orders', headers, null), NOW)), 'TP_ERR_AUTH_DIGEST_MISMATCH');
  // Digest signed but absent from the request: the signing string cannot be built.
  const { digest: _d, ...noDigest } = headers;
  assert.equal(code(verifyHmac(policy, table(), request('POST', '/orders', noDigest, body), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID');
  // Digest present but not signed: refused before any digest is computed.
  const names = ['@request-target', 'date'];
  const unsigned = { date: DATE, digest, authorization: authz('alice', 'hmac-sha256', names, sign(SECRET, 'hmac-sha256', names, 'POST', '/orders', { date: DATE })) };
  const r = verifyHmac(policy, table(), request('POST', '/orders', unsigned, body), NOW);
  assert.equal(code(r), 'TP_ERR_AUTH_SIGNATURE_INVALID');
  assert.equal(!r.ok && r.wwwAuthenticate, 'hmac realm="turnpike", headers="@request-target digest date"');
  // Without validate_request_body the body is not read.
  assert.equal(code(verifyHmac(compileHmacPolicy({}), table(), request('POST', '/orders', headers, Buffer.from('other')), NOW)), 'ok');
});

test('missing and malformed headers', () => {
  const policy = compileHmacPolicy({});
  const t = table();
  const missing = verifyHmac(policy, t, request('GET', '/', { date: DATE }), NOW);
  assert.deepEqual(missing, {
    ok: false,
    code: 'TP_ERR_AUTH_SIGNATURE_MISSING',
    status: 401,
    message: 'an HMAC request signature is required',
    wwwAuthenticate: 'hmac realm="turnpike", headers="@request-target date"',
  });
  assert.equal(code(verifyHmac(policy, t, request('GET', '/', { date: DATE, authorization: 'Basic YTpi' }), NOW)), 'TP_ERR_AUTH_SIGNATURE_MISSING');
  for (const bad of [
    'hmac ',
    'hmac',
    'hmac username=alice, algorithm="hmac-sha256", signature="AAAA"',
    'hmac username="alice", algorithm="hmac-sha256"',
    'hmac username="alice", algorithm="hmac-sha256", signature="AAAA',
    'hmac username="alice", username="bob", algorithm="hmac-sha256", signature="AAAA"',
    'hmac username="alice", algorithm="hmac-sha256", signature="not base64!"',
    'hmac username="alice", algorithm="hmac-sha256", signature="' + 'A'.repeat(9000) + '"',
  ]) {
    assert.equal(code(verifyHmac(policy, t, request('GET', '/', { date: DATE, authorization: bad }), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID', bad.slice(0, 80));
  }
});

test('each enforced header left unsigned, or signed but absent, is refused', () => {
  const policy = compileHmacPolicy({ enforce_headers: ['@request-target', 'host', 'content-type'] });
  const t = table();
  const all = ['@request-target', 'date', 'host', 'content-type'];
  const extra = { 'content-type': 'application/json' };
  assert.equal(code(verifyHmac(policy, t, signed({ names: all, extra }), NOW)), 'ok');
  for (const left of all) {
    const names = all.filter((n) => n !== left);
    const r = verifyHmac(policy, t, signed({ names, extra }), NOW);
    assert.equal(code(r), 'TP_ERR_AUTH_SIGNATURE_INVALID', `${left} unsigned`);
    assert.equal(!r.ok && r.message, 'the signature does not cover every required header');
  }
  // Signed, but the request lacks it.
  const headers = { date: DATE };
  const names = ['@request-target', 'date', 'host', 'content-type'];
  const sig = sign(SECRET, 'hmac-sha256', names, 'GET', '/', { ...headers, host: 'h', 'content-type': 'x' });
  const r = verifyHmac(policy, t, request('GET', '/', { ...headers, host: 'h', authorization: authz('alice', 'hmac-sha256', names, sig) }), NOW);
  assert.equal(!r.ok && r.message, 'a signed header is absent from the request');
  // The date must be signed even when enforce_headers does not list it; X-Date when present is the one.
  const xdate = { 'x-date': DATE };
  const xs = sign(SECRET, 'hmac-sha256', ['@request-target', 'x-date'], 'GET', '/', xdate);
  assert.equal(code(verifyHmac(compileHmacPolicy({}), t, request('GET', '/', { ...xdate, authorization: authz('alice', 'hmac-sha256', ['@request-target', 'x-date'], xs) }), NOW)), 'ok');
  const noDate = sign(SECRET, 'hmac-sha256', ['@request-target'], 'GET', '/', {});
  assert.equal(code(verifyHmac(compileHmacPolicy({}), t, request('GET', '/', { date: DATE, authorization: authz('alice', 'hmac-sha256', ['@request-target'], noDate) }), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID');
  const none = verifyHmac(compileHmacPolicy({}), t, request('GET', '/', { authorization: authz('alice', 'hmac-sha256', ['@request-target'], noDate) }), NOW);
  assert.equal(!none.ok && none.message, 'a valid Date or X-Date header is required');
  const garbage = request('GET', '/', { date: 'yesterday', authorization: authz('alice', 'hmac-sha256', ['date'], sign(SECRET, 'hmac-sha256', ['date'], 'GET', '/', { date: 'yesterday' })) });
  assert.equal(code(verifyHmac(compileHmacPolicy({ enforce_headers: [] }), t, garbage, NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID');
});

test('a tampered signature, request or key is refused; a wrong key id too', () => {
  const policy = compileHmacPolicy({});
  const t = table();
  const good = signed();
  const auth = good.header('authorization');
  const sig = /signature="([^"]+)"/.exec(auth)![1]!;
  const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  const tamper = (authorization: string, path = '/orders?id=7') => request('GET', path, { date: good.header('date'), authorization });
  assert.equal(code(verifyHmac(policy, t, tamper(auth.replace(sig, flipped)), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID');
  assert.equal(code(verifyHmac(policy, t, tamper(auth.replace(sig, sig.slice(0, 20) + '==')), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID', 'shorter');
  assert.equal(code(verifyHmac(policy, t, tamper(auth, '/orders?id=8'), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID', 'another path');
  assert.equal(code(verifyHmac(policy, t, signed({ secret: 'not-alice-secret-0123456789' }), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID', 'another key');
  const unknown = verifyHmac(policy, t, signed({ keyId: 'mallory' }), NOW);
  assert.equal(!unknown.ok && unknown.message, 'the signature key id is not known');
  assert.equal(code(verifyHmac(policy, t, tamper(auth), NOW)), 'ok', 'the untampered request passes');
});

test('algorithms: the route allowlist and the credential allowlist both apply; sha512 works', () => {
  const t = table();
  assert.equal(code(verifyHmac(compileHmacPolicy({}), t, signed({ alg: 'hmac-sha512' }), NOW)), 'ok');
  const r = verifyHmac(compileHmacPolicy({ algorithms: ['hmac-sha256'] }), t, signed({ alg: 'hmac-sha512', offsetMs: 1 }), NOW);
  assert.equal(!r.ok && r.message, 'the signature algorithm is not allowed');
  assert.equal(code(verifyHmac(compileHmacPolicy({}), t, signed({ alg: 'hmac-sha384', offsetMs: 2 }), NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID', 'alice has no sha384');
  assert.equal(code(verifyHmac(compileHmacPolicy({}), t, signed({ keyId: 'bob', secret: 'bob-secret-0123456789abcdef', alg: 'hmac-sha384' }), NOW)), 'ok');
  const md5 = request('GET', '/', { date: DATE, authorization: 'hmac username="alice", algorithm="hmac-md5", headers="date", signature="AAAA"' });
  assert.equal(code(verifyHmac(compileHmacPolicy({ enforce_headers: [] }), t, md5, NOW)), 'TP_ERR_AUTH_SIGNATURE_INVALID');
});

test('clock skew: a date outside the window either way is expired; at the edge it passes', () => {
  const policy = compileHmacPolicy({ clock_skew_s: 300 });
  const t = table();
  const r = verifyHmac(policy, t, signed({ offsetMs: -301_000 }), NOW);
  assert.equal(code(r), 'TP_ERR_AUTH_SIGNATURE_EXPIRED');
  assert.equal(!r.ok && r.status, 401);
  assert.equal(code(verifyHmac(policy, t, signed({ offsetMs: 301_000 }), NOW)), 'TP_ERR_AUTH_SIGNATURE_EXPIRED', 'in the future');
  assert.equal(code(verifyHmac(policy, t, signed({ offsetMs: -300_000 }), NOW)), 'ok', 'at the edge');
  assert.equal(code(verifyHmac(policy, t, signed({ offsetMs: 299_000 }), NOW)), 'ok');
});

test('replay: the same signature is refused within the window, on every route, and after a credential recompile that keeps the cache', () => {
  const policy = compileHmacPolicy({});
  const t = table();
  const req = signed();
  assert.equal(code(verifyHmac(policy, t, req, NOW)), 'ok');
  const again = verifyHmac(policy, t, req, NOW + 10_000);
  assert.equal(code(again), 'TP_ERR_AUTH_SIGNATURE_REPLAYED');
  assert.equal(code(verifyHmac(compileHmacPolicy({ hide_credentials: true }), t, req, NOW + 20_000)), 'TP_ERR_AUTH_SIGNATURE_REPLAYED', 'another route');
  const next = compileHmacCredentials([entry('c1', 'alice', SECRET)], { keyring: ring, replay: t.replay });
  assert.equal(code(verifyHmac(policy, next, req, NOW + 30_000)), 'TP_ERR_AUTH_SIGNATURE_REPLAYED', 'kept across compiles');
  // Padding variants of the same bytes are the same signature.
  const sig = /signature="([^"]+)"/.exec(req.header('authorization'))![1]!;
  assert.ok(sig.endsWith('='));
  const unpadded = request('GET', '/orders?id=7', { date: req.header('date'), authorization: req.header('authorization').replace(sig, sig.replace(/=+$/, '')) });
  assert.equal(code(verifyHmac(policy, next, unpadded, NOW + 30_000)), 'TP_ERR_AUTH_SIGNATURE_REPLAYED');
  // A failed attempt is not remembered: a bad signature does not block the genuine one.
  const fresh = signed({ offsetMs: 5000 }); // Date has whole seconds
  const bad = request('GET', '/orders?id=7', { date: fresh.header('date'), authorization: fresh.header('authorization').replace('username="alice"', 'username="bob"') });
  assert.notEqual(code(verifyHmac(policy, t, bad, NOW)), 'ok');
  assert.equal(code(verifyHmac(policy, t, fresh, NOW)), 'ok');
});

test('the replay cache forgets a signature once its date is outside the window, and stays bounded', () => {
  const c = new ReplayCache(3);
  assert.equal(c.seen('a', 0, 100), false);
  assert.equal(c.seen('a', 50, 100), true);
  assert.equal(c.seen('a', 100, 200), false, 'expired: recorded again');
  assert.equal(c.seen('b', 100, 300), false);
  assert.equal(c.seen('c', 100, 300), false);
  assert.equal(c.seen('d', 100, 300), false);
  assert.equal(c.size, 3);
  assert.equal(c.evicted, 1, 'the oldest live entry made room');
  assert.equal(c.seen('e', 250, 400), false, 'a and the others expired ones go first');
  assert.ok(c.size <= 3);
});

test('a credential whose secret cannot be opened answers 503, never 401; bad entries are rejected', () => {
  const other = keyringOf(generateSecretKey());
  const t = compileHmacCredentials(
    [
      entry('c1', 'alice', SECRET),
      { id: 'c3', data: { ...entry('c3', 'carol', 'x'.repeat(20)).data, secret: seal(other, 'carol-secret-0123456789', 'c3') } },
      { id: 'c4', data: { ...entry('c4', 'dave', 'x'.repeat(20)).data, secret: seal(ring, 'dave-secret-0123456789', 'not-c4') } },
      { id: 'c5', data: { ...entry('c5', 'alice', 'x'.repeat(20)).data } },
      { id: 'c6', data: { ...entry('c6', 'erin', 'x'.repeat(20)).data, algorithms: ['hmac-md5'] } },
      { id: 'j1', data: { id: 'j1', type: 'jwt', issuer: 'x' } },
    ],
    { keyring: ring },
  );
  assert.deepEqual([...t.credentials.keys()].sort(), ['alice', 'carol', 'dave']);
  assert.deepEqual(t.rejected.map((r) => r.key).sort(), ['credentials.c3', 'credentials.c4', 'credentials.c5', 'credentials.c6']);
  const r = verifyHmac(compileHmacPolicy({}), t, signed({ keyId: 'carol', secret: 'carol-secret-0123456789' }), NOW);
  assert.deepEqual(r.ok ? null : [r.code, r.status, r.wwwAuthenticate], ['TP_ERR_AUTH_UNAVAILABLE', 503, null]);
  const noRing = compileHmacCredentials([entry('c1', 'alice', SECRET)], { keyring: null });
  assert.equal(code(verifyHmac(compileHmacPolicy({}), noRing, signed(), NOW)), 'TP_ERR_AUTH_UNAVAILABLE');
});
