// JWKS issuers against a real local JWKS server (node:http): first fetch, cached keys, rotation with the
// refresh rate limit, outages with and without cached keys, coalesced misses, fetch limits. The cache's
// clock is a variable the tests move (TTL and rate-limit windows without sleeping).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { JwksRegistry, compileJwtIssuers, compileJwtPolicy, verifyJwt, type JwtIssuerTable, type JwtResult } from './index.js';
import { importJwks, ttlOf, type JwksOptions } from './jwks-cache.js';

const ISS = 'https://idp.example';
const policy = compileJwtPolicy({});

interface Signer {
  kid: string;
  alg: string;
  priv: KeyObject;
  jwk: Record<string, unknown>;
}
function signer(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA' = 'RS256'): Signer {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return { kid, alg, priv: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg } };
}
const k1 = signer('k1');
const k2 = signer('k2');
const k3 = signer('k3');

let clock = 1_800_000_000_000;
const tokenFor = (s: Signer, claims: Record<string, unknown> = {}, header: Record<string, unknown> = { kid: s.kid }) =>
  new SignJWT({ iss: ISS, exp: Math.floor(clock / 1000) + 3600, ...claims }).setProtectedHeader({ alg: s.alg, ...header }).sign(s.priv);

/** A JWKS endpoint: serves `keys`, counts requests; `delayMs`, `status`, `hang`, `body` change its behaviour. */
class JwksServer {
  keys: Record<string, unknown>[] = [];
  requests = 0;
  delayMs = 0;
  status = 200;
  cacheControl = 'max-age=300';
  hang = false;
  body: string | null = null;
  readonly #server: Server;
  readonly #pending = new Set<ServerResponse>();
  url = '';

  constructor() {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => this.#handle(res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
    return this;
  }

  #handle(res: ServerResponse): void {
    this.requests++;
    if (this.hang) {
      this.#pending.add(res);
      return;
    }
    const send = () => {
      res.writeHead(this.status, { 'content-type': 'application/json', 'cache-control': this.cacheControl });
      res.end(this.body ?? JSON.stringify({ keys: this.keys }));
    };
    if (this.delayMs > 0) setTimeout(send, this.delayMs);
    else send();
  }

  async stop(): Promise<void> {
    for (const r of this.#pending) r.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function tableFor(uri: string, jwks: JwksRegistry, prefetch = false): JwtIssuerTable {
  return compileJwtIssuers([{ id: 'idp', data: { type: 'jwt', consumer_id: 'c-idp', issuer: ISS, algorithms: ['RS256', 'ES256', 'EdDSA'], jwks_uri: uri } }], {
    keyring: null,
    jwks,
    prefetch,
  });
}
const registry = (o: Partial<JwksOptions> = {}) => new JwksRegistry({ now: () => clock, timeoutMs: 2000, ...o });
const codeOf = (r: JwtResult) => (r.ok ? 'ok' : r.code);

/** Waits (bounded) until `cond` holds: background refreshes end on their own schedule. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('JWKS: the first token waits for one fetch; later tokens verify synchronously from cached keys', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [k1.jwk, signer('e1', 'ES256').jwk];
    const t = tableFor(srv.url, registry());
    const first = verifyJwt(policy, t, await tokenFor(k1), clock);
    assert.ok(first instanceof Promise, 'no key yet: a Promise');
    const r = await first;
    assert.ok(r.ok && r.consumerId === 'c-idp' && r.credentialId === 'idp');
    const second = verifyJwt(policy, t, await tokenFor(k1, { sub: 'other' }), clock);
    assert.ok(!(second instanceof Promise), 'the key is cached');
    assert.equal(codeOf(second), 'ok');
    assert.equal(srv.requests, 1);
  } finally {
    await srv.stop();
  }
});

test('JWKS: ES256 and EdDSA keys; a token without kid tries the keys that fit its alg', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    const es = signer('es', 'ES256');
    const ed = signer('ed', 'EdDSA');
    srv.keys = [k1.jwk, es.jwk, ed.jwk];
    const t = tableFor(srv.url, registry());
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(es), clock)), 'ok');
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(ed), clock)), 'ok');
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(ed, {}, {}), clock)), 'ok', 'no kid');
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k1, {}, {}), clock)), 'ok', 'no kid');
    // A kid naming a key of another type: no key fits → invalid.
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(es, {}, { kid: 'k1' }), clock)), 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal(srv.requests, 1);
  } finally {
    await srv.stop();
  }
});

test('JWKS rotation: a new kid triggers one refetch; unknown kids refetch at most once per 10 s', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [k1.jwk];
    const t = tableFor(srv.url, registry());
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k1), clock)), 'ok');
    assert.equal(srv.requests, 1);
    // The issuer rotates: k2 appears. 10 s later a k2 token refetches once.
    srv.keys = [k2.jwk, k1.jwk];
    clock += 10_000;
    const r2 = verifyJwt(policy, t, await tokenFor(k2), clock);
    assert.ok(r2 instanceof Promise);
    assert.equal(codeOf(await r2), 'ok');
    assert.equal(srv.requests, 2);
    // k3 is unknown: within 10 s of the last fetch it is refused without a fetch (401, the set was fetched fine).
    clock += 5_000;
    const r3 = verifyJwt(policy, t, await tokenFor(k3), clock);
    assert.ok(!(r3 instanceof Promise));
    assert.equal(codeOf(r3), 'TP_ERR_AUTH_TOKEN_INVALID');
    for (let i = 0; i < 5; i++) assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k3, { jti: String(i) }), clock)), 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal(srv.requests, 2, 'rate-limited');
    // Once the window has passed, one more fetch; k3 is still not there.
    clock += 5_000;
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k3, { jti: 'late' }), clock)), 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal(srv.requests, 3);
    // k1 is retired from the set: after the next fetch its tokens fail.
    srv.keys = [k2.jwk, k3.jwk];
    clock += 10_000;
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k3, { jti: 'now' }), clock)), 'ok');
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k1, { jti: 'retired' }), clock)), 'TP_ERR_AUTH_TOKEN_INVALID');
    assert.equal(srv.requests, 4);
  } finally {
    await srv.stop();
  }
});

test('JWKS down with cached keys: expired keys keep verifying while refreshes fail', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  const jwks = registry();
  const t = tableFor(srv.url, jwks);
  srv.keys = [k1.jwk];
  srv.cacheControl = 'max-age=60';
  assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k1), clock)), 'ok');
  await srv.stop();
  const cache = jwks.get(srv.url);
  // Past the TTL, with the endpoint down: the stale key serves synchronously; a refresh runs behind it and fails.
  clock += 61_000;
  const r = verifyJwt(policy, t, await tokenFor(k1, { jti: 'a' }), clock);
  assert.ok(!(r instanceof Promise), 'a stale key is still at hand');
  assert.equal(codeOf(r), 'ok');
  await until(() => cache.failures === 1, 'the background refresh to fail');
  assert.ok(cache.lastError);
  clock += 3600_000;
  assert.equal(codeOf(verifyJwt(policy, t, await tokenFor(k1, { jti: 'b' }), clock) as JwtResult), 'ok', 'still served an hour later');
  await until(() => cache.failures === 2, 'the second refresh to fail');
  // An unknown kid cannot be vouched for while the issuer is unreachable: 503, not 401.
  const unknown = await verifyJwt(policy, t, await tokenFor(k2), clock);
  assert.equal(codeOf(unknown), 'TP_ERR_AUTH_UNAVAILABLE');
  assert.ok(!unknown.ok && unknown.status === 503);
});

test('JWKS down with no keys: TP_ERR_AUTH_UNAVAILABLE (503), and no fetch storm', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  const url = srv.url;
  await srv.stop(); // nothing listens there now
  const jwks = registry();
  const t = tableFor(url, jwks);
  const r = verifyJwt(policy, t, await tokenFor(k1), clock);
  assert.ok(r instanceof Promise);
  const res = await r;
  assert.equal(codeOf(res), 'TP_ERR_AUTH_UNAVAILABLE');
  assert.ok(!res.ok && res.status === 503 && res.wwwAuthenticate === null);
  // Within the refresh interval further tokens are answered at once, without another connection attempt.
  const again = verifyJwt(policy, t, await tokenFor(k1, { jti: '2' }), clock);
  assert.ok(!(again instanceof Promise));
  assert.equal(codeOf(again), 'TP_ERR_AUTH_UNAVAILABLE');
  assert.equal(jwks.get(url).fetches, 1);
  // An endpoint answering 500 is an outage too.
  const srv500 = await new JwksServer().start();
  try {
    srv500.status = 500;
    assert.equal(codeOf(await verifyJwt(policy, tableFor(srv500.url, registry()), await tokenFor(k1), clock)), 'TP_ERR_AUTH_UNAVAILABLE');
  } finally {
    await srv500.stop();
  }
});

test('JWKS: concurrent misses share one fetch', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [k1.jwk, k2.jwk];
    srv.delayMs = 100;
    const t = tableFor(srv.url, registry());
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenFor(i % 2 ? k1 : k2, { jti: String(i) })));
    const pending = tokens.map((tok) => verifyJwt(policy, t, tok, clock));
    assert.ok(pending.every((p) => p instanceof Promise));
    const results = await Promise.all(pending);
    assert.deepEqual(new Set(results.map(codeOf)), new Set(['ok']));
    assert.equal(srv.requests, 1);
  } finally {
    await srv.stop();
  }
});

test('JWKS fetch limits: a hung endpoint times out, an oversized set is refused, both as unavailable', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.hang = true;
    const started = Date.now();
    const r = await verifyJwt(policy, tableFor(srv.url, registry({ timeoutMs: 300 })), await tokenFor(k1), clock);
    assert.equal(codeOf(r), 'TP_ERR_AUTH_UNAVAILABLE');
    assert.ok(Date.now() - started < 4000, 'bounded by the timeout');
    srv.hang = false;
    srv.keys = [k1.jwk];
    srv.body = JSON.stringify({ keys: [k1.jwk], pad: 'x'.repeat(4096) });
    const jwks = registry({ maxBytes: 2048 });
    assert.equal(codeOf(await verifyJwt(policy, tableFor(srv.url, jwks), await tokenFor(k1), clock)), 'TP_ERR_AUTH_UNAVAILABLE');
    assert.match(jwks.get(srv.url).lastError ?? '', /limit/);
    srv.body = 'not json';
    const bad = registry();
    assert.equal(codeOf(await verifyJwt(policy, tableFor(srv.url, bad), await tokenFor(k1), clock)), 'TP_ERR_AUTH_UNAVAILABLE');
    assert.equal(bad.get(srv.url).lastError, 'the JWKS is not JSON');
  } finally {
    await srv.stop();
  }
});

test('JWKS prefetch at compile: the first token finds the keys at hand; the registry keeps caches across compiles', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [k1.jwk];
    const jwks = registry();
    tableFor(srv.url, jwks, true);
    await until(() => jwks.get(srv.url).hasKeys, 'the prefetch');
    const recompiled = tableFor(srv.url, jwks, true);
    const r = verifyJwt(policy, recompiled, await tokenFor(k1), clock);
    assert.ok(!(r instanceof Promise));
    assert.equal(codeOf(r), 'ok');
    assert.equal(srv.requests, 1);
    // An issuer gone from the config: its cache is dropped.
    compileJwtIssuers([], { keyring: null, jwks });
    assert.equal(jwks.size, 0);
  } finally {
    await srv.stop();
  }
});

test('JWKS cache TTL: Cache-Control max-age bounded to [60 s, 24 h]', () => {
  const o = { minTtlMs: 60_000, maxTtlMs: 86_400_000, defaultTtlMs: 600_000 };
  assert.equal(ttlOf('max-age=5', o), 60_000);
  assert.equal(ttlOf('public, max-age=3600', o), 3_600_000);
  assert.equal(ttlOf('max-age=999999', o), 86_400_000);
  assert.equal(ttlOf(undefined, o), 600_000);
  assert.equal(ttlOf('no-store', o), 60_000);
  assert.equal(ttlOf(['private', 'max-age=120'], o), 120_000);
});

test('JWKS TTL honoured: a fresh set is not refetched; an expired one is, in the background', { timeout: 10_000 }, async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [k1.jwk];
    srv.cacheControl = 'max-age=120';
    const jwks = registry();
    const t = tableFor(srv.url, jwks);
    assert.equal(codeOf(await verifyJwt(policy, t, await tokenFor(k1), clock)), 'ok');
    clock += 119_000;
    assert.equal(codeOf(verifyJwt(policy, t, await tokenFor(k1, { jti: '1' }), clock) as JwtResult), 'ok');
    assert.equal(srv.requests, 1);
    clock += 2_000;
    assert.equal(codeOf(verifyJwt(policy, t, await tokenFor(k1, { jti: '2' }), clock) as JwtResult), 'ok');
    await until(() => srv.requests === 2 && jwks.get(srv.url).fetches === 2, 'the background refresh');
  } finally {
    await srv.stop();
  }
});

test('importJwks: only public signature keys; oct, encryption-only and short RSA keys are skipped', () => {
  const rsaPriv = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  const keys = importJwks(
    [
      { kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0', kid: 'hmac' },
      { ...k1.jwk, use: 'enc', kid: 'enc' },
      { ...k1.jwk, key_ops: ['encrypt'], kid: 'ops' },
      { ...short, kid: 'short' },
      { ...rsaPriv, kid: 'priv' },
      { kty: 'EC', crv: 'P-256', x: 'bad', y: 'bad', kid: 'broken' },
      'junk',
      k2.jwk,
    ],
    64,
  );
  assert.deepEqual(
    keys.map((k) => k.kid),
    ['priv', 'k2'],
  );
  assert.equal(keys[0]!.key.type, 'public', 'private members are dropped');
  assert.equal(importJwks([k1.jwk, k2.jwk, k3.jwk], 2).length, 2, 'maxKeys');
});
