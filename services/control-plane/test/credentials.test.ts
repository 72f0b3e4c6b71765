// Consumer credentials (JWT issuers, HMAC secrets, basic-auth passwords) over REST against real PostgreSQL
// and NATS: CRUD under the consumer, tenancy, the validation rules (algorithm confusion, key material),
// global uniqueness of the identifiers nodes look credentials up by, and that clear secrets appear only in
// a create response that generated one — never in reads, lists, audit, replays or the config bus, where
// secrets are sealed (opened with the keyring) and passwords hashed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { generateSecretKey, isSealed, keyringOf, open, verifyPassword } from '@turnpike/common';
import { waitFor } from '@turnpike/common/testing';
import { status } from '@grpc/grpc-js';
import { failure, serviceClient } from './grpc-client.js';
import { startHarness, type Harness, type RestResponse } from './support.js';

const pem = (k: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer }) => String(k.export({ type: 'spki', format: 'pem' }));
const RSA_PUBLIC = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
const EC_PUBLIC = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const RSA_PRIVATE = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const HS_SECRET = 'an-hs256-shared-secret-of-32-bytes!!';
const PASSWORD = 'correct horse battery';

describe('consumer credentials (REST)', { timeout: 120_000 }, () => {
  const keyring = keyringOf(generateSecretKey());
  let h: Harness;
  let n = 0;
  const uniq = (p: string) => `${p}-${process.pid}-${n++}`;
  const ok = (r: RestResponse, status: number) => {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  };
  const as = (token: string) => (method: string, path: string, body?: unknown) => h.rest(method, path, body, { authorization: `Bearer ${token}` });
  const kv = async (key: string) => {
    const v = await h.bus.get(key);
    return v === null ? null : (JSON.parse(v) as { kind: string; revision: number; data: Record<string, unknown> });
  };
  const consumer = async () => ok(await h.rest('POST', '/v1/consumers', { username: uniq('c') }), 201).json.id as string;
  const creds = (consumerId: string) => `/v1/consumers/${consumerId}/credentials`;
  /** No response body, audit record or bus value may contain these. */
  const secrets = [HS_SECRET, PASSWORD];
  const assertNoSecrets = (where: string, text: string) => {
    for (const s of secrets) assert.equal(text.includes(s), false, `${where} leaks a secret: ${text}`);
  };

  before(async () => {
    h = await startHarness({ keyring, pollIntervalMs: 50 });
  });
  after(async () => {
    await h?.close();
  });

  it('creates, reads, lists, updates and deletes each type under its consumer', async () => {
    const c = await consumer();
    const jwt = ok(await h.rest('POST', creds(c), { type: 'jwt', issuer: uniq('https://issuer.example.com/'), algorithms: ['RS256', 'PS256'], public_key: RSA_PUBLIC }), 201);
    assert.equal(jwt.headers.get('location'), `${creds(c)}/${jwt.json.id}`);
    assert.deepEqual(
      { ...jwt.json, id: 0, issuer: 0, created_at: 0, updated_at: 0 },
      { id: 0, consumer_id: c, type: 'jwt', issuer: 0, algorithms: ['RS256', 'PS256'], public_key: RSA_PUBLIC, audiences: [], clock_skew_s: 60, claims_to_headers: {}, secret_set: false, tags: [], created_at: 0, updated_at: 0 },
    );
    const hs = ok(await h.rest('POST', creds(c), { type: 'jwt', issuer: uniq('hs-issuer'), algorithms: ['HS256'], secret: HS_SECRET, audiences: ['api'], claims_to_headers: { sub: 'x-user' } }), 201).json;
    assert.equal(hs.secret_set, true);
    assert.equal('secret' in hs, false, 'a secret the caller chose is not echoed');
    const hmac = ok(await h.rest('POST', creds(c), { type: 'hmac', key_id: uniq('key') }), 201).json;
    assert.match(hmac.secret, /^[A-Za-z0-9_-]{43}$/, 'a generated secret is 32 random bytes, base64url, shown once');
    assert.deepEqual(hmac.algorithms, ['hmac-sha256']);
    const basic = ok(await h.rest('POST', creds(c), { type: 'basic', username: uniq('alice'), password: PASSWORD, tags: ['t'] }), 201).json;
    assert.equal(basic.secret_set, true);
    assert.equal('password' in basic, false);

    const got = ok(await h.rest('GET', `${creds(c)}/${hmac.id}`), 200);
    assert.equal('secret' in got.json, false);
    assert.equal(got.json.secret_set, true);
    const list = ok(await h.rest('GET', creds(c)), 200).json.data as Array<{ id: string }>;
    assert.deepEqual(list.map((x) => x.id), [jwt.json.id, hs.id, hmac.id, basic.id]);
    assert.deepEqual(ok(await h.rest('GET', `${creds(c)}?type=basic`), 200).json.data.map((x: { id: string }) => x.id), [basic.id]);
    assert.deepEqual(ok(await h.rest('GET', `${creds(c)}?name=${encodeURIComponent(hmac.key_id)}`), 200).json.data.map((x: { id: string }) => x.id), [hmac.id]);

    const patched = ok(await h.rest('PATCH', `${creds(c)}/${jwt.json.id}`, { algorithms: ['RS512'], clock_skew_s: 5 }, { 'if-match': '"1"' }), 200).json;
    assert.deepEqual([patched.algorithms, patched.clock_skew_s, patched.public_key], [['RS512'], 5, RSA_PUBLIC]);
    const toJwks = ok(await h.rest('PATCH', `${creds(c)}/${jwt.json.id}`, { public_key: null, jwks_uri: 'https://issuer.example.com/.well-known/jwks.json' }), 200).json;
    assert.equal(toJwks.jwks_uri, 'https://issuer.example.com/.well-known/jwks.json');
    assert.equal('public_key' in toJwks, false);
    const retype = ok(await h.rest('PUT', `${creds(c)}/${basic.id}`, { type: 'hmac', key_id: uniq('retyped') }), 422);
    assert.deepEqual(retype.json.error.fields, [{ path: '/type', message: 'cannot change after creation' }]);
    assert.deepEqual(ok(await h.rest('PATCH', `${creds(c)}/${basic.id}`, { type: 'hmac' }), 400).json.error.fields, [{ path: '/type', message: 'is not allowed' }]);
    const renamed = ok(await h.rest('PATCH', `${creds(c)}/${basic.id}`, { username: uniq('alice2') }), 200).json;
    assert.deepEqual(renamed.tags, ['t']);

    ok(await h.rest('DELETE', `${creds(c)}/${hmac.id}`), 204);
    ok(await h.rest('GET', `${creds(c)}/${hmac.id}`), 404);
    await waitFor('bus', async () => ((await kv(`credentials.${hmac.id}`)) === null && (await kv(`credentials.${basic.id}`))?.data.username === renamed.username) || null);
  });

  it("another consumer's path and another tenant see 404", async () => {
    const a = await consumer();
    const b = await consumer();
    const cred = ok(await h.rest('POST', creds(a), { type: 'basic', username: uniq('bob'), password: PASSWORD }), 201).json;
    ok(await h.rest('GET', `${creds(b)}/${cred.id}`), 404);
    ok(await h.rest('PATCH', `${creds(b)}/${cred.id}`, { tags: ['x'] }), 404);
    ok(await h.rest('DELETE', `${creds(b)}/${cred.id}`), 404);
    assert.deepEqual(ok(await h.rest('GET', creds(b)), 200).json.data, []);
    ok(await h.rest('GET', `${creds('00000000-0000-4000-8000-00000000dead')}/${cred.id}`), 404);

    ok(await h.rest('POST', '/v1/tenants', { name: 'cred-other' }), 201);
    const other = ok(await h.rest('POST', '/v1/tokens', { name: uniq('other'), role: 'owner' }, { 'x-turnpike-tenant': 'cred-other' }), 201).json.token as string;
    ok(await as(other)('GET', `${creds(a)}/${cred.id}`), 404);
    ok(await as(other)('GET', creds(a)), 404);
    ok(await as(other)('POST', creds(a), { type: 'basic', username: uniq('eve'), password: PASSWORD }), 404);
    ok(await h.rest('GET', `${creds(a)}/${cred.id}`), 200);
  });

  it('validation: algorithm confusion, key material, none, short passwords — with field paths', async () => {
    const c = await consumer();
    const post = (body: Record<string, unknown>) => h.rest('POST', creds(c), body);
    const fields = (r: RestResponse) => (r.json.error.fields as Array<{ path: string }>).map((f) => f.path);
    const jwt = (extra: Record<string, unknown>) => ({ type: 'jwt', issuer: uniq('iss'), ...extra });
    const cases: Array<[string, Record<string, unknown>, number, string, string[]]> = [
      ['HS mixed with RS', jwt({ algorithms: ['HS256', 'RS256'], secret: HS_SECRET }), 422, 'TP_ERR_UNPROCESSABLE', ['/algorithms']],
      ['HS without a secret', jwt({ algorithms: ['HS256'] }), 422, 'TP_ERR_UNPROCESSABLE', ['/secret']],
      ['HS with a public key', jwt({ algorithms: ['HS256'], secret: HS_SECRET, public_key: RSA_PUBLIC }), 422, 'TP_ERR_UNPROCESSABLE', ['/public_key']],
      ['HS512 with a 36-byte secret', jwt({ algorithms: ['HS512'], secret: HS_SECRET }), 422, 'TP_ERR_UNPROCESSABLE', ['/secret']],
      ['RS with a secret', jwt({ algorithms: ['RS256'], secret: HS_SECRET, jwks_uri: 'https://x.example.com/jwks' }), 422, 'TP_ERR_UNPROCESSABLE', ['/secret']],
      ['RS without jwks_uri or public_key', jwt({ algorithms: ['RS256'] }), 422, 'TP_ERR_UNPROCESSABLE', ['/jwks_uri', '/public_key']],
      ['both jwks_uri and public_key', jwt({ algorithms: ['RS256'], jwks_uri: 'https://x.example.com/jwks', public_key: RSA_PUBLIC }), 422, 'TP_ERR_UNPROCESSABLE', ['/public_key']],
      ['a PEM that is not a key', jwt({ algorithms: ['RS256'], public_key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n' }), 422, 'TP_ERR_UNPROCESSABLE', ['/public_key']],
      ['a private key', jwt({ algorithms: ['RS256'], public_key: RSA_PRIVATE }), 422, 'TP_ERR_UNPROCESSABLE', ['/public_key']],
      ['an RSA key for ES256', jwt({ algorithms: ['RS256', 'ES256'], public_key: RSA_PUBLIC }), 422, 'TP_ERR_UNPROCESSABLE', ['/algorithms/1']],
      ['a P-256 key for ES384', jwt({ algorithms: ['ES384'], public_key: EC_PUBLIC }), 422, 'TP_ERR_UNPROCESSABLE', ['/algorithms/0']],
      ['alg none', jwt({ algorithms: ['none'], jwks_uri: 'https://x.example.com/jwks' }), 400, 'TP_ERR_VALIDATION', ['/algorithms/0']],
      ['no algorithms', jwt({ algorithms: [], jwks_uri: 'https://x.example.com/jwks' }), 400, 'TP_ERR_VALIDATION', ['/algorithms']],
      ['a jwks_uri that is not http(s)', jwt({ algorithms: ['RS256'], jwks_uri: 'file:///etc/keys' }), 400, 'TP_ERR_VALIDATION', ['/jwks_uri']],
      ['clock skew over 600 s', jwt({ algorithms: ['RS256'], public_key: RSA_PUBLIC, clock_skew_s: 601 }), 400, 'TP_ERR_VALIDATION', ['/clock_skew_s']],
      ['a short password', { type: 'basic', username: uniq('u'), password: 'short' }, 400, 'TP_ERR_VALIDATION', ['/password']],
      ['no password', { type: 'basic', username: uniq('u') }, 400, 'TP_ERR_VALIDATION', ['/password']],
      ['a username with a colon', { type: 'basic', username: 'a:b', password: PASSWORD }, 400, 'TP_ERR_VALIDATION', ['/username']],
      ['an unknown hmac algorithm', { type: 'hmac', key_id: uniq('k'), algorithms: ['hmac-md5'] }, 400, 'TP_ERR_VALIDATION', ['/algorithms/0']],
      ['a field of another type', { type: 'hmac', key_id: uniq('k'), issuer: 'x' }, 400, 'TP_ERR_VALIDATION', ['/issuer']],
      ['an unknown type', { type: 'oauth', name: 'x' }, 400, 'TP_ERR_VALIDATION', ['/type']],
    ];
    for (const [name, body, status, code, paths] of cases) {
      const r = ok(await post(body), status);
      assert.equal(r.json.error.code, code, name);
      for (const p of paths) assert.ok(fields(r).includes(p), `${name}: ${p} expected in ${JSON.stringify(r.json.error.fields)}`);
      assertNoSecrets(name, r.text);
    }
    // A PATCH is checked as a whole: adding an asymmetric algorithm to an HS credential is confusion too.
    const hs = ok(await post(jwt({ algorithms: ['HS256'], secret: HS_SECRET })), 201).json;
    assert.deepEqual(fields(ok(await h.rest('PATCH', `${creds(c)}/${hs.id}`, { algorithms: ['HS256', 'ES256'] }), 422)), ['/algorithms']);
    assert.deepEqual(fields(ok(await h.rest('PATCH', `${creds(c)}/${hs.id}`, { algorithms: ['HS512'] }), 422)), ['/secret'], 'the stored secret is too short for HS512');
    assert.equal(ok(await h.rest('GET', creds(c)), 200).json.data.length, 1);
  });

  it('issuer, key_id and username are unique across tenants (409); an hmac key_id may equal a username', async () => {
    const a = await consumer();
    const issuer = uniq('https://shared.example.com');
    ok(await h.rest('POST', creds(a), { type: 'jwt', issuer, algorithms: ['RS256'], jwks_uri: 'https://shared.example.com/jwks' }), 201);
    const dup = ok(await h.rest('POST', creds(await consumer()), { type: 'jwt', issuer, algorithms: ['ES256'], public_key: EC_PUBLIC }), 409);
    assert.deepEqual(dup.json.error.fields, [{ path: '/issuer', message: 'is already taken' }]);

    const shared = uniq('shared-id');
    ok(await h.rest('POST', creds(a), { type: 'hmac', key_id: shared }), 201);
    ok(await h.rest('POST', creds(a), { type: 'basic', username: shared, password: PASSWORD }), 201);

    ok(await h.rest('POST', '/v1/tenants', { name: 'cred-unique' }), 201);
    const t = { 'x-turnpike-tenant': 'cred-unique' };
    const c2 = ok(await h.rest('POST', '/v1/consumers', { username: uniq('c') }, t), 201).json.id as string;
    const other = ok(await h.rest('POST', creds(c2), { type: 'jwt', issuer, algorithms: ['RS256'], jwks_uri: 'https://x.example.com/jwks' }, t), 409);
    assert.equal(other.json.error.code, 'TP_ERR_CONFLICT');
    assert.deepEqual(ok(await h.rest('POST', creds(c2), { type: 'hmac', key_id: shared }, t), 409).json.error.fields, [{ path: '/key_id', message: 'is already taken' }]);
    assert.deepEqual(ok(await h.rest('POST', creds(c2), { type: 'basic', username: shared, password: PASSWORD }, t), 409).json.error.fields, [{ path: '/username', message: 'is already taken' }]);
  });

  it('clear secrets appear only in the create response that generated one: not in reads, lists, audit, replays or the bus', async () => {
    const c = await consumer();
    const body = { type: 'hmac', key_id: uniq('replayed') };
    const first = ok(await h.rest('POST', creds(c), body, { 'idempotency-key': uniq('idem') + '-1' }), 201).json;
    const generated = first.secret as string;
    secrets.push(generated);
    const idem = uniq('idem');
    const created = ok(await h.rest('POST', creds(c), { type: 'hmac', key_id: uniq('replayed') }, { 'idempotency-key': idem }), 201);
    secrets.push(created.json.secret as string);
    const replay = ok(await h.rest('POST', creds(c), { type: 'hmac', key_id: created.json.key_id }, { 'idempotency-key': idem }), 201);
    assert.equal(replay.json.id, created.json.id);
    assert.equal('secret' in replay.json, false, 'a replay does not show the secret again');
    assertNoSecrets('replay', replay.text);

    const hs = ok(await h.rest('POST', creds(c), { type: 'jwt', issuer: uniq('leak'), algorithms: ['HS256'], secret: HS_SECRET }), 201);
    const basic = ok(await h.rest('POST', creds(c), { type: 'basic', username: uniq('leak'), password: PASSWORD }), 201);
    assertNoSecrets('create', hs.text + basic.text);
    ok(await h.rest('PATCH', `${creds(c)}/${basic.json.id}`, { password: `${PASSWORD}!` }), 200);
    ok(await h.rest('PUT', `${creds(c)}/${hs.json.id}`, { type: 'jwt', issuer: hs.json.issuer, algorithms: ['HS256'], secret: `${HS_SECRET}?` }), 200);
    secrets.push(`${PASSWORD}!`, `${HS_SECRET}?`);

    for (const id of [first.id, hs.json.id, basic.json.id]) assertNoSecrets('get', ok(await h.rest('GET', `${creds(c)}/${id}`), 200).text);
    assertNoSecrets('list', ok(await h.rest('GET', creds(c)), 200).text);
    const audit = ok(await h.rest('GET', '/v1/audit?resource_type=credentials&limit=200'), 200);
    assert.ok(audit.json.data.length >= 6, audit.text);
    assertNoSecrets('audit', audit.text);
    const hsNow = ok(await h.rest('GET', `${creds(c)}/${hs.json.id}`), 200).json.updated_at as string;
    await waitFor('bus', async () => ((await kv(`credentials.${hs.json.id}`))?.data.updated_at === hsNow) || null);
    for (const id of [first.id, hs.json.id, basic.json.id]) {
      const v = await h.bus.get(`credentials.${id}`);
      assert.ok(v, id);
      assertNoSecrets('bus', v);
    }
    assertNoSecrets('logs', JSON.stringify(h.logs));
  });

  it('nodes receive the secret sealed to the credential id, or the password hash; rotation re-seals, other writes keep it', async () => {
    const c = await consumer();
    const hmac = ok(await h.rest('POST', creds(c), { type: 'hmac', key_id: uniq('bus'), algorithms: ['hmac-sha256', 'hmac-sha512'] }), 201).json;
    const jwt = ok(await h.rest('POST', creds(c), { type: 'jwt', issuer: uniq('bus'), algorithms: ['HS256'], secret: HS_SECRET }), 201).json;
    const basic = ok(await h.rest('POST', creds(c), { type: 'basic', username: uniq('bus'), password: PASSWORD }), 201).json;
    const sealedOf = async (id: string) => {
      const v = await waitFor('bus', async () => (await kv(`credentials.${id}`)) ?? null);
      const s = v.data.secret;
      assert.ok(isSealed(s), JSON.stringify(v.data));
      return s;
    };
    assert.equal(open(keyring, await sealedOf(hmac.id), hmac.id), hmac.secret);
    const jwtSealed = await sealedOf(jwt.id);
    assert.equal(open(keyring, jwtSealed, jwt.id), HS_SECRET);
    assert.throws(() => open(keyring, jwtSealed, hmac.id), 'the seal is bound to the credential id');
    const basicKv = await waitFor('bus', async () => (await kv(`credentials.${basic.id}`)) ?? null);
    assert.equal(typeof basicKv.data.password_hash, 'string');
    assert.equal(verifyPassword(PASSWORD, String(basicKv.data.password_hash)), true);
    assert.equal('secret' in basicKv.data, false);

    // A write without a secret keeps the stored one; a write with one re-seals (rotation) or re-hashes.
    ok(await h.rest('PATCH', `${creds(c)}/${hmac.id}`, { tags: ['kept'] }), 200);
    await waitFor('bus', async () => ((await kv(`credentials.${hmac.id}`))?.data.tags as string[] | undefined)?.[0] === 'kept' || null);
    assert.equal(open(keyring, await sealedOf(hmac.id), hmac.id), hmac.secret);
    const rotated = 'a-rotated-hmac-secret-value';
    ok(await h.rest('PATCH', `${creds(c)}/${hmac.id}`, { secret: rotated }), 200);
    await waitFor('bus', async () => (open(keyring, await sealedOf(hmac.id), hmac.id) === rotated) || null);
    ok(await h.rest('PATCH', `${creds(c)}/${basic.id}`, { password: 'a-new-password' }), 200);
    await waitFor('bus', async () => verifyPassword('a-new-password', String((await kv(`credentials.${basic.id}`))?.data.password_hash)) || null);
    const [row] = await h.sql<{ material: Record<string, unknown> }[]>`SELECT material FROM resources WHERE id = ${basic.id}`;
    assert.equal(verifyPassword('a-new-password', String(row!.material.password_hash)), true);
    assert.equal(JSON.stringify(row).includes('a-new-password'), false);
  });

  it('gRPC CredentialService: the same entities as REST, secrets shown once, masks, tenancy of the consumer path', async () => {
    const { call, close } = serviceClient(h.cp.grpcPort, 'CredentialService', h.token);
    try {
      const c = await consumer();
      const other = await consumer();
      const hmac = await call('CreateCredential', { consumer_id: c, type: 'hmac', key_id: uniq('grpc'), tags: ['g'] });
      assert.match(String(hmac.secret), /^[A-Za-z0-9_-]{43}$/);
      assert.equal(hmac.secret_set, true);
      const got = await call('GetCredential', { consumer_id: c, id: hmac.id });
      assert.equal(got.secret, undefined);
      const rest = ok(await h.rest('GET', `${creds(c)}/${String(hmac.id)}`), 200);
      assert.deepEqual({ ...got, version: undefined }, { ...rest.json, version: undefined });
      assert.equal(rest.headers.get('etag'), `"${String(got.version)}"`);
      assert.equal((await failure(call('GetCredential', { consumer_id: other, id: hmac.id }))).code, status.NOT_FOUND);

      const jwt = await call('CreateCredential', { consumer_id: c, type: 'jwt', issuer: uniq('grpc-iss'), algorithms: ['ES256'], public_key: EC_PUBLIC, claims_to_headers: { sub: 'x-sub' } });
      assert.deepEqual([jwt.clock_skew_s, jwt.claims_to_headers, jwt.secret_set], [60, { sub: 'x-sub' }, false]);
      const moved = await call('UpdateCredential', { consumer_id: c, id: jwt.id, credential: { jwks_uri: 'https://grpc.example.com/jwks' }, update_mask: ['jwks_uri', 'public_key'] });
      assert.equal(moved.jwks_uri, 'https://grpc.example.com/jwks');
      assert.equal(moved.public_key, undefined);
      const confused = await failure(call('UpdateCredential', { consumer_id: c, id: jwt.id, credential: { algorithms: ['HS256', 'ES256'] } }));
      assert.equal(confused.code, status.FAILED_PRECONDITION, confused.details);
      assert.match(confused.details, /algorithm/);

      const rotated = 'a-rotated-secret-over-grpc';
      await call('UpdateCredential', { consumer_id: c, id: hmac.id, credential: { secret: rotated }, update_mask: ['secret'] });
      await waitFor('bus', async () => (open(keyring, (await kv(`credentials.${String(hmac.id)}`))?.data.secret as never, String(hmac.id)) === rotated) || null);
      const listed = (await call('ListCredentials', { consumer_id: c, type: 'hmac' })).data as Array<Record<string, unknown>>;
      assert.deepEqual(listed.map((x) => x.id), [hmac.id]);
      assert.equal(JSON.stringify(listed).includes(rotated), false);
      await call('DeleteCredential', { consumer_id: c, id: hmac.id });
      ok(await h.rest('GET', `${creds(c)}/${String(hmac.id)}`), 404);
    } finally {
      close();
    }
  });

  it('deleting the consumer deletes its credentials from PostgreSQL and the bus', async () => {
    const c = await consumer();
    const ids: string[] = [];
    ids.push(ok(await h.rest('POST', creds(c), { type: 'hmac', key_id: uniq('gone') }), 201).json.id);
    ids.push(ok(await h.rest('POST', creds(c), { type: 'basic', username: uniq('gone'), password: PASSWORD }), 201).json.id);
    ids.push(ok(await h.rest('POST', creds(c), { type: 'jwt', issuer: uniq('gone'), algorithms: ['EdDSA'], public_key: pem(generateKeyPairSync('ed25519').publicKey) }), 201).json.id);
    await waitFor('bus', async () => ((await Promise.all(ids.map((id) => kv(`credentials.${id}`)))).every((v) => v !== null)) || null);
    ok(await h.rest('DELETE', `/v1/consumers/${c}`), 204);
    assert.equal((await h.sql`SELECT id FROM resources WHERE id IN ${h.sql(ids)}`).length, 0);
    assert.equal((await h.sql`SELECT resource_id FROM resource_unique_keys WHERE resource_id IN ${h.sql(ids)}`).length, 0);
    await waitFor('bus', async () => ((await Promise.all(ids.map((id) => kv(`credentials.${id}`)))).every((v) => v === null)) || null);
    const audit = ok(await h.rest('GET', `/v1/audit?resource_type=credentials&resource_id=${ids[0]!}`), 200).json.data as Array<{ action: string }>;
    assert.deepEqual(audit.map((r) => r.action).sort(), ['create', 'delete']);
  });
});

describe('consumer credentials without a secret key', { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ keyring: null });
  });
  after(async () => {
    await h?.close();
  });

  it('secrets that must be sealed are refused with 503; password hashes need no key', async () => {
    const c = ok(await h.rest('POST', '/v1/consumers', { username: 'nokey' }), 201).json.id as string;
    for (const body of [{ type: 'hmac', key_id: 'nokey-hmac' }, { type: 'jwt', issuer: 'nokey-hs', algorithms: ['HS256'], secret: HS_SECRET }]) {
      const r = ok(await h.rest('POST', `/v1/consumers/${c}/credentials`, body), 503);
      assert.equal(r.json.error.code, 'TP_ERR_UNAVAILABLE');
      assert.match(r.json.error.message, /TP_SECRET_KEY/);
    }
    ok(await h.rest('POST', `/v1/consumers/${c}/credentials`, { type: 'jwt', issuer: 'nokey-rs', algorithms: ['RS256'], jwks_uri: 'https://x.example.com/jwks' }), 201);
    ok(await h.rest('POST', `/v1/consumers/${c}/credentials`, { type: 'basic', username: 'nokey-basic', password: PASSWORD }), 201);
    assert.equal(ok(await h.rest('GET', `/v1/consumers/${c}/credentials`), 200).json.data.length, 2);
  });

  function ok(r: RestResponse, status: number) {
    assert.equal(r.status, status, `${status} expected: ${r.text}`);
    return r;
  }
});

describe('consumer credentials across a secret-key rotation', { timeout: 60_000 }, () => {
  // One keyring object the control plane holds by reference: switching its active key stands in for a
  // restart with TP_SECRET_KEYS=new:<key>,old:<key>.
  const oldKey = generateSecretKey();
  const newKey = generateSecretKey();
  const keys = new Map([['old', oldKey]]);
  const ring: { activeKid: string; keys: Map<string, Buffer> } = { activeKid: 'old', keys };
  let h: Harness;
  before(async () => {
    h = await startHarness({ keyring: ring, pollIntervalMs: 50 });
  });
  after(async () => {
    await h?.close();
  });

  it('re-saving a credential re-seals its secret under the new active key; the clear value is unchanged', async () => {
    const ok = (r: RestResponse, status: number) => (assert.equal(r.status, status, r.text), r);
    const c = ok(await h.rest('POST', '/v1/consumers', { username: 'rotating' }), 201).json.id as string;
    const cred = ok(await h.rest('POST', `/v1/consumers/${c}/credentials`, { type: 'hmac', key_id: 'rotating-key' }), 201).json;
    const sealedNow = async () => (await h.sql<{ material: { secret: { kid: string; v: 1; iv: string; tag: string; ct: string } } }[]>`SELECT material FROM resources WHERE id = ${cred.id}`)[0]!.material.secret;
    assert.equal((await sealedNow()).kid, 'old');
    keys.set('new', newKey);
    ring.activeKid = 'new';
    ok(await h.rest('PATCH', `/v1/consumers/${c}/credentials/${cred.id}`, {}), 200);
    const resealed = await sealedNow();
    assert.equal(resealed.kid, 'new');
    assert.equal(open(keyringOf(newKey, 'new'), resealed, cred.id), cred.secret);
    await waitFor('bus', async () => ((JSON.parse((await h.bus.get(`credentials.${cred.id}`)) ?? '{}') as { data?: { secret?: { kid?: string } } }).data?.secret?.kid === 'new') || null);
  });
});
