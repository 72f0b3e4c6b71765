#!/usr/bin/env node
// `node benchmarks/jwt.mjs`: CPU cost of one jwt-auth verification (services/gateway/src/plugins/jwt-auth)
// in one process: RS256 with a PEM key and with a cached JWKS key (served by a local node:http server),
// each with the verified-token cache off (full signature check every time) and on (the same token again:
// one SHA-256 and a map lookup); HS256 and ES256 for scale; jose's own jwtVerify (Promise-only, WebCrypto)
// as a reference. Needs `npx tsc -b services/common services/gateway` (imports the built module).
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, createSecretKey } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const MODULE = fileURLToPath(new URL('../services/gateway/dist/src/plugins/jwt-auth/index.js', import.meta.url));
if (!existsSync(MODULE)) {
  console.error('services/gateway is not built: run npx tsc -b services/common services/gateway first');
  process.exit(1);
}
/** @type {typeof import('../services/gateway/dist/src/plugins/jwt-auth/index.js')} */
const jwt = await import(MODULE);
/** @type {typeof import('../services/common/dist/src/index.js')} */
const { keyringOf, seal, generateSecretKey } = await import(new URL('../services/common/dist/src/index.js', import.meta.url).href);
/** @type {typeof import('../services/gateway/node_modules/jose/dist/types/index.js')} */
const jose = await import(pathToFileURL(createRequire(new URL('../services/gateway/package.json', import.meta.url)).resolve('jose')).href);

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    n: { type: 'string', default: '2000' },
    hits: { type: 'string', default: '200000' },
  },
});
const N = Number(values.n);
const HITS = Number(values.hits);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const HS = 'bench-shared-secret-0123456789abcdef';
const ring = keyringOf(generateSecretKey());
const now = Date.now();
const exp = Math.floor(now / 1000) + 3600;
const claims = { sub: 'user-1', scope: 'read write', exp };

// A JWKS endpoint on loopback, fetched once.
const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' };
const server = createServer((_q, r) => {
  r.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
  r.end(JSON.stringify({ keys: [jwk] }));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
const jwksUri = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}/jwks`;

const pem = /** @type {string} */ (rsa.publicKey.export({ type: 'spki', format: 'pem' }));
const entries = [
  { id: 'pem', data: { type: 'jwt', consumer_id: 'c1', issuer: 'pem', algorithms: ['RS256'], public_key: pem, claims_to_headers: { sub: 'x-sub' } } },
  { id: 'jwks', data: { type: 'jwt', consumer_id: 'c2', issuer: 'jwks', algorithms: ['RS256'], jwks_uri: jwksUri, claims_to_headers: { sub: 'x-sub' } } },
  { id: 'hs', data: { type: 'jwt', consumer_id: 'c3', issuer: 'hs', algorithms: ['HS256'], secret: seal(ring, HS, 'hs') } },
  {
    id: 'es',
    data: { type: 'jwt', consumer_id: 'c4', issuer: 'es', algorithms: ['ES256'], public_key: /** @type {string} */ (ec.publicKey.export({ type: 'spki', format: 'pem' })) },
  },
];
const registry = new jwt.JwksRegistry();
const uncached = jwt.compileJwtIssuers(entries, { keyring: ring, jwks: registry, verifiedEntries: 0 });
const cached = jwt.compileJwtIssuers(entries, { keyring: ring, jwks: registry });
const policy = jwt.compileJwtPolicy({});

/** @param {string} alg @param {string} iss @param {any} key @param {Record<string, unknown>} [header] */
const sign = (alg, iss, key, header = {}) => new jose.SignJWT({ ...claims, iss }).setProtectedHeader({ alg, ...header }).sign(key);
const tokens = {
  pem: await sign('RS256', 'pem', rsa.privateKey),
  jwks: await sign('RS256', 'jwks', rsa.privateKey, { kid: 'k1' }),
  hs: await sign('HS256', 'hs', createSecretKey(Buffer.from(HS))),
  es: await sign('ES256', 'es', ec.privateKey),
};
// Warm the JWKS cache (one fetch) and check every path verifies.
for (const [name, t] of Object.entries(tokens)) {
  const r = await jwt.verifyJwt(policy, uncached, t, now);
  if (!r.ok) throw new Error(`${name}: ${r.code}`);
}
server.close();

/** µs per call of a synchronous verification, median of 5 rounds. @param {string} token @param {any} table @param {number} n */
function measure(token, table, n) {
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const res = jwt.verifyJwt(policy, table, token, now);
      if (res instanceof Promise || !res.ok) throw new Error('expected a synchronous success');
    }
    const d = process.cpuUsage(t0);
    rounds.push((d.user + d.system) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2];
}

/** jose.jwtVerify (async) with the same KeyObject, µs per call. @param {number} n */
async function measureJose(n) {
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await jose.jwtVerify(tokens.pem, rsa.publicKey, { issuer: 'pem', algorithms: ['RS256'] });
    const d = process.cpuUsage(t0);
    rounds.push((d.user + d.system) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[1];
}

const rows = [
  ['RS256, PEM key, no token cache', measure(tokens.pem, uncached, N)],
  ['RS256, cached JWKS key, no token cache', measure(tokens.jwks, uncached, N)],
  ['RS256, cached JWKS key, token cache hit', measure(tokens.jwks, cached, HITS)],
  ['HS256, no token cache', measure(tokens.hs, uncached, N * 10)],
  ['ES256, no token cache', measure(tokens.es, uncached, N)],
  ['jose.jwtVerify RS256 (reference)', await measureJose(N)],
];
console.log(`node ${process.version}, CPU µs per verification (median of rounds)`);
for (const [name, us] of rows) console.log(`  ${String(name).padEnd(42)} ${Number(us).toFixed(2).padStart(8)} µs`);
