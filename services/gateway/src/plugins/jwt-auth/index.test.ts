// jwt-auth with static keys (shared secrets, PEM public keys): real crypto, tokens signed by jose (an
// independent implementation) and verified by this module. JWKS issuers: jwks-cache.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import { generateSecretKey, keyringOf, seal, type Keyring } from '@turnpike/common';
import {
  JwksRegistry,
  JwtFailures,
  MAX_TOKEN_CHARS,
  compileJwtIssuers,
  compileJwtPolicy,
  headerSafe,
  readJwtToken,
  verifyJwt,
  withoutCookie,
  withoutQueryParam,
  type JwtIssuerTable,
  type JwtResult,
} from './index.js';
import { keyFits, verifyKeyOf } from './signature.js';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const nowS = NOW / 1000;
const ring = keyringOf(generateSecretKey());
const HS_SECRET = 'an-hs256-shared-secret-of-32-bytes!!';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

type Cred = Record<string, unknown> & { id: string };
const cred = (id: string, issuer: string, fields: Record<string, unknown>): Cred => ({
  id,
  type: 'jwt',
  consumer_id: `consumer-${id}`,
  issuer,
  audiences: [],
  clock_skew_s: 60,
  claims_to_headers: {},
  ...fields,
});

const creds: Cred[] = [
  cred('hs', 'https://hs.example', { algorithms: ['HS256', 'HS384'], secret: seal(ring, HS_SECRET, 'hs') }),
  cred('rs', 'https://rs.example', {
    algorithms: ['RS256'],
    public_key: pem(rsa.publicKey),
    claims_to_headers: { sub: 'X-Consumer-Sub', roles: 'X-Roles', n: 'x-n', note: 'X-Note', intl: 'X-Intl' },
  }),
  cred('ps', 'https://ps.example', { algorithms: ['PS256'], public_key: pem(rsa.publicKey) }),
  cred('es', 'https://es.example', { algorithms: ['ES256'], public_key: pem(ec.publicKey) }),
  cred('ed', 'https://ed.example', { algorithms: ['EdDSA'], public_key: pem(ed.publicKey) }),
  cred('aud', 'https://aud.example', { algorithms: ['RS256'], public_key: pem(rsa.publicKey), audiences: ['api://orders', 'api://billing'] }),
];

const build = (list: Cred[], keyring: Keyring | null = ring): JwtIssuerTable =>
  compileJwtIssuers(
    list.map(({ id, ...data }) => ({ id, data })),
    { keyring, jwks: new JwksRegistry(), prefetch: false },
  );
const table = build(creds);
const policy = compileJwtPolicy({});

async function sign(alg: string, key: KeyObject | Uint8Array, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ exp: nowS + 600, ...claims }).setProtectedHeader({ alg, ...header }).sign(key);
}
const hsKey = new TextEncoder().encode(HS_SECRET);

/** verifyJwt's answer, asserting it came synchronously (every key here is at hand). */
function check(token: string, t: JwtIssuerTable = table, p = policy, now = NOW): JwtResult {
  const r = verifyJwt(p, t, token, now);
  assert.ok(!(r instanceof Promise), 'a static key verifies synchronously');
  return r;
}
const codeOf = (r: JwtResult) => (r.ok ? 'ok' : r.code);

test('jwt-auth policy defaults: Authorization Bearer, exp required, token hidden', () => {
  assert.deepEqual(policy, { headerName: 'authorization', scheme: 'bearer', queryParam: null, cookieName: null, claimsRequired: ['exp'], hideCredentials: true });
});

test('readJwtToken: Bearer header (any case), bare-token header, query parameter, cookie, in that order', () => {
  const h = (m: Record<string, string>) => (n: string) => m[n] ?? '';
  assert.equal(readJwtToken(policy, h({ authorization: 'Bearer abc.def.ghi' }), ''), 'abc.def.ghi');
  assert.equal(readJwtToken(policy, h({ authorization: 'bearer   abc.def.ghi ' }), ''), 'abc.def.ghi');
  assert.equal(readJwtToken(policy, h({ authorization: 'Basic dXNlcjpwYXNz' }), ''), '', 'another scheme is not a bearer token');
  assert.equal(readJwtToken(policy, h({ authorization: 'Bearer' }), ''), '');
  const all = compileJwtPolicy({ header_name: 'X-Token', header_scheme: '', query_param: 'jwt', cookie_name: 'session' });
  assert.equal(readJwtToken(all, h({ 'x-token': 'h.h.h' }), 'jwt=q.q.q'), 'h.h.h');
  assert.equal(readJwtToken(all, h({}), 'a=1&jwt=q.q.q&b=2'), 'q.q.q');
  assert.equal(readJwtToken(all, h({}), 'jwtx=no&jwt=q%2Eq.q'), 'q.q.q');
  assert.equal(readJwtToken(all, h({ cookie: 'a=1; session=c.c.c; b=2' }), 'other=1'), 'c.c.c');
  assert.equal(readJwtToken(all, h({ cookie: 'sessionx=c.c.c' }), ''), '');
  assert.equal(withoutQueryParam('a=1&jwt=q.q.q&b=2&jwt', 'jwt'), 'a=1&b=2');
  assert.equal(withoutCookie('a=1; session=c.c.c; sessions=2', 'session'), 'a=1; sessions=2');
  assert.equal(withoutCookie('session=c.c.c', 'session'), '');
});

test('valid tokens verify synchronously for HS256, RS256, PS256, ES256 and EdDSA and name the consumer', async () => {
  const cases: [string, string, KeyObject | Uint8Array, string][] = [
    ['HS256', 'https://hs.example', hsKey, 'hs'],
    ['RS256', 'https://rs.example', rsa.privateKey, 'rs'],
    ['PS256', 'https://ps.example', rsa.privateKey, 'ps'],
    ['ES256', 'https://es.example', ec.privateKey, 'es'],
    ['EdDSA', 'https://ed.example', ed.privateKey, 'ed'],
  ];
  for (const [alg, iss, key, id] of cases) {
    const r = check(await sign(alg, key, { iss, sub: 'user-1' }));
    assert.ok(r.ok, `${alg}: ${codeOf(r)}`);
    assert.equal(r.consumerId, `consumer-${id}`);
    assert.equal(r.credentialId, id);
    assert.equal(r.issuer, iss);
    assert.equal(r.claims.sub, 'user-1');
  }
});

test('a missing token is 401 TP_ERR_AUTH_TOKEN_MISSING with a plain Bearer challenge', () => {
  const r = check('');
  assert.equal(r, JwtFailures.missing);
  assert.ok(!r.ok);
  assert.equal(r.status, 401);
  assert.equal(r.wwwAuthenticate, 'Bearer');
});

test('malformed tokens are TP_ERR_AUTH_TOKEN_MALFORMED with an invalid_token challenge', async () => {
  const good = await sign('RS256', rsa.privateKey, { iss: 'https://rs.example' });
  const [h, p, s] = good.split('.') as [string, string, string];
  const b64 = (v: string) => Buffer.from(v).toString('base64url');
  for (const bad of [
    'not-a-jwt',
    `${h}.${p}`,
    `${h}.${p}.${s}.extra`,
    `${h}..${s}`,
    `${b64('{not json')}.${p}.${s}`,
    `${h}.${b64('[1,2]')}.${s}`,
    `${b64('{"alg":7}')}.${p}.${s}`,
    `${b64('{"alg":"RS256","kid":7}')}.${p}.${s}`,
    `${h}.${p}+.${s}`,
    'a'.repeat(MAX_TOKEN_CHARS + 1),
  ]) {
    const r = check(bad);
    assert.equal(codeOf(r), 'TP_ERR_AUTH_TOKEN_MALFORMED', bad.slice(0, 60));
    assert.ok(!r.ok && r.status === 401 && r.wwwAuthenticate === 'Bearer error="invalid_token", error_description="the token is not a well-formed JWT"');
  }
});

test('expiry and not-before are checked with the issuer clock skew (60 s)', async () => {
  const iss = 'https://rs.example';
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, exp: nowS - 61 }))), 'TP_ERR_AUTH_TOKEN_EXPIRED');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, exp: nowS - 30 }))), 'ok', 'expired within the skew');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, nbf: nowS + 120 }))), 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, nbf: nowS + 30 }))), 'ok', 'not yet valid within the skew');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, iat: nowS + 120 }))), 'TP_ERR_AUTH_TOKEN_NOT_YET_VALID', 'issued in the future');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, exp: 'tomorrow' as unknown as number }))), 'TP_ERR_AUTH_TOKEN_INVALID');
  const strict = build([cred('rs0', iss, { algorithms: ['RS256'], public_key: pem(rsa.publicKey), clock_skew_s: 0 })]);
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, exp: nowS - 1 }), strict)), 'TP_ERR_AUTH_TOKEN_EXPIRED', 'no skew');
});

test('aud must name one of the issuer audiences when it has any', async () => {
  const iss = 'https://aud.example';
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, aud: 'api://orders' }))), 'ok');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, aud: ['api://x', 'api://billing'] }))), 'ok');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss, aud: 'api://elsewhere' }))), 'TP_ERR_AUTH_TOKEN_AUDIENCE');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss }))), 'TP_ERR_AUTH_TOKEN_AUDIENCE', 'no aud at all');
  // An issuer without audiences does not check aud.
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss: 'https://rs.example', aud: 'anything' }))), 'ok');
});

test('a tampered payload or signature is TP_ERR_AUTH_TOKEN_INVALID', async () => {
  for (const [alg, key, iss] of [
    ['RS256', rsa.privateKey, 'https://rs.example'],
    ['HS256', hsKey, 'https://hs.example'],
    ['ES256', ec.privateKey, 'https://es.example'],
  ] as const) {
    const token = await sign(alg, key, { iss, sub: 'alice' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
    assert.equal(codeOf(check(`${h}.${forged}.${s}`)), 'TP_ERR_AUTH_TOKEN_INVALID', `${alg} payload`);
    const sig = Buffer.from(s, 'base64url');
    sig[5] = sig[5]! ^ 0x01;
    assert.equal(codeOf(check(`${h}.${p}.${sig.toString('base64url')}`)), 'TP_ERR_AUTH_TOKEN_INVALID', `${alg} signature`);
    assert.equal(codeOf(check(`${h}.${p}.`)), 'TP_ERR_AUTH_TOKEN_INVALID', `${alg} without signature`);
    assert.equal(codeOf(check(token)), 'ok', `${alg} untouched`);
  }
});

test('alg none is refused, signed or not', async () => {
  const unsecured = new UnsecuredJWT({ iss: 'https://rs.example', exp: nowS + 60 }).encode();
  assert.equal(codeOf(check(unsecured)), 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
  const [, p, s] = (await sign('RS256', rsa.privateKey, { iss: 'https://rs.example' })).split('.');
  for (const alg of ['none', 'None', 'NONE']) {
    const h = Buffer.from(JSON.stringify({ alg })).toString('base64url');
    assert.equal(codeOf(check(`${h}.${p}.${s}`)), 'TP_ERR_AUTH_ALG_NOT_ALLOWED', alg);
  }
});

test('algorithm confusion: HS256 signed with the RSA public key PEM as the secret is refused', async () => {
  const publicPem = new TextEncoder().encode(pem(rsa.publicKey));
  const forged = await sign('HS256', publicPem, { iss: 'https://rs.example', sub: 'admin' });
  assert.equal(codeOf(check(forged)), 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
  // Even a credential (bypassing the control plane's check) allowing both kinds is never used: 503, not a pass.
  const mixed = build([cred('mix', 'https://rs.example', { algorithms: ['RS256', 'HS256'], public_key: pem(rsa.publicKey) })]);
  assert.equal(mixed.rejected.length, 1);
  const r = check(forged, mixed);
  assert.equal(codeOf(r), 'TP_ERR_AUTH_UNAVAILABLE');
  // And the key check itself: an asymmetric key never verifies HS*, a secret never RS*/ES*/EdDSA.
  const pub = verifyKeyOf(rsa.publicKey);
  assert.equal(keyFits('HS256', pub), false);
  assert.equal(keyFits('RS256', pub), true);
  assert.equal(keyFits('ES256', pub), false);
  const secret = table.issuers.get('https://hs.example')!.key!;
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA']) assert.equal(keyFits(alg, secret), false, alg);
  assert.equal(keyFits('ES384', verifyKeyOf(ec.publicKey)), false, 'ES384 needs P-384');
});

test('an algorithm outside the issuer allowlist is TP_ERR_AUTH_ALG_NOT_ALLOWED even with a good signature', async () => {
  // The rs issuer allows RS256 only; PS256 and RS384 with its own key are refused.
  assert.equal(codeOf(check(await sign('PS256', rsa.privateKey, { iss: 'https://rs.example' }))), 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
  assert.equal(codeOf(check(await sign('RS384', rsa.privateKey, { iss: 'https://rs.example' }))), 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
  // An RS token at an HS issuer (allowlist HS256, HS384).
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss: 'https://hs.example' }))), 'TP_ERR_AUTH_ALG_NOT_ALLOWED');
});

test('an unknown or missing iss is TP_ERR_AUTH_ISSUER_UNKNOWN', async () => {
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss: 'https://evil.example' }))), 'TP_ERR_AUTH_ISSUER_UNKNOWN');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, {}))), 'TP_ERR_AUTH_ISSUER_UNKNOWN');
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss: 7 as unknown as string }))), 'TP_ERR_AUTH_ISSUER_UNKNOWN');
});

test('a critical header extension is refused', async () => {
  const t = await new SignJWT({ iss: 'https://rs.example', exp: nowS + 60 }).setProtectedHeader({ alg: 'RS256', crit: ['b64'], b64: true }).sign(rsa.privateKey);
  assert.equal(codeOf(check(t)), 'TP_ERR_AUTH_TOKEN_INVALID');
});

test('claims_to_headers: values stringified (objects as JSON), CR/LF stripped, non-ASCII percent-encoded', async () => {
  const r = check(
    await sign('RS256', rsa.privateKey, {
      iss: 'https://rs.example',
      sub: 'user-1',
      roles: ['admin', 'ops'],
      n: 42,
      note: 'line1\r\nX-Injected: yes',
      intl: 'José 李',
    }),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.headers, ['x-consumer-sub', 'user-1', 'x-roles', '["admin","ops"]', 'x-n', '42', 'x-note', 'line1X-Injected: yes', 'x-intl', 'Jos%C3%A9 %E6%9D%8E']);
  assert.deepEqual(r.headerNames, ['x-consumer-sub', 'x-roles', 'x-n', 'x-note', 'x-intl']);
  const sparse = check(await sign('RS256', rsa.privateKey, { iss: 'https://rs.example', sub: 's' }));
  assert.ok(sparse.ok);
  assert.deepEqual(sparse.headers, ['x-consumer-sub', 's'], 'absent claims set no header');
  assert.equal(headerSafe('a\u0000b\tc'), 'ab\tc');
});

test('claims_required: a token without a required claim is refused, also when its verification was cached', async () => {
  const noExp = await new SignJWT({ iss: 'https://rs.example', sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
  assert.equal(check(noExp), JwtFailures.claimMissing);
  const lenient = compileJwtPolicy({ claims_required: [] });
  assert.equal(codeOf(check(noExp, table, lenient)), 'ok');
  const token = await sign('RS256', rsa.privateKey, { iss: 'https://rs.example' });
  assert.equal(codeOf(check(token)), 'ok');
  assert.equal(check(token, table, compileJwtPolicy({ claims_required: ['exp', 'tenant'] })), JwtFailures.claimMissing, 'the cached result is re-checked per route');
});

test('a verified token is cached by its SHA-256 until it expires or for 60 s', async () => {
  const t = build(creds);
  const token = await sign('RS256', rsa.privateKey, { iss: 'https://rs.example', exp: nowS + 30 });
  const first = check(token, t);
  assert.ok(first.ok);
  assert.equal(t.verified.size, 1);
  assert.equal(check(token, t, policy, NOW + 1000), first, 'a repeat is the cached result');
  // Past exp + skew the entry is gone and the token re-verified: expired.
  assert.equal(codeOf(check(token, t, policy, NOW + 91_000)), 'TP_ERR_AUTH_TOKEN_EXPIRED');
  // A long-lived token stays at most 60 s; after that it is verified again (a new result object).
  const long = await sign('RS256', rsa.privateKey, { iss: 'https://rs.example', exp: nowS + 3600 });
  const a = check(long, t);
  assert.equal(check(long, t, policy, NOW + 59_000), a);
  const b = check(long, t, policy, NOW + 61_000);
  assert.ok(b.ok && b !== a);
  // Failures are not cached: a new table (credentials changed) starts empty.
  assert.equal(codeOf(check(await sign('RS256', rsa.privateKey, { iss: 'https://nobody.example' }), t)), 'TP_ERR_AUTH_ISSUER_UNKNOWN');
  assert.equal(build(creds).verified.size, 0);
});

test('the verified-token cache is bounded (least recently used goes first; recency refreshed at most once a second)', async () => {
  const t = compileJwtIssuers(
    creds.map(({ id, ...data }) => ({ id, data })),
    { keyring: ring, jwks: new JwksRegistry(), prefetch: false, verifiedEntries: 2 },
  );
  const [a, b, c] = await Promise.all([1, 2, 3].map((i) => sign('HS256', hsKey, { iss: 'https://hs.example', jti: String(i) })));
  const ra = check(a!, t);
  const rb = check(b!, t);
  assert.equal(check(a!, t, policy, NOW + 500), ra, 'a hit within the second: its place is kept');
  assert.equal(check(a!, t, policy, NOW + 1_000), ra, 'a is now the most recent');
  check(c!, t, policy, NOW + 1_000);
  assert.equal(t.verified.size, 2);
  assert.equal(check(a!, t, policy, NOW + 1_000), ra, 'a survived');
  const again = check(b!, t, policy, NOW + 1_000);
  assert.ok(again.ok && again !== rb, 'b was evicted and verified again');
});

test('an HS issuer this node cannot open is unavailable (503), never a 401', async () => {
  const token = await sign('HS256', hsKey, { iss: 'https://hs.example' });
  const noKeyring = build(creds, null);
  const r = check(token, noKeyring);
  assert.equal(r, JwtFailures.unavailable);
  assert.ok(!r.ok && r.status === 503 && r.wwwAuthenticate === null);
  assert.match(noKeyring.rejected.find((x) => x.key === 'credentials.hs')!.reason, /no secret key/);
  // Sealed for another credential id (context mismatch) or under another key: cannot be opened either.
  const moved = build([cred('other-id', 'https://hs.example', { algorithms: ['HS256'], secret: seal(ring, HS_SECRET, 'hs') })]);
  assert.equal(codeOf(check(token, moved)), 'TP_ERR_AUTH_UNAVAILABLE');
  const otherRing = build(creds, keyringOf(generateSecretKey()));
  assert.equal(codeOf(check(token, otherRing)), 'TP_ERR_AUTH_UNAVAILABLE');
});

test('issuer table: bad entries are reported, short RSA keys unusable, duplicate issuers keep the first id', () => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const t = build([
    cred('a-first', 'https://dup.example', { algorithms: ['RS256'], public_key: pem(rsa.publicKey) }),
    cred('b-second', 'https://dup.example', { algorithms: ['RS256'], public_key: pem(rsa.publicKey) }),
    cred('weak', 'https://weak.example', { algorithms: ['RS256'], public_key: pem(weak.publicKey) }),
    cred('noalg', 'https://noalg.example', { algorithms: ['none'], public_key: pem(rsa.publicKey) }),
    cred('nokey', 'https://nokey.example', { algorithms: ['ES256'] }),
    { id: 'basic', type: 'basic', username: 'u' },
  ]);
  assert.equal(t.issuers.get('https://dup.example')!.credentialId, 'a-first');
  assert.equal(t.issuers.get('https://weak.example')!.unavailable, 'public_key: RSA keys must have at least 2048 bits');
  assert.equal(t.issuers.has('https://noalg.example'), false);
  assert.deepEqual(
    t.rejected.map((r) => r.key),
    ['credentials.b-second', 'credentials.noalg', 'credentials.nokey', 'credentials.weak'],
  );
});
